"""Session ids in a header, for API and mobile clients (the ``header`` option), in both middlewares.

The rule is Spring Session's ``HeaderHttpSessionIdResolver``: with the option on, ids travel in
that header only. The request's id is read from it, a new id is returned in the response header
(signed as the cookie is), an ended session is answered with that header empty, and the Cookie
header is never read nor Set-Cookie sent: a request carrying both is answered from the header.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from wsgisession import ConfigurationError, CookieOptions, MemoryStore
from wsgisession.asgi import SessionMiddleware as AsgiSessionMiddleware
from wsgisession.config import check_header
from wsgisession.cookies import encode_uri_component
from wsgisession.signing import sign, unsign

from .asgi_app import SECRET, asgi_client, wsgi_client
from .helpers import SpyStore


class Reply(NamedTuple):
    status: int
    body: Any
    headers: list[tuple[str, str]]  # (lower-case name, value), in order

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name.lower()), None)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]


@pytest.fixture(params=["wsgi", "asgi"])
def serve(request):
    """``serve(**options)`` -> ``(get, spy)``: ``get(path, headers)`` through that middleware (no cookie jar use)."""

    def make(store=None, **options):
        spy = SpyStore(store if store is not None else MemoryStore())
        if request.param == "wsgi":
            client, _ = wsgi_client(spy, **options)

            def get(path, headers=None):
                client.reset()
                response = client.get(path, headers=headers or {}, expect_errors=True)
                return Reply(response.status_int, response.json, [(k.lower(), v) for k, v in response.headerlist])
        else:
            client, _ = asgi_client(spy, **options)

            def get(path, headers=None):
                client.cookies.clear()
                response = client.get(path, headers=headers or {})
                return Reply(response.status_code, response.json(), list(response.headers.multi_items()))
        return get, spy

    return make


def token_for(sid: str) -> str:
    return sign(sid, SECRET)


def cookie_for(sid: str) -> str:
    return "connect.sid=" + encode_uri_component("s:" + sign(sid, SECRET))


def sid_in(value: str | None) -> str | None:
    return None if not value else unsign(value, SECRET)


# -- the option --------------------------------------------------------------------------------------


def test_the_option_takes_a_header_or_a_pair():
    assert check_header(None) is None
    assert check_header("X-Session-Token") == ("X-Session-Token", "X-Session-Token", False)
    assert check_header(("Authorization", "X-Session-Token")) == ("Authorization", "X-Session-Token", True)
    assert check_header(("authorization", "X-Session-Token")).bearer


@pytest.mark.parametrize("value, hint", [
    ("Authorization", "name the response header too"),
    (("X-Session-Token", "Authorization"), "a response cannot carry Authorization"),
    ("Cookie", "cannot carry session ids"), ("Set-Cookie", "cannot carry session ids"),
    ("Vary", "cannot carry session ids"), ("X Session", "cannot carry session ids"), ("", "cannot carry session ids"),
    ("X-Token\r\nX-Evil", "cannot carry session ids"), ("Sec-WebSocket-Key", "cannot carry session ids"),
    (3, "header must be a header name"), (("X-A",), "header must be a header name"),
    (["X-A", "X-B"], "header must be a header name"), (("X-A", 3), "header must be a header name"),
])
@pytest.mark.parametrize("middleware", ["wsgi", "asgi"])
def test_bad_values_are_a_configuration_error(value, hint, middleware):
    from wsgisession import SessionMiddleware

    cls = SessionMiddleware if middleware == "wsgi" else AsgiSessionMiddleware
    with pytest.raises(ConfigurationError, match=hint):
        cls(lambda *args: None, secret=SECRET, store=MemoryStore(), header=value)


# -- both middlewares ----------------------------------------------------------------------------------


def test_a_new_id_comes_back_in_the_header_signed_as_the_cookie_is(serve):
    get, _ = serve(header="X-Session-Token")
    first = get("/count")
    sid = sid_in(first.header("X-Session-Token"))
    assert first.body == 1 and sid
    assert first.header("Set-Cookie") is None
    assert first.header("Vary") == "X-Session-Token"
    assert first.header("Cache-Control") == 'no-cache="X-Session-Token"'
    again = get("/count", {"X-Session-Token": first.header("X-Session-Token")})
    assert again.body == 2
    assert again.header("X-Session-Token") is None and again.header("Vary") == "X-Session-Token"


def test_the_cookie_is_ignored_with_the_header_option(serve):
    """A request never mixes the two: with the option on, the Cookie header is never read (Spring's rule)."""
    get, spy = serve(header="X-Session-Token")
    store = spy.inner
    get_cookie_mode, _ = serve(store=store)
    cookie_sid = sid_of_set_cookie(get_cookie_mode("/count"))
    assert cookie_sid and store.load(cookie_sid)
    spy.calls.clear()
    only_cookie = get("/count", {"Cookie": cookie_for(cookie_sid)})
    assert only_cookie.body == 1  # a fresh session, not the cookie's
    assert ("load", cookie_sid) not in spy.calls
    assert only_cookie.header("Set-Cookie") is None and only_cookie.header("X-Session-Token")
    header_sid = sid_in(only_cookie.header("X-Session-Token"))
    both = get("/count", {"Cookie": cookie_for(cookie_sid), "X-Session-Token": token_for(header_sid)})
    assert both.body == 2 and both.header("Set-Cookie") is None  # answered from the header
    assert get_cookie_mode("/read", {"Cookie": cookie_for(cookie_sid)}).body == {"n": 1}  # the cookie's, untouched


def test_a_forged_or_foreign_token_gets_a_fresh_session(serve):
    get, spy = serve(header="X-Session-Token")
    sid = sid_in(get("/count").header("X-Session-Token"))
    spy.calls.clear()
    for forged in (sign(sid, "another secret"), sid, "", "s:" + sid, "%zz", "x" * 5000, token_for(sid) + "x"):
        reply = get("/count", {"X-Session-Token": forged})
        assert reply.body == 1 and sid_in(reply.header("X-Session-Token")) != sid
    assert ("load", sid) not in spy.calls


def test_express_s_prefix_and_a_percent_encoded_cookie_value_are_read_too(serve):
    get, _ = serve(header="X-Session-Token")
    sid = sid_in(get("/count").header("X-Session-Token"))
    assert get("/count", {"X-Session-Token": "s:" + token_for(sid)}).body == 2
    assert get("/count", {"X-Session-Token": encode_uri_component("s:" + token_for(sid))}).body == 3


def test_regenerate_and_destroy(serve):
    get, spy = serve(header="X-Session-Token")
    sid = sid_in(get("/count").header("X-Session-Token"))
    regenerated = get("/regenerate", {"X-Session-Token": token_for(sid)})
    new = sid_in(regenerated.header("X-Session-Token"))
    assert new not in (None, sid) and spy.inner.load(sid) is None
    destroyed = get("/destroy", {"X-Session-Token": token_for(new)})
    assert destroyed.all("X-Session-Token") == [""]  # Spring's expireSession: the header, empty
    assert destroyed.header("Set-Cookie") is None and spy.inner.load(new) is None


def test_authorization_bearer(serve):
    get, spy = serve(header=("Authorization", "X-Session-Token"))
    first = get("/count")
    token = first.header("X-Session-Token")
    assert first.header("Vary") == "Authorization" and first.header("Authorization") is None
    assert get("/count", {"Authorization": f"Bearer {token}"}).body == 2
    assert get("/count", {"Authorization": f"bearer  {token} "}).body == 3
    sid = sid_in(token)
    spy.calls.clear()
    assert get("/count", {"Authorization": f"Basic {token}"}).body == 1  # another scheme: no session id
    assert get("/count", {"Authorization": token}).body == 1
    assert ("load", sid) not in spy.calls


def test_a_token_carries_no_path_and_keeps_secure(serve):
    get, _ = serve(header="X-Session-Token", cookie=CookieOptions(path="/elsewhere"))
    assert get("/count").header("X-Session-Token")  # every path has a session: a header has no path
    get_secure, spy = serve(header="X-Session-Token", cookie=CookieOptions(secure=True))
    plain = get_secure("/count")  # secure=True over http: as with a cookie, the id never travels, but it is saved
    assert plain.header("X-Session-Token") is None and spy.inner.length() == 1


def test_a_genid_that_is_not_a_bearer_credential_is_percent_encoded_and_read_back(serve):
    get, _ = serve(header=("Authorization", "X-Session-Token"), genid=lambda request: "an id: with spaces/é")
    token = get("/count").header("X-Session-Token")
    assert token.startswith("an%20id%3A") and token.isascii()
    assert get("/count", {"Authorization": "Bearer " + token}).body == 2


def sid_of_set_cookie(reply: Reply) -> str | None:
    from wsgisession.cookies import parse_cookie_header

    value = parse_cookie_header((reply.header("Set-Cookie") or "").split(";", 1)[0]).get("connect.sid")
    return None if not value else unsign(value[2:], SECRET)


def test_the_asgi_websocket_handshake_returns_a_new_id_in_the_header():
    """(ASGI) A websocket accepted with a session in use gets the id header on its handshake."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    from .asgi_app import TestClient

    async def ws(websocket):
        websocket.session["n"] = 1
        await websocket.accept()
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/ws", ws)])
    app.add_middleware(AsgiSessionMiddleware, secret=SECRET, store=MemoryStore(), header="X-Session-Token")
    with TestClient(app).websocket_connect("/ws") as connection:
        headers = dict(connection.extra_headers or [])
    assert sid_in(headers[b"x-session-token"].decode()) and b"vary" not in headers


def test_the_flask_adapter_refuses_the_option():
    """It reads the cookie itself: the option would silently never find an id there (Django's adapter
    refuses it too: tests/test_django.py's configuration errors)."""
    import flask

    from wsgisession.flask import install

    with pytest.raises(ConfigurationError, match="Flask adapter reads the cookie"):
        install(flask.Flask("t"), secret=SECRET, store=MemoryStore(), header="X-Session-Token")
