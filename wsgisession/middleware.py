"""SessionMiddleware: the WSGI adapter. The only module that touches environ and start_response."""

from __future__ import annotations

import logging
import secrets
import sys
import time
import warnings
from functools import partial
from datetime import datetime, timezone
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .cookies import cookie_values, render_set_cookie
from .errors import ConfigurationError, InsecureSecretWarning, SessionError, StoreUnavailable
from .options import CookieOptions, validate_cookie_name
from .session import EXPIRE_COOKIE, SET_COOKIE, Session
from .session_settings import SessionSettings
from .stores.base import Loaded
from .signing import Signer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .stores.base import Store

__all__ = ["SessionMiddleware", "get_session"]

logger = logging.getLogger(__name__)

DEFAULT_ENVIRON_KEY = "wsgisession.session"
MAX_COOKIE_VALUE = 4096  # longer candidates are ignored unverified: ids are only ever short keys
MAX_CHECKED = 8  # duplicate cookies whose signature is checked at most: a flood of them costs no more
_STORE_METHODS = ("get", "set", "touch", "destroy")
_VERIFIED_CACHE_SIZE = 4096  # verified Cookie headers remembered (positive results only)
_MAX_CACHED_HEADER = 1024  # longer headers are verified every time
_EXPIRED = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _default_genid(environ: Any) -> str:
    return secrets.token_urlsafe(24)  # 192 bits, the express-session (uid-safe) format


def _secrets(secret: Any) -> list[str | bytes]:
    candidates = [secret] if isinstance(secret, (str, bytes)) else secret
    if not isinstance(candidates, Sequence) or isinstance(candidates, (str, bytes)) or not candidates or not all(
        isinstance(s, (str, bytes)) and s for s in candidates
    ):
        raise ConfigurationError(
            "secret is required: pass a long random string (e.g. secrets.token_urlsafe(32)), "
            "or a list of them with the newest first to rotate secrets."
        )
    for s in candidates:
        if len(s.encode("utf-8") if isinstance(s, str) else s) < 32:
            warnings.warn(
                "a session secret shorter than 32 bytes can be brute-forced: use secrets.token_urlsafe(32)",
                InsecureSecretWarning,
                stacklevel=3,
            )
            break
    return list(candidates)


