"""One small app over both transports (a Starlette app under wsgisession.asgi, a WSGI app under the
WSGI middleware), the same actions on the session, and clients to drive each.

``create_app()`` is also what the uvicorn processes of test_asgi_servers.py serve.
"""

from __future__ import annotations

import itertools
import json
import os
import warnings
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from wsgisession import SessionMiddleware as WsgiSessionMiddleware
from wsgisession import StoreUnavailable, get_session
from wsgisession.asgi import SessionMiddleware, get_middleware

from .helpers import SpyStore

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 and says so once, at import; httpx serves
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["ACTIONS", "SECRET", "TestClient", "asgi_app", "asgi_client", "create_app", "wsgi_client"]

SECRET = "the ASGI tests' secret, long enough to be safe"


# -- the actions, shared: a session and the query in, a JSON body out (no store I/O in any) ---------

def _count(session, query):
    session["n"] = session.get("n", 0) + 1
    return session["n"]


def _set(session, query):
    for key, value in query.items():
        session[key] = json.loads(value)
    return dict(session)


def _regenerate(session, query):
    session.regenerate()
    return {"same_id_now": session.id, "n": session.get("n")}


def _destroy(session, query):
    session.destroy()
    after = dict(session)  # empty at once, before any store work
    if query.get("after") == "1":
        session["after"] = True  # a new session, saved under a new id
    return after


def _login(session, query):
    session.login(query.get("user", "alice"))
    return {"user": session.user_id}


def _logout(session, query):
    session.logout()
    return {"user": session.user_id, "data": dict(session)}


def _reauthenticated(session, query):
    session.reauthenticated()
    return {"user": session.user_id}


def _logout_login(session, query):
    session.logout()
    session.login(query.get("user", "bob"))
    session["fresh"] = True
    return {"user": session.user_id}


def _login_logout(session, query):
    session.login(query.get("user", "bob"))
    session.logout()
    return {"user": session.user_id}


def _remember(session, query):
    session.cookie.max_age = float(query.get("seconds", 30 * 86400))
    return "remembered"


def _inc(session, query):  # server.js's /inc (tests/interop): express's visit counter
    session["cuenta"] = session.get("cuenta", 0) + 1
    return {"cuenta": session["cuenta"], "id": session.id}


ACTIONS = {
    "count": _count,
    "inc": _inc,
    "read": lambda session, query: dict(session),
    "set": _set,
    "id": lambda session, query: {"is_new": session.is_new},
    "regenerate": _regenerate,
    "destroy": _destroy,
    "login": _login,
    "logout": _logout,
    "reauthenticated": _reauthenticated,
    "logout-login": _logout_login,
    "login-logout": _login_logout,
    "remember": _remember,
}


# -- ASGI -----------------------------------------------------------------------------------------

async def _action(request: Request) -> Any:
    name = request.path_params["name"]
    session, query = request.session, dict(request.query_params)
    if name == "save-then-change":
        session["a"] = 1
        await session.asave()
        session["b"] = 2
        return JSONResponse("saved")
    if name == "reload":
        session["scratch"] = "unsaved"
        await session.areload()
        return JSONResponse(dict(session))
    if name not in ACTIONS:
        return JSONResponse("not found", 404)
    return JSONResponse(ACTIONS[name](session, query))


async def _plain(request: Request) -> Any:
    return PlainTextResponse("no session used")


async def _stream(request: Request) -> Any:
    session = request.session

    async def body():
        yield b"one "
        session["during"] = True  # after the headers went out: saved when the app returns
        yield b"two"

    return StreamingResponse(body())


async def _stream_unused(request: Request) -> Any:
    async def body():
        yield b"a streamed body that does not use the session"

    return StreamingResponse(body())


async def _background(request: Request) -> Any:
    session = request.session
    session["before"] = True

    def later() -> None:
        session["background"] = True  # after the response: saved when the app returns

    return PlainTextResponse("ok", background=BackgroundTask(later))


async def _own_vary(request: Request) -> Any:
    request.session["v"] = 1
    return PlainTextResponse("varies", headers={"Vary": "Accept-Encoding, cookie"})


async def _down(request: Request) -> Any:
    raise StoreUnavailable("simulated")


async def _unset(request: Request) -> Any:
    request.session["touched"] = True
    del request.scope["session"]
    return PlainTextResponse("unset")


async def _devices(request: Request) -> Any:
    middleware = get_middleware(request)
    infos = await middleware.sessions_of(request.session.user_id, current=request.session)
    return JSONResponse([{"handle": info.handle, "current": info.current} for info in infos])


async def _revoke_others(request: Request) -> Any:
    middleware = get_middleware(request)
    return JSONResponse(await middleware.revoke_all(request.session.user_id, keep=request.session))


async def _revoke(request: Request) -> Any:
    middleware = get_middleware(request)
    return JSONResponse(await middleware.revoke(request.session.user_id, request.query_params["handle"]))


