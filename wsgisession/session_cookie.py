"""SessionCookie: a session's cookie settings, stored with it as express's ``cookie`` object."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .options import CookieOptions
from .serialization import datetime_to_ms, format_iso, ms_to_datetime, parse_iso

__all__ = ["SessionCookie"]


class SessionCookie:
    """The cookie settings of one session, stored with it as express's ``cookie`` object.

    ``max_age`` is in seconds and may be set per session ("remember me")::

        session.cookie.max_age = 30 * 86400
    """

    # express's Cookie defaults, as class attributes: an instance stores only what differs.
    original_max_age: int | None = None  # milliseconds, as express stores it
    expires_ms: int | None = None
    secure: bool | None = None
    http_only = True
    domain: str | None = None
    path = "/"
    same_site: str | None = None
    partitioned = False
    priority: str | None = None

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock

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
        get = data.get
        oma = get("originalMaxAge")
        if isinstance(oma, (int, float)) and not isinstance(oma, bool):
            cookie.original_max_age = int(oma)
        expires = get("expires")
        if isinstance(expires, str):
            try:
                cookie.expires_ms = parse_iso(expires)
            except ValueError:
                pass
        elif isinstance(expires, datetime):  # stringify=False documents hold a BSON date
            cookie.expires_ms = datetime_to_ms(expires)
        secure = get("secure")
        if secure is not None:
            cookie.secure = bool(secure)
        if not get("httpOnly", True):
            cookie.http_only = False
        domain, path = get("domain"), get("path")
        if isinstance(domain, str):
            cookie.domain = domain
        if isinstance(path, str):
            cookie.path = path
        same_site = get("sameSite")
        if same_site is True:
            cookie.same_site = "strict"
        elif isinstance(same_site, str):
            cookie.same_site = same_site.lower()
        if get("partitioned"):
            cookie.partitioned = True
        priority = get("priority")
        if isinstance(priority, str):
            cookie.priority = priority.lower()
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