class SessionMiddleware:
    """Give every request a server-side session behind a signed ``connect.sid`` cookie.

    ::

        app = SessionMiddleware(app, secret=os.environ["SESSION_SECRET"],
                                store=SQLiteStore("sessions.sqlite3"))
        # in the app: environ["wsgisession.session"]["cuenta"] = ...

    ``trust_proxy`` makes ``X-Forwarded-Proto`` decide whether a request is https: turn it on
    only behind a proxy that sets that header, or clients could claim https themselves.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        secret: str | bytes | Sequence[str | bytes],
        store: Store | None = None,
        name: str = "connect.sid",
        cookie: CookieOptions | None = None,
        resave: bool = False,
        save_uninitialized: bool = False,
        rolling: bool = False,
        unset: Literal["keep", "destroy"] = "keep",
        trust_proxy: bool = False,
        genid: Callable[[WSGIEnvironment], str] | None = None,
        environ_key: str = DEFAULT_ENVIRON_KEY,
        concurrency: Literal["merge", "overwrite"] = "merge",
        absolute_timeout: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not callable(app):
            raise ConfigurationError("app must be a WSGI application (a callable).")
        if store is None or not all(callable(getattr(store, m, None)) for m in _STORE_METHODS):
            raise ConfigurationError(
                "store is required: pass SQLiteStore('sessions.sqlite3'), MongoStore.from_url(...) "
                "or, for tests, MemoryStore()."
            )
        cookie = CookieOptions() if cookie is None else cookie
        if not isinstance(cookie, CookieOptions):
            raise ConfigurationError("cookie must be a CookieOptions(...) instance.")
        validate_cookie_name(name, cookie)
        for option, value in (("resave", resave), ("save_uninitialized", save_uninitialized),
                              ("rolling", rolling), ("trust_proxy", trust_proxy)):
            if not isinstance(value, bool):
                raise ConfigurationError(f"{option} must be True or False, not {value!r}.")
        if unset not in ("keep", "destroy"):
            raise ConfigurationError(f"unset must be 'keep' or 'destroy', not {unset!r}.")
        if genid is not None and not callable(genid):
            raise ConfigurationError("genid must be a callable taking the WSGI environ and returning a str.")
        if not isinstance(environ_key, str) or not environ_key:
            raise ConfigurationError("environ_key must be a non-empty str.")
        if concurrency not in ("merge", "overwrite"):
            raise ConfigurationError(f"concurrency must be 'merge' or 'overwrite', not {concurrency!r}.")
        if concurrency == "merge" and not all(callable(getattr(store, m, None)) for m in ("load", "save")):
            raise ConfigurationError(
                f"{type(store).__name__} has no load()/save(), which concurrency-safe saves need: "
                "implement them (see wsgisession.stores.base.Store) or pass concurrency='overwrite'."
            )
        if absolute_timeout is not None:
            if isinstance(absolute_timeout, bool) or not isinstance(absolute_timeout, (int, float)) \
                    or absolute_timeout <= 0:
                raise ConfigurationError(
                    f"absolute_timeout must be a positive number of seconds or None, not {absolute_timeout!r}."
                )
            if not getattr(store, "tracks_creation", False):
                raise ConfigurationError(
                    "absolute_timeout needs a store that records when each session was created: "
                    "use MongoStore(..., timestamps=True) (connect-mongo's createdAt), SQLiteStore or MemoryStore."
                )
        self.app = app
        self.store = store
        self.name = name
        self.cookie = cookie
        self.rolling = rolling
        self.unset = unset
        self.trust_proxy = trust_proxy
        self.environ_key = environ_key
        self._signer = Signer(_secrets(secret))
        self._verified: dict[str, str] = {}  # Cookie header -> its verified id
        self._settings = SessionSettings(
            store=store, cookie=cookie, genid=genid or _default_genid, resave=resave,
            save_uninitialized=save_uninitialized, clock=clock, identify=self._cookie_id,
            is_secure=self._is_secure, load=getattr(store, "load", None) or partial(_load_with_get, store),
            merge=concurrency == "merge", absolute_timeout=absolute_timeout,
            tracks_creation=bool(getattr(store, "tracks_creation", False)),
        )
        self._scoped = cookie.path != "/"
        self.stats = self._settings.stats  # merges and conflicts of concurrent saves, for monitoring

    def __repr__(self) -> str:  # no secrets
        return f"<SessionMiddleware name={self.name!r} store={type(self.store).__name__}>"

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._scoped and not self._in_scope(environ):
            return self.app(environ, start_response)
        # Nothing is read yet, not even the cookie: a request that never uses its session costs
        # two small objects and no store operation.
        session = Session(self._settings, environ)
        environ[self.environ_key] = session
        exchange = _Exchange(self, environ, session, start_response)
        try:
            result = self.app(environ, exchange.start_response)
        except StoreUnavailable:
            return exchange.unavailable(sys.exc_info())
        if type(result) is list or type(result) is tuple:
            # A finished body: no app code runs after this, so pass held headers on and save late
            # changes now, and hand the server the list itself (waitress, e.g., sets
            # Content-Length from a 1-item list).
            try:
                exchange.end()
            except StoreUnavailable:
                return exchange.unavailable(sys.exc_info())
            return result
        exchange.result = result
        return exchange

    # -- decisions ------------------------------------------------------------------------------

    def _in_scope(self, environ: WSGIEnvironment) -> bool:
        """Like express-session: outside the cookie path there is no session at all."""
        path: str = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        return path.startswith(self.cookie.path)

    def _is_secure(self, environ: WSGIEnvironment) -> bool:
        if environ.get("wsgi.url_scheme") == "https":
            return True
        if self.trust_proxy:
            proto = str(environ.get("HTTP_X_FORWARDED_PROTO", ""))
            return proto.split(",", 1)[0].strip().lower() == "https"
        return False

    def _cookie_id(self, environ: WSGIEnvironment) -> str | None:
        """The id of the first of our cookies whose signature verifies; never an unverified one.

        Only that one is looked up: if it is unknown or expired, the request gets a fresh session
        (as in express), never the session of a later duplicate, which could be one an attacker
        planted beside the victim's cookie (cookie tossing from a sibling subdomain). Express takes
        the first duplicate even unsigned; we skip the unsigned ones, but check at most
        MAX_CHECKED values, so a flood of duplicates costs no more than a few.
        """
        header = environ.get("HTTP_COOKIE")
        if not header or self.name not in header:
            return None
        # A header that verified once verifies again (same secrets): skip the percent-decoding and
        # the HMAC for a returning browser. Only verified results are kept, so a forged cookie
        # can never enter; the cache is bounded and simply emptied when full.
        cached = self._verified.get(header)
        if cached is not None:
            return cached
        for value in cookie_values(header, self.name, MAX_CHECKED):
            sid = self._signer.unsign(value[2:]) if value.startswith("s:") and len(value) <= MAX_COOKIE_VALUE else None
            if sid:
                if len(header) <= _MAX_CACHED_HEADER:
                    if len(self._verified) >= _VERIFIED_CACHE_SIZE:
                        self._verified.clear()
                    self._verified[header] = sid
                return sid
            logger.debug("ignored a session cookie: unsigned, badly signed or oversized")
        return None

    def _session_headers(self, session: Session, environ: WSGIEnvironment) -> list[tuple[str, str]]:
        """Save, touch or destroy as needed; return the headers to add (Vary, Set-Cookie...)."""
        if environ.get(self.environ_key) is not session:  # the app unset the session
            if self.unset == "keep":
                return [("Vary", "Cookie")] if session.loaded else []  # a body that read it varies on it
            session.destroy()
        if not session.loaded:
            return []
        headers = [("Vary", "Cookie")]
        action = session.commit(self.rolling)
        cookie = session.cookie
        if action is None or (cookie.secure and not self._is_secure(environ)):
            return headers
        if action == SET_COOKIE:
            value = "s:" + self._signer.sign(session.id)
            max_age = None if cookie.expires_ms is None else max(0, int(cookie.max_age or 0))
            expires = cookie.expires
        else:
            assert action == EXPIRE_COOKIE
            value, max_age = "", 0
            expires = _EXPIRED
        options = self.cookie  # the security attributes are the options' (resolved "auto" aside)
        headers.append(("Set-Cookie", render_set_cookie(
            self.name, value, max_age=max_age, domain=options.domain, path=options.path, expires=expires,
            http_only=options.http_only, secure=cookie.secure, partitioned=options.partitioned,
            priority=cookie.priority, same_site=cookie.same_site,
        )))
        headers.append(("Cache-Control", 'no-cache="Set-Cookie"'))
        return headers


_VARY_COOKIE = [("Vary", "Cookie")]


def _varies_on_cookie(headers: list[tuple[str, str]]) -> bool:
    """Whether the app's own Vary lists the token ``Cookie`` (any case) or ``*``."""
    for name, value in headers:
        if name.lower() == "vary" and any(token.strip().lower() in ("cookie", "*") for token in value.split(",")):
            return True
    return False


