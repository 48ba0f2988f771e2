"""The express-session tutorial's visit counter, on wsgisession, served by waitress.

    python3 demo.py                      # sessions in ./sessions.sqlite3 (SESSION_DB to change)
    MONGODB_URI=mongodb://127.0.0.1:27017/wsgisession python3 demo.py   # sessions in MongoDB

Open http://127.0.0.1:8080/ and reload: the count goes up. Restart the demo: it goes on, because
the sessions live in a database. Delete the ``connect.sid`` cookie: a new session starts at 1.
Environment: PORT (8080), HOST (127.0.0.1), SESSION_SECRET, SESSION_DB, MONGODB_URI.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from wsgisession import SessionMiddleware, get_session

logger = logging.getLogger("demo")


def counter(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """GET / counts this browser's visits in session["cuenta"]."""
    if environ.get("PATH_INFO", "/") != "/":
        body = b"Not found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    session = get_session(environ)
    session["cuenta"] = session.get("cuenta", 0) + 1
    body = f"Hola has visto esta página {session['cuenta']}".encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def make_store() -> Any:
    """MongoStore when MONGODB_URI is set, else the embedded SQLiteStore."""
    uri = os.environ.get("MONGODB_URI")
    if uri:
        from wsgisession import MongoStore

        return MongoStore.from_url(uri)
    from wsgisession import SQLiteStore

    return SQLiteStore(os.environ.get("SESSION_DB", "sessions.sqlite3"))


DEVELOPMENT_SECRET = "wsgisession demo: development only, set SESSION_SECRET in production"


def secret() -> str:
    """SESSION_SECRET, or a fixed development secret (so sessions survive restarts) with a loud warning."""
    value = os.environ.get("SESSION_SECRET")
    if value:
        return value
    logger.warning(
        "SESSION_SECRET is not set: using a PUBLIC development secret, so anyone can forge session "
        "cookies. Set SESSION_SECRET to a long random string before serving real users, e.g. "
        "SESSION_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )
    return DEVELOPMENT_SECRET


def make_app() -> tuple[SessionMiddleware, Any]:
    store = make_store()
    return SessionMiddleware(counter, secret=secret(), store=store), store


def main() -> None:
    import waitress

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8080"))
    app, store = make_app()
    logger.info("listening on http://%s:%d/ with sessions in %r", host, port, store)
    try:
        waitress.serve(app, host=host, port=port, ident="wsgisession-demo")
    finally:
        store.close()


if __name__ == "__main__":
    main()
