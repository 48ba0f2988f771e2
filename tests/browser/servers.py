"""The servers the browser tests start on loopback ports, and the small WSGI apps they serve.

``ThreadedServer`` serves a WSGI app from a thread of the test process, over http or, given a
``Certificate``, over https (wsgiref's threaded server with each accepted socket wrapped in TLS
in its own thread: waitress has no TLS). ``DemoProcess`` is ``python demo.py`` itself, served by
waitress in a subprocess, for the tests that must run the demo exactly as the README says.
``Recorder`` wraps an app and keeps, per request, what the browser sent (its Cookie header and
its ``Sec-Fetch-*`` headers), so a test can show server-side whether the session cookie arrived.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from ..mongo_server import free_port
from .tls import Certificate

ROOT = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT = 30.0  # seconds for a server to listen
SOCKET_TIMEOUT = 10.0  # seconds a handler waits on an idle browser connection (Chromium preconnects)

WSGIApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class _Handler(WSGIRequestHandler):
    timeout = SOCKET_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no line per request on stderr

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        if self.server.certificate is not None:  # type: ignore[attr-defined]
            environ["HTTPS"] = "on"  # wsgiref then sets wsgi.url_scheme = "https"
        return environ


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a connection the browser keeps idle never blocks the shutdown
    allow_reuse_address = True
    certificate: Certificate | None = None
    context: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(SOCKET_TIMEOUT)
        try:  # the handshake runs in the connection's thread, never in the accepting one
            wrapped = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return  # a probe or an aborted connection: nothing to serve
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # the browser closed or idled out a connection
            return
        super().handle_error(request, client_address)


class ThreadedServer:
    """``app`` on 127.0.0.1 on a free port, from a thread; https when given a certificate.

    Browsers reach it under any host name mapped to 127.0.0.1 (``url(host, path)``).
    """

    def __init__(self, app: WSGIApp, certificate: Certificate | None = None) -> None:
        self.app = app
        self.certificate = certificate
        self.scheme = "https" if certificate is not None else "http"
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.certificate = certificate
        self._server.context = certificate.server_context() if certificate is not None else None
        self._server.set_app(app)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"browser-test-{self.scheme}-{self.port}", daemon=True)
        self._thread.start()

    def url(self, host: str = "127.0.0.1", path: str = "/") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        try:
            self._server.shutdown()
            self._thread.join(timeout=10)
        finally:
            self._server.server_close()


@dataclass
class Seen:
    """One request as the server received it."""

    host: str
    path: str
    query: str
    cookie: str  # the raw Cookie header ("" when none)
    fetch_site: str  # Sec-Fetch-Site: same-origin, same-site, cross-site, none
    fetch_mode: str  # Sec-Fetch-Mode: navigate, no-cors, cors...
    fetch_dest: str  # Sec-Fetch-Dest: document, image, empty...

    def carries(self, name: str) -> bool:
        return any(part.strip().split("=", 1)[0] == name for part in self.cookie.split(";") if part.strip())


class Recorder:
    """Wraps a WSGI app and records every request it gets (thread-safe)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self._seen: list[Seen] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen = Seen(environ.get("HTTP_HOST", ""), environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""),
                    environ.get("HTTP_COOKIE", ""),
                    environ.get("HTTP_SEC_FETCH_SITE", ""), environ.get("HTTP_SEC_FETCH_MODE", ""),
                    environ.get("HTTP_SEC_FETCH_DEST", ""))
        with self._lock:
            self._seen.append(seen)
        return self.app(environ, start_response)

    def seen(self, path: str | None = None, query: str | None = None) -> list[Seen]:
        """The requests so far (to ``path``, with the query string ``query``, if given), oldest first."""
        with self._lock:
            return [s for s in self._seen if (path is None or s.path == path) and (query is None or s.query == query)]

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


class Pages:
    """A static site: ``pages.put(path, html)``, then the browser GETs it (text/html, no cookies)."""

    def __init__(self) -> None:
        self._pages: dict[str, tuple[str, bytes]] = {}
        self._lock = threading.Lock()

    def put(self, path: str, body: str, content_type: str = "text/html; charset=utf-8") -> None:
        with self._lock:
            self._pages[path] = (content_type, body.encode("utf-8"))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self._lock:
            page = self._pages.get(environ.get("PATH_INFO", ""))
        if page is None:
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "10")])
            return [b"Not found\n"]
        content_type, body = page
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store")])
        return [body]


class RawCookies:
    """Sets exactly the Set-Cookie lines it is given, per path: cookies our middleware would refuse to write.

    ``RawCookies({"/plant": ["a=1; SameSite=None; Path=/"]})``; any other path answers 404.
    """

    def __init__(self, routes: dict[str, list[str]]) -> None:
        self.routes = routes

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        lines = self.routes.get(environ.get("PATH_INFO", ""))
        if lines is None:
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "10")])
            return [b"Not found\n"]
        body = b"cookies sent\n"
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                                  ("Cache-Control", "no-store"), *(("Set-Cookie", line) for line in lines)])
        return [body]


class ByHost:
    """Dispatches on the Host header's name (the port left out): one listener, several sites."""

    def __init__(self, apps: dict[str, WSGIApp]) -> None:
        self.apps = apps

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST", "").rsplit(":", 1)[0]
        app = self.apps.get(host)
        if app is None:
            start_response("421 Misdirected Request", [("Content-Type", "text/plain"), ("Content-Length", "14")])
            return [b"unknown host\n\n"]
        return app(environ, start_response)


class ByPath:
    """Sends the paths it lists to their apps, and every other path to ``default``."""

    def __init__(self, routes: dict[str, WSGIApp], default: WSGIApp) -> None:
        self.routes = routes
        self.default = default

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self.routes.get(environ.get("PATH_INFO", ""), self.default)(environ, start_response)


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    """Wait (bounded) until something accepts connections on 127.0.0.1:port; fail with the log otherwise."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen within {START_TIMEOUT} s:\n{log.read_text(errors='replace')}")


class DemoProcess:
    """``python demo.py`` (waitress) on a free port; ``stop()`` then ``start()`` restarts it on the same port.

    ``env`` is added to the environment: SESSION_DB, SESSION_SECRET, MONGODB_URI...; without them the
    demo runs as the README's quick start does (sessions.sqlite3 in ``workdir``, the development secret).
    """

    def __init__(self, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        # only what the test gives: never a secret, file or MongoDB the caller's shell happens to set
        inherited = {k: v for k, v in os.environ.items() if k not in ("SESSION_SECRET", "SESSION_DB", "MONGODB_URI")}
        self.env = {**inherited, "PYTHONPATH": str(ROOT), "HOST": "127.0.0.1", "PORT": str(self.port), **env}
        self.log = workdir / f"demo-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def start(self) -> None:
        assert self.process is None, "the demo is already running"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, str(ROOT / "demo.py")], cwd=self.workdir, env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_listening(self.port, self.process, self.log, "demo.py")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