def _load_with_get(store: Any, sid: str) -> Loaded | None:
    """``load`` for a store that only has ``get`` (usable with concurrency="overwrite")."""
    record = store.get(sid)
    return None if record is None else Loaded(record, None, None)


class _Exchange:
    """One request through the middleware: wraps start_response, then is the response body.

    When the app calls start_response before it has used the session (legacy apps often do),
    the headers are held until its body starts, the latest moment PEP 3333 allows: the session
    can still be used until then, with a cookie if it needs one. As the body it passes the app's
    iterable through untouched once the headers are out (no per-chunk cost) and, on close, saves
    changes made while the body was produced.
    """

    _extra: list[tuple[str, str]] | None = None  # class attributes as initial values: cheaper
    _started = False  # the app called start_response
    _held: tuple[str, list[tuple[str, str]], Any] | None = None  # its arguments, not yet passed on
    _write: Callable[[bytes], object] | None = None  # the server's write callable, once passed on
    _failed = False  # answered 503: the store is not tried again for this request
    result: Iterable[bytes] = ()

    def __init__(self, middleware: SessionMiddleware, environ: WSGIEnvironment, session: Session,
                 start_response: StartResponse) -> None:
        self._middleware = middleware
        self._environ = environ
        self._session = session
        self._start_response = start_response

    def _unset(self) -> bool:
        return self._environ.get(self._middleware.environ_key) is not self._session

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
        """Pass the headers on with the session's (committing it first), or hold them if it is unused."""
        if self._started and exc_info is None:
            raise AssertionError("start_response called a second time without exc_info (PEP 3333)")
        self._started = True
        session = self._session
        if self._write is None and not session.loaded and self._environ.get(self._middleware.environ_key) is session:
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
            if not session.loaded and not self._unset():
                self._start_response(*held)  # never used, and no app code left to run: nothing to add
                return
            self._write = self._send(*held, streaming=False)
        if self._started and session.loaded and not self._unset():
            session.finish()

    def _send(self, status: str, headers: list[tuple[str, str]], exc_info: Any,
              streaming: bool = True) -> Callable[[bytes], object]:
        """Commit the session (once) and call the server's start_response with its headers added."""
        extra = self._extra
        if extra is None:
            session, middleware = self._session, self._middleware
            if session.loaded or self._unset():
                extra = middleware._session_headers(session, self._environ)
            elif streaming and middleware.name in self._environ.get("HTTP_COOKIE", ""):
                # Not used yet, but the body may still read it: then the response depends on the
                # cookie, and a shared cache must not serve it to another user.
                extra = _VARY_COOKIE
            else:
                extra = []  # unused, and no session cookie (or no app code left to run)
            self._extra = extra
        if not extra:
            return self._start_response(status, headers, exc_info)
        if _varies_on_cookie(headers):
            extra = [h for h in extra if h[0] != "Vary"]  # the app's Vary already covers it
        return self._start_response(status, headers + extra, exc_info)

    def unavailable(self, exc_info: Any) -> list[bytes]:
        """Answer 503 for a store failure the app did not handle (and try the store no more)."""
        logger.warning("session store unavailable: %s", exc_info[1])
        self._held = None
        self._failed = True
        body = b"Service temporarily unavailable: the session store cannot be reached. Try again shortly.\n"
        self._start_response("503 Service Unavailable", [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Retry-After", "5"),
            ("Cache-Control", "no-store"),
        ], exc_info)
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
            session = self._session
            if self._started and not self._failed and session.loaded and not self._unset():
                session.finish()


def get_session(environ: WSGIEnvironment, key: str = DEFAULT_ENVIRON_KEY) -> Session:
    """The request's session; raises SessionError if SessionMiddleware did not run for it."""
    session = environ.get(key)
    if not isinstance(session, Session):
        raise SessionError(
            f"no session in environ[{key!r}]: wrap the app in SessionMiddleware "
            "(requests outside the cookie path have no session)."
        )
    return session
