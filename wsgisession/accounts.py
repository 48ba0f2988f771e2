"""Accounts: sessions bound to users. Log in and out, list a user's sessions, end them.

::

    session.login("alice")                           # new id, bound to alice, authenticated now
    app.sessions_of("alice", current=session)        # [SessionInfo(handle=..., current=True), ...]
    app.revoke("alice", handle)                      # end one ("this device")
    app.revoke_all("alice", keep=session)            # end the others ("log out my other devices")

The binding (``Account``) is kept by the store beside the record, in fields of its own with an
index on the user (stores/base.py): a user's sessions are found without reading anyone else's,
and an Express app's saves on a shared MongoDB collection leave it alone. Ending a session
destroys its record, so it is dead at its next request in every process, and the
compare-and-set saves keep a request that was in flight from bringing it back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import record
from .errors import ConfigurationError, SessionError
from .events import Events
from .serialization import now_ms
from .stores.base import MAX_USER_AGENT, MAX_USER_ID, Account, Bound, Store

from .session import Session, persistence_of

if TYPE_CHECKING:
    from .persistence import Persistence

__all__ = ["Accounts", "SessionInfo", "check_user_id"]


@dataclass(frozen=True)
class SessionInfo:
    """One of a user's sessions, as ``sessions_of`` lists it (times in epoch seconds)."""

    handle: str  # names the session for revoke(); not its id, and no way back to it
    user_id: str
    created: float | None  # when it was logged in (login() gives a session its id)
    last_seen: float | None  # its last request that used the session (to within MongoStore's touch_after)
    expires: float  # when it ends unless it is used again
    user_agent: str | None  # the browser it logged in from
    authenticated_at: float | None  # the last login or re-authentication
    current: bool  # it is the session that asked (sessions_of's ``current``)


def check_user_id(user_id: object) -> str:
    """Return ``user_id`` if it is a non-empty str of at most MAX_USER_ID characters, else raise SessionError."""
    if type(user_id) is not str or not 0 < len(user_id) <= MAX_USER_ID:
        kind = f"a str of {len(user_id)} characters" if isinstance(user_id, str) else type(user_id).__name__
        raise SessionError(f"a user id must be a non-empty str of at most {MAX_USER_ID} characters, not {kind}")
    return user_id


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


