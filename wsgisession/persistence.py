"""What the store holds for one request's session, and express-session's rules for writing it back.

At the end of a request that used its session, ``commit`` decides as express-session does
(its ``shouldSave``, ``shouldTouch`` and ``shouldSetCookie``):

| the session...                                                 | store            | Set-Cookie                 |
|----------------------------------------------------------------|------------------|----------------------------|
| is new (no live record for the cookie)                         | save if modified | if modified (or saved)     |
| was loaded, modified (or ``resave``, or a record to repair)    | save             | if ``rolling`` or expiring |
| was loaded, unmodified                                         | touch (expiry)   | if ``rolling``             |
| was destroyed in this request                                  | (destroyed)      | an expired one, if needed  |
| is dropped: another request ended its id, before or meanwhile  | nothing          | none                       |

*Modified*: see ``modified``. No Set-Cookie is sent for a Secure cookie over plain http. Saves
are compare-and-sets (``concurrency="merge"``): when another request saved meanwhile, this one
re-applies only its own changes on top (``merge.py``). One rule for a logout, a login or a
revocation racing a request: it is dropped, whether the id ended while it ran (its save or touch
finds the record gone) or just before it came (a tombstone).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from . import record
from .errors import SessionError, StoreUnavailable
from .ids import SessionIds
from .merge import merge
from .serialization import loads, now_ms
from .session_cookie import SessionCookie
from .stores.base import Account, Record

if TYPE_CHECKING:
    from .core import SessionCore

__all__ = ["EXPIRE_COOKIE", "MAX_SAVE_ATTEMPTS", "SET_COOKIE", "Persistence"]

logger = logging.getLogger(__name__)

SET_COOKIE = "set"
EXPIRE_COOKIE = "expire"
# Compare-and-set rounds before a save gives up (StoreUnavailable). Each failed round means
# another request's save succeeded, so this bounds how many concurrent writers one save outlasts.
MAX_SAVE_ATTEMPTS = 64
State = tuple[str, tuple[Any, ...]]  # (the data's JSON, the cookie's own settings)
_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


class Persistence:
    """One request's session as the store holds it: loaded on creation, written back by ``commit``."""

    __slots__ = ("core", "request", "is_secure", "cookie_id", "id", "original_id", "delivered_id", "data", "cookie",
                 "version", "base", "loaded", "saved", "committed", "used_late", "expire_cookie", "dropped", "retired",
                 "created_ms", "pending_created", "written", "account", "account_dirty")

    version: Any  # the store's token for what it held when loaded or last saved
    base: str  # the data's JSON as last seen in the store: what our changes are relative to
    written: bool  # the app set or deleted a key since ``base`` was the data's JSON
    loaded: State  # as loaded: what "modified" compares with
    saved: State | None  # what the store holds as far as this request knows (None: must write)
    created_ms: int | None  # when the stored session was created, if known
    pending_created: int | None  # a creation time the next save must write (regenerate, first sight)
    account: Account | None  # the user the session is bound to (accounts.py)
    account_dirty: bool  # the account is to be written with the next save (a login, a re-authentication)

    def __init__(self, core: SessionCore, cookie_header: str | None, is_secure: bool, request: Any) -> None:
        self.core = core
        self.request, self.is_secure = request, is_secure
        self.delivered_id: str | None = None  # the id the browser holds once the headers are out
        self.committed: State | None = None  # what commit() left in the store
        self.used_late = self.expire_cookie = False  # used_late: used after commit(), finish() compares again
        self.dropped = False  # another request ended its id, before or while this one ran: nothing stored or sent
        self.retired: str | None = None  # the stored id a regenerate() left, destroyed at the next save
        # The cookie is read (and HMAC-checked) only now, when the session is first used.
        sid = self.cookie_id = core.ids.read(cookie_header)
        if sid is not None and self.load(sid):
            self.id = self.original_id = sid
        else:
            self._fresh()

    # -- loading ---------------------------------------------------------------------------------

    def load(self, sid: str) -> bool:
        """Read the live record of ``sid`` into this session; False (an event says why) if there is none."""
        core = self.core
        loaded = core.store.load(sid)
        options = core.config.cookie
        parsed = None if loaded is None else record.split(loaded.text, core.plain_cookie_json[self.is_secure])
        if loaded is None or parsed is None:
            self.dropped = self.dropped or loaded is None and core.buried(sid)  # ended moments ago: see the table
            core.events.emit("tombstoned" if self.dropped else "unknown_id" if loaded is None else "unreadable", sid)
            return False
        stored_cookie, data, data_json, known = parsed
        self.created_ms = created = loaded.created_ms
        self.pending_created = None
        limit = core.config.absolute_timeout
        if limit is not None:
            now = now_ms(core.clock)
            if created is None or created > now:  # unknown (a peer that does not record it), or from the future:
                self.created_ms = self.pending_created = now  # it counts from now, and is saved with that time
            elif now - created >= limit * 1000:
                core.store.destroy(sid)
                core.events.emit("timed_out", sid)
                return False
        self.cookie, invalid = SessionCookie.restore(stored_cookie, known, options, self.is_secure, core.clock)
        if invalid:
            logger.warning("session %s: ignored invalid stored cookie value(s) %s; using the configured ones",
                           core.events.tag(sid), ", ".join(invalid))
        self.data, self.version, self.base, self.account = data, loaded.version, data_json, loaded.account
        self.written = self.account_dirty = False
        self.loaded = (data_json, self.cookie.settings())
        # With resave, a record to repair or re-encrypt, or a creation time to write, it is saved even if unchanged.
        self.saved = None if core.config.resave or invalid or loaded.stale or self.pending_created is not None else (
            self.loaded)
        core.events.emit("loaded", sid)
        return True

    def _fresh(self) -> None:
        self.id = self.original_id = SessionIds.new(self.core.config.genid, self.request)
        self.data, self.base, self.cookie = {}, "{}", self._new_cookie()
        self.written = self.account_dirty = False
        self.version = self.created_ms = self.pending_created = self.saved = self.account = None
        self.loaded = ("{}", self.cookie.settings())

    def _new_cookie(self) -> SessionCookie:
        return SessionCookie(self.core.config.cookie, self.is_secure, self.core.clock)

    # -- what the app changed --------------------------------------------------------------------

    def state(self) -> State:
        """What the session holds now, to compare with what was loaded and saved."""
        data = self.data
        if not self.written and all(type(value) in _IMMUTABLE for value in data.values()):
            # No key set or deleted, and no value that could have changed in place: the data is still what
            # ``base`` serializes, not serialized again (0.7 µs of the read-only request, bench/inprocess.py).
            return (self.base, self.cookie.settings())
        return (record.serialize(data), self.cookie.settings())

    def modified(self, state: State | None = None) -> bool:
        """Whether the data's JSON or the cookie's own settings (max age, priority) differ from what was
        loaded, the id changed (``regenerate``), or the account is to be written (a login)."""
        return self.id != self.original_id or self.account_dirty or (state or self.state()) != self.loaded

    def _record(self, state: State) -> Record:
        cookie = self.cookie
        return Record(record.join(cookie.json(), state[0]), cookie.expires_ms, self.pending_created,
                      self.account if self.account_dirty else None)

    # -- lifecycle ---------------------------------------------------------------------------------

    def regenerate(self) -> None:
        """A new id, same data and creation time; the stored old id goes when the new one is saved."""
        old = self.id
        if self.retired is None and (self.version is not None or not self.core.config.merge):
            # Destroyed once the new id is saved: a logout that lands in between is then seen.
            # (Without versions, overwrite mode cannot tell: it always is.)
            self.retired = old
        self.id = SessionIds.new(self.core.config.genid, self.request)
        self.core.events.emit("regenerated", self.id, previous=old)
        self.cookie = self._new_cookie()
        self.version = self.saved = None
        self.pending_created = self.created_ms
        self.account_dirty = self.account is not None  # the new id is bound as the old one was

    def bind(self, account: Account) -> None:
        """Bind the session to a user (a login, a re-authentication): written with the next save."""
        self.account = account
        self.account_dirty = True

    def destroy(self) -> None:
        """Delete everything this browser had, and start an empty session with an expired cookie."""
        # The session, the id it was regenerated from, and the id the cookie presented (even unreadable).
        for sid in {self.id, self.retired, self.cookie_id}:
            if sid is not None:
                self._end(sid)
        self.core.events.emit("destroyed", self.id)
        self.retired = None
        if self.cookie_id:
            self.expire_cookie = True
        self._fresh()

    def _retire(self) -> bool:
        """Destroy the id this session was regenerated from; False (and drop) if a logout did first."""
        old, self.retired = self.retired, None
        assert old is not None
        if self._end(old) is False and self.core.config.merge:
            self.core.store.destroy(self.id)
            self._drop()
            return False
        return True

    def _end(self, sid: str) -> bool | None:
        """Destroy ``sid``'s record, and bury the id (SessionCore.end) if the browser holds it: the
        cookie's, loaded (an id never stored or sent, or one already buried, needs no tombstone)."""
        core = self.core
        buried = sid == self.cookie_id == self.original_id and not self.dropped
        return core.end(core.store.key(sid)) if buried else core.store.destroy(sid)

    def _drop(self) -> None:
        self.core.events.emit("dropped", self.id)  # another request destroyed it: it stays destroyed
        self.dropped = True

    # -- writing -----------------------------------------------------------------------------------

    def persist(self, state: State) -> State | None:
        """Write the session (a compare-and-set that merges, with merging on); None if destroyed meanwhile."""
        if self.dropped:
            return None
        core, store = self.core, self.core.store
        if not core.config.merge:
            store.write(self.id, self._record(state))
            return self._written(state)
        for _ in range(MAX_SAVE_ATTEMPTS):
            version = store.save(self.id, self._record(state), self.version)
            if version is None and self.version is None:  # a live record has this new id: never merge into it
                raise SessionError("genid returned an id that is already in use: it must return unique ids")
            if version is not None:
                self.version = version
                return self._written(state)
            loaded = store.load(self.id)
            theirs = None if loaded is None else record.split(loaded.text)
            if loaded is None or theirs is None:  # destroyed, or left unreadable by another writer
                self._drop()
                return None
            self.data, conflicts = merge(loads(self.base), self.data, theirs[1])
            self.version = loaded.version
            if not self.account_dirty:
                self.account = loaded.account
            self.base = theirs[2]
            self.written = True  # the merged data is not theirs
            state = self.state()
            core.events.emit("merged", self.id)
            if conflicts:
                core.events.emit("conflict", self.id, conflicts)
        raise StoreUnavailable(f"too many concurrent requests changed this session: not saved after "
                               f"{MAX_SAVE_ATTEMPTS} attempts")

    def _written(self, state: State) -> State | None:
        self.saved = state
        self.base = state[0]
        self.written = self.account_dirty = False
        self.pending_created = None
        if self.retired is not None and not self._retire():
            return None
        return state

    def commit(self) -> str | None:
        """Save or touch as express-session does (the table above); return SET_COOKIE, EXPIRE_COOKIE or None."""
        if self.dropped:
            return None
        config = self.core.config
        cookie = self.cookie
        cookie.reset()
        state = self.state()
        modified = self.modified(state)
        new = self.cookie_id != self.id
        should_save = modified if new and not config.save_uninitialized and self.saved is None else (
            self.id != self.original_id or state != self.saved or self.account_dirty)
        if should_save:
            saved = self.persist(state)
            if saved is None:
                return None  # destroyed meanwhile by another request: no cookie for it
            state = saved
            if self.original_id != self.cookie_id:  # started fresh in this request (a login's too)
                self.core.events.emit("created", self.id)
        elif not new and self.core.store.refresh(self.id, cookie.expires_ms, self.version) is False and config.merge:
            self._drop()  # ended meanwhile (a rolling cookie would bring the dead id back)
            return None
        self.committed = state
        send = (config.save_uninitialized or modified or self.saved is not None) if new else (  # (saved: by save())
            config.rolling or (cookie.expires_ms is not None and modified))
        self.delivered_id = self.id if send else self.cookie_id
        if cookie.secure and not self.is_secure:
            return None  # a Secure cookie never travels over plain http (as express)
        if send:
            return SET_COOKIE
        return EXPIRE_COOKIE if self.expire_cookie else None

    def finish(self) -> None:
        """Save changes made after the headers went out (while the body was being produced).

        Only the session whose id the browser holds can be saved then: a session first created
        (or regenerated) after the headers went out is not stored, as its cookie can never reach
        the browser. Only a session used after the commit is compared again.
        """
        if self.dropped or self.committed is not None and not self.used_late:
            return  # nothing can have changed since the commit
        if self.committed is None:  # first used after the headers went out
            self.delivered_id = self.cookie_id
        if self.id != self.delivered_id:
            if self.id != self.original_id or self.account_dirty or self.state() != (self.committed or self.loaded):
                self.core.events.emit("unsent", self.id)  # a change whose cookie can never reach the browser
        elif self.committed is None:
            self.commit()
        else:
            state = self.state()
            if state != self.committed or self.account_dirty:
                self.committed = self.persist(state) or self.committed
