"""SessionMiddleware: the WSGI adapter. The only module that touches environ and start_response."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .config import SessionConfig, check_bool, default_genid
from .core import UNAVAILABLE_BODY, UNAVAILABLE_HEADERS, SessionCore
from .errors import ConfigurationError, SessionError, StoreUnavailable
from .metrics import render_metrics
from .options import CookieOptions
from .session import Session

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .accounts import SessionInfo
    from .config import CookieSource
    from .stores.base import Store

__all__ = ["DEFAULT_ENVIRON_KEY", "SessionMiddleware", "get_session"]

logger = logging.getLogger(__name__)

DEFAULT_ENVIRON_KEY = "wsgisession.session"

Headers = list[tuple[str, str]]


class SessionMiddleware:
    """Give every request a server-side session behind a signed ``connect.sid`` cookie.

    ::

        app = SessionMiddleware(app, secret=os.environ["SESSION_SECRET"],
                                store=SQLiteStore("sessions.sqlite3"))
        # in the app: environ["wsgisession.session"]["cuenta"] = ...

    The options are ``SessionConfig``'s (see the README); ``cookie`` may be a callable, called with
    the environ of each request as it comes in, that returns the request's CookieOptions (or a dict
    of their fields), as express-session 1.19's ``cookie: function (req)``. ``trust_proxy`` makes
    ``X-Forwarded-Proto`` decide whether a request is https: turn it on only behind a proxy that
    sets that header, or clients could claim https themselves. ``header`` (API clients): ids travel
    in that request header and come back in a response header, and the cookie is ignored.
    """

    def __init__(
        self, app: WSGIApplication, *, secret: str | bytes | Sequence[str | bytes], store: Store | None = None,
        name: str = "connect.sid", cookie: CookieSource | None = None, resave: bool = False,
        save_uninitialized: bool = False, rolling: bool = False, unset: Literal["keep", "destroy"] = "keep",
        trust_proxy: bool = False, genid: Callable[[WSGIEnvironment], str] | None = None,
        environ_key: str = DEFAULT_ENVIRON_KEY, concurrency: Literal["merge", "overwrite"] = "merge",
        absolute_timeout: float | None = None, max_sessions_per_user: int | None = None,
        tombstone_window: float = 60, clock: Callable[[], float] = time.time,
        header: str | tuple[str, str] | None = None,
        max_sessions_policy: Literal["end_oldest", "refuse"] = "end_oldest",
    ) -> None:
        if not callable(app):
            raise ConfigurationError("app must be a WSGI application (a callable).")
        check_bool("trust_proxy", trust_proxy)
        if not isinstance(environ_key, str) or not environ_key:
            raise ConfigurationError("environ_key must be a non-empty str.")
        self.app = app
        self.config = config = SessionConfig(
            secret=secret, store=store, name=name, cookie=CookieOptions() if cookie is None else cookie,  # type: ignore[arg-type]
            resave=resave, save_uninitialized=save_uninitialized, rolling=rolling, unset=unset,
            genid=genid or default_genid, concurrency=concurrency, absolute_timeout=absolute_timeout,
            max_sessions_per_user=max_sessions_per_user, tombstone_window=tombstone_window, clock=clock,
            header=header, max_sessions_policy=max_sessions_policy)
        self.core = SessionCore(config)
        id_header = config.id_header
        # Where the request presents its id: the Cookie header, or the header option's (never both).
        self.id_key = "HTTP_COOKIE" if id_header is None else "HTTP_" + id_header.request.upper().replace("-", "_")
        self.store, self.name, self.cookie, self.environ_key = config.store, name, config.cookie, environ_key
        self.trust_proxy = trust_proxy
        self._warned_scheme = False
        self.events = self.core.events  # lifecycle events: counts, and hooks (events.subscribe)
        self.stats = self.core.stats  # merges and conflicts of concurrent saves, for monitoring
        static = config.static_cookie  # (None: a cookie callable decides the path of each request)
        # "": every path is in scope (ids in a header have no path); None: the callable's path decides
        self._scope = "" if id_header is not None or static is not None and static.path == "/" else (
            None if static is None else static.path)
        # Whether __call__ must look at the request before it opens a session: a cookie path other
        # than "/", or a cookie callable. (One test on the common path: bench/instructions.py.)
        self._scoped = self._scope != ""
        self._keeps_environ = config.reads_request  # (else no environ -> session -> environ cycle)

    def sessions_of(self, user_id: str, current: Session | None = None) -> list[SessionInfo]:
        """The user's live sessions, most recently seen first; ``current`` (a request's session) is marked."""
        return self.core.accounts.sessions_of(user_id, current)

    def revoke(self, user_id: str, handle: str) -> bool:
        """End the user's session named ``handle`` (from ``sessions_of``); False if there is none."""
        return self.core.accounts.revoke(user_id, handle)

    def revoke_all(self, user_id: str, keep: Session | None = None) -> int:
        """End every session of the user, but ``keep`` ("log out my other devices"); return how many."""
        return self.core.accounts.revoke_all(user_id, keep)

    def metrics(self) -> str:
        """The lifecycle counters in Prometheus's text format, to serve on a route of your own."""
        return render_metrics(self.events.counts)

    def __repr__(self) -> str:  # no secrets
        return f"<SessionMiddleware name={self.name!r} store={type(self.store).__name__}>"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        options = None  # the request's cookie options, when a cookie callable gives them
        if self._scoped:
            if self._scope is None:  # a cookie callable: called for every request, as express-session 1.19 does
                options = self.config.options_for(environ)  # (a bad return raises ConfigurationError: a 500)
                if not self.in_scope(environ, options.path):
                    return self.app(environ, start_response)
            elif not self.in_scope(environ):
                return self.app(environ, start_response)
        # Read once, here, as express-session does: a scheme fixed by middleware inside this one
        # (ProxyFix) comes too late, and is reported (see _Exchange._send).
        secure = environ.get("wsgi.url_scheme") == "https" or self.trust_proxy and self._forwarded_https(environ)
        # (``core.open``'s Session, built here as asgi.py builds its own: one call less on every request)
        core = self.core
        session = Session(core.life, self.store, core._accounts, environ.get(self.id_key), secure,
                          environ if self._keeps_environ else None, environ.get("HTTP_USER_AGENT"), options)
        environ[self.environ_key] = session
        exchange = _Exchange(self, environ, session, start_response, secure)
        try:
            result = self.app(environ, exchange.start_response)
            if type(result) is list or type(result) is tuple:
                # A finished body: no app code runs after this, so pass held headers on and save
                # late changes now, and hand the server the list itself (waitress, e.g., sets
                # Content-Length from a 1-item list).
                exchange.end()
                return result
        except StoreUnavailable:
            return exchange.unavailable(sys.exc_info())
        exchange.result = result
        return exchange

    def in_scope(self, environ: WSGIEnvironment, cookie_path: str | None = None) -> bool:
        """Like express-session: outside the cookie path there is no session at all (``cookie_path``:
        the request's, from a cookie callable; else the options')."""
        prefix = self._scope if cookie_path is None else "" if cookie_path == "/" else cookie_path
        if prefix is None:
            prefix = self.config.options_for(environ).path
        path: str = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        return path.startswith(prefix)

    def warn_scheme(self) -> None:
        """Warn (once) that a request became https after this middleware read it: its cookie then
        lacks Secure (or, with ``secure=True``, is never sent)."""
        if not self._warned_scheme:
            self._warned_scheme = True
            logger.warning("the request became https inside SessionMiddleware (middleware such as ProxyFix "
                           "runs after it): wrap that middleware around SessionMiddleware instead, or pass "
                           "trust_proxy=True, so session cookies get the Secure attribute")

    @staticmethod
    def _forwarded_https(environ: WSGIEnvironment) -> bool:
        """Whether the proxy's ``X-Forwarded-Proto`` (its first value) says https."""
        proto = str(environ.get("HTTP_X_FORWARDED_PROTO", ""))
        return proto.split(",", 1)[0].strip().lower() == "https"


