"""The per-request Session: a lazy dict over the stored record, with express-session's lifecycle.

Nothing is read from the store until the app first touches the session. Changes are detected by
comparing the serialized data (and the cookie settings) with what was loaded, so nested edits
are saved and unchanged sessions are not rewritten.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import SessionError
from .options import CookieOptions
from .serialization import datetime_to_ms, dumps, format_iso, ms_to_datetime, parse_iso
from .stores.base import Record, Store

__all__ = ["Session", "SessionCookie", "SessionSettings", "SET_COOKIE", "EXPIRE_COOKIE"]

logger = logging.getLogger(__name__)

SET_COOKIE = "set"
EXPIRE_COOKIE = "expire"
_META_KEYS = ("lastModified",)  # store bookkeeping (connect-mongo's touchAfter), not app data
# Names express's Session object already has (its methods, Object.prototype): Node drops such
# keys when it loads a session and erases them at its next save, so they are refused here.
RESERVED_KEYS = frozenset({
    "cookie", "lastModified", "id", "req", "regenerate", "destroy", "reload", "save", "touch", "resetMaxAge",
    "constructor", "__proto__", "toString", "toLocaleString", "valueOf", "hasOwnProperty", "isPrototypeOf",
    "propertyIsEnumerable", "__defineGetter__", "__defineSetter__", "__lookupGetter__", "__lookupSetter__",
})


class SessionCookie:
    """The cookie settings of one session, stored with it as express's ``cookie`` object.

    ``max_age`` is in seconds and may be set per session ("remember me")::

        session.cookie.max_age = 30 * 86400
    """

    __slots__ = ("original_max_age", "expires_ms", "secure", "http_only", "domain", "path",
                 "same_site", "partitioned", "priority", "_clock")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.original_max_age: int | None = None  # milliseconds, as express stores it
        self.expires_ms: int | None = None
        self.secure: bool | None = None
        self.http_only = True
        self.domain: str | None = None
        self.path = "/"
        self.same_site: str | None = None
        self.partitioned = False
        self.priority: str | None = None

    @classmethod
    def from_options(cls, options: CookieOptions, is_secure: bool, clock: Callable[[], float]) -> SessionCookie:
        """A new session's cookie, with ``"auto"`` resolved for this request (as express does)."""
        cookie = cls(clock)
        cookie.secure = is_secure if options.secure == "auto" else bool(options.secure)
        same_site = options.same_site
        cookie.same_site = ("none" if cookie.secure else "lax") if same_site == "auto" else same_site
        cookie.http_only = options.http_only
        cookie.domain = options.domain
        cookie.path = options.path
        cookie.partitioned = options.partitioned
        cookie.priority = options.priority
        cookie.max_age = options.max_age
        return cookie

    @classmethod
    def from_json(cls, data: dict[str, Any], clock: Callable[[], float]) -> SessionCookie:
        """Rebuild from the stored ``cookie`` object; its attributes win over the current options."""
        cookie = cls(clock)
        oma = data.get("originalMaxAge")
        cookie.original_max_age = int(oma) if isinstance(oma, (int, float)) and not isinstance(oma, bool) else None
        expires = data.get("expires")
        if isinstance(expires, str):
            try:
                cookie.expires_ms = parse_iso(expires)
            except ValueError:
                cookie.expires_ms = None
        elif isinstance(expires, datetime):  # stringify=False documents hold a BSON date
            cookie.expires_ms = datetime_to_ms(expires)
        secure = data.get("secure")
        cookie.secure = bool(secure) if secure is not None else None
        cookie.http_only = bool(data.get("httpOnly", True))  # express's Cookie defaults
        domain, path = data.get("domain"), data.get("path")
        cookie.domain = domain if isinstance(domain, str) else None
        cookie.path = path if isinstance(path, str) else "/"
        same_site = data.get("sameSite")
        if same_site is True:
            same_site = "strict"
        cookie.same_site = same_site.lower() if isinstance(same_site, str) else None
        cookie.partitioned = bool(data.get("partitioned"))
        priority = data.get("priority")
        cookie.priority = priority.lower() if isinstance(priority, str) else None
        return cookie

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    @property
    def max_age(self) -> float | None:
        """Seconds until the cookie expires; None for a browser-session cookie."""
        if self.expires_ms is None:
            return None
        return (self.expires_ms - self._now_ms()) / 1000

    @max_age.setter
    def max_age(self, seconds: float | None) -> None:
        if seconds is None:
            self.original_max_age = None
            self.expires_ms = None
            return
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError(f"max_age must be a number of seconds >= 0 or None, not {seconds!r}")
        self.original_max_age = round(seconds * 1000)
        self.expires_ms = self._now_ms() + self.original_max_age

    @property
    def expires(self) -> datetime | None:
        """When the cookie expires (aware UTC), or None."""
        return None if self.expires_ms is None else ms_to_datetime(self.expires_ms)

    def reset(self) -> None:
        """Restart the countdown: expires = now + original max age (express's ``touch``)."""
        oma = self.original_max_age
        self.expires_ms = None if oma is None else self._now_ms() + oma

    def settings(self) -> tuple[Any, ...]:
        """Everything but the rolling expiry: a change here is a change of the session."""
        return (self.original_max_age, self.secure, self.http_only, self.domain, self.path,
                self.same_site, self.partitioned, self.priority)

    def to_json(self) -> dict[str, Any]:
        """Express's ``Cookie.toJSON()``: same keys, same order, unset attributes omitted."""
        data: dict[str, Any] = {"originalMaxAge": self.original_max_age}
        if self.partitioned:
            data["partitioned"] = True
        if self.priority:
            data["priority"] = self.priority
        data["expires"] = None if self.expires_ms is None else format_iso(self.expires_ms)
        if self.secure is not None:
            data["secure"] = self.secure
        data["httpOnly"] = self.http_only
        if self.domain:
            data["domain"] = self.domain
        data["path"] = self.path
        if self.same_site:
            data["sameSite"] = self.same_site
        return data


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """What every session of one middleware shares."""

    store: Store
    cookie: CookieOptions
    genid: Callable[[Any], str]
    resave: bool
    save_uninitialized: bool
    clock: Callable[[], float]
    log_salt: bytes = field(default_factory=lambda: secrets.token_bytes(16), repr=False)

    def tag(self, sid: str) -> str:
        """A short salted hash that correlates log lines of one session without revealing its id."""
        return hashlib.blake2b(sid.encode("utf-8", "surrogatepass"), key=self.log_salt, digest_size=6).hexdigest()


