"""A small WSGI app exercising the session API, and helpers to drive it through WebTest."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from webtest import TestApp

from wsgisession import MemoryStore, SessionMiddleware, StoreUnavailable, get_session
from wsgisession.cookies import encode_uri_component, parse_cookie_header
from wsgisession.signing import sign, unsign

from .helpers import SpyStore

SECRET = "a test secret that is long enough to be safe!"


def _reply(start_response: Any, body: Any, status: str = "200 OK", headers: list[tuple[str, str]] | None = None):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                            *(headers or [])])
    return [data]


def app(environ: dict[str, Any], start_response: Any) -> Any:
    path = environ["PATH_INFO"]
    query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    if path == "/plain":
        return _reply(start_response, "no session used")
    if path == "/stream":
        return _stream(environ, start_response)
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        get_session(environ)["written"] = True
        write(b"via write()")
        return []
    if path == "/late":
        start_response("200 OK", [("Content-Type", "text/plain")])
        get_session(environ)["late"] = True  # after start_response, before the body
        return [b"late"]
    if path == "/unset":
        del environ["wsgisession.session"]
        return _reply(start_response, "unset")
    session = get_session(environ)
    if path == "/count":
        session["cuenta"] = session.get("cuenta", 0) + 1
        return _reply(start_response, session["cuenta"])
    if path == "/read":
        return _reply(start_response, dict(session))
    if path == "/set":
        for key, value in query.items():
            session[key] = json.loads(value)
        return _reply(start_response, dict(session))
    if path == "/append":
        session.setdefault("cart", [])
        session["cart"].append(query.get("item", "x"))
        return _reply(start_response, session["cart"])
    if path == "/append-existing":
        session["cart"].append(query.get("item", "x"))
        return _reply(start_response, session["cart"])
    if path == "/id":
        return _reply(start_response, {"id": session.id, "is_new": session.is_new})
    if path == "/remember":
        session.cookie.max_age = float(query.get("seconds", 30 * 86400))
        return _reply(start_response, "remembered")
    if path == "/regenerate":
        session.regenerate()
        return _reply(start_response, session.id)
    if path == "/destroy":
        session.destroy()
        return _reply(start_response, "bye")
    if path == "/save-then-change":
        session["a"] = 1
        session.save()
        return _reply(start_response, "saved")
    if path == "/reload":
        session["scratch"] = "unsaved"
        session.reload()
        return _reply(start_response, dict(session))
    if path == "/bad-value":
        session["when"] = {1, 2}
        return _reply(start_response, "set")
    if path == "/store-down":
        raise StoreUnavailable("simulated")
    if path == "/error-page":
        session["tried"] = True
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            import sys

            start_response("200 OK", [("Content-Type", "text/plain")])
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
            return [b"error page"]
    return _reply(start_response, "not found", "404 Not Found")


def _stream(environ: dict[str, Any], start_response: Any) -> Any:
    session = get_session(environ)
    session["before"] = True
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"one "
    session["during"] = True  # after the headers went out: saved when the iterable closes
    yield b"two"


def make(store: Any = None, **options: Any) -> tuple[TestApp, SpyStore]:
    spy = SpyStore(store if store is not None else MemoryStore())
    options.setdefault("secret", SECRET)
    return TestApp(SessionMiddleware(app, store=spy, **options)), spy


def set_cookies(response: Any) -> list[str]:
    return response.headers.getall("Set-Cookie")


def session_id(response: Any, secrets: Any = SECRET, name: str = "connect.sid") -> str | None:
    """The id carried by the response's Set-Cookie (verified), or None."""
    for header in set_cookies(response):
        value = parse_cookie_header(header.split(";", 1)[0]).get(name)
        if value and value.startswith("s:"):
            return unsign(value[2:], secrets)
    return None


def cookie_for(sid: str, secret: str = SECRET) -> str:
    return encode_uri_component("s:" + sign(sid, secret))
