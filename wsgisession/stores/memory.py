"""MemoryStore: sessions in a dict, for tests and development.

Everything is lost when the process exits and nothing is shared between processes: use
SQLiteStore or MongoStore to serve real users.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..serialization import dumps, loads
from .base import DEFAULT_TTL, Record, expiry_ms, validate_ttl

__all__ = ["MemoryStore"]


class MemoryStore:
    """A thread-safe in-process store; records are kept as JSON text, expiry checked on read::

        store = MemoryStore(ttl=3600, clock=fake_clock)
    """

    def __init__(self, *, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.time) -> None:
        self.ttl = validate_ttl(ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, tuple[int, str]] = {}  # sid -> (expires ms, JSON)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def get(self, sid: str) -> Record | None:
        with self._lock:
            entry = self._records.get(sid)
            if entry is None:
                return None
            if entry[0] <= self._now_ms():
                del self._records[sid]
                return None
        return loads(entry[1])  # type: ignore[no-any-return]

    def set(self, sid: str, session: Record) -> None:
        text = dumps(session)
        expires = expiry_ms(session, self._now_ms(), self.ttl)
        with self._lock:
            self._records[sid] = (expires, text)

    def touch(self, sid: str, session: Record) -> None:
        expires = expiry_ms(session, self._now_ms(), self.ttl)
        with self._lock:
            entry = self._records.get(sid)
            if entry is not None:
                self._records[sid] = (expires, entry[1])

    def destroy(self, sid: str) -> None:
        with self._lock:
            self._records.pop(sid, None)

    def _live(self) -> dict[str, str]:
        now = self._now_ms()
        with self._lock:
            return {sid: text for sid, (expires, text) in self._records.items() if expires > now}

    def all(self) -> dict[str, Record]:
        return {sid: loads(text) for sid, text in self._live().items()}

    def length(self) -> int:
        return len(self._live())

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def close(self) -> None:
        """Nothing to release; present for the Store protocol."""