class Session(MutableMapping[str, Any]):
    """The session of one request: a dict of JSON values, loaded from the store on first use.

    ::

        session = environ["wsgisession.session"]
        session["cuenta"] = session.get("cuenta", 0) + 1
        session.regenerate()   # on login: new id, data kept, old record destroyed
        session.destroy()      # on logout: record destroyed, cookie expired
    """

    def __init__(self, settings: SessionSettings, cookie_id: str | None, request: Any, is_secure: bool) -> None:
        self._settings = settings
        self._cookie_id = cookie_id  # verified id from the request cookie, or None
        self._request = request
        self._is_secure = is_secure
        self._data: dict[str, Any] | None = None  # None until loaded
        self._id = ""
        self._original_id = ""
        self._cookie: SessionCookie | None = None
        self._meta: dict[str, Any] = {}
        self._loaded_state: tuple[Any, ...] | None = None
        self._saved_state: tuple[Any, ...] | None = None
        self._committed_state: tuple[Any, ...] | None = None
        self._expire_cookie = False

    # -- loading -------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether the app has used the session in this request (so the store was consulted)."""
        return self._data is not None

    def _ensure(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            record = self._settings.store.get(self._cookie_id) if self._cookie_id else None
            if isinstance(record, dict):
                self._inflate(record)
                self._original_id = self._id = self._cookie_id  # type: ignore[assignment]
            else:
                if self._cookie_id:
                    logger.debug("session %s unknown or expired: starting a new one",
                                 self._settings.tag(self._cookie_id))
                self._generate()
            data = self._data
            assert data is not None
        return data

    def _generate(self) -> None:
        self._id = self._original_id = self._new_id()
        self._data = {}
        self._meta = {}
        self._cookie = self._new_cookie()
        self._loaded_state = self._state()
        self._saved_state = None

    def _new_id(self) -> str:
        sid = self._settings.genid(self._request)
        if not isinstance(sid, str) or not sid:
            raise SessionError(f"genid must return a non-empty str, not {sid!r}")
        return sid

    def _new_cookie(self) -> SessionCookie:
        return SessionCookie.from_options(self._settings.cookie, self._is_secure, self._settings.clock)

    def _inflate(self, record: Record) -> None:
        data = dict(record)
        cookie = data.pop("cookie", None)
        self._meta = {key: data.pop(key) for key in _META_KEYS if key in data}
        self._cookie = (SessionCookie.from_json(cookie, self._settings.clock) if isinstance(cookie, dict)
                        else self._new_cookie())
        self._data = data
        self._loaded_state = self._state()
        self._saved_state = None if self._settings.resave else self._loaded_state

    def _state(self) -> tuple[Any, ...]:
        assert self._cookie is not None
        try:
            data = dumps(self._data)
        except (TypeError, ValueError) as exc:
            raise SessionError(f"session data must be JSON-serializable: {exc}") from exc
        return (data, self._cookie.settings())

    def _record(self) -> Record:
        assert self._cookie is not None and self._data is not None
        return {"cookie": self._cookie.to_json(), **self._data}

    # -- the dict --------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self._ensure()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in RESERVED_KEYS:
            raise KeyError(f"{key!r} is reserved (express-session uses it; an Express app sharing the session "
                           "would drop it): choose another key; session.cookie holds the cookie settings")
        self._ensure()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._ensure()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ensure())

    def __len__(self) -> int:
        return len(self._ensure())

    def __contains__(self, key: object) -> bool:
        return key in self._ensure()

    def get(self, key: str, default: Any = None) -> Any:
        return self._ensure().get(key, default)

    def __repr__(self) -> str:  # never shows the id
        return f"<Session {'not loaded' if self._data is None else f'{len(self._data)} keys'}>"

    # -- public attributes and methods -------------------------------------------------------

    @property
    def id(self) -> str:
        """The session id (loads the session: an unknown cookie id gets a fresh one)."""
        self._ensure()
        return self._id

    @property
    def is_new(self) -> bool:
        """True unless this session was loaded from the store under the cookie's id."""
        self._ensure()
        return self._id != self._cookie_id

    @property
    def cookie(self) -> SessionCookie:
        """This session's cookie settings."""
        self._ensure()
        assert self._cookie is not None
        return self._cookie

    def regenerate(self) -> None:
        """Give the session a new id, keeping its data; the old record is destroyed (use on login)."""
        self._ensure()
        old = self._id
        self._settings.store.destroy(old)
        self._id = self._new_id()
        logger.debug("session %s regenerated as %s", self._settings.tag(old), self._settings.tag(self._id))
        self._cookie = self._new_cookie()
        self._meta = {}
        self._saved_state = None

    def destroy(self) -> None:
        """Delete the record and start an empty session; the cookie is expired (use on logout)."""
        sid = self._id if self._data is not None else self._cookie_id
        if sid:
            self._settings.store.destroy(sid)
            logger.debug("session %s destroyed", self._settings.tag(sid))
        if self._cookie_id:
            self._expire_cookie = True
        self._generate()

    def reload(self) -> None:
        """Re-read the record from the store, dropping unsaved changes."""
        self._ensure()
        record = self._settings.store.get(self._id)
        if not isinstance(record, dict):
            raise SessionError("the session no longer exists in the store")
        self._inflate(record)

    def save(self) -> None:
        """Write the session to the store now."""
        self._ensure()
        state = self._state()
        self._settings.store.set(self._id, self._record())
        self._saved_state = state

    def touch(self) -> None:
        """Restart the cookie's max-age countdown (the store's expiry follows when it is saved)."""
        self.cookie.reset()

    # -- end of request (called by the middleware) -------------------------------------------

    def _modified(self, state: tuple[Any, ...]) -> bool:
        return self._id != self._original_id or state != self._loaded_state

    def commit(self, rolling: bool) -> str | None:
        """Save or touch as express-session does; return SET_COOKIE, EXPIRE_COOKIE or None."""
        if self._data is None:
            return None
        assert self._cookie is not None
        self._cookie.reset()
        state = self._state()
        modified = self._modified(state)
        is_saved = self._id == self._original_id and state == self._saved_state
        unknown = self._cookie_id != self._id
        if unknown and not self._settings.save_uninitialized and self._saved_state is None:
            should_save = modified
        else:
            should_save = not is_saved
        store = self._settings.store
        if should_save:
            store.set(self._id, self._record())
            self._saved_state = state
            if unknown and self._id == self._original_id:
                logger.debug("session %s created", self._settings.tag(self._id))
        elif not unknown:
            store.touch(self._id, {**self._record(), **self._meta})
        self._committed_state = state
        if unknown:
            send = self._settings.save_uninitialized or modified
        else:
            send = rolling or (self._cookie.expires_ms is not None and modified)
        if send:
            return SET_COOKIE
        return EXPIRE_COOKIE if self._expire_cookie else None

    def finish(self) -> None:
        """Save changes made after the headers went out (while the body was being produced)."""
        if self._data is None:
            return
        if self._committed_state is None:
            self.commit(rolling=False)
        elif self._state() != self._committed_state:
            self.save()
            self._committed_state = self._saved_state
