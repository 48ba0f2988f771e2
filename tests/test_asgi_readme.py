"""The README's "With Starlette and FastAPI" runs as pasted: its app.py, served by Starlette's TestClient."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_app() -> str:
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^## With Starlette and FastAPI\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "README.md has no 'With Starlette and FastAPI' section"
    [code] = re.findall(r"<!-- asgi: app\.py -->\n```python\n(.*?)```\n", section.group(1), re.S)
    return code


def test_the_readme_app_runs_as_pasted(tmp_path, monkeypatch):
    from .asgi_app import TestClient

    monkeypatch.chdir(tmp_path)  # its sessions.sqlite3
    monkeypatch.setenv("SESSION_SECRET", "the README app's test secret, long enough")
    module = types.ModuleType("app")
    module.__file__ = "README.md (app.py)"
    monkeypatch.setitem(sys.modules, "app", module)  # (FastAPI resolves the endpoints' annotations there)
    exec(compile(readme_app(), module.__file__, "exec"), module.__dict__)

    client = TestClient(module.app)
    assert [client.get("/").json() for _ in range(2)] == [{"cuenta": 1}, {"cuenta": 2}]
    assert client.get("/devices").json() == []
    before = client.cookies["connect.sid"]
    assert client.post("/login").json() == {"user": "alice"}
    assert client.cookies["connect.sid"] != before
    other = TestClient(module.app)
    other.post("/login")
    devices = client.get("/devices").json()
    assert sorted(device["current"] for device in devices) == [False, True]
    assert client.get("/").json() == {"cuenta": 3}
    assert client.get("/health").json() == "ok"
    assert client.post("/logout").json() == {"user": None}
    assert client.get("/").json() == {"cuenta": 1}
    assert (tmp_path / "sessions.sqlite3").exists()
