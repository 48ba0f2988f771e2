"""Serve one benchmarked visit counter on waitress (started by e2e.py, one process per system).

    python bench/serve.py SYSTEM --port PORT [--mongo-uri mongodb://127.0.0.1:PORT] [--threads 4] [--option K=V]
    python bench/serve.py ws-redis --port PORT --redis-url redis://127.0.0.1:PORT/1
    python bench/serve.py ws-postgres --port PORT --postgres-url postgresql://postgres@127.0.0.1:PORT/DB

SYSTEM: one of SYSTEMS below. The plain-WSGI wsgisession systems serve demo.counter itself; bare
and Beaker serve its line-for-line twins from bench/apps.py; the flask-* and ws-flask-* systems
serve one Flask app (apps.flask_counter_app), under Flask-Session or wsgisession.flask.install.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import warnings
from typing import Any

import common  # noqa: F401  (puts the checkout on sys.path)
from common import SECRET

SYSTEMS = ("bare", "ws-memory", "ws-sqlite", "ws-mongo", "beaker-memory", "beaker-mongo",
           "flask-bare", "ws-redis", "ws-flask-redis", "flask-session-redis", "beaker-redis",
           "ws-postgres", "ws-flask-postgres", "flask-session-postgres")


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs for SessionMiddleware; VALUE is JSON when it parses, else a string."""
    options = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


def build(system: str, mongo_uri: str | None, db: str, options: dict[str, Any] | None = None,
          redis_url: str | None = None, postgres_url: str | None = None) -> tuple[Any, Any]:
    """(WSGI app, store or None)."""
    import apps

    if system == "bare":
        return apps.bare_counter, None
    if system == "flask-bare":
        return apps.flask_counter_app(sessions=False), None
    if system.startswith("beaker"):
        extra = {}
        if system == "beaker-mongo":
            extra = {"session.type": "ext:mongodb", "session.url": f"{mongo_uri}/{db}"}
        if system == "beaker-redis":
            extra = {"session.type": "ext:redis", "session.url": redis_url}
        return apps.beaker_app(apps.beaker_counter, **extra), None
    if system == "flask-session-redis":
        import redis

        return apps.flask_session_app(SESSION_TYPE="redis", SESSION_REDIS=redis.Redis.from_url(redis_url)), None
    if system == "flask-session-postgres":
        assert postgres_url is not None
        return apps.flask_session_app(SESSION_TYPE="sqlalchemy", SQLALCHEMY_DATABASE_URI=sqlalchemy_url(postgres_url)), None
    from demo import counter
    from wsgisession import SessionMiddleware

    store = ws_store(system.replace("ws-flask-", "ws-"), mongo_uri, db, redis_url, postgres_url)
    if system.startswith("ws-flask-"):
        return apps.wsgisession_flask_app(store, **(options or {})), store
    return SessionMiddleware(counter, secret=SECRET, store=store, **(options or {})), store


def ws_store(system: str, mongo_uri: str | None, db: str, redis_url: str | None, postgres_url: str | None) -> Any:
    """The store of a wsgisession system (ws-memory, ws-sqlite, ws-mongo, ws-redis, ws-postgres), its defaults."""
    if system == "ws-memory":
        from wsgisession import MemoryStore

        return MemoryStore()
    if system == "ws-sqlite":
        from wsgisession import SQLiteStore

        return SQLiteStore(os.path.join(tempfile.mkdtemp(prefix="wsgisession-bench-"), "sessions.sqlite3"))
    if system == "ws-mongo":
        from wsgisession import MongoStore

        # as connect-mongo's twin (server.js) runs: autoRemove 'interval' (FerretDB has no TTL indexes)
        return MongoStore.from_url(f"{mongo_uri}/{db}", auto_remove="interval")
    if system == "ws-redis":
        from wsgisession import RedisStore

        return RedisStore.from_url(redis_url)
    if system == "ws-postgres":
        from wsgisession import PostgresStore

        return PostgresStore.from_url(postgres_url)
    raise SystemExit(f"unknown system {system!r}; one of {', '.join(SYSTEMS)}")


def sqlalchemy_url(url: str) -> str:
    """A postgresql:// URL for SQLAlchemy on psycopg 3 (its default driver name is psycopg2's)."""
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("system", choices=SYSTEMS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mongo-uri")
    parser.add_argument("--redis-url", help="redis://127.0.0.1:PORT/DB for the *-redis systems")
    parser.add_argument("--postgres-url", help="postgresql://USER@127.0.0.1:PORT/DB for the *-postgres systems")
    parser.add_argument("--db", default="bench_e2e")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="SessionMiddleware option for the wsgisession systems (repeatable)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.WARNING)
    # waitress warns on every request that waits for a free thread; logging that to a file costs
    # the slower systems more than the fast ones, so the warning is left out of the measurement.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    import waitress

    app, store = build(args.system, args.mongo_uri, args.db, parse_options(args.option), args.redis_url,
                       args.postgres_url)
    try:
        waitress.serve(app, host="127.0.0.1", port=args.port, threads=args.threads, ident=None, _quiet=True)
    finally:
        if store is not None:
            store.close()


if __name__ == "__main__":
    sys.exit(main())
