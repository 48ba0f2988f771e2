"""The README's "Write your own store" runs as pasted: its store passes the contract kit, through its own test file.

The two files are the code blocks after ``<!-- write-your-own-store: NAME -->`` markers in that section.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_files() -> dict[str, str]:
    """The files the README's "Write your own store" section shows, by name."""
    text = README.read_text(encoding="utf-8")
    section = re.search(r"^#{2,6} Write your own store\n(.*?)(?=^#{2,6} )", text, re.S | re.M)
    assert section, "README.md has no 'Write your own store' section"
    return dict(re.findall(r"<!-- write-your-own-store: (\S+) -->\n```python\n(.*?)```\n", section.group(1), re.S))


def module_of(name: str, code: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = f"README.md ({name}.py)"
    sys.modules[name] = module  # (the test file imports the store by its module's name)
    exec(compile(code, module.__file__, "exec"), module.__dict__)
    return module


FILES = readme_files()
my_store = module_of("my_store", FILES["my_store.py"])
TestDictStore = module_of("test_my_store", FILES["test_my_store.py"]).TestDictStore


def test_the_readme_shows_both_files_and_the_test_file_is_short():
    assert set(FILES) == {"my_store.py", "test_my_store.py"}
    assert len(FILES["test_my_store.py"].strip().splitlines()) <= 8


def test_the_readme_store_serves_sessions_in_merge_mode():
    from webtest import TestApp

    from wsgisession import SessionMiddleware, get_session

    def app(environ, start_response):
        session = get_session(environ)
        session["n"] = session.get("n", 0) + 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(session["n"]).encode()]

    client = TestApp(SessionMiddleware(app, secret="the README store's test secret, long enough", store=my_store.DictStore()))
    assert [client.get("/").text for _ in range(3)] == ["1", "2", "3"]
