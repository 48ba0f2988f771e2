"""Litestar's ``request.session`` is ``scope["session"]``: the ASGI middleware, wrapped around a
Litestar app, serves it as it serves Starlette and FastAPI (issue 26)."""

from __future__ import annotations

from litestar import Litestar, Request, get  # a test dependency (setup.cfg)
from litestar.testing import TestClient

from wsgisession import MemoryStore
from wsgisession.asgi import SessionMiddleware

SECRET = "litestar test secret, long enough"


@get("/", sync_to_thread=False)
def count(request: Request) -> str:
    visits = request.session.get("cuenta", 0) + 1
    request.session["cuenta"] = visits
    return f"Hola has visto esta página {visits}"


@get("/read", sync_to_thread=False)
def read(request: Request) -> str:
    return str(request.session.get("cuenta", 0))


def test_a_litestar_handler_counts_through_request_session():
    store = MemoryStore()
    app = SessionMiddleware(Litestar([count, read]), secret=SECRET, store=store)
    with TestClient(app) as client:
        bodies = [client.get("/").text for _ in range(3)]
        assert bodies == [f"Hola has visto esta página {n}" for n in (1, 2, 3)]
        assert client.get("/read").text == "3"
        assert store.length() == 1
    with TestClient(app) as stranger:  # another browser: no cookie, its own session
        assert stranger.get("/read").text == "0"