class Accounts:
    """The per-user operations of one middleware (``SessionCore.accounts``)."""

    def __init__(self, store: Store, events: Events, clock: Callable[[], float], secret: str | bytes,
                 max_sessions_per_user: int | None = None, end: Callable[[str], bool | None] | None = None) -> None:
        self.store = store
        self.end = end or store.destroy_key  # SessionCore.end: with tombstones, the key stays buried a while
        self.events = events
        self.clock = clock
        self.limit = max_sessions_per_user
        # Handles are keyed with the signing secret: stable across processes and restarts, and
        # without the secret nobody can tell which id a handle names (nor compute one from an id).
        self._handle_key = hmac.new(secret.encode("utf-8") if isinstance(secret, str) else secret,
                             b"wsgisession session handle", hashlib.sha256).digest()

    def handle(self, key: str) -> str:
        """The handle of the session stored under ``key`` (Bound.key): 128 bits of a keyed hash, base64url."""
        digest = hmac.new(self._handle_key, key.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")

    def _check(self, user_id: str) -> None:
        """Refuse a bad user id, and a store that cannot keep accounts (saying what to do)."""
        check_user_id(user_id)
        if not self.store.keeps_accounts:
            raise ConfigurationError(f"{type(self.store).__name__} does not keep accounts: implement iter_bound() "
                                     "(see wsgisession.Store), or use SQLiteStore, MongoStore or MemoryStore.")

    def _bound(self, user_id: str) -> list[Bound]:
        self._check(user_id)
        return list(self.store.iter_bound(user_id))

    # -- the list and revocation ---------------------------------------------------------------

    def sessions_of(self, user_id: str, current: Session | None = None) -> list[SessionInfo]:
        """The user's live sessions, the most recently seen first."""
        mine = self._keys_of(current)
        infos = [self.describe(bound, bound.key in mine) for bound in self._bound(user_id)]
        return sorted(infos, key=lambda info: info.last_seen or 0, reverse=True)

    def describe(self, bound: Bound, current: bool = False) -> SessionInfo:
        """A bound record as ``sessions_of`` lists it (``current``: it is the asking session)."""
        account = bound.account
        return SessionInfo(self.handle(bound.key), account.user_id, _seconds(account.logged_in_ms),
                           _seconds(self._last_seen(bound)), bound.expires_ms / 1000, account.user_agent,
                           _seconds(account.authenticated_ms), current)

    def _last_seen(self, bound: Bound) -> int | None:
        """When the session was last used: every request that uses it pushes its expiry to then +
        its lifetime (the cookie's max age, else the store's ttl), so the expiry tells."""
        parsed = None if bound.text is None or not bound.text.startswith("{") else record.parse(bound.text)
        cookie = None if parsed is None else parsed.get("cookie")
        if not isinstance(cookie, dict):
            return None
        lifetime = cookie.get("originalMaxAge")
        if isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool) and lifetime > 0:
            return bound.expires_ms - int(lifetime)
        return bound.expires_ms - int(self.store.ttl * 1000) if cookie.get("expires") is None else None

    def revoke(self, user_id: str, handle: str) -> bool:
        """End the user's session named ``handle``; False if there is none (any more)."""
        if not isinstance(handle, str):
            return False
        given = handle.encode("utf-8", "surrogatepass")  # (compare_digest refuses non-ASCII str: a form sent it)
        for bound in self._bound(user_id):
            if hmac.compare_digest(self.handle(bound.key).encode("ascii"), given):
                return self._end(bound.key, user_id, "revoked")
        return False

    def revoke_all(self, user_id: str, keep: Session | None = None) -> int:
        """End every session of the user but ``keep``'s; return how many ended."""
        spared = self._keys_of(keep)
        return sum(self._end(bound.key, user_id, "revoked") for bound in self._bound(user_id)
                   if bound.key not in spared)

    def _end(self, key: str, user_id: str, event: str) -> bool:
        if self.end(key) is False:
            return False  # already gone
        self.events.emit(event, key, user=user_id, keyed=True)
        return True

    def _keys_of(self, session: Session | None) -> set[str]:
        """The keys of ``session``'s records (Bound.key): its id's and the one's it was regenerated from."""
        return {self.store.key(sid) for sid in _ids_of(session)}

    # -- the verbs of a session ----------------------------------------------------------------

    def login(self, p: Persistence, user_id: str, user_agent: str | None) -> None:
        """A new id bound to the user, authenticated now; the user's oldest sessions beyond the limit end."""
        self._check(user_id)
        now = now_ms(self.clock)
        if p.account is not None and p.account.user_id != user_id:
            p.data.clear()  # another user's session: none of their data goes to this one
            p.written = True
        if p.dropped and p.original_id != p.cookie_id:
            # The cookie's id was ended moments ago (a tombstone: persistence.py): the request stores
            # nothing, but a login proves who the user is now and starts a new session all the same.
            p.dropped = False
        p.regenerate()
        p.bind(Account(user_id, now, now, user_agent[:MAX_USER_AGENT] if user_agent else None))
        self.events.emit("login", p.id, user=user_id)
        if self.limit is not None and p.persist(p.state()) is not None:
            self._enforce_limit(user_id, self.limit)

    def _enforce_limit(self, user_id: str, limit: int) -> None:
        """End the user's sessions but the ``limit`` newest (by login). The login's session is saved
        first, so concurrent logins each see the others' and agree on which to end."""
        sessions = sorted(self._bound(user_id), key=lambda bound: (bound.account.logged_in_ms or 0, bound.key))
        for bound in sessions[: max(0, len(sessions) - limit)]:
            self._end(bound.key, user_id, "evicted")

    def logout(self, p: Persistence) -> None:
        """Destroy the session, its binding with it."""
        sid, account = p.id, p.account
        p.destroy()
        self.events.emit("logout", sid, user=None if account is None else account.user_id)

    def reauthenticate(self, p: Persistence) -> None:
        """A new id for a logged-in session (ASVS 7.2.4: a new token on any authentication), stamped now."""
        account = p.account
        if account is None:
            raise SessionError("reauthenticated() needs a logged-in session: call login(user_id) instead")
        p.regenerate()
        p.bind(account._replace(authenticated_ms=now_ms(self.clock)))
        self.events.emit("reauthenticated", p.id, user=account.user_id)

    def authenticated_within(self, p: Persistence, seconds: float) -> bool:
        """Whether the session is logged in and was authenticated less than ``seconds`` ago."""
        account = p.account
        if account is None or account.authenticated_ms is None:
            return False
        return 0 <= now_ms(self.clock) - account.authenticated_ms < seconds * 1000


def _ids_of(session: Session | None) -> Iterable[str]:
    """The ids that are ``session``'s: its own, and the one it was regenerated from in this request."""
    if session is None:
        return ()
    session.id  # noqa: B018  (loads it)
    p = persistence_of(session)
    assert p is not None
    return {sid for sid in (p.id, p.retired) if sid is not None}