def _merge_vary(headers: Headers, extra: Headers, ours: str) -> tuple[Headers, Headers]:
    """The app's headers and ours, with our Vary (``ours``: ``Cookie``, or the id header) folded into
    the app's own (its last Vary: one header line, as caches and frameworks expect), or dropped if
    the app's lists it or ``*``."""
    extra = extra[1:]
    vary = max(i for i, (name, _) in enumerate(headers) if name.lower() == "vary")
    field = ours.lower()
    if any(token.strip().lower() in (field, "*") for name, value in headers if name.lower() == "vary"
           for token in value.split(",")):
        return headers, extra
    merged = list(headers)
    name, value = merged[vary]
    merged[vary] = (name, f"{value}, {ours}" if value.strip() else ours)
    return merged, extra


class _Exchange:
    """One request through the middleware: wraps start_response, then is the response body.

    When the app calls start_response before it has used the session (legacy apps often do),
    the headers are held until its body starts, the latest moment PEP 3333 allows: the session
    can still be used until then, with a cookie if it needs one. As the body it passes the app's
    iterable through untouched once the headers are out (no per-chunk cost) and, on close, saves
    changes made while the body was produced.
    """

    __slots__ = ("_middleware", "_environ", "_key", "_session", "_start_response", "_secure", "_extra", "_started",
                 "_held", "_write", "_failed", "result")

    def __init__(self, middleware: SessionMiddleware, environ: WSGIEnvironment, session: Session,
                 start_response: StartResponse, secure: bool) -> None:
        self._middleware = middleware
        self._environ = environ
        self._key = middleware.environ_key
        self._session = session
        self._start_response = start_response
        self._secure = secure  # whether the request was https when the middleware saw it
        self._extra: Headers | None = None  # the session's headers, once computed
        self._started = False  # the app called start_response
        self._held: tuple[str, Headers, Any] | None = None  # its arguments, not yet passed on
        self._write: Callable[[bytes], object] | None = None  # the server's write callable, once passed on
        self._failed = False  # answered 503: the store is not tried again for this request
        self.result: Iterable[bytes] = ()
        # "Unset": the app removed its session from environ (express's ``unset`` option decides what that
        # means), tested where needed as ``environ.get(key) is not session`` (a method call costs more
        # than the test, twice per request: bench/instructions.py).

    def start_response(self, status: str, headers: Headers, exc_info: Any = None) -> Callable[[bytes], object]:
        """Pass the headers on with the session's (committing it first), or hold them if it is unused."""
        if self._started and exc_info is None:
            raise AssertionError("start_response called a second time without exc_info (PEP 3333)")
        self._started = True
        if self._write is None and not self._session.loaded and self._environ.get(self._key) is self._session:
            self._held = (status, headers, exc_info)  # (a later call, with exc_info, replaces them)
            return self._write_through
        self._held = None
        self._write = self._send(status, headers, exc_info)
        return self._write

    def _write_through(self, data: bytes) -> object:
        """The write callable handed to the app while its headers are held."""
        self.flush(streaming=True)
        assert self._write is not None
        return self._write(data)

    def flush(self, streaming: bool) -> None:
        """Pass held headers on: the body starts. ``streaming``: app code may still run after this."""
        if self._held is not None:
            status, headers, exc_info = self._held
            self._held = None
            self._write = self._send(status, headers, exc_info, streaming)

    def end(self) -> None:
        """The app returned a finished body: pass held headers on and save late changes."""
        session, held = self._session, self._held
        if held is not None:
            self._held = None
            if not session.loaded and self._environ.get(self._key) is session:
                self._start_response(*held)  # never used, and no app code left to run: nothing to add
                return
            self._write = self._send(*held, streaming=False)
        if self._started and self._environ.get(self._key) is session:
            self._middleware.core.finish(session)

    def _send(self, status: str, headers: Headers, exc_info: Any, streaming: bool = True) -> Callable[[bytes], object]:
        """Commit the session (once) and call the server's start_response with its headers added."""
        extra = self._extra
        if extra is None:
            session = self._session
            unset = self._environ.get(self._key) is not session
            if session.loaded or unset:
                if not self._secure and self._environ.get("wsgi.url_scheme") == "https":
                    self._middleware.warn_scheme()  # (ProxyFix, say, set it inside this middleware)
                extra = self._middleware.core.close(session, unset)
            elif streaming and self._middleware.core.presents(self._environ.get(self._middleware.id_key)):
                # Not used yet, but the body may still read it: then the response depends on the
                # cookie, and a shared cache must not serve it to another user.
                extra = [self._middleware.core.vary]
            else:
                extra = []  # unused, and no session cookie (or no app code left to run)
            self._extra = extra
        if not extra:
            return self._start_response(status, headers, exc_info)
        for name, _ in headers:  # (inline, and no index unless the app sent a Vary: bench/instructions.py)
            if len(name) == 4 and name.lower() == "vary" and extra[0][0] == "Vary":  # (the core puts its Vary first)
                headers, extra = _merge_vary(headers, extra, extra[0][1])
                break
        return self._start_response(status, headers + extra, exc_info)

    def unavailable(self, exc_info: Any) -> list[bytes]:
        """Answer 503 for a store failure the app did not handle (and try the store no more)."""
        logger.warning("session store unavailable: %s", exc_info[1])
        self._middleware.events.emit("store_error")
        self._held = None
        self._failed = True
        body = UNAVAILABLE_BODY
        self._start_response("503 Service Unavailable", [
            ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *UNAVAILABLE_HEADERS,
        ], exc_info if self._write is not None else None)  # (no header reached the server: nothing to replace)
        return [body]

    def __iter__(self) -> Iterator[bytes]:
        if self._write is not None:
            return iter(self.result)  # the headers are out: nothing more to do per chunk
        return self._starting()

    def _starting(self) -> Iterator[bytes]:
        """The body, passing the app's held headers on before its first chunk."""
        chunks = iter(self.result)
        try:
            try:
                first = next(chunks)  # the app may call start_response, and use the session, in here
            except StopIteration:
                first = None
            self.flush(streaming=first is not None)
        except StoreUnavailable:  # nothing has been sent: the headers can still become a 503's
            yield from self.unavailable(sys.exc_info())
            return
        if first is not None:
            yield first
            yield from chunks

    def close(self) -> None:
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            if self._started and not self._failed and self._environ.get(self._key) is self._session:
                self._middleware.core.finish(self._session)


def get_session(environ: WSGIEnvironment, key: str = DEFAULT_ENVIRON_KEY) -> Session:
    """The request's session; raises SessionError if SessionMiddleware did not run for it."""
    session = environ.get(key)
    if not isinstance(session, Session):
        raise SessionError(
            f"no session in environ[{key!r}]: wrap the app in SessionMiddleware "
            "(requests outside the cookie path have no session)."
        )
    return session
