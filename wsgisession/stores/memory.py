"""MemoryStore: sessions in a dict, for tests and development.

Everything is lost when the process exits and nothing is shared between processes: use
SQLiteStore or MongoStore to serve real users.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..serialization import dumps, loads
from .base import DEFAULT_TTL, Loaded, Record, check_size, expiry_ms, validate_ttl

__all__ = ["MemoryStore"]


class MemoryStore:
    """A thread-safe in-process store; records are kept as JSON text, expiry checked on read::

        store = MemoryStore(ttl=3600, clock=fake_clock)
    """

    def __init__(self, *, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.time) -> None:
        self.ttl = validate_ttl(ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, tuple[int, str, int]] = {}  # sid -> (expires ms, JSON, created ms)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _live_entry(self, sid: str, now: int) -> tuple[int, str, int] | None:
        """The unexpired entry (call under the lock); an expired one is dropped."""
        entry = self._records.get(sid)
        if entry is not None and entry[0] <= now:
            del self._records[sid]
            return None
        return entry

    tracks_creation = True  # load() reports when each record was first written

    def load(self, sid: str) -> Loaded | None:
        with self._lock:
            entry = self._live_entry(sid, self._now_ms())
        return None if entry is None else Loaded(loads(entry[1]), entry[1], entry[2])

    def get(self, sid: str) -> Record | None:
        loaded = self.load(sid)
        return None if loaded is None else loaded.record

    def _write(self, sid: str, session: Record, version: object, check: bool) -> str | None:
        text = dumps(session)
        check_size(text)
        now = self._now_ms()
        expires = expiry_ms(session, now, self.ttl)
        with self._lock:
            entry = self._live_entry(sid, now)
            if check and (entry[1] if entry is not None else None) != version:
                return None
            self._records[sid] = (expires, text, now if entry is None else entry[2])
        return text

    def set(self, sid: str, session: Record) -> None:
        self._write(sid, session, None, check=False)

    def save(self, sid: str, session: Record, version: object) -> str | None:
        return self._write(sid, session, version, check=True)

    def touch(self, sid: str, session: Record) -> None:
        now = self._now_ms()
        expires = expiry_ms(session, now, self.ttl)
        with self._lock:
            entry = self._live_entry(sid, now)
            if entry is not None:
                self._records[sid] = (expires, entry[1], entry[2])

    def destroy(self, sid: str) -> None:
        with self._lock:
            self._records.pop(sid, None)

    def _live(self) -> dict[str, str]:
        now = self._now_ms()
        with self._lock:
            return {sid: text for sid, (expires, text, _) in self._records.items() if expires > now}

    def all(self) -> dict[str, Record]:
        return {sid: loads(text) for sid, text in self._live().items()}

    def length(self) -> int:
        return len(self._live())

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def close(self) -> None:
        """Nothing to release; present for the Store protocol."""
