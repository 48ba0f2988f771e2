"""The benchmarked WSGI apps: one visit-counter workload, with no session, wsgisession, or Beaker.

Routes (identical code for every system, only the session accessor differs):

- ``/static``  never touches the session;
- ``/read``    reads the counter (read-only for a returning user; new-but-unused without a cookie);
- ``/`` ``/inc`` increments it (modified for a returning user; a new, saved session without a cookie).

Beaker is configured to do what wsgisession does (see ``beaker_options``): the session id in a
signed cookie, the data server-side, ``auto=False`` and ``save()`` only when the app changed the
session; its default ``save_accessed_time=True`` keeps the access time fresh on read-only
requests, the counterpart of wsgisession's ``touch``. Its serializer stays its default, pickle,
the fastest it has (its "json" also zlib-compresses).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from common import SECRET

BODY_HEADERS = [("Content-Type", "text/plain; charset=utf-8")]
Session = Any
Accessor = Callable[[dict[str, Any]], Session]


def counter_app(get: Accessor, save: Callable[[Session], None] | None = None) -> Any:
    """The workload; ``get(environ)`` returns the request's session, ``save`` is Beaker's explicit save."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/static":
            body = b"static page, no session\n"
        else:
            session = get(environ)
            if path == "/read":
                count = session.get("cuenta", 0)
            else:
                count = session.get("cuenta", 0) + 1
                session["cuenta"] = count
                if save is not None:
                    save(session)
            body = f"Hola has visto esta página {count}".encode()
        start_response("200 OK", BODY_HEADERS + [("Content-Length", str(len(body)))])
        return [body]

    return app


def bare_app() -> Any:
    """No session middleware: the app keeps a throw-away dict per request (the app's own work only)."""
    return counter_app(lambda environ: {})


def wsgisession_app(store: Any, app: Any = None, **options: Any) -> Any:
    from wsgisession import SessionMiddleware, get_session

    return SessionMiddleware(app or counter_app(get_session), secret=SECRET, store=store, **options)


def beaker_options(**extra: Any) -> dict[str, Any]:
    """Beaker as close as it gets to wsgisession's defaults."""
    options = {
        "session.type": "memory",
        "session.key": "beaker.session.id",
        "session.secret": SECRET,          # signed cookie carrying only the id (HMAC-SHA1 in Beaker)
        "session.auto": False,             # save only when the app calls save() (i.e. when modified)
        # data_serializer stays Beaker's default, pickle: its "json" adds zlib compression and is ~1.6x
        # slower, so pickle is the strictest comparison (bench/inprocess.py also times "json")
        "session.httponly": True,
        "session.samesite": "Lax",
        "session.cookie_expires": True,    # browser-session cookie, as max_age=None
    }
    options.update(extra)
    return options


def beaker_app(app: Any = None, **extra: Any) -> Any:
    from beaker.middleware import SessionMiddleware

    def get(environ: dict[str, Any]) -> Any:
        return environ["beaker.session"]

    return SessionMiddleware(app or counter_app(get, save=lambda s: s.save()), beaker_options(**extra))


def beaker_counter(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """demo.counter, line for line, on Beaker's session (and an explicit save, as auto=False wants)."""
    if environ.get("PATH_INFO", "/") != "/":
        body = b"Not found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    session = environ["beaker.session"]
    session["cuenta"] = session.get("cuenta", 0) + 1
    session.save()
    body = f"Hola has visto esta página {session['cuenta']}".encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def bare_counter(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """demo.counter without a session: the same response, always count 1."""
    if environ.get("PATH_INFO", "/") != "/":
        body = b"Not found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    session: dict[str, int] = {}
    session["cuenta"] = session.get("cuenta", 0) + 1
    body = f"Hola has visto esta página {session['cuenta']}".encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def beaker_spy_namespace() -> tuple[type, Counter[str]]:
    """A Beaker MemoryNamespaceManager subclass counting reads, writes and deletes of session records."""
    from beaker.container import MemoryNamespaceManager

    calls: Counter[str] = Counter()

    class SpyNamespace(MemoryNamespaceManager):  # type: ignore[misc]
        def __getitem__(self, key: Any) -> Any:
            calls["get"] += 1
            return super().__getitem__(key)

        def __contains__(self, key: Any) -> bool:
            calls["contains"] += 1
            return bool(super().__contains__(key))

        def __setitem__(self, key: Any, value: Any) -> None:
            calls["set"] += 1
            super().__setitem__(key, value)

        def __delitem__(self, key: Any) -> None:
            calls["delete"] += 1
            super().__delitem__(key)

    return SpyNamespace, calls


# -- Flask: the same counter as a Flask app, for Flask-Session and wsgisession.flask side by side --

def flask_counter_app(sessions: bool = True) -> Any:
    """The workload's routes as a Flask app on ``flask.session`` (``sessions=False``: a throw-away dict).

    ``/`` and ``/inc`` increment, ``/read`` reads, ``/static`` never touches the session; text/plain
    bodies identical to the WSGI twins'. What serves ``flask.session`` is configured by the caller."""
    import flask

    app = flask.Flask("bench")
    get = (lambda: flask.session) if sessions else dict

    def page(count: int) -> Any:
        return flask.Response(f"Hola has visto esta página {count}", mimetype="text/plain")

    @app.get("/static")
    def static_page() -> Any:
        return flask.Response("static page, no session\n", mimetype="text/plain")

    @app.get("/read")
    def read() -> Any:
        return page(get().get("cuenta", 0))

    @app.get("/")
    @app.get("/inc")
    def inc() -> Any:
        session = get()
        session["cuenta"] = session.get("cuenta", 0) + 1
        return page(session["cuenta"])

    return app


def flask_session_app(**config: Any) -> Any:
    """Flask-Session 0.8 on the counter, set as close to wsgisession's defaults as it goes.

    ``SESSION_PERMANENT=False``: a browser-session cookie (as ``max_age=None``);
    ``SESSION_REFRESH_EACH_REQUEST=False``: no write on a read-only request (Flask's default, True,
    rewrites the record on every request). The rest stays Flask-Session's defaults, its fastest:
    msgpack (msgspec), an unsigned 32-byte id (its signer is deprecated)."""
    from flask_session import Session

    app = flask_counter_app()
    app.config.update(SECRET_KEY=SECRET, SESSION_PERMANENT=False, SESSION_REFRESH_EACH_REQUEST=False,
                      SESSION_COOKIE_SAMESITE="Lax", **config)
    if config.get("SESSION_TYPE") == "sqlalchemy" and "SESSION_SQLALCHEMY" not in config:
        from flask_sqlalchemy import SQLAlchemy

        app.config["SESSION_SQLALCHEMY"] = SQLAlchemy(app)
    Session(app)
    return app


def wsgisession_flask_app(store: Any, **options: Any) -> Any:
    """wsgisession.flask.install on the same Flask counter (the middleware's defaults)."""
    from wsgisession.flask import install

    app = flask_counter_app()
    install(app, secret=SECRET, store=store, **options)
    return app
