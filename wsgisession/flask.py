"""Flask: ``flask.session`` is the wsgisession session, behind the express-compatible cookie.

::

    from wsgisession.flask import install
    sessions = install(app, secret=os.environ["SESSION_SECRET"], store=SQLiteStore("sessions.sqlite3"))

Supported: Flask 3.1 with Flask-Login 0.6 (``pip install 'wsgisession[flask]'``). ``install``
wraps ``app.wsgi_app`` in a ``SessionMiddleware``, so the cookie, its headers, the saves and the
503s are the middleware's; Flask's session interface only hands the middleware's session to Flask
(``app.secret_key`` is not used). Flask-Login's ``login_user``, ``confirm_login`` and
``logout_user`` become ``session.login``, ``session.reauthenticated`` and ``session.logout``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NoReturn

import flask
from flask.sessions import NullSession, SessionInterface, SessionMixin

from .errors import ConfigurationError, SessionError, StoreUnavailable
from .middleware import SessionMiddleware
from .options import CookieOptions, check_max_age
from .session import Session
from .view import SessionView

__all__ = ["FlaskSession", "install"]

# Flask's keys with a wsgisession counterpart: one changed from Flask's default sets it.
_CONFIG_KEYS = {"SESSION_COOKIE_NAME": "name", "SESSION_COOKIE_DOMAIN": "domain", "SESSION_COOKIE_PATH": "path",
                "SESSION_COOKIE_HTTPONLY": "http_only", "SESSION_COOKIE_SECURE": "secure",
                "SESSION_COOKIE_SAMESITE": "same_site", "SESSION_COOKIE_PARTITIONED": "partitioned"}
_LOGIN_KEYS = ("_user_id", "_fresh", "_id", "_remember", "_remember_seconds")  # what login_user() writes


class FlaskSession(SessionView, SessionMixin):
    """``flask.session``: Flask's ``SessionMixin`` over the request's wsgisession ``Session``.

    The data and the verbs are the Session's (``flask.session.user_id``, ``.cookie``, ``.regenerate()``);
    ``wsgi`` is the Session itself. ``permanent`` is "the cookie has a max age". (SessionView first:
    its ``modified`` replaces the mixin's constant.)
    """

    def __init__(self, session: Session, lifetime: float, detached: bool = False) -> None:
        self.wsgi = session
        self._lifetime = lifetime  # PERMANENT_SESSION_LIFETIME, seconds
        self.detached = detached  # opened outside the middleware (session_transaction): saved by save_session
        self._accessed = False

    @property
    def _session(self) -> Session:
        return self.wsgi

    def __getattr__(self, name: str) -> Any:  # the Session's attributes and verbs
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.wsgi, name)

    @property
    def permanent(self) -> bool:
        """Whether the cookie outlives the browser: it has a max age (``CookieOptions.max_age``, or set here)."""
        return self.wsgi.cookie.expires_ms is not None

    @permanent.setter
    def permanent(self, value: bool) -> None:
        if bool(value) != self.permanent:  # a session with a lifetime keeps it ("remember me", the options')
            self.wsgi.cookie.max_age = self._lifetime if value else None

    @property
    def new(self) -> bool:  # type: ignore[override]  # read-only (for Flask, a constant)
        """Whether the session was created in this request (``Session.is_new``)."""
        return self.wsgi.is_new

    @property
    def accessed(self) -> bool:
        """Flask's flag (set when ``flask.session`` is looked up), or the session was used."""
        return self._accessed or self.wsgi.loaded

    @accessed.setter
    def accessed(self, value: bool) -> None:
        self._accessed = value


class _NoSession(NullSession):
    """The session of a request outside ``CookieOptions.path``: empty, and refuses changes."""

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise SessionError("no session here: this request is outside the cookie path (CookieOptions.path)")

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _refuse


class WsgiSessionInterface(SessionInterface):
    """Hands Flask the session SessionMiddleware opened; saving it is the middleware's job."""

    null_session_class = _NoSession

    def __init__(self, middleware: SessionMiddleware, lifetime: float) -> None:
        self.middleware = middleware
        self.lifetime = lifetime

    def open_session(self, app: flask.Flask, request: flask.Request) -> FlaskSession | None:
        middleware, environ = self.middleware, request.environ
        session = environ.get(middleware.environ_key)
        if isinstance(session, Session):
            return FlaskSession(session, self.lifetime)
        if not middleware.in_scope(environ):
            return None  # as SessionMiddleware: no session at all outside the cookie path
        # Not through app.wsgi_app: client.session_transaction(), app.test_request_context().
        opened = middleware.core.open(environ.get("HTTP_COOKIE"), request.is_secure, environ, request.user_agent.string)
        return FlaskSession(opened, self.lifetime, detached=True)

    def save_session(self, app: flask.Flask, session: SessionMixin, response: flask.Response) -> None:
        if isinstance(session, FlaskSession) and session.detached:
            for name, value in self.middleware.core.close(session.wsgi):
                response.headers.add(name, value)


def install(app: flask.Flask, **options: Any) -> SessionMiddleware:
    """Give ``app`` wsgisession's sessions; ``options`` are SessionMiddleware's (``secret``, ``store``...).

    Changed ``SESSION_COOKIE_*`` keys of ``app.config`` set the cookie name and ``CookieOptions``
    (contradicting ``name=`` or ``cookie=`` is an error); ``PERMANENT_SESSION_LIFETIME`` is the max
    age ``session.permanent = True`` gives. Returns the middleware (``sessions_of``, ``revoke_all``...).
    """
    if options.get("header") is not None:
        raise ConfigurationError("header= (ids in a request header) is the WSGI and ASGI middlewares' option; the "
                                 "Flask adapter reads the cookie: wrap app.wsgi_app in SessionMiddleware(header=...) "
                                 "for an API without Flask's session interface.")
    name, cookie = _cookie_settings(app, options.pop("name", None), options.pop("cookie", None))
    lifetime = app.permanent_session_lifetime.total_seconds()
    try:
        check_max_age(lifetime)
    except ConfigurationError:
        raise ConfigurationError(f"PERMANENT_SESSION_LIFETIME is {lifetime:g} s: give at most 400 days, the "
                                 "longest browsers keep a cookie.") from None
    middleware = SessionMiddleware(app.wsgi_app, name=name, cookie=cookie, **options)
    app.wsgi_app = middleware  # type: ignore[method-assign]
    app.session_interface = WsgiSessionInterface(middleware, lifetime)
    app.extensions["wsgisession"] = middleware
    # A store failure must reach the middleware (a 503 with Retry-After), not become Flask's 500:
    # before the app's catch-all error handlers, and past Flask's handle_exception.
    app.register_error_handler(StoreUnavailable, _reraise)
    flask_handle_exception = app.handle_exception

    def handle_exception(error: Exception) -> flask.Response:
        if isinstance(error, StoreUnavailable):
            raise error
        return flask_handle_exception(error)

    app.handle_exception = handle_exception  # type: ignore[method-assign,assignment]
    _follow_flask_login(app)
    return middleware


def _cookie_settings(app: flask.Flask, name: str | None, cookie: CookieOptions | None) -> tuple[str, CookieOptions]:
    """The cookie name and options: ``install``'s, or else from app.config's keys that differ from Flask's defaults."""
    config, defaults = app.config, flask.Flask.default_config
    chosen = {field: config[key] for key, field in _CONFIG_KEYS.items()
              if config.get(key, defaults[key]) != defaults[key]}
    if "path" not in chosen and config.get("APPLICATION_ROOT", "/") != "/":
        chosen["path"] = config["APPLICATION_ROOT"]  # Flask's cookie path when SESSION_COOKIE_PATH is unset
    flask_name = chosen.pop("name", None)
    options = CookieOptions(**chosen) if cookie is None else cookie
    if (name is not None and flask_name not in (None, name)) or dataclasses.replace(options, **chosen) != options:
        keys = sorted(key for key, field in _CONFIG_KEYS.items() if field in chosen or field == "name" and flask_name)
        raise ConfigurationError(f"app.config sets {', '.join(keys)}, and install() was given a name= or cookie= that "
                                 "says otherwise: set each in one place.")
    return name or flask_name or "connect.sid", options


def _reraise(error: Exception) -> NoReturn:
    raise error


# -- Flask-Login ---------------------------------------------------------------------------------


def _follow_flask_login(app: flask.Flask) -> None:
    try:
        from flask_login import signals  # type: ignore[import-untyped]
    except ImportError:
        return
    signals.user_logged_in.connect(_logged_in, app)
    signals.user_login_confirmed.connect(_confirmed, app)
    signals.user_logged_out.connect(_logged_out, app)
    signals.session_protected.connect(_protection_failed, app)
    signals.user_loaded_from_cookie.connect(_remembered, app)


def _current() -> Session | None:
    view = flask.session
    return view.wsgi if isinstance(view, FlaskSession) else None


def _login(reauthentication: bool) -> None:
    """A new id, bound to Flask-Login's user; what login_user() wrote is kept (a login as another user
    otherwise starts from an empty session)."""
    session = _current()
    if session is not None and session.get("_user_id") is not None:
        kept = {key: session[key] for key in _LOGIN_KEYS if key in session}
        user_id = str(kept["_user_id"])
        if reauthentication and session.user_id == user_id:
            session.reauthenticated()
        elif flask.current_app.extensions["wsgisession"].store.keeps_accounts:
            session.login(user_id)
        else:  # a store of your own without iter_bound(): the login still gets a new id
            session.regenerate()
        session.update(kept)


def _logged_in(app: flask.Flask, **extra: Any) -> None:
    _login(reauthentication=False)


def _confirmed(app: flask.Flask, **extra: Any) -> None:
    _login(reauthentication=True)


def _remembered(app: flask.Flask, **extra: Any) -> None:
    """A login through the remember-me cookie: a new id (never the one the browser presented, which
    someone may have planted), without stamping a fresh authentication as login() would."""
    session = _current()
    if session is not None:
        session.regenerate()


def _logged_out(app: flask.Flask, **extra: Any) -> None:
    """The whole session ends; Flask-Login's note to clear its remember cookie is kept."""
    session = _current()
    if session is not None:
        kept = {key: session[key] for key in ("_remember",) if key in session}
        session.logout()
        session.update(kept)


def _protection_failed(app: flask.Flask, **extra: Any) -> None:
    """SESSION_PROTECTION="strong" dropped the user (another address or browser): end the session too."""
    session = _current()
    if session is not None and session.user_id is not None and "_user_id" not in session:
        _logged_out(app)
