"""Run server.js (the real npm packages) and python_app.py side by side on one store.

``Cluster`` owns the store both twins share (a peer of tests/interop/peers.py: a fresh MongoDB
database by default, or Redis keys, or a PostgreSQL table) and starts any number of twins on free
loopback ports, each told which store to use (STORE and the peer's variables); ``Jar`` is the
browser: one ``connect.sid`` cookie, kept from any Set-Cookie and sent to every server, as for two
services on one site.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ..mongo_server import free_port
from .peers import MongoPeer, PostgresPeer, RedisPeer

Peer = MongoPeer | RedisPeer | PostgresPeer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NPM_CI = "npm ci --prefix tests/interop"
COOKIE_NAME = "connect.sid"
SECRET = "the interop secret: long enough not to warn, shared by both apps"
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 10.0


def require_node() -> str:
    """The node binary, after checking the npm packages are installed; fails (never skips) otherwise."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"the interop tests need Node.js >= 20.19 (node is not on PATH); then run: {NPM_CI}", pytrace=False)
    for package in ("express", "express-session", "connect-mongo", "mongodb", "connect-redis", "redis",
                    "connect-pg-simple", "pg"):
        if not (HERE / "node_modules" / package / "package.json").is_file():
            pytest.fail(f"tests/interop/node_modules/{package} is missing: run `{NPM_CI}`", pytrace=False)
    return node


class Jar:
    """One browser's ``connect.sid`` cookie."""

    def __init__(self, value: str | None = None) -> None:
        self.value = value  # the raw cookie value, as sent back in the Cookie header
        self.last_set_cookie: str | None = None  # the last Set-Cookie line for connect.sid

    def copy(self) -> Jar:
        return Jar(self.value)

    def header(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE_NAME}={self.value}"} if self.value is not None else {}

    def update(self, lines: list[str]) -> None:
        for line in lines:
            pair, _, attributes = line.partition(";")
            name, _, value = pair.partition("=")
            if name.strip() != COOKIE_NAME:
                continue
            self.last_set_cookie = line
            self.value = None if _expired(attributes) or not value.strip() else value.strip()


def _expired(attributes: str) -> bool:
    """Whether a Set-Cookie's attributes delete the cookie (Max-Age wins over Expires, as in browsers)."""
    attrs = {}
    for part in attributes.split(";"):
        key, _, value = part.strip().partition("=")
        attrs[key.lower()] = value
    if "max-age" in attrs:
        return int(attrs["max-age"]) <= 0
    if "expires" in attrs:
        return parsedate_to_datetime(attrs["expires"]) <= datetime.now(timezone.utc)
    return False


@dataclass
class Reply:
    status: int
    body: Any
    set_cookies: list[str] = field(default_factory=list)

    @property
    def set_cookie(self) -> str | None:
        """The connect.sid Set-Cookie line, if any."""
        ours = [line for line in self.set_cookies if line.startswith(COOKIE_NAME + "=")]
        assert len(ours) <= 1, ours
        return ours[0] if ours else None


PORT_RETRIES = 3  # new ports tried when the one found free was taken before the app bound it


