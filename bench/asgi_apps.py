"""The benchmarked ASGI apps: one Starlette visit counter, under each session middleware; served by uvicorn.

    python bench/asgi_apps.py SYSTEM --port PORT [--redis-url redis://127.0.0.1:PORT/DB]   (started by asgi.py)

Routes, the same code for every system (only the middleware around it differs), as bench/apps.py:
``/`` and ``/inc`` increment ``request.session["cuenta"]``, ``/read`` reads it, ``/static`` never
touches the session. SYSTEMS:

- ``bare``: no session middleware; the endpoint counts in a throw-away dict (the app's own work);
- ``bare-cookie``: the same app, to which bench/asgi.py's client sends a session cookie it ignores
  (what parsing that header costs the server, apart from any middleware);
- ``ws-memory``, ``ws-redis``: ``wsgisession.asgi.SessionMiddleware`` on MemoryStore / RedisStore, defaults;
- ``starsessions-redis``: starsessions 2.2's ``SessionMiddleware`` + ``SessionAutoloadMiddleware`` (its
  README's setup: ``request.session`` works without ``await load_session()``) on its ``RedisStore``
  over a ``redis.asyncio`` client; a browser-session cookie (``lifetime=0``), not https-only (the
  bench speaks http);
- ``starlette-cookie``: Starlette's own ``SessionMiddleware``: the whole session in a signed cookie,
  no server-side store (``https_only=False``).

uvicorn runs each in its own process: one worker, h11, no access log, the same settings for all.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from typing import Any

import common  # noqa: F401  (puts the checkout on sys.path)
from common import SECRET

SYSTEMS = ("bare", "bare-cookie", "ws-memory", "ws-redis", "starsessions-redis", "starlette-cookie")


def counter_app(sessions: bool = True) -> Any:
    """The Starlette counter; ``sessions=False`` counts in a throw-away dict (no middleware needed)."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    def get(request: Any) -> Any:
        return request.session if sessions else {}

    async def inc(request: Any) -> Any:
        session = get(request)
        session["cuenta"] = session.get("cuenta", 0) + 1
        return PlainTextResponse(f"Hola has visto esta página {session['cuenta']}")

    async def read(request: Any) -> Any:
        return PlainTextResponse(f"Hola has visto esta página {get(request).get('cuenta', 0)}")

    async def static(request: Any) -> Any:
        return PlainTextResponse("static page, no session\n")

    return Starlette(routes=[Route("/", inc), Route("/inc", inc), Route("/read", read), Route("/static", static)])


def build(system: str, redis_url: str | None = None) -> Any:
    """The ASGI app of ``system`` (one of SYSTEMS)."""
    if system in ("bare", "bare-cookie"):
        return counter_app(sessions=False)
    app = counter_app()
    if system in ("ws-memory", "ws-redis"):
        from wsgisession.asgi import SessionMiddleware

        if system == "ws-memory":
            from wsgisession import MemoryStore

            store: Any = MemoryStore()
        else:
            from wsgisession import RedisStore

            store = RedisStore.from_url(redis_url)
        return SessionMiddleware(app, secret=SECRET, store=store)
    if system == "starsessions-redis":
        import redis.asyncio
        from starsessions import SessionAutoloadMiddleware, SessionMiddleware
        from starsessions.stores.redis import RedisStore as StarRedisStore

        store = StarRedisStore(connection=redis.asyncio.Redis.from_url(redis_url))
        return SessionMiddleware(SessionAutoloadMiddleware(app), store=store, lifetime=0, cookie_https_only=False)
    if system == "starlette-cookie":
        from starlette.middleware.sessions import SessionMiddleware

        return SessionMiddleware(app, secret_key=SECRET, https_only=False, same_site="lax")
    raise SystemExit(f"unknown system {system!r}; one of {', '.join(SYSTEMS)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("system", choices=SYSTEMS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.WARNING)
    import uvicorn

    app = build(args.system, args.redis_url)
    uvicorn.run(app, host="127.0.0.1", port=args.port, workers=1, http="h11", loop="asyncio",
                lifespan="off", access_log=False, log_level="warning")


if __name__ == "__main__":
    sys.exit(main())
