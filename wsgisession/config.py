"""SessionConfig: every option of a session middleware, validated once, as one frozen value."""

from __future__ import annotations

import secrets
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .cookies import TOKEN
from .errors import ConfigurationError, InsecureSecretWarning
from .options import CookieOptions, check_seconds, cookie_options, validate_cookie_name
from .stores.base import COMPARE_AND_SET, USER_INDEX, Store

__all__ = ["IdHeader", "SessionConfig", "check_bool", "check_header", "default_genid"]

if TYPE_CHECKING:  # (for annotations only: building the union costs the import a few ms)
    from typing import TypeAlias

    # The ``cookie`` option: the options, or express-session 1.19's dynamic options, a callable that
    # returns them (or a dict of their fields) for a request.
    CookieSource: TypeAlias = CookieOptions | Callable[[Any], CookieOptions | Mapping[str, Any]]


def default_genid(request: Any) -> str:
    """192 random bits, base64url: the express-session (uid-safe) format."""
    return secrets.token_urlsafe(24)


def check_bool(name: str, value: object) -> None:
    """Refuse an option that should be True or False."""
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, not {value!r}.")


class IdHeader(NamedTuple):
    """Where a request presents its session id, and where a response returns a new one, when ids travel
    in a header (the ``header`` option) instead of the cookie: Spring Session's ``HeaderHttpSessionIdResolver``."""

    request: str  # the request header's name, as given ("X-Session-Token", "Authorization")
    response: str  # the response header that carries a new id (or, empty, says the session ended)
    bearer: bool  # the request header is Authorization, its value "Bearer <signed id>"


# Headers that cannot carry a session id: the cookie's own, and those HTTP or the server manage.
_RESERVED_HEADERS = frozenset({"cookie", "set-cookie", "host", "content-length", "content-type", "transfer-encoding",
                               "connection", "upgrade", "te", "trailer", "vary", "cache-control", "date", "location",
                               "www-authenticate", "proxy-authorization", "proxy-authenticate", "keep-alive"})


def check_header(header: object) -> IdHeader | None:
    """The ``header`` option: None (ids travel in the cookie), a header name used both ways
    ("X-Session-Token"), or a pair (request header, response header), the request's possibly
    "Authorization" (then read as "Bearer <signed id>")."""
    if header is None:
        return None
    pair = (header, header) if isinstance(header, str) else header
    if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(name, str) for name in pair)):
        raise ConfigurationError(f"header must be a header name such as 'X-Session-Token', or a pair (request header, "
                                 f"response header) such as ('Authorization', 'X-Session-Token'); not {header!r}.")
    for name in pair:
        if not TOKEN.fullmatch(name) or name.lower() in _RESERVED_HEADERS or name.lower().startswith("sec-"):
            raise ConfigurationError(f"header {name!r} cannot carry session ids: choose a header name of your own "
                                     "such as 'X-Session-Token' (letters, digits and '-').")
    request, response = pair
    if response.lower() == "authorization":
        if isinstance(header, str):
            raise ConfigurationError("header='Authorization' reads 'Authorization: Bearer <id>', but a response "
                                     "cannot carry Authorization: name the response header too, e.g. "
                                     "header=('Authorization', 'X-Session-Token').")
        raise ConfigurationError("a response cannot carry Authorization: name another response header, e.g. "
                                 "header=('Authorization', 'X-Session-Token').")
    return IdHeader(request, response, request.lower() == "authorization")


def _secrets(secret: object) -> tuple[str | bytes, ...]:
    candidates = [secret] if isinstance(secret, (str, bytes)) else secret
    if not isinstance(candidates, Sequence) or isinstance(candidates, (str, bytes)) or not candidates or not all(
        isinstance(s, (str, bytes)) and s for s in candidates
    ):
        raise ConfigurationError(
            "secret is required: pass a long random string (e.g. secrets.token_urlsafe(32)), "
            "or a list of them with the newest first to rotate secrets."
        )
    if any(len(s.encode("utf-8") if isinstance(s, str) else s) < 32 for s in candidates):
        warnings.warn("a session secret shorter than 32 bytes can be brute-forced: use secrets.token_urlsafe(32)",
                      InsecureSecretWarning, stacklevel=5)  # the caller of SessionMiddleware(...)
    return tuple(candidates)


