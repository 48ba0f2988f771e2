"""SessionCore: sessions for any transport, from plain values (a Cookie header, https or not).

The WSGI middleware (and the framework adapters) hand it what they read from the request and
add the headers it returns; it never calls back into them::

    core = SessionCore(SessionConfig(secret=SECRET, store=SQLiteStore("sessions.sqlite3")))
    session = core.open(cookie_header, is_secure, request)     # lazy: nothing read yet
    ...                                                         # the app uses the session
    headers = core.close(session)       # saves or touches; [("Vary", "Cookie"), ("Set-Cookie", ...)]
    core.finish(session)                # after the body: saves what changed while it streamed
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .accounts import Accounts
from .config import SessionConfig
from .cookies import render_set_cookie
from .events import Events, SaveStats
from .ids import SessionIds
from .persistence import SET_COOKIE
from .serialization import now_ms
from .session import Session, persistence_of
from .session_cookie import SessionCookie

__all__ = ["UNAVAILABLE_BODY", "UNAVAILABLE_HEADERS", "SessionCore"]

_EXPIRED = datetime(1970, 1, 1, tzinfo=timezone.utc)
VARY_COOKIE = ("Vary", "Cookie")
_NO_CACHE = ("Cache-Control", 'no-cache="Set-Cookie"')
# What every adapter answers when the store fails and the app did not handle it: retry in a moment, never cache.
UNAVAILABLE_BODY = b"Service temporarily unavailable: the session store cannot be reached. Try again shortly.\n"
UNAVAILABLE_HEADERS = (("Retry-After", "5"), ("Cache-Control", "no-store"))


class SessionCore:
    """What the sessions of one middleware share: the options, the store, the ids, the events."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.store = config.store
        self.clock = config.clock
        self.events = Events(config.store.key)
        self.stats = SaveStats(self.events)
        self.ids = SessionIds(config.name, config.secrets, self.events)
        self.accounts = Accounts(self.store, self.events, self.clock, config.secrets[0], config.max_sessions_per_user,
                                 self.end)
        # The ids a login, a logout or a revocation ends are buried for the window (see end()).
        self.tombstones = bool(config.tombstone_window) and self.store.keeps_tombstones
        # The stored cookie JSON of sessions without lifetime or priority, over http and https:
        # recognized on load without parsing (1 µs of the read-only request, bench/inprocess.py).
        self.plain_cookie_json = tuple(SessionCookie.plain_json(config.cookie, secure) for secure in (False, True))

    def end(self, key: str) -> bool | None:
        """Destroy the record stored under ``key`` (Store.key); whether there was one. With tombstones, the
        key stays buried for ``tombstone_window``: a request that still presents it stores nothing."""
        if self.tombstones:
            return self.store.bury(key, now_ms(self.clock) + int(self.config.tombstone_window * 1000))
        return self.store.destroy_key(key)

    def buried(self, sid: str) -> bool:
        """Whether another request ended ``sid`` less than ``tombstone_window`` ago."""
        return self.tombstones and self.store.buried(self.store.key(sid))

    def open(self, cookie_header: str | None, is_secure: bool, request: Any, user_agent: str | None = None) -> Session:
        """The request's session; nothing is read until the app uses it (``user_agent``: kept at login)."""
        return Session(self, cookie_header, is_secure, request, user_agent)

    def close(self, session: Session, unset: bool = False) -> list[tuple[str, str]]:
        """Save, touch or destroy as needed; return the headers to add (Vary, Set-Cookie...).

        ``unset``: the app removed the session from the request (express's ``unset`` option decides).
        """
        if unset:
            if self.config.unset == "keep":
                return [VARY_COOKIE] if session.loaded else []  # a body that read it varies on it
            session.destroy()
        p = persistence_of(session)
        if p is None:
            return []
        action = p.commit()
        if action is None:
            return [VARY_COOKIE]
        options = self.config.cookie  # the security attributes are the options' ("auto" resolved aside)
        cookie = p.cookie
        if action == SET_COOKIE:
            value = self.ids.cookie_value(p.id)
            max_age = None if cookie.expires_ms is None else max(0, int(cookie.max_age or 0))
            expires = cookie.expires
        else:
            value, max_age, expires = "", 0, _EXPIRED
        set_cookie = render_set_cookie(
            self.config.name, value, max_age=max_age, domain=options.domain, path=options.path, expires=expires,
            http_only=options.http_only, secure=cookie.secure, partitioned=options.partitioned,
            priority=cookie.priority, same_site=cookie.same_site,
        )
        return [VARY_COOKIE, ("Set-Cookie", set_cookie), _NO_CACHE]

    def finish(self, session: Session) -> None:
        """The response is over: save what changed after its headers went out."""
        p = persistence_of(session)
        if p is not None:
            p.finish()
