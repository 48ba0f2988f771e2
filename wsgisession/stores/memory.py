"""MemoryStore: sessions in a dict, for tests and development.

Everything is lost when the process exits and nothing is shared between processes: use
SQLiteStore or MongoStore to serve real users.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..serialization import dumps
from .base import DEFAULT_TTL, Loaded, Record, check_size, expiry_ms, parse_record, validate_ttl

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
        if entry is None:
            return None
        record = parse_record(entry[1])
        return None if record is None else Loaded(record, entry[1], entry[2])

    def get(self, sid: str) -> Record | None:
        loaded = self.load(sid)
        return None if loaded is None else loaded.record

    def _write(self, sid: str, session: Record, version: object, check: bool, created_ms: int | None) -> str | None:
        text = dumps(session)
        check_size(text)
        now = self._now_ms()
        expires = expiry_ms(session, now, self.ttl)
        with self._lock:
            entry = self._live_entry(sid, now)
            if check and (entry[1] if entry is not None else None) != version:
                return None
            if created_ms is None:
                created_ms = now if entry is None else entry[2]
            self._records[sid] = (expires, text, created_ms)
        return text

    def set(self, sid: str, session: Record, *, created_ms: int | None = None) -> None:
        self._write(sid, session, None, False, created_ms)

    def save(self, sid: str, session: Record, version: object, *, created_ms: int | None = None) -> str | None:
        return self._write(sid, session, version, True, created_ms)

    def touch(self, sid: str, session: Record) -> None:
        now = self._now_ms()
        expires = expiry_ms(session, now, self.ttl)
        with self._lock:
            entry = self._live_entry(sid, now)
            if entry is not None:
                self._records[sid] = (expires, entry[1], entry[2])

    def destroy(self, sid: str) -> bool:
        with self._lock:
            return self._records.pop(sid, None) is not None

    def _live(self) -> dict[str, str]:
        now = self._now_ms()
        with self._lock:
            return {sid: text for sid, (expires, text, _) in self._records.items() if expires > now}

    def all(self) -> dict[str, Record]:
        records = ((sid, parse_record(text)) for sid, text in self._live().items())
        return {sid: record for sid, record in records if record is not None}

    def length(self) -> int:
        return len(self._live())

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def close(self) -> None:
        """Nothing to release; present for the Store protocol."""