@dataclass(frozen=True, kw_only=True)
class SessionConfig:
    """The options of the session core, checked at construction (``SessionMiddleware`` builds it).

    The options of a transport (``trust_proxy``, ``environ_key`` for WSGI) stay with its adapter.
    """

    secret: str | bytes | Sequence[str | bytes] = field(repr=False)
    store: Store
    name: str = "connect.sid"
    cookie: CookieSource = field(default_factory=CookieOptions)
    resave: bool = False
    save_uninitialized: bool = False
    rolling: bool = False
    unset: Literal["keep", "destroy"] = "keep"
    genid: Callable[[Any], str] = default_genid
    concurrency: Literal["merge", "overwrite"] = "merge"
    absolute_timeout: float | None = None
    max_sessions_per_user: int | None = None
    max_sessions_policy: Literal["end_oldest", "refuse"] = "end_oldest"
    tombstone_window: float = 60
    clock: Callable[[], float] = time.time
    # Ids in a request header instead of the cookie (API clients): see check_header. The cookie is then ignored.
    header: str | tuple[str, str] | None = None
    id_header: IdHeader | None = field(init=False, repr=False)  # ``header``, checked
    merge: bool = field(init=False, repr=False)  # concurrency == "merge": saves are compare-and-sets that merge
    secrets: tuple[str | bytes, ...] = field(init=False, repr=False)  # ``secret`` as a tuple, newest first
    # ``cookie`` when it is CookieOptions; None when it is a callable (``options_for`` calls it)
    static_cookie: CookieOptions | None = field(init=False, repr=False)
    # Whether code of the app's reads the request: a ``genid`` of its own, or a ``cookie`` callable. Only
    # then do the adapters hand a session its request (environ, scope, HttpRequest), which holds the
    # session: request -> session -> request is a reference cycle, left to the garbage collector.
    reads_request: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.store, Store):
            raise ConfigurationError(
                "store is required: pass SQLiteStore('sessions.sqlite3'), MongoStore.from_url(...) or, for tests, "
                "MemoryStore(); a store of your own must subclass wsgisession.Store."
            )
        if isinstance(self.cookie, CookieOptions):
            validate_cookie_name(self.name, self.cookie)
            object.__setattr__(self, "static_cookie", self.cookie)
        elif callable(self.cookie):
            validate_cookie_name(self.name, CookieOptions(secure=True))  # (the name itself; its options per request)
            object.__setattr__(self, "static_cookie", None)
        else:
            raise ConfigurationError("cookie must be a CookieOptions(...) instance, or a callable that takes the "
                                     "request and returns one (or a dict of its fields).")
        for name in ("resave", "save_uninitialized", "rolling"):
            check_bool(name, getattr(self, name))
        if self.unset not in ("keep", "destroy"):
            raise ConfigurationError(f"unset must be 'keep' or 'destroy', not {self.unset!r}.")
        if not callable(self.genid):
            raise ConfigurationError("genid must be a callable taking the request and returning a str.")
        if not callable(self.clock):
            raise ConfigurationError("clock must be a callable returning epoch seconds, like time.time.")
        if self.concurrency not in ("merge", "overwrite"):
            raise ConfigurationError(f"concurrency must be 'merge' or 'overwrite', not {self.concurrency!r}.")
        if self.concurrency == "merge" and not self.store.supports(COMPARE_AND_SET):
            raise ConfigurationError(
                f"concurrency='merge' (the default) needs a store with the {COMPARE_AND_SET!r} capability, and "
                f"{type(self.store).__name__} has no save(): implement it (see wsgisession.Store) or pass "
                "concurrency='overwrite'."
            )
        self._check_timeout()
        check_seconds("tombstone_window", self.tombstone_window, positive=False, at_most=3600, hint=" (0: none)")
        limit = self.max_sessions_per_user
        if limit is not None and (type(limit) is not int or limit < 1):
            raise ConfigurationError(f"max_sessions_per_user must be a whole number of sessions, at least 1, or None; "
                                     f"not {limit!r}.")
        if self.max_sessions_policy not in ("end_oldest", "refuse"):
            raise ConfigurationError(f"max_sessions_policy must be 'end_oldest' (a login beyond the limit ends the "
                                     f"user's oldest other sessions) or 'refuse' (it raises TooManySessions), not "
                                     f"{self.max_sessions_policy!r}.")
        if limit is not None and not self.store.supports(USER_INDEX):
            raise ConfigurationError(f"max_sessions_per_user needs a store with the {USER_INDEX!r} capability, and "
                                     f"{type(self.store).__name__} has no iter_bound(): implement it (see "
                                     "wsgisession.Store), or use SQLiteStore, MongoStore or MemoryStore.")
        object.__setattr__(self, "id_header", check_header(self.header))
        object.__setattr__(self, "secrets", _secrets(self.secret))
        object.__setattr__(self, "merge", self.concurrency == "merge")
        object.__setattr__(self, "reads_request", self.genid is not default_genid or self.static_cookie is None)

    def options_for(self, request: Any) -> CookieOptions:
        """The cookie options of one request: the static ones, or what the ``cookie`` callable returns
        for ``request``, checked as static ones are (a ConfigurationError, at request time, saying
        what it returned and what to return instead)."""
        static = self.static_cookie
        if static is not None:
            return static
        return cookie_options(self.cookie(request), self.name, "the cookie callable")  # type: ignore[operator]

    def _check_timeout(self) -> None:
        timeout = self.absolute_timeout
        if timeout is None:
            return
        check_seconds("absolute_timeout", timeout, hint=" or None")
        if not self.store.tracks_creation:
            raise ConfigurationError(
                f"absolute_timeout needs a store that records when each session was created, and "
                f"{type(self.store).__name__} has tracks_creation = False: use MongoStore(..., timestamps=True) "
                "(connect-mongo's createdAt), SQLiteStore or MemoryStore, or have load() report created_ms and set "
                "tracks_creation = True."
            )

