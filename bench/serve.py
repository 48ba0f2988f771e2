"""Serve one benchmarked visit counter on waitress (started by e2e.py, one process per system).

    python bench/serve.py SYSTEM --port PORT [--mongo-uri mongodb://127.0.0.1:PORT] [--threads 4] [--option K=V]

SYSTEM: bare, ws-memory, ws-sqlite, ws-mongo, beaker-memory, beaker-mongo. The wsgisession
systems serve demo.counter itself; the others serve its line-for-line twins from bench/apps.py.
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

SYSTEMS = ("bare", "ws-memory", "ws-sqlite", "ws-mongo", "beaker-memory", "beaker-mongo")


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


def build(system: str, mongo_uri: str | None, db: str, options: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """(WSGI app, store or None)."""
    import apps

    if system == "bare":
        return apps.bare_counter, None
    if system.startswith("beaker"):
        extra = {}
        if system == "beaker-mongo":
            extra = {"session.type": "ext:mongodb", "session.url": f"{mongo_uri}/{db}"}
        return apps.beaker_app(apps.beaker_counter, **extra), None
    from demo import counter
    from wsgisession import MemoryStore, MongoStore, SessionMiddleware, SQLiteStore

    if system == "ws-memory":
        store: Any = MemoryStore()
    elif system == "ws-sqlite":
        store = SQLiteStore(os.path.join(tempfile.mkdtemp(prefix="wsgisession-bench-"), "sessions.sqlite3"))
    elif system == "ws-mongo":
        # as connect-mongo's twin (server.js) runs: autoRemove 'interval' (FerretDB has no TTL indexes)
        store = MongoStore.from_url(f"{mongo_uri}/{db}", auto_remove="interval")
    else:
        raise SystemExit(f"unknown system {system!r}; one of {', '.join(SYSTEMS)}")
    return SessionMiddleware(counter, secret=SECRET, store=store, **(options or {})), store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("system", choices=SYSTEMS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mongo-uri")
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

    app, store = build(args.system, args.mongo_uri, args.db, parse_options(args.option))
    try:
        waitress.serve(app, host="127.0.0.1", port=args.port, threads=args.threads, ident=None, _quiet=True)
    finally:
        if store is not None:
            store.close()


if __name__ == "__main__":
    sys.exit(main())
