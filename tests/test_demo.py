"""The tutorial's demo over real HTTP: waitress in a subprocess, restarted mid-way."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from .mongo_server import free_port

ROOT = Path(__file__).resolve().parent.parent


class Demo:
    """`python3 demo.py` on a free port, with a bounded wait for it to listen."""

    def __init__(self, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "PORT": str(self.port), **env}
        self.workdir = workdir
        self.log = workdir / "demo.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, str(ROOT / "demo.py")], cwd=self.workdir,
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"demo exited: {self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"demo did not listen within 20 s: {self.log.read_text()}")

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)

    def get(self, cookie: str | None = None) -> tuple[str, str | None]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("GET", "/", headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        body = response.read().decode("utf-8")
        connection.close()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
        set_cookie = response.getheader("Set-Cookie")
        return body, set_cookie.split(";", 1)[0] if set_cookie else None


def walkthrough(demo: Demo) -> None:
    demo.start()
    try:
        body, cookie = demo.get()
        assert body == "Hola has visto esta página 1" and cookie and cookie.startswith("connect.sid=s%3A")
        assert demo.get(cookie) == ("Hola has visto esta página 2", None)
        assert demo.get(cookie) == ("Hola has visto esta página 3", None)
    finally:
        demo.stop()
    demo.start()  # the sessions live in a database: a restart keeps them
    try:
        assert demo.get(cookie) == ("Hola has visto esta página 4", None)
        fresh_body, fresh_cookie = demo.get()  # no cookie: a new session
        assert fresh_body == "Hola has visto esta página 1" and fresh_cookie != cookie
    finally:
        demo.stop()
    log = demo.log.read_text()
    assert f"listening on http://127.0.0.1:{demo.port}/" in log
    assert "SESSION_SECRET is not set" in log


def test_demo_survives_a_restart_with_sqlite(tmp_path):
    demo = Demo(tmp_path)
    walkthrough(demo)
    assert (tmp_path / "sessions.sqlite3").exists()
    assert "SQLiteStore" in demo.log.read_text()


def test_demo_survives_a_restart_with_mongodb(tmp_path, mongo_uri):
    database = "demo_" + uuid.uuid4().hex[:12]
    demo = Demo(tmp_path, MONGODB_URI=mongo_uri.rstrip("/") + "/" + database)
    walkthrough(demo)
    assert "MongoStore" in demo.log.read_text()
    assert not (tmp_path / "sessions.sqlite3").exists()


@pytest.mark.parametrize("path", ["/favicon.ico", "/other"])
def test_demo_other_paths_are_404(path):
    from webtest import TestApp

    import demo
    from wsgisession import MemoryStore, SessionMiddleware

    client = TestApp(SessionMiddleware(demo.counter, secret="x" * 32, store=MemoryStore()))
    assert client.get(path, status=404).headers.getall("Set-Cookie") == []