class App:
    """One twin (``node`` or ``python``) as a subprocess with its own log file."""

    def __init__(self, kind: str, label: str, env: dict[str, str], workdir: Path) -> None:
        self.kind = kind
        self.label = label
        self.port = free_port()
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **env, "PORT": str(self.port)}
        self.log = workdir / f"{label}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"<{self.label} on :{self.port}>"

    def start(self) -> None:
        if self.kind == "node":
            command = [require_node(), str(HERE / "server.js")]
        else:
            command = [sys.executable, str(HERE / "python_app.py")]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, cwd=HERE, env=self.env, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, deadline: float) -> None:
        """Wait (bounded) for the "listening" line: each app prints it once it can serve.

        A port found free can be taken before the app binds it (an outgoing connection of another
        server gets an ephemeral port from the same range): the app then says "cannot listen", and
        it is started again on another free port, at most PORT_RETRIES times."""
        assert self.process is not None
        retries = 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = self.log_text()
                if f"cannot listen on 127.0.0.1:{self.port}" in text and retries < PORT_RETRIES:
                    retries += 1
                    self.port = free_port()
                    self.env["PORT"] = str(self.port)
                    self.start()
                    continue
                raise RuntimeError(f"{self} exited with code {self.process.returncode}:\n{text}")
            if "listening on http://127.0.0.1:" in self.log_text():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self} did not start within {START_TIMEOUT} s:\n{self.log_text()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def request(self, method: str, path: str, jar: Jar, body: Any = None,
                headers: dict[str, str] | None = None, expect: int = 200) -> Reply:
        """One HTTP request carrying the jar's cookie; the jar keeps any cookie the reply sets."""
        sent = {**jar.header(), **(headers or {})}
        data = None
        if body is not None:
            try:
                data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: only a JSON escape can carry it
                data = json.dumps(body).encode("ascii")
            sent["Content-Type"] = "application/json; charset=utf-8"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            raw = response.read()
            lines = response.msg.get_all("Set-Cookie") or []
        finally:
            connection.close()
        text = raw.decode("utf-8")
        if response.status != expect:
            raise AssertionError(f"{self} {method} {path} answered {response.status} (wanted {expect}): "
                                 f"{text[:500]}\n--- log ---\n{self.log_text()[-3000:]}")
        jar.update(lines)
        return Reply(response.status, json.loads(text) if text else None, lines)

    def get(self, path: str, jar: Jar, **kwargs: Any) -> Reply:
        return self.request("GET", path, jar, **kwargs)

    def post(self, path: str, jar: Jar, body: Any, **kwargs: Any) -> Reply:
        return self.request("POST", path, jar, body=body, **kwargs)


class Cluster:
    """The store the twins share, and the twins started on it (all stopped by ``close``).

    Given a MongoDB URI, a fresh database on that server (``collection``, ``document`` and the other
    MongoDB attributes are for that case); given a peer (tests/interop/peers.py), that store."""

    def __init__(self, store: str | Peer, workdir: Path, collection: str = "sessions") -> None:
        self.peer: Peer = MongoPeer(store, collection) if isinstance(store, str) else store
        self.workdir = workdir
        self.apps: list[App] = []

    def _mongo(self) -> MongoPeer:
        assert isinstance(self.peer, MongoPeer), f"a MongoDB attribute of a {self.peer.kind} cluster"
        return self.peer

    @property
    def database(self) -> str:
        return self._mongo().database

    @property
    def url(self) -> str:
        return self._mongo().url

    @property
    def collection_name(self) -> str:
        return self._mongo().collection_name

    @property
    def client(self) -> Any:
        return self._mongo().client

    @property
    def collection(self) -> Any:
        return self._mongo().collection

    def store_env(self) -> dict[str, str]:
        """What tells a twin which store to use: STORE and the peer's variables."""
        return {"STORE": self.peer.kind, **self.peer.env()}

    def start(self, *specs: tuple[str, dict[str, Any]]) -> list[App]:
        """Start ``(kind, options)`` twins concurrently; options: secrets, cookie, proxy, touch_after, auto_remove,
        at_rest_crypto (a dict, as AT_REST_CRYPTO) and at_rest_transform (``"sha256"``), both off by default
        (the last four are connect-mongo's); ttl (seconds: connect-redis's and connect-pg-simple's, and their
        Python stores')."""
        if any(kind == "node" for kind, _ in specs):
            require_node()
        started = []
        for kind, options in specs:
            label = f"{kind}{len(self.apps)}"
            env = {
                **self.store_env(),
                "SECRETS": json.dumps(options.get("secrets", [SECRET])),
                "COOKIE": json.dumps(options.get("cookie", {})),
                "PROXY": "true" if options.get("proxy") else "false",
                "TOUCH_AFTER": str(options.get("touch_after", 0)),
                "AUTO_REMOVE": options.get("auto_remove", "interval"),
            }
            if options.get("ttl") is not None:
                env["TTL"] = str(options["ttl"])
            if options.get("at_rest_crypto") is not None:
                env["AT_REST_CRYPTO"] = json.dumps(options["at_rest_crypto"])
            if options.get("at_rest_transform") is not None:
                env["AT_REST_TRANSFORM"] = options["at_rest_transform"]
            app = App(kind, label, env, self.workdir)
            self.apps.append(app)
            app.start()
            started.append(app)
        deadline = time.monotonic() + START_TIMEOUT
        for app in started:
            app.wait_ready(deadline)
        return started

    def pair(self, **options: Any) -> tuple[App, App]:
        """A python and a node twin with the same options."""
        python, node = self.start(("python", options), ("node", options))
        return python, node

    def document(self, sid: str) -> dict[str, Any] | None:
        return self.collection.find_one({"_id": sid})

    def close(self) -> None:
        try:
            for app in self.apps:
                app.stop()
            for app in self.apps:  # shown by pytest only when the test failed
                print(f"----- {app.label} log -----\n{app.log_text()}")
        finally:
            self.peer.close()
