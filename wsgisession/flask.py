"""Flask: ``flask.session`` is the wsgisession session, behind the express-compatible cookie.

::

    from wsgisession.flask import install
    sessions = install(app, secret=os.environ["SESSION_SECRET"], store=SQLiteStore("sessions.sqlite3"))

Supported: Flask 3.1 with Flask-Login 0.6 (``pip install 'wsgisession-express[flask]'``). ``install``
wraps ``app.wsgi_app`` in a ``SessionMiddleware``, so the cookie, its headers, the saves and the
503s are the middleware's; Flask's session interface only hands the middleware's session to Flask
(``app.secret_key`` is not used). Flask-Login's ``login_user``, ``confirm_login`` and
``logout_user`` become ``session.login``, ``session.reauthenticated`` and ``session.logout``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn

import flask
from flask import request
from flask.sessions import NullSession, SessionInterface, SessionMixin

from .errors import ConfigurationError, SessionError, StoreUnavailable, TooManySessions
from .middleware import SessionMiddleware
from .options import CookieOptions, check_max_age
from .serialization import loads
from .session import Session, state_of
from .view import SessionView, check_json

if TYPE_CHECKING:
    from .config import CookieSource

__all__ = ["FlaskSession", "install"]

# Flask's keys with a wsgisession counterpart: one changed from Flask's default sets it.
_CONFIG_KEYS = {"SESSION_COOKIE_NAME": "name", "SESSION_COOKIE_DOMAIN": "domain", "SESSION_COOKIE_PATH": "path",
                "SESSION_COOKIE_HTTPONLY": "http_only", "SESSION_COOKIE_SECURE": "secure",
                "SESSION_COOKIE_SAMESITE": "same_site", "SESSION_COOKIE_PARTITIONED": "partitioned"}
_FINISHED = "wsgisession.flask.finished"  # environ: the response is not streamed (save_session saw it)
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


class _NoSession(NullSession):
    """The session of a request outside ``CookieOptions.path``: empty, and refuses changes."""

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise SessionError("no session here: this request is outside the cookie path (CookieOptions.path)")

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _refuse


class WsgiSessionInterface(SessionInterface):
    """Hands Flask the session SessionMiddleware opened; saving it is the middleware's job."""

    null_session_class = _NoSession

    def __init__(self, middleware: SessionMiddleware, lifetime: float, settings: dict[str, Any]) -> None:
        self.middleware = middleware
        self.lifetime = lifetime
        self.settings: dict[str, Any] | None = settings  # what install() read from app.config; None once checked

    def open_session(self, app: flask.Flask, request: flask.Request) -> FlaskSession | None:
        if self.settings is not None:
            self._check_settings(app)
        middleware, environ = self.middleware, request.environ
        session = environ.get(middleware.environ_key)
        if isinstance(session, Session):
            return FlaskSession(session, self.lifetime)
        options = None if middleware.config.static_cookie else middleware.config.options_for(environ)
        if not middleware.in_scope(environ, options and options.path):
            return None  # as SessionMiddleware: no session at all outside the cookie path
        # Not through app.wsgi_app: client.session_transaction(), app.test_request_context().
        # (the environ only when code of the app's reads it, as SessionMiddleware: no reference cycle otherwise)
        opened = middleware.core.open(environ.get("HTTP_COOKIE"), request.is_secure,
                                      environ if middleware.config.reads_request else None, request.user_agent.string,
                                      options)
        return FlaskSession(opened, self.lifetime, detached=True)

    def _check_settings(self, app: flask.Flask) -> None:
        """Refuse (until fixed) a session setting of app.config changed after install(), which read them
        once: silently ignored, a SESSION_COOKIE_SECURE set later would leave the cookie without Secure."""
        assert self.settings is not None
        changed = sorted(key for key, value in _session_settings(app).items() if value != self.settings[key])
        if changed:
            raise ConfigurationError(f"app.config's {', '.join(changed)} changed after wsgisession.flask.install(), "
                                     "which reads them once: configure the app first, then call install().")
        self.settings = None

    def save_session(self, app: flask.Flask, session: SessionMixin, response: flask.Response) -> None:
        """Check the data is JSON while Flask's error handlers can still answer (the middleware
        saves it later); a detached session (``session_transaction``) is saved here."""
        if not isinstance(session, FlaskSession):
            return
        if session.wsgi.loaded:
            _check_data(session.wsgi)
        if session.detached:
            for name, value in self.middleware.core.close(session.wsgi):
                response.headers.add(name, value)
        elif not response.is_streamed:
            request.environ[_FINISHED] = True  # no view code runs after this: see _finished_bodies


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
    middleware = SessionMiddleware(_finished_bodies(app.wsgi_app), name=name, cookie=cookie, **options)
    app.wsgi_app = middleware  # type: ignore[method-assign]
    app.session_interface = WsgiSessionInterface(middleware, lifetime, _session_settings(app))
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


