"""SessionCookie: a session's cookie, stored with it as express's ``cookie`` object."""

from __future__ import annotations

import functools
from collections.abc import Callable
from operator import attrgetter
from datetime import datetime
from typing import Any

from .errors import ConfigurationError
from .options import MAX_AGE_LIMIT, CookieOptions, check_max_age, check_priority
from .record import expires_ms
from .serialization import dumps, format_iso, ms_to_datetime, now_ms

__all__ = ["SessionCookie", "plain_cookie_json"]

_MAX_AGE_LIMIT_MS = MAX_AGE_LIMIT * 1000
_PLAIN = (None, None)  # the settings of a cookie without lifetime or priority


def _configured(name: str, attribute: str = "") -> property:
    """A security attribute, read-only: from the options (or, resolved, from ``attribute``)."""

    def refuse(self: SessionCookie, value: object) -> None:
        raise ConfigurationError(
            f"session.cookie.{name} comes from the middleware's CookieOptions, so that hardening the options "
            f"protects every session: set CookieOptions({name}=...) instead."
        )

    if attribute:
        return property(attrgetter(attribute), refuse, doc=f"``CookieOptions.{name}``, resolved.")
    return property(attrgetter("_options." + name), refuse, doc=f"``CookieOptions.{name}`` (read-only).")


def _lifetime(name: str, doc: str) -> property:
    """A value that follows from ``max_age``, read-only."""

    def refuse(self: SessionCookie, value: object) -> None:
        raise ConfigurationError(f"session.cookie.{name} follows from max_age: set session.cookie.max_age "
                                 "(seconds, at most 400 days) instead.")

    return property(attrgetter("_" + name), refuse, doc=doc + " Set ``max_age`` to change it.")


@functools.lru_cache(maxsize=64)
def _tail(options: CookieOptions, secure: bool, same_site: str | None) -> str:
    """The end of the cookie's JSON, from ``secure`` on: it depends on the options alone.

    Rendered once per options: serializing the whole cookie object with ``dumps`` on every save
    cost 1.4 µs of the modified request's 15 (bench/inprocess.py, 2026-11-29); this costs 0.3.
    """
    tail: dict[str, Any] = {"secure": secure, "httpOnly": options.http_only}
    if options.domain:
        tail["domain"] = options.domain
    tail["path"] = options.path
    if same_site:
        tail["sameSite"] = same_site
    return "," + dumps(tail)[1:]