async def _events(request: Request) -> Any:
    return JSONResponse(dict(get_middleware(request).events.counts))


async def _ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(dict(websocket.session))
    if await websocket.receive_text() == "count":
        websocket.session["n"] = websocket.session.get("n", 0) + 1  # after the handshake: saved at the end
        await websocket.send_json(websocket.session["n"])
    await websocket.close()


def asgi_app(**options: Any) -> Starlette:
    """The Starlette app behind wsgisession.asgi.SessionMiddleware (added the Starlette way)."""
    app = Starlette(routes=[
        Route("/plain", _plain), Route("/stream", _stream), Route("/stream-unused", _stream_unused),
        Route("/background", _background), Route("/own-vary", _own_vary), Route("/store-down", _down),
        Route("/unset", _unset), Route("/devices", _devices), Route("/revoke-others", _revoke_others),
        Route("/revoke", _revoke), Route("/events", _events), WebSocketRoute("/ws", _ws), Route("/{name}", _action),
    ])
    options.setdefault("secret", SECRET)
    app.add_middleware(SessionMiddleware, **options)
    return app


def numbered_ids() -> Any:
    """A genid giving id-1, id-2...: two transports given one each make the same ids."""
    counter = itertools.count(1)
    return lambda request: f"id-{next(counter)}"


def asgi_client(store: Any, **options: Any) -> tuple[TestClient, SpyStore]:
    spy = store if isinstance(store, SpyStore) else SpyStore(store)
    return TestClient(asgi_app(store=spy, **options)), spy


# -- WSGI -----------------------------------------------------------------------------------------

def _wsgi(environ: dict[str, Any], start_response: Any) -> Any:
    name = environ["PATH_INFO"].lstrip("/")
    if name == "plain":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"no session used"]
    session, query = get_session(environ), dict(parse_qsl(environ.get("QUERY_STRING", "")))
    if name == "save-then-change":
        session["a"] = 1
        session.save()
        session["b"] = 2
        body: Any = "saved"
    elif name == "reload":
        session["scratch"] = "unsaved"
        session.reload()
        body = dict(session)
    else:
        body = ACTIONS[name](session, query)
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def wsgi_client(store: Any, **options: Any) -> tuple[Any, SpyStore]:
    from webtest import TestApp

    spy = store if isinstance(store, SpyStore) else SpyStore(store)
    options.setdefault("secret", SECRET)
    return TestApp(WsgiSessionMiddleware(_wsgi, store=spy, **options)), spy


# -- for uvicorn ------------------------------------------------------------------------------------

def _store_from_env() -> Any:
    """WSGISESSION_TEST_STORE (a store URL: open_store's), else the SQLite file WSGISESSION_TEST_DB."""
    from wsgisession import SQLiteStore
    from wsgisession.stores.url import open_store

    url = os.environ.get("WSGISESSION_TEST_STORE")
    if url and url.startswith("postgresql://"):  # (PostgresStore directly: open_store may not name it yet)
        from wsgisession import PostgresStore

        return PostgresStore.from_url(url)
    return open_store(url, timeout=10) if url else SQLiteStore(os.environ["WSGISESSION_TEST_DB"])


def _options_from_env() -> dict[str, Any]:
    """WSGISESSION_TEST_EXPRESS=1: the cookie options of server.js (express's defaults: no Secure, no
    SameSite) and its secret, to share sessions with the Express twin of tests/interop."""
    if os.environ.get("WSGISESSION_TEST_EXPRESS") != "1":
        return {}
    from wsgisession import CookieOptions

    return {"secret": os.environ["WSGISESSION_TEST_SECRET"], "cookie": CookieOptions(secure=False, same_site=None)}


def create_app() -> Starlette:
    """The Starlette app a uvicorn process of the tests serves, on the store the environment names
    (shared by the processes of one test)."""
    return asgi_app(store=_store_from_env(), **_options_from_env())


def create_fastapi_app() -> Any:
    """The same actions as a FastAPI app, ``async def`` and ``def`` endpoints (``/sync/{name}``)."""
    from fastapi import FastAPI

    app = FastAPI()
    options = {"secret": SECRET, **_options_from_env()}
    app.add_middleware(SessionMiddleware, store=_store_from_env(), **options)

    @app.get("/plain")
    async def plain() -> str:
        return "no session used"

    @app.get("/events")
    async def events(request: Request) -> Any:
        return dict(get_middleware(request).events.counts)

    @app.get("/sync/{name}")
    def sync_action(name: str, request: Request) -> Any:  # FastAPI runs it in a worker thread
        return ACTIONS[name](request.session, dict(request.query_params))

    @app.get("/{name}")
    async def action(name: str, request: Request) -> Any:
        if name not in ACTIONS:
            return JSONResponse("not found", 404)
        return ACTIONS[name](request.session, dict(request.query_params))

    return app
