"""The lifecycle of a request's session: what it loaded, what the app changed, and the one object
that changes both and says what to ask of the store.

``SessionState`` is that object. It never calls the store: each of its operations that needs the
store is a generator of *steps*, store operations as tuples (``("load", sid)``, ``("save", sid,
record, version)``: a Store method's name and its arguments), each sent back its result. A
driver executes them: ``arun`` from an event loop, awaiting the store's coroutines (``aload``...)
or running its synchronous methods in a worker thread; ``run`` against a synchronous store. So
express's rules (``rules.py``), the compare-and-set and merge loop, tombstones and the absolute
timeout are written once, whichever kind of store and server::

    state = lifecycle.begin(cookie_header, is_secure, request)
    await arun(state.open(), store)        # the cookie's id verified, its record loaded (or a fresh session)
    ...                                    # the app changes state.data, state.own_cookie()
    action = await arun(state.commit(), store)   # save or touch by express's rules: SET_COOKIE, EXPIRE_COOKIE or None
    await arun(state.finish(), store)      # after the body: what changed while it streamed

The synchronous path (the WSGI middleware, Flask, Django) calls each step's *twin* instead,
``state.commit_sync(store)``: a plain method compiled at import from the same source, where
``yield ("load", sid)`` is ``store.load(sid)`` (``_add_sync_twins``), so it pays for no generator.

Phases: a state is ``LIVE`` once opened, ``COMMITTED`` when its headers went out, ``FINISHED``
after the body; ``DROPPED`` absorbs every other phase, once it is known that another request ended
its id (a logout, a login, a revocation), before this request came (a tombstone) or while it ran
(its compare-and-set save or its touch found the record gone): a dropped state stores nothing and
sends no cookie.
"""

from __future__ import annotations

import ast
import inspect
import logging
import sys
import textwrap
from collections.abc import Callable, Generator, Iterator
from typing import Any, NamedTuple, TypeVar

from . import record
from .config import SessionConfig
from .errors import SessionError, StoreUnavailable
from .events import Events
from .ids import SessionIds
from .merge import merge
from .rules import DECISIONS
from .serialization import loads, now_ms
from .options import CookieOptions
from .session_cookie import SessionCookie, plain_cookie_json
from .stores.base import Account, Record, Store

