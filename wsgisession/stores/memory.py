"""MemoryStore: sessions in a dict, for tests and development.

Everything is lost when the process exits and nothing is shared between processes: use
SQLiteStore or MongoStore to serve real users.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from .. import record as _record
from ..serialization import now_ms
from .base import DEFAULT_TTL, Loaded, Record, Store, check_size, validate_ttl

__all__ = ["MemoryStore"]

PURGE_INTERVAL = 600  # seconds between sweeps of expired records, on a write


class MemoryStore(Store):
    """A thread-safe in-process store; records are kept as JSON text, expiry checked on read::

        store = MemoryStore(ttl=3600, clock=fake_clock)
    """

    tracks_creation = True  # load() reports when each record was first written

    def __init__(self, *, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.time) -> None:
        self.ttl = validate_ttl(ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, tuple[int, str, int]] = {}  # sid -> (expires ms, JSON, created ms)
        self._next_purge = 0  # epoch ms of the next sweep of expired records

    def load(self, sid: str) -> Loaded | None:
        entry = self._records.get(sid)  # (a dict read is atomic: no lock needed to read)
        if entry is None or entry[0] <= self._clock() * 1000:
            return None
        return Loaded(entry[1], entry[1], entry[2])

    def _put(self, sid: str, record: Record, version: Any, check: bool) -> str | None:
        text = record.text
        check_size(text)
        now = now_ms(self._clock)
        expires = self.expiry(record.expires_ms, now)
        with self._lock:
            entry = self._records.get(sid)
            if entry is not None and entry[0] <= now:
                entry = None  # expired: as if absent
            if check and (None if entry is None else entry[1]) != version:
                return None
            created = record.created_ms
            if created is None:
                created = now if entry is None else entry[2]
            self._records[sid] = (expires, text, created)
            if now >= self._next_purge:  # reads never delete: expired records are swept here
                self._next_purge = now + PURGE_INTERVAL * 1000
                for expired in [key for key, entry in self._records.items() if entry[0] <= now]:
                    del self._records[expired]
        return text

    def write(self, sid: str, record: Record) -> None:
        self._put(sid, record, None, False)

    def save(self, sid: str, record: Record, version: Any) -> str | None:
        return self._put(sid, record, version, True)

    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> None:
        now = now_ms(self._clock)
        expires = self.expiry(expires_ms, now)
        with self._lock:
            entry = self._records.get(sid)
            if entry is not None and entry[0] > now:
                self._records[sid] = (expires, entry[1], entry[2])

    def destroy(self, sid: str) -> bool:
        with self._lock:
            return self._records.pop(sid, None) is not None

    def _live(self) -> dict[str, str]:
        now = now_ms(self._clock)
        with self._lock:
            return {sid: text for sid, (expires, text, _) in self._records.items() if expires > now}

    def all(self) -> dict[str, dict[str, Any]]:
        records = ((sid, _record.parse(text)) for sid, text in self._live().items())
        return {sid: record for sid, record in records if record is not None}

    def length(self) -> int:
        return len(self._live())

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def close(self) -> None:
        """Nothing to release."""