class SessionCookie:
    """The cookie of one session, stored with it as express's ``cookie`` object.

    Per session are only its lifetime and priority (``max_age`` in seconds, "remember me")::

        session.cookie.max_age = 30 * 86400

    The security attributes (``secure``, ``http_only``, ``same_site``, ``partitioned``,
    ``domain``, ``path``) are the middleware's current ``CookieOptions``, whatever a stored record
    says (another writer may have written anything), so they are read-only here.
    """

    __slots__ = ("_options", "_clock", "_secure", "_same_site", "_original_max_age", "_expires_ms", "_priority",
                 "_shared_json", "settings")
    # ``settings``: what a session may change besides the rolling expiry, (original max age, priority):
    # a change here is a change of the session. Kept as the two change (read twice per request that
    # uses its session, an attribute rather than a call: bench/instructions.py).
    settings: tuple[int | None, str | None]
    _priority: str | None
    _original_max_age: int | None

    secure = _configured("secure", "_secure")  # "auto" resolved for this request
    same_site = _configured("same_site", "_same_site")  # "auto" resolved for this request
    http_only = _configured("http_only")
    partitioned = _configured("partitioned")
    domain = _configured("domain")
    path = _configured("path")

    def __init__(self, options: CookieOptions, is_secure: bool, clock: Callable[[], float]) -> None:
        """A new session's cookie, with ``"auto"`` resolved for this request (as express does)."""
        self._options = options
        self._clock = clock
        self._resolve(is_secure if options.secure == "auto" else options.secure is True)
        self._priority = options.priority
        max_age = options.max_age  # validated by CookieOptions
        self._original_max_age = None if max_age is None else round(max_age * 1000)
        self._shared_json = None
        self.settings = (self._original_max_age, self._priority)
        self.reset()

    def _resolve(self, secure: bool) -> None:
        same_site = self._options.same_site
        self._secure = secure
        self._same_site = ("none" if secure else "lax") if same_site == "auto" else same_site

    @classmethod
    def plain(cls, options: CookieOptions, is_secure: bool, clock: Callable[[], float]) -> SessionCookie:
        """The cookie of a session stored without lifetime or priority: what ``plain_json`` reads as."""
        cookie = cls.__new__(cls)
        cookie._options = options
        cookie._clock = clock
        # (``_resolve``, spelled out: this runs on every load of such a session, bench/instructions.py)
        secure = cookie._secure = is_secure if options.secure == "auto" else options.secure is True
        same_site = options.same_site
        cookie._same_site = ("none" if secure else "lax") if same_site == "auto" else same_site
        cookie._original_max_age = cookie._expires_ms = cookie._priority = cookie._shared_json = None
        cookie.settings = _PLAIN
        return cookie

    @classmethod
    def shared(cls, options: CookieOptions, is_secure: bool, clock: Callable[[], float]) -> SessionCookie:
        """A ``plain`` cookie that every session loaded (or started) with it may hold until one changes
        it: no cookie to build per request, its JSON rendered once (bench/instructions.py, read-only
        and modified). ``SessionState.own_cookie`` gives a session its own copy before anything may
        change it; the setters refuse to change a shared one."""
        cookie = cls.plain(options, is_secure, clock)
        cookie._shared_json = cookie.json()
        return cookie

    def unshared(self) -> SessionCookie:
        """This cookie, or, if it is ``shared``, a copy of it that is not."""
        if self._shared_json is None:
            return self
        return type(self).plain(self._options, self._secure, self._clock)

    @classmethod
    def plain_json(cls, options: CookieOptions, is_secure: bool) -> str:
        """The stored JSON of a ``plain`` cookie (a browser-session cookie: no lifetime, no priority).

        Every such session stores the same text, so a load can recognize it without parsing it.
        """
        return cls.plain(options, is_secure, lambda: 0.0).json()

    @classmethod
    def restore(cls, stored: dict[str, Any] | None, known: bool, options: CookieOptions, is_secure: bool,
                clock: Callable[[], float]) -> tuple[SessionCookie, list[str]]:
        """The cookie of a loaded record (record.split's cookie and ``known``), and the names of invalid stored values."""
        if known:
            return cls.plain(options, is_secure, clock), []
        if stored is None:
            return cls(options, is_secure, clock), []
        return cls.from_json(stored, options, is_secure, clock)

    @classmethod
    def from_json(cls, data: dict[str, Any], options: CookieOptions, is_secure: bool,
                  clock: Callable[[], float]) -> tuple[SessionCookie, list[str]]:
        """Rebuild from a stored ``cookie`` object; return it and the names of invalid stored values.

        Only the per-session values are read (lifetime, priority); an invalid one falls back to
        the options. The stored security attributes are ignored, the options decide them, with
        one exception that can only make a cookie stricter: under ``secure="auto"`` a session
        created over https stays Secure (as in express), so it is never re-sent over http.
        """
        cookie = cls.__new__(cls)
        cookie._options = options
        cookie._clock = clock
        cookie._shared_json = None
        get = data.get
        secure = is_secure if options.secure == "auto" else options.secure is True
        cookie._resolve(secure or (options.secure == "auto" and get("secure") is True))
        invalid = []
        oma = get("originalMaxAge")
        if oma is None or (type(oma) is int or type(oma) is float) and 0 <= oma <= _MAX_AGE_LIMIT_MS:
            cookie._original_max_age = None if oma is None else int(oma)  # (NaN fails the comparison)
        else:
            invalid.append("originalMaxAge")
            max_age = options.max_age
            cookie._original_max_age = None if max_age is None else round(max_age * 1000)
        try:
            cookie._expires_ms = expires_ms(get("expires"))
        except (ValueError, OverflowError):
            invalid.append("expires")
            cookie.reset()
        priority = get("priority")
        if priority is None:
            cookie._priority = None
        else:
            try:
                cookie._priority = check_priority(priority)
            except ConfigurationError:
                invalid.append("priority")
                cookie._priority = options.priority
        cookie.settings = (cookie._original_max_age, cookie._priority)
        return cookie, invalid


    @property
    def priority(self) -> str | None:
        """``"low"``, ``"medium"``, ``"high"`` or None; settable per session."""
        return self._priority

    @priority.setter
    def priority(self, value: str | None) -> None:
        self._check_own()
        self._priority = check_priority(value)
        self.settings = (self._original_max_age, self._priority)

    def _check_own(self) -> None:
        if self._shared_json is not None:  # (SessionState.own_cookie hands the app a copy: never reached)
            raise AssertionError("a shared SessionCookie must not change: take SessionState.own_cookie()")

    @property
    def max_age(self) -> float | None:
        """Seconds until the cookie expires; None for a browser-session cookie; at most 400 days."""
        if self._expires_ms is None:
            return None
        return (self._expires_ms - now_ms(self._clock)) / 1000

    @max_age.setter
    def max_age(self, seconds: float | None) -> None:
        self._check_own()
        check_max_age(seconds)
        self._original_max_age = None if seconds is None else round(seconds * 1000)
        self.settings = (self._original_max_age, self._priority)
        self.reset()

    original_max_age = _lifetime("original_max_age", "The lifetime in milliseconds, as express stores it.")
    expires_ms = _lifetime("expires_ms", "When the cookie expires, in epoch milliseconds, or None.")

    @property
    def expires(self) -> datetime | None:
        """When the cookie expires (aware UTC), or None."""
        return None if self._expires_ms is None else ms_to_datetime(self._expires_ms)

    def reset(self) -> None:
        """Restart the countdown: expires = now + original max age (express's ``touch``)."""
        oma = self._original_max_age
        self._expires_ms = None if oma is None else now_ms(self._clock) + oma

    def json(self) -> str:
        """``dumps(self.to_json())``, rendered directly: this runs on every save (see ``_tail``)."""
        if self._shared_json is not None:
            return self._shared_json
        oma = self._original_max_age
        text = '{"originalMaxAge":' + ("null" if oma is None else str(oma))
        if self._options.partitioned:
            text += ',"partitioned":true'
        if self._priority:
            text += ',"priority":"' + self._priority + '"'  # one of three words: nothing to escape
        expires = self._expires_ms
        text += ',"expires":' + ("null" if expires is None else '"' + format_iso(expires) + '"')
        return text + _tail(self._options, self._secure, self._same_site)

    @property
    def options(self) -> CookieOptions:
        """The CookieOptions this cookie follows (with a ``cookie`` callable, what it returned for this request)."""
        return self._options

    def to_json(self) -> dict[str, Any]:
        """Express's ``Cookie.toJSON()``: same keys, same order, unset attributes omitted."""
        options = self._options
        data: dict[str, Any] = {"originalMaxAge": self._original_max_age}
        if options.partitioned:
            data["partitioned"] = True
        if self._priority:
            data["priority"] = self._priority
        data["expires"] = None if self._expires_ms is None else format_iso(self._expires_ms)
        data["secure"] = self._secure
        data["httpOnly"] = options.http_only
        if options.domain:
            data["domain"] = options.domain
        data["path"] = options.path
        if self._same_site:
            data["sameSite"] = self._same_site
        return data


@functools.lru_cache(maxsize=64)
def plain_cookie_json(options: CookieOptions) -> tuple[str, str]:
    """``SessionCookie.plain_json`` over http and over https (recognized on load without parsing)."""
    return (SessionCookie.plain_json(options, False), SessionCookie.plain_json(options, True))