def _cookie_settings(app: flask.Flask, name: str | None, cookie: CookieSource | None) -> tuple[str, CookieSource]:
    """The cookie name and options: ``install``'s, or else from app.config's keys that differ from Flask's defaults.

    A ``cookie`` callable is called with a ``flask.Request`` over the request's environ (the
    middleware runs before Flask pushes its request context, so ``flask.request`` is not there yet).
    """
    config, defaults = app.config, flask.Flask.default_config
    chosen = {field: config[key] for key, field in _CONFIG_KEYS.items()
              if config.get(key, defaults[key]) != defaults[key]}
    if "path" not in chosen and config.get("APPLICATION_ROOT", "/") != "/":
        chosen["path"] = config["APPLICATION_ROOT"]  # Flask's cookie path when SESSION_COOKIE_PATH is unset
    flask_name = chosen.pop("name", None)
    if callable(cookie):
        if chosen:
            raise ConfigurationError(f"app.config sets {', '.join(sorted(k for k, f in _CONFIG_KEYS.items() if f in chosen))}"
                                     ", and install() was given a cookie callable: return those from the callable.")
        if name is not None and flask_name not in (None, name):
            raise ConfigurationError("app.config sets SESSION_COOKIE_NAME, and install() was given a name= that says "
                                     "otherwise: set it in one place.")
        request_class = app.request_class
        return name or flask_name or "connect.sid", lambda environ: cookie(request_class(environ))
    options = CookieOptions(**chosen) if cookie is None else cookie
    if (name is not None and flask_name not in (None, name)) or dataclasses.replace(options, **chosen) != options:
        keys = sorted(key for key, field in _CONFIG_KEYS.items() if field in chosen or field == "name" and flask_name)
        raise ConfigurationError(f"app.config sets {', '.join(keys)}, and install() was given a name= or cookie= that "
                                 "says otherwise: set each in one place.")
    return name or flask_name or "connect.sid", options


def _session_settings(app: flask.Flask) -> dict[str, Any]:
    """The keys of app.config install() reads (to notice one changed after it)."""
    keys = (*_CONFIG_KEYS, "APPLICATION_ROOT", "PERMANENT_SESSION_LIFETIME")
    return {key: app.config.get(key) for key in keys}


def _reraise(error: Exception) -> NoReturn:
    raise error


def _finished_bodies(wsgi_app: Callable[[Any, Any], Iterable[bytes]]) -> Callable[[Any, Any], Iterable[bytes]]:
    """Flask's WSGI app, handing the middleware a list for a response that is not streamed.

    Werkzeug returns every body as an iterator, so the middleware would take each response for a
    streamed one, whose body might still read the session, and send ``Vary: Cookie`` on responses
    that never touched it. Flask's own ``response.is_streamed`` tells (save_session notes it); such
    a body is already in memory, and no view code runs after it.
    """

    def app(environ: Any, start_response: Any) -> Iterable[bytes]:
        result = wsgi_app(environ, start_response)
        if not environ.pop(_FINISHED, False) or type(result) is list:
            return result
        try:
            return list(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()

    return app


def _check_data(session: Session) -> None:
    """The values that may have changed in place (lists, dicts) are JSON (the others were checked when
    set). A key that is not goes back to what the store holds before the TypeError goes to Flask's
    error handling, so that the error page can still go out with the session saved."""
    for key, value in list(session.items()):
        if type(value) in (list, dict):
            try:
                check_json(key, value)
            except TypeError:
                state = state_of(session)
                stored = {} if state is None else loads(state.base)
                if key in stored:
                    session[key] = stored[key]
                else:
                    del session[key]
                raise


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


def _login(reauthentication: bool, remembered: bool = False) -> None:
    """A new id, bound to Flask-Login's user; what login_user() wrote is kept (a login as another user
    otherwise starts from an empty session). ``remembered``: a login through the remember-me cookie,
    bound but not stamped as an authentication."""
    session = _current()
    if session is not None and session.get("_user_id") is not None:
        kept = {key: session[key] for key in _LOGIN_KEYS if key in session}
        user_id = str(kept["_user_id"])
        if reauthentication and session.user_id == user_id:
            session.reauthenticated()
        elif flask.current_app.extensions["wsgisession"].store.keeps_accounts:
            try:
                session.login(user_id, authenticated=not remembered)
            except TooManySessions:  # max_sessions_policy="refuse": login_user() raises it, and logged nobody in
                for key in _LOGIN_KEYS:
                    session.pop(key, None)
                if remembered:
                    session["_remember"] = "clear"  # Flask-Login then deletes the remember cookie
                else:
                    flask.current_app.login_manager._update_request_context_with_user()  # (anonymous)
                raise
        else:  # a store of your own without iter_bound(): the login still gets a new id
            session.regenerate()
        session.update(kept)


def _logged_in(app: flask.Flask, **extra: Any) -> None:
    _login(reauthentication=False)


def _confirmed(app: flask.Flask, **extra: Any) -> None:
    _login(reauthentication=True)


def _remembered(app: flask.Flask, **extra: Any) -> None:
    """A login through the remember-me cookie: a new id (never the one the browser presented, which
    someone may have planted), bound to the user (so a later login as another user starts afresh, and
    sessions_of, revoke_all and the limit see it), but not stamped as an authentication: the user did
    not prove who they are now (``authenticated_within`` is False until ``confirm_login()``)."""
    _login(reauthentication=False, remembered=True)


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
