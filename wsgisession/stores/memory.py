"""MemoryStore: sessions in a dict, for tests and development.

Everything is lost when the process exits and nothing is shared between processes: use
SQLiteStore or MongoStore to serve real users.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..serialization import now_ms
from .at_rest import AtRestStore
from .base import (DEFAULT_TTL, MAX_SIZE, Account, Bound, Loaded, Record, Store, check_size, combine, parse_texts,
                   validate_touch_after, validate_ttl)

__all__ = ["MemoryStore"]

_new = tuple.__new__
PURGE_INTERVAL = 600  # seconds between sweeps of expired records, on a write
Entry = tuple[str, int, Account | None]  # a record: its JSON as stored, when it was created (ms), its account


class MemoryStore(Store):
    """A thread-safe in-process store; records are kept as JSON text, expiry checked on read::

        store = MemoryStore(ttl=3600, clock=fake_clock)

    ``touch_after`` (seconds): an unmodified session's expiry is refreshed at most that often
    (connect-mongo's touchAfter; the core applies it). Given ``crypto`` or ``transform_id``
    (SQLiteStore's and MongoStore's too, to test an application's configuration without a
    database), the constructor returns ``AtRestStore(MemoryStore(...), crypto, transform_id)``.

    Writes take a lock (the compare-and-set needs it); reads and expiry refreshes do not: each
    is one dict operation, atomic in CPython. The expiry is kept apart from the record so that a
    refresh (once per request that uses its session) is one assignment (0.3 µs instead of 0.6
    under the lock, bench/inprocess.py).
    """

    tracks_creation = True  # load() reports when each record was first written
    # Nothing here waits on I/O (a dict, a lock held for microseconds): an event loop may call the
    # synchronous methods directly (lifecycle.never_blocks). A subclass that overrides a method
    # (and may block in it, or await in its own coroutine) loses this: see __init_subclass__.
    never_blocks = True

    def __new__(cls, *args: Any, crypto: Any = None, transform_id: Callable[[str], str] | None = None,
                **options: Any) -> Any:
        if crypto is None and transform_id is None:
            return super().__new__(cls)
        return AtRestStore(cls(*args, **options), crypto, transform_id)

    def __init__(self, *, ttl: float = DEFAULT_TTL, touch_after: float = 0, clock: Callable[[], float] = time.time,
                 crypto: Any = None, transform_id: Callable[[str], str] | None = None) -> None:
        # (crypto and transform_id are taken by __new__: never given here)
        self.ttl = validate_ttl(ttl)
        self.touch_after = validate_touch_after(touch_after)
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, Entry] = {}
        self._expires: dict[str, int] = {}  # key -> expires ms
        self._users: dict[str, set[str]] = {}  # user id -> the keys bound to it: the per-user index
        self._tombstones: dict[str, int] = {}  # key -> until when it stays buried (ms)
        self._next_purge = 0  # epoch ms of the next sweep of expired records

    def _live_entry(self, key: str, now: float) -> Entry | None:
        entry = self._records.get(key)
        return None if entry is None or self._expires.get(key, 0) <= now else entry

    def load(self, sid: str) -> Loaded | None:
        entry = self._records.get(sid)
        expires = self._expires.get(sid, 0)
        if entry is None or expires <= self._clock() * 1000:
            return None
        # (tuple.__new__: a NamedTuple's own constructor is a Python call, on every request that loads
        # its session, bench/inprocess.py read-only)
        return _new(Loaded, (entry[0], entry[0], entry[1], entry[2], False, expires))

    def _put(self, key: str, record: Record, version: Any, check: bool) -> str | None:
        # (once per modified request: the helpers' calls spelled out where they are one line, and
        # the index left alone when no account is involved, bench/asgi_cpu.py --instructions)
        text = record.text
        if len(text) * 4 > MAX_SIZE:  # (check_size's own first test: most sessions are far below)
            check_size(text)
        now = int(self._clock() * 1000)
        expires_ms = record.expires_ms
        expires = now + int(self.ttl * 1000) if expires_ms is None else expires_ms  # (``expiry()``)
        records = self._records
        with self._lock:
            old = records.get(key)
            entry = old if old is not None and self._expires.get(key, 0) > now else None  # (``_live_entry``)
            if check and (None if entry is None else entry[0]) != version:
                return None
            created = record.created_ms
            if created is None:
                created = now if entry is None else entry[1]
            # A live record keeps or combines its account; a new one has exactly the account given.
            given = record.account
            # (``combine`` called only when both sides hold an account: most sessions have none)
            account = given if entry is None or entry[2] is None else entry[2] if given is None else combine(entry[2], given)
            if account is not None or (old is not None and old[2] is not None):
                self._index(key, account)  # (no account before or after: nothing to index)
            self._expires[key] = expires  # (first: a lock-free load never sees a new record without it)
            records[key] = (text, created, account)
            if now >= self._next_purge:  # reads never delete: expired records are swept here
                self._next_purge = now + PURGE_INTERVAL * 1000
                self._remove_expired(now, None)
        return text

    def _index(self, key: str, account: Account | None) -> None:
        """Keep the per-user index right for ``key`` (under the lock)."""
        old = self._records.get(key)
        before = None if old is None or old[2] is None else old[2].user_id
        after = None if account is None else account.user_id
        if before != after:
            if before is not None:
                self._unindex(key, before)
            if after is not None:
                self._users.setdefault(after, set()).add(key)

    def _unindex(self, key: str, user_id: str) -> None:
        keys = self._users.get(user_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._users[user_id]

    def _delete(self, key: str) -> bool:
        """Remove ``key`` and its index entry (under the lock); whether there was a record."""
        self._expires.pop(key, None)
        entry = self._records.pop(key, None)
        if entry is not None and entry[2] is not None:
            self._unindex(key, entry[2].user_id)
        return entry is not None

    def _remove_expired(self, now: int, limit: int | None) -> int:
        expires = self._expires
        expired = sorted((key for key, when in expires.items() if when <= now), key=expires.__getitem__)[:limit]
        for key in expired:
            self._delete(key)
        for key in [key for key, until in self._tombstones.items() if until <= now]:
            del self._tombstones[key]
        return len(expired)

    def write(self, sid: str, record: Record) -> None:
        self._put(sid, record, None, False)

    def save(self, sid: str, record: Record, version: Any) -> str | None:
        return self._put(sid, record, version, True)

    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> bool:
        now = now_ms(self._clock)
        expires = self._expires
        if expires.get(sid, 0) > now and sid in self._records:  # (a record destroyed meanwhile leaves
            # an expiry the next sweep removes) ``expiry()`` inlined: once per read-only request
            expires[sid] = now + int(self.ttl * 1000) if expires_ms is None else expires_ms
            return True
        return False

    def destroy(self, sid: str) -> bool:
        with self._lock:
            return self._delete(sid)

    def bury(self, key: str, until_ms: int) -> bool:
        with self._lock:
            self._tombstones[key] = until_ms
            return self._delete(key)

    def buried(self, key: str) -> bool:
        return self._tombstones.get(key, 0) > now_ms(self._clock)


    def iter_bound(self, user_id: str | None = None) -> Iterator[Bound]:
        now = now_ms(self._clock)
        with self._lock:
            keys = [key for keys in (self._users.values() if user_id is None else [self._users.get(user_id, ())])
                    for key in keys]
            entries = [(key, self._records[key], self._expires[key]) for key in keys]
        for key, (text, _, account), expires in entries:
            if expires > now and account is not None:
                yield Bound(key, account, expires, text)

    def purge(self, limit: int | None = None) -> int:
        with self._lock:
            return self._remove_expired(now_ms(self._clock), limit)

    def count_expired(self) -> int:
        now = now_ms(self._clock)
        with self._lock:
            return sum(1 for when in self._expires.values() if when <= now)

    def all(self) -> dict[str, dict[str, Any]]:
        return parse_texts(self.texts())

    def texts(self) -> dict[str, str]:
        now = now_ms(self._clock)
        with self._lock:
            return {key: entry[0] for key, entry in self._records.items() if self._expires.get(key, 0) > now}

    def length(self) -> int:
        return len(self.texts())

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._expires.clear()
            self._users.clear()
            self._tombstones.clear()

    def close(self) -> None:
        """Nothing to release."""

    # Coroutine twins, for an event loop: lifecycle.arun awaits a store's ``a`` + method when it has
    # one, else runs the method in a worker thread. Nothing here waits on I/O (a dict, a lock held for
    # microseconds), so the loop calls the methods directly: a thread hop would cost more than the
    # operation. A subclass that overrides a method (and may block in it) loses its twin: see below.

    async def aload(self, sid: str) -> Loaded | None:
        return self.load(sid)

    async def awrite(self, sid: str, record: Record) -> None:
        self.write(sid, record)

    async def asave(self, sid: str, record: Record, version: Any) -> str | None:
        return self.save(sid, record, version)

    async def arefresh(self, sid: str, expires_ms: int | None, version: Any) -> bool:
        return self.refresh(sid, expires_ms, version)

    async def adestroy(self, sid: str) -> bool:
        return self.destroy(sid)

    async def adestroy_key(self, key: str) -> bool | None:
        return self.destroy_key(key)

    async def abury(self, key: str, until_ms: int) -> bool:
        return self.bury(key, until_ms)

    async def aburied(self, key: str) -> bool:
        return self.buried(key)

    async def aiter_bound(self, user_id: str | None = None) -> list[Bound]:
        return list(self.iter_bound(user_id))

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass's own ``load`` (a test's stalling store, a wrapper adding I/O) may block: unless
        it gives its own ``aload`` too, an event loop runs it in a worker thread."""
        super().__init_subclass__(**kwargs)
        overrides = False
        for name in _TWINNED:
            if getattr(cls, name) is not getattr(MemoryStore, name) and \
                    getattr(cls, "a" + name) is getattr(MemoryStore, "a" + name):
                setattr(cls, "a" + name, None)  # (arun takes None as "no coroutine")
            overrides = overrides or getattr(cls, name) is not getattr(MemoryStore, name) or \
                getattr(cls, "a" + name) is not getattr(MemoryStore, "a" + name)
        if overrides and "never_blocks" not in vars(cls):
            # Its own code (a stalling load, a coroutine that awaits) is driven as any store's: the
            # coroutines awaited, the other methods in a worker thread. (It may say otherwise.)
            cls.never_blocks = False


_TWINNED = ("load", "write", "save", "refresh", "destroy", "destroy_key", "bury", "buried", "iter_bound")