__all__ = ["COMMITTED", "DROPPED", "EXPIRE_COOKIE", "FINISHED", "LIVE", "MAX_SAVE_ATTEMPTS", "SET_COOKIE",
           "Lifecycle", "SessionState", "Steps", "arun", "end_op", "never_blocks", "run"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Op = tuple[Any, ...]  # a store operation: the Store method's name, then its arguments
Steps = Generator[Op, Any, T]  # store operations out, their results back in, a value at the end

SET_COOKIE = "set"
EXPIRE_COOKIE = "expire"
# Compare-and-set rounds before a save gives up (StoreUnavailable). Each failed round means
# another request's save succeeded, so this bounds how many concurrent writers one save outlasts.
MAX_SAVE_ATTEMPTS = 64

LIVE, COMMITTED, FINISHED, DROPPED = "live", "committed", "finished", "dropped"

_IMMUTABLE = frozenset({str, int, float, bool, type(None)})
# Records built by tuple.__new__ directly: a NamedTuple's own constructor is a Python call
# (on every request that uses its session, and every save: bench/inprocess.py).
_new = tuple.__new__


# What a session holds, to compare: its data's JSON and its cookie's own settings. (A plain tuple:
# a NamedTuple's constructor is a Python call, twice per request, bench/inprocess.py.)
State = tuple[str, tuple[Any, ...]]


class Lifecycle:
    """What every request's state of one middleware shares: the options, the events, the ids, and
    what the store declared (``SessionCore`` makes it; nothing here calls the store)."""

    __slots__ = ("config", "clock", "events", "ids", "key", "tombstones", "tombstone_ms", "touch_after_ms", "ttl_ms",
                 "plain_cookie_json", "save_uninitialized", "rolling", "merge", "resave", "absolute_timeout",
                 "static_cookie", "inline", "plain_cookies", "fresh_cookies")

    def __init__(self, config: SessionConfig, events: Events, ids: SessionIds) -> None:
        store = config.store
        self.config = config
        self.clock = config.clock
        self.events = events
        self.ids = ids
        self.key: Callable[[str], str] = store.key  # the key a session's record is stored under
        # The ids a login, a logout or a revocation ends are buried for the window (see end()).
        self.tombstones = bool(config.tombstone_window) and store.keeps_tombstones
        self.tombstone_ms = int(config.tombstone_window * 1000) if self.tombstones else 0
        # touch_after, applied here from the stored expiry, unless the store's refresh applies it itself
        self.touch_after_ms = 0 if store.throttles_refresh else int(store.touch_after * 1000)
        self.ttl_ms = int(store.ttl * 1000)
        # The options read on every request, as slots (a dataclass's fields are dict lookups: bench/instructions.py)
        self.save_uninitialized, self.rolling, self.merge = config.save_uninitialized, config.rolling, config.merge
        self.resave, self.absolute_timeout = config.resave, config.absolute_timeout
        self.static_cookie = config.static_cookie  # (None: a cookie callable gives each request's)
        # The stored cookie JSON of sessions without lifetime or priority, over http and https:
        # recognized on load without parsing (1 µs of the read-only request, bench/inprocess.py).
        # (With a ``cookie`` callable, per options: ``plain_cookie_json``, cached.)
        static = config.static_cookie
        self.plain_cookie_json = None if static is None else plain_cookie_json(static)
        # Those sessions' cookie itself, over http and https: shared until one is changed (own_cookie),
        # and, when the options give a new session the same cookie (no max_age, no priority), a new
        # session's too. (With a ``cookie`` callable, each request builds its own.)
        self.plain_cookies = None if static is None else (
            SessionCookie.shared(static, False, self.clock), SessionCookie.shared(static, True, self.clock))
        self.fresh_cookies = self.plain_cookies if static is not None and static.max_age is None and \
            static.priority is None else None
        # From an event loop, the store's synchronous methods may be called directly (the steps' twins).
        self.inline = never_blocks(store)

    def begin(self, cookie_header: str | None, is_secure: bool, request: Any,
              options: CookieOptions | None = None) -> SessionState:
        """A request's state, not opened yet (``open()`` reads the cookie and the store). ``options``:
        the request's cookie options (``SessionConfig.options_for``), if not the static ones."""
        return SessionState(self, cookie_header, is_secure, request, options)

    def end(self, key: str) -> Op:
        """The operation that ends the record stored under ``key`` (see ``end_op``)."""
        return end_op(key, self.tombstone_ms, self.clock)


def end_op(key: str, tombstone_ms: int, clock: Callable[[], float]) -> Op:
    """The operation that ends the record stored under ``key``: with tombstones (a window of
    ``tombstone_ms``), the key stays buried that long: a request that still presents it stores nothing."""
    if tombstone_ms:
        return ("bury", key, now_ms(clock) + tombstone_ms)
    return ("destroy_key", key)


class SessionState:
    """One request's session: loaded by ``open()``, written back by ``commit()`` and ``finish()``.

    Only this class assigns its fields; the ``Session`` the app sees reads them and calls its methods.
    """

    __slots__ = ("life", "request", "is_secure", "options", "header", "phase", "cookie_id", "id", "original_id", "loaded",
                 "data", "cookie", "version", "base", "saved", "committed", "delivered_id", "used_late",
                 "written", "expire_cookie", "tombstoned", "retired", "created_ms", "pending_created",
                 "stored_expires_ms", "account", "account_dirty", "reseal", "touch_skipped")

    cookie_id: str | None  # the id the cookie presented, verified (None: none)
    id: str  # the session's id now
    original_id: str  # its id when loaded (or created): regenerate() changes ``id``
    loaded: State  # what was loaded: what "modified" compares with
    data: dict[str, Any]  # the data the app sees and changes
    cookie: SessionCookie  # (maybe shared with other sessions: ``own_cookie()`` before it may change)
    version: Any  # the store's token for what it held when loaded or last saved
    base: str  # the data's JSON as last seen in the store: what our changes are relative to
    saved: State | None  # what the store holds as far as this request knows (None: must write)
    written: bool  # the app set or deleted a key since ``base`` was the data's JSON
    created_ms: int | None  # when the stored session was created, if known
    pending_created: int | None  # a creation time the next save must write (regenerate, first sight)
    stored_expires_ms: int | None  # the loaded record's expiry, when the store tells (touch_after)
    account: Account | None  # the user the session is bound to (accounts.py)
    account_dirty: bool  # the account is to be written with the next save (a login, a re-authentication)
    reseal: bool  # the account is written again with the next save, unchanged: sealed under a retired secret

    def __init__(self, life: Lifecycle, header: str | None, is_secure: bool, request: Any,
                 options: CookieOptions | None = None) -> None:
        self.life = life
        self.header, self.is_secure, self.request = header, is_secure, request
        if options is None:  # (the static options, without a call, unless a ``cookie`` callable decides)
            options = life.static_cookie or life.config.options_for(request)
        self.options = options  # this request's cookie options (a ``cookie`` callable's, resolved once)
        self.phase = LIVE
        self.cookie_id = None
        self.delivered_id: str | None = None  # the id the browser holds once the headers are out
        self.committed: State | None = None  # what commit() left in the store
        self.used_late = self.expire_cookie = self.tombstoned = self.touch_skipped = False
        self.retired: str | None = None  # the stored id a regenerate() left, destroyed at the next save

    # -- loading ---------------------------------------------------------------------------------

    def open(self) -> Steps[None]:
        """Read the cookie (its HMAC checked only now, at first use) and load its live record, or
        start a fresh session."""
        sid = self.cookie_id = self.life.ids.read(self.header)
        if sid is None:
            self._fresh()
        else:
            yield from self._load(sid, True)  # (opening)

    def reload(self) -> Steps[None]:
        """Re-read the record, dropping unsaved changes (SessionError if it is gone)."""
        if not (yield from self._load(self.id)):
            raise SessionError("the session no longer exists in the store")

    def _load(self, sid: str, opening: bool = False) -> Steps[bool]:
        """Read the live record of ``sid`` into this state; False (an event says why) if there is none
        (``opening``: the cookie's id, which the session takes, or else a fresh session starts)."""
        life = self.life
        loaded = yield ("load", sid)
        plain = life.plain_cookie_json or plain_cookie_json(self.options)  # (None: a cookie callable's options)
        parsed = None if loaded is None else record.split(loaded.text, plain[self.is_secure])
        if loaded is None or parsed is None:
            if loaded is None and self.phase != DROPPED and life.tombstones and (yield ("buried", life.key(sid))):
                self.phase = DROPPED  # ended moments ago by another request: nothing is stored or sent
                self.tombstoned = True
            life.events.emit("tombstoned" if self.phase == DROPPED else "unknown_id" if loaded is None
                             else "unreadable", sid)
            return self._failed(opening)
        stored_cookie, data, data_json, known = parsed
        # (unpacked once: a NamedTuple's field is a descriptor call each time it is read)
        _, version, created, account, stale, stored_expires_ms = loaded
        pending = None
        limit = life.absolute_timeout
        if limit is not None:
            now = now_ms(life.clock)
            if created is None or created > now:  # unknown (a peer that does not record it), or from the future:
                created = pending = now  # it counts from now, and is saved with that time
            elif now - created >= limit * 1000:
                yield ("destroy", sid)
                life.events.emit("timed_out", sid)
                return self._failed(opening)
        if known:  # the common case: a browser-session cookie stored as this middleware writes it
            shared, invalid = life.plain_cookies, None
            if shared is not None and self.options is life.static_cookie:
                cookie = shared[self.is_secure]  # (no cookie built: own_cookie copies it if it must change)
            else:
                cookie = SessionCookie.plain(self.options, self.is_secure, life.clock)
        else:
            cookie, invalid = SessionCookie.restore(stored_cookie, known, self.options, self.is_secure, life.clock)
        if invalid:
            logger.warning("session %s: ignored invalid stored cookie value(s) %s; using the configured ones",
                           life.events.tag(sid), ", ".join(invalid))
        if opening:
            self.id = self.original_id = sid
        self.cookie, self.created_ms, self.pending_created = cookie, created, pending
        self.data, self.version, self.base, self.account = data, version, data_json, account
        self.stored_expires_ms = stored_expires_ms
        self.written = self.account_dirty = False
        self.reseal = stale and account is not None
        self.loaded = (data_json, cookie.settings)
        # With resave, a record to repair or re-encrypt, or a creation time to write, it is saved even if unchanged.
        self.saved = None if life.resave or invalid or stale or pending is not None else self.loaded
        life.events.emit("loaded", sid)
        return True

    def _failed(self, opening: bool) -> bool:
        if opening:
            self._fresh()
        return False

    def _fresh(self) -> None:
        life = self.life
        self.id = self.original_id = SessionIds.new(life.config.genid, self.request)
        self.data, self.base = {}, "{}"
        shared = life.fresh_cookies
        if shared is not None and self.options is life.static_cookie:
            self.cookie = shared[self.is_secure]
        else:
            self.cookie = SessionCookie(self.options, self.is_secure, life.clock)
        self.written = self.account_dirty = self.reseal = False
        self.version = self.created_ms = self.pending_created = self.saved = self.account = None
        self.stored_expires_ms = None
        self.loaded = ("{}", self.cookie.settings)

    # -- what the app changed --------------------------------------------------------------------

    def use(self, change: bool) -> dict[str, Any]:
        """The data, for the app; a use after the commit, and a change by key, are noted (for
        ``finish``, and for the end of the request)."""
        if self.committed is not None:
            self.used_late = True
        if change:
            self.written = True
        return self.data

    def state(self) -> State:
        """What the session holds now, to compare with what was loaded and saved."""
        data = self.data
        if not self.written and _IMMUTABLE.issuperset(map(type, data.values())):
            # No key set or deleted, and no value that could have changed in place: the data is still what
            # ``base`` serializes, not serialized again (0.7 µs of the read-only request, bench/inprocess.py).
            return (self.base, self.cookie.settings)
        return (record.serialize(data), self.cookie.settings)

    def modified(self, state: State | None = None) -> bool:
        """Whether the data's JSON or the cookie's own settings (max age, priority) differ from what was
        loaded, the id changed (``regenerate``), or the account is to be written (a login)."""
        return self.id != self.original_id or self.account_dirty or (state or self.state()) != self.loaded

    @property
    def is_new(self) -> bool:
        """No live record for the cookie's id was loaded (a fresh session), or it has a new id."""
        return self.id != self.cookie_id

    def rebind(self, request: Any) -> None:
        """Hand ``genid`` ``request`` from now on (asgi.py: a copy of the scope once the request is over)."""
        self.request = request

    def own_cookie(self) -> SessionCookie:
        """The session's cookie, to hand the app, which may change it: its own, not a shared one."""
        cookie = self.cookie = self.cookie.unshared()
        return cookie

    def skip_touch(self) -> None:
        """Leave the stored expiry alone in this request: no touch, no rolling cookie, the
        countdown not restarted (polling and health endpoints)."""
        self.touch_skipped = True

    def _record(self, state: State) -> Record:
        cookie = self.cookie
        return _new(Record, (record.join(cookie.json(), state[0]), cookie.expires_ms, self.pending_created,
                                self.account if self.account_dirty or self.reseal else None))

    # -- the verbs -----------------------------------------------------------------------------------

    def regenerate(self) -> None:
        """A new id, same data, creation time and cookie lifetime; the stored old id goes when the new
        one is saved.

        The lifetime stays (unlike express, whose regenerate starts from the options) because a
        login regenerates: "remember me" chosen before the login (Flask's ``session.permanent``,
        Django's ``set_expiry``) must survive it, as Django's ``cycle_key()`` keeps the expiry.
        """
        life, old = self.life, self.id
        if self.retired is None and (self.version is not None or not life.merge):
            # Destroyed once the new id is saved: a logout that lands in between is then seen.
            # (Without versions, overwrite mode cannot tell: it always is.)
            self.retired = old
        self.id = SessionIds.new(life.config.genid, self.request)
        life.events.emit("regenerated", self.id, previous=old)
        self.version = self.saved = None
        self.pending_created = self.created_ms
        self.account_dirty = self.account is not None  # the new id is bound as the old one was

    def login(self, account: Account) -> None:
        """Bind a new id to ``account`` (a login; the store work comes with the next save).

        Another user's data never follows into the new session. A request whose cookie's id was
        ended moments ago (a tombstone) stores nothing, but a login proves who the user is now and
        starts a new session all the same."""
        if self.account is not None and self.account.user_id != account.user_id:
            self.data.clear()
            self.written = True
        if self.tombstoned and self.phase == DROPPED:
            self.phase = LIVE if self.committed is None else COMMITTED
        self.regenerate()
        self.bind(account)

    def undo_login(self) -> Steps[None]:
        """A login refused after its session was saved (``max_sessions_policy="refuse"``, lost to a
        concurrent login): its record goes, and the session goes on anonymous, with its data, under
        another new id (saved by the usual rules)."""
        yield ("destroy", self.id)
        self.id = SessionIds.new(self.life.config.genid, self.request)
        self.account = None
        self.account_dirty = False
        self.version = self.saved = None

    def bind(self, account: Account) -> None:
        """Bind the session to a user (a re-authentication, a login): written with the next save."""
        self.account = account
        self.account_dirty = True

    def destroy(self) -> Steps[None]:
        """Delete everything this browser had, and start an empty session with an expired cookie."""
        # The session, the id it was regenerated from, and the id the cookie presented (even unreadable).
        for sid in {self.id, self.retired, self.cookie_id}:
            if sid is not None:
                yield self._end(sid)
        self.life.events.emit("destroyed", self.id)
        self.retired = None
        if self.cookie_id:
            self.expire_cookie = True
        self._fresh()

    def _end(self, sid: str) -> Op:
        """The operation that ends ``sid``'s record: a burial if the browser holds the id (the cookie's,
        loaded: an id never stored or sent, or one already buried, needs no tombstone)."""
        if sid == self.cookie_id == self.original_id and self.phase != DROPPED:
            return self.life.end(self.life.key(sid))
        return ("destroy", sid)

    def _retire(self) -> Steps[bool]:
        """Destroy the id this session was regenerated from; False (and drop) if a logout did first."""
        old, self.retired = self.retired, None
        assert old is not None
        if (yield self._end(old)) is False and self.life.merge:
            yield ("destroy", self.id)
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        self.life.events.emit("dropped", self.id)  # another request destroyed it: it stays destroyed
        self.phase = DROPPED

    # -- writing -----------------------------------------------------------------------------------

    def save(self) -> Steps[State | None]:
        """Write the session now (``Session.save``, a login with a limit): ``persist`` of what it holds."""
        return (yield from self.persist(self.state()))

    def persist(self, state: State) -> Steps[State | None]:
        """Write the session (a compare-and-set that merges, with merging on); None if destroyed meanwhile."""
        if self.phase == DROPPED:
            return None
        life = self.life
        if not life.merge:
            yield ("write", self.id, self._record(state))
            self._written(state)
            return state if self.retired is None else (yield from self._retire_after(state))
        for _ in range(MAX_SAVE_ATTEMPTS):
            version = yield ("save", self.id, self._record(state), self.version)
            if version is None and self.version is None:  # a live record has this new id: never merge into it
                raise SessionError("genid returned an id that is already in use: it must return unique ids")
            if version is not None:
                self.version = version
                self._written(state)
                return state if self.retired is None else (yield from self._retire_after(state))
            loaded = yield ("load", self.id)
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
            life.events.emit("merged", self.id)
            if conflicts:
                life.events.emit("conflict", self.id, conflicts)
        raise StoreUnavailable(f"too many concurrent requests changed this session: not saved after "
                               f"{MAX_SAVE_ATTEMPTS} attempts")

    def _written(self, state: State) -> None:
        self.saved = state
        self.base = state[0]
        self.written = self.account_dirty = self.reseal = False
        self.pending_created = None
        self.stored_expires_ms = None  # (written now: unknown until loaded again)

    def _retire_after(self, state: State) -> Steps[State | None]:
        """Once the new id is saved, the id it was regenerated from goes; None if a logout came first."""
        return state if (yield from self._retire()) else None

    def commit(self) -> Steps[str | None]:
        """Save or touch by express's rules (rules.py), as the headers go out; return SET_COOKIE,
        EXPIRE_COOKIE or None."""
        if self.phase == DROPPED:
            return None
        life, cookie = self.life, self.cookie
        if not self.touch_skipped:
            cookie.reset()
        state = self.state()
        # What express's rules need to know (rules.py); "modified" as ``modified()`` says, computed here
        # once. (Inline: a method call costs more than this, on every request that used its session.)
        if self.id == self.original_id and not self.account_dirty:
            modified, saved = state != self.loaded, state == self.saved
        else:  # a new id or an account to write: modified, and not what the store holds
            modified, saved = True, False
        new = self.id != self.cookie_id
        save, send = DECISIONS[(new, modified, saved, self.saved is not None, life.save_uninitialized,
                                life.rolling and not self.touch_skipped, cookie.expires_ms is not None)]
        if save:
            saved = yield from self.persist(state)
            if saved is None:
                return None  # destroyed meanwhile by another request: no cookie for it
            state = saved
            if self.original_id != self.cookie_id:  # started fresh in this request (a login's too)
                life.events.emit("created", self.id)
        elif not new and (self._touch_due() if self.touch_skipped or life.touch_after_ms else True) and (
                (yield ("refresh", self.id, cookie.expires_ms, self.version)) is False and life.merge):
            self._drop()  # ended meanwhile (a rolling cookie would bring the dead id back)
            return None
        self.committed = state
        self.phase = COMMITTED
        # express's rules, and one case they miss: a lifetime removed in this request (Flask's
        # ``permanent = False``, Django's ``set_expiry(0)``) must reach the browser, which would
        # otherwise keep the persistent cookie it holds.
        if not send and self.loaded[1][0] is not None and cookie.expires_ms is None:
            send = True
        self.delivered_id = self.id if send else self.cookie_id
        if not self.is_secure and cookie.secure:
            return None  # a Secure cookie never travels over plain http (as express)
        if send:
            return SET_COOKIE
        return EXPIRE_COOKIE if self.expire_cookie else None

    def _touch_due(self) -> bool:
        """Whether the stored expiry needs refreshing: not when this request skips it, nor while
        the expiry it would write is less than the store's ``touch_after`` later than the stored one."""
        if self.touch_skipped:
            return False
        after, stored = self.life.touch_after_ms, self.stored_expires_ms
        if not after or stored is None:
            return True
        target = self.cookie.expires_ms
        if target is None:
            target = now_ms(self.life.clock) + self.life.ttl_ms
        return target - stored >= after

    def finish(self) -> Steps[None]:
        """Save changes made after the headers went out (while the body was being produced).

        Only the session whose id the browser holds can be saved then: a session first created
        (or regenerated) after the headers went out is not stored, as its cookie can never reach
        the browser.
        """
        if self.phase == DROPPED:
            return
        if self.committed is not None and not self.used_late:
            self.phase = FINISHED
            return  # nothing can have changed since the commit
        yield from self._finish_late()

    def _finish_late(self) -> Steps[None]:
        if self.committed is None:  # first used after the headers went out
            self.delivered_id = self.cookie_id
        if self.id != self.delivered_id:
            if self.id != self.original_id or self.account_dirty or self.state() != (self.committed or self.loaded):
                self.life.events.emit("unsent", self.id)  # a change whose cookie can never reach the browser
        elif self.committed is None:
            yield from self.commit()
        else:
            state = self.state()
            if state != self.committed or self.account_dirty:
                self.committed = (yield from self.persist(state)) or self.committed
        if self.phase != DROPPED:
            self.phase = FINISHED


# -- drivers ---------------------------------------------------------------------------------------


def run(steps: Steps[T], store: Store) -> T:
    """Drive ``steps`` against a synchronous store: each operation is the store's method of that name."""
    try:
        op = next(steps)
        while True:
            op = steps.send(getattr(store, op[0])(*op[1:]))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def never_blocks(store: Any) -> bool:
    """Whether ``store``'s class declares that its synchronous methods never block (``never_blocks =
    True``: MemoryStore, whose operations are a dict's): an event loop then calls them directly,
    which costs a fraction of awaiting a coroutine per operation (bench/asgi_cpu.py). Read from
    the class, not the instance, so a wrapper that forwards attributes (AtRestStore) never
    inherits the claim from the store it wraps."""
    return getattr(type(store), "never_blocks", False) is True


async def arun(steps: Steps[T], store: Any) -> T:
    """Drive ``steps`` from an event loop: an operation is the store's coroutine method ``a`` + its
    name (``aload``, ``asave``...) when it has one, else its synchronous method in a worker thread,
    so the store's I/O never blocks the loop. A store that never blocks is called directly (``run``)."""
    if never_blocks(store):
        return run(steps, store)
    try:
        op = next(steps)
        while True:
            name = op[0]
            native = getattr(store, _COROUTINE_NAMES.get(name) or "a" + name, None)
            if native is not None:
                result = await native(*op[1:])
            else:
                result = await _in_thread(getattr(store, name), op[1:])
            op = steps.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


# The coroutine twin of each port method ("load" -> "aload"), spelled once rather than per operation.
_COROUTINE_NAMES = {name: "a" + name for name in ("load", "write", "save", "refresh", "destroy", "destroy_key", "bury",
                                                  "buried", "iter_bound")}


async def _in_thread(method: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """A synchronous store method, run in a worker thread (its lazy result read whole there)."""
    import asyncio  # (only an event loop needs it: a WSGI process never imports it)

    return await asyncio.to_thread(lambda: _materialized(method(*args)))


def _perform(store: Store, op: Op) -> Any:
    """Call one store operation (a twin's ``yield op`` whose method is not spelled out in the source)."""
    return getattr(store, op[0])(*op[1:])


class _Twin(ast.NodeTransformer):
    """Rewrites a step generator's source into its synchronous twin: ``yield ("load", sid)`` becomes
    ``store.load(sid)`` (any other ``yield op``, ``_perform(store, op)``), and ``yield from x.m(...)``
    becomes ``x.m_sync(store, ...)`` (positional: a keyword argument costs every call more)."""

    def visit_Yield(self, node: ast.Yield) -> ast.AST:
        self.generic_visit(node)
        op = node.value
        if isinstance(op, ast.Tuple) and op.elts and isinstance(op.elts[0], ast.Constant):  # ("load", sid)
            call = ast.Call(ast.Attribute(ast.Name("store", ast.Load()), op.elts[0].value, ast.Load()), op.elts[1:], [])
        else:
            call = ast.Call(ast.Name("_perform", ast.Load()), [ast.Name("store", ast.Load()), op or ast.Constant(None)], [])
        return ast.copy_location(call, node)

    def visit_YieldFrom(self, node: ast.YieldFrom) -> ast.AST:
        self.generic_visit(node)
        call = node.value
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
            raise TypeError(f"line {node.lineno}: a step delegates with 'yield from x.method(...)' only")
        func = ast.Attribute(call.func.value, call.func.attr + "_sync", ast.Load())
        return ast.copy_location(ast.Call(func, [ast.Name("store", ast.Load()), *call.args], call.keywords), node)


def _add_sync_twins(cls: type, names: tuple[str, ...]) -> None:
    """Give each step generator ``name`` of ``cls`` a synchronous twin ``name_sync(store, ...)``,
    compiled at import from the same source, so the synchronous path drives no generator.

    Driving a generator costs about 5,000 CPU instructions a step (callgrind), two steps per request
    that uses its session: +17% on bench/inprocess.py's read-only row before the twins, +1.4% with
    them. The twins keep express's rules written once.
    Without the source (a frozen build), a twin drives the generator with ``run``.
    """
    module = sys.modules[cls.__module__]
    for name in names:
        function = getattr(cls, name)
        try:
            source = textwrap.dedent(inspect.getsource(function))
        except (OSError, TypeError):
            setattr(cls, name + "_sync", _driving(function))
            continue
        tree = ast.parse(source)
        definition = tree.body[0]
        assert isinstance(definition, ast.FunctionDef)
        definition.name += "_sync"
        definition.decorator_list = []
        definition.returns = None
        definition.args.args.insert(1, ast.arg("store"))  # (after self)
        tree = ast.fix_missing_locations(_Twin().visit(tree))
        ast.increment_lineno(tree, function.__code__.co_firstlineno - 1)
        namespace: dict[str, Any] = {}
        exec(compile(tree, module.__file__ or "<lifecycle>", "exec"), vars(module), namespace)
        setattr(cls, name + "_sync", namespace[definition.name])


def _driving(function: Callable[..., Steps[Any]]) -> Callable[..., Any]:
    def twin(self: Any, store: Store, *args: Any, **kwargs: Any) -> Any:
        return run(function(self, *args, **kwargs), store)

    return twin


_add_sync_twins(SessionState, ("open", "reload", "_load", "destroy", "undo_login", "_retire", "_retire_after", "save", "persist",
                               "commit", "finish", "_finish_late"))


def _materialized(result: Any) -> Any:
    """A lazy result (``iter_bound``'s iterator) read whole in the worker thread, not on the loop."""
    return list(result) if isinstance(result, Iterator) else result
