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
from collections.abc import Callable, Collection
from dataclasses import dataclass

from . import record
from .errors import ConfigurationError, SessionError
from .events import Events
from .lifecycle import SessionState, Steps, end_op
from .serialization import now_ms
from .stores.base import MAX_USER_AGENT, MAX_USER_ID, USER_INDEX, Account, Bound, Store

__all__ = ["Accounts", "SessionInfo", "check_user_id"]


@dataclass(frozen=True)
class SessionInfo:
    """One of a user's sessions, as ``sessions_of`` lists it (times in epoch seconds)."""

    handle: str  # names the session for revoke(); not its id, and no way back to it
    user_id: str
    created: float | None  # when it was logged in (login() gives a session its id)
    last_seen: float | None  # its last request that used the session (to within the store's touch_after)
    expires: float  # when it ends unless it is used again
    user_agent: str | None  # the browser it logged in from
    authenticated_at: float | None  # the last login or re-authentication
    current: bool  # it is the session that asked (sessions_of's ``current``)


def check_user_id(user_id: object) -> str:
    """Return ``user_id`` if it is a non-empty str of at most MAX_USER_ID characters that UTF-8 can
    encode, else raise SessionError (never repeating it)."""
    if type(user_id) is not str or not 0 < len(user_id) <= MAX_USER_ID:
        kind = f"a str of {len(user_id)} characters" if isinstance(user_id, str) else type(user_id).__name__
        raise SessionError(f"a user id must be a non-empty str of at most {MAX_USER_ID} characters, not {kind}")
    try:
        user_id.encode("utf-8")  # stores keep UTF-8 (SQLite's text, BSON's strings): a lone surrogate has none
    except UnicodeEncodeError as exc:
        raise SessionError(f"a user id must be encodable as UTF-8: this one has a lone surrogate at index {exc.start} "
                           "(bytes that are not UTF-8, decoded with errors='surrogateescape'?)") from exc
    return user_id


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


class Accounts:
    """The per-user operations of one middleware, as steps for a driver (``lifecycle.run``/``arun``).

    The sessions a caller names (the asking one, the one to keep) come as the keys their records
    are stored under; ``SessionCore.accounts`` is the same API over Session objects, run on the store.
    """

    def __init__(self, store: Store, events: Events, clock: Callable[[], float], secret: str | bytes,
                 max_sessions_per_user: int | None = None, tombstone_window: float = 0) -> None:
        self.events = events
        self.clock = clock
        self.key = store.key  # the key a session's record is stored under
        # Ended sessions are buried for the window (see lifecycle.end_op), if the store keeps tombstones.
        self.tombstone_ms = int(tombstone_window * 1000) if store.keeps_tombstones else 0
        self.keeps_accounts = store.keeps_accounts
        self.store_name = type(store).__name__
        self.ttl_ms = int(store.ttl * 1000)
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
        if not self.keeps_accounts:
            raise ConfigurationError(f"{self.store_name} does not have the {USER_INDEX!r} capability that accounts "
                                     "need: implement iter_bound() (see wsgisession.Store), or use SQLiteStore, "
                                     "MongoStore or MemoryStore.")

    def _bound(self, user_id: str) -> Steps[list[Bound]]:
        self._check(user_id)
        return list((yield ("iter_bound", user_id)))

    # -- the list and revocation ---------------------------------------------------------------

    def sessions_of(self, user_id: str, current: Collection[str] = ()) -> Steps[list[SessionInfo]]:
        """The user's live sessions, the most recently seen first (``current``: the asking session's keys)."""
        bound = yield from self._bound(user_id)
        infos = [self.describe(entry, entry.key in current) for entry in bound]
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
        return bound.expires_ms - self.ttl_ms if cookie.get("expires") is None else None

    def revoke(self, user_id: str, handle: str) -> Steps[bool]:
        """End the user's session named ``handle``; False if there is none (any more)."""
        if not isinstance(handle, str):
            return False
        given = handle.encode("utf-8", "surrogatepass")  # (compare_digest refuses non-ASCII str: a form sent it)
        for bound in (yield from self._bound(user_id)):
            if hmac.compare_digest(self.handle(bound.key).encode("ascii"), given):
                return (yield from self._end(bound.key, user_id, "revoked"))
        return False

    def revoke_all(self, user_id: str, keep: Collection[str] = ()) -> Steps[int]:
        """End every session of the user but those stored under ``keep``; return how many ended."""
        ended = 0
        for bound in (yield from self._bound(user_id)):
            if bound.key not in keep:
                ended += yield from self._end(bound.key, user_id, "revoked")
        return ended

    def _end(self, key: str, user_id: str, event: str) -> Steps[bool]:
        if (yield end_op(key, self.tombstone_ms, self.clock)) is False:
            return False  # already gone
        self.events.emit(event, key, user=user_id, keyed=True)
        return True

    # -- the verbs of a session ----------------------------------------------------------------

    def login(self, state: SessionState, user_id: str, user_agent: str | None) -> Steps[None]:
        """A new id bound to the user, authenticated now; the user's oldest sessions beyond the limit end."""
        self.bind_login(state, user_id, user_agent)
        if self.limit is not None:
            yield from self.limit_logins(state, user_id)

    def bind_login(self, state: SessionState, user_id: str, user_agent: str | None) -> None:
        """A login's change to the session, which needs no store: a new id, bound to the user."""
        self._check(user_id)
        now = now_ms(self.clock)
        state.login(Account(user_id, now, now, user_agent[:MAX_USER_AGENT] if user_agent else None))
        self.events.emit("login", state.id, user=user_id)

    def limit_logins(self, state: SessionState, user_id: str) -> Steps[None]:
        """A login's store work under ``max_sessions_per_user``: save the session, then end the user's
        oldest ones beyond the limit. (An async session runs it when the response starts: if a later
        verb of the request logged the user out meanwhile, there is nothing left to do.)"""
        if state.account is None or state.account.user_id != user_id:
            return
        assert self.limit is not None
        if (yield from state.save()) is not None:
            yield from self._enforce_limit(user_id, self.limit)

    def _enforce_limit(self, user_id: str, limit: int) -> Steps[None]:
        """End the user's sessions but the ``limit`` newest (by login). The login's session is saved
        first, so concurrent logins each see the others' and agree on which to end."""
        sessions = sorted((yield from self._bound(user_id)), key=lambda bound: (bound.account.logged_in_ms or 0,
                                                                                 bound.key))
        for bound in sessions[: max(0, len(sessions) - limit)]:
            yield from self._end(bound.key, user_id, "evicted")

    def logout(self, state: SessionState) -> Steps[None]:
        """Destroy the session, its binding with it."""
        sid, account = state.id, state.account
        yield from state.destroy()
        self.events.emit("logout", sid, user=None if account is None else account.user_id)

    def reauthenticate(self, state: SessionState) -> None:
        """A new id for a logged-in session (ASVS 7.2.4: a new token on any authentication), stamped now."""
        account = state.account
        if account is None:
            raise SessionError("reauthenticated() needs a logged-in session: call login(user_id) instead")
        state.regenerate()
        state.bind(account._replace(authenticated_ms=now_ms(self.clock)))
        self.events.emit("reauthenticated", state.id, user=account.user_id)

    def authenticated_within(self, state: SessionState, seconds: float) -> bool:
        """Whether the session is logged in and was authenticated less than ``seconds`` ago."""
        account = state.account
        if account is None or account.authenticated_ms is None:
            return False
        return 0 <= now_ms(self.clock) - account.authenticated_ms < seconds * 1000
