"""SQLiteStore: sessions in an SQLite file, the zero-setup persistent store (stdlib ``sqlite3``)."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from typing import Any

from .. import record as _record
from ..errors import ConfigurationError, StoreUnavailable
from ..options import check_seconds
from ..serialization import now_ms
from .base import DEFAULT_TTL, Loaded, Record, Store, check_size, validate_ttl

__all__ = ["SQLiteStore"]

logger = logging.getLogger(__name__)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
PURGE_INTERVAL = 600  # seconds between sweeps of expired rows


def _text(blob: bytes) -> str | None:
    """A row's text, or None (logged). Rows are read as bytes: sqlite3 would raise on a row that
    is not UTF-8, and one bad row must read as missing, not fail the store."""
    try:
        return blob.decode("utf-8")
    except UnicodeDecodeError:
        logger.warning("ignored a stored session that is not UTF-8 text")
        return None


def _file_of(path: str) -> str | None:
    """The file SQLite opens for ``path`` (a name, or a ``file:`` URI, which this SQLite honours), or None in memory."""
    if path.startswith("file:"):
        parts = urlsplit(path)
        if "mode=memory" in parts.query:
            return None
        path = unquote(parts.path)
    return None if path in ("", ":memory:") else path


class SQLiteStore(Store):
    """Sessions that survive restarts and are shared by every process using the same file::

        store = SQLiteStore("sessions.sqlite3", ttl=14 * 86400)

    The file runs in WAL mode, so readers never wait for writers and several processes (or
    waitress's threads) can share it; expired rows are invisible at once and purged every
    ten minutes.
    """

    tracks_creation = True  # load() reports when each record was first written

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl: float = DEFAULT_TTL,
        table: str = "sessions",
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(table, str) or not _IDENTIFIER.fullmatch(table):
            raise ConfigurationError(f"table {table!r} is not a plain SQL identifier: use letters, digits and _.")
        check_seconds("timeout", timeout)
        self.path = os.fspath(path)
        self.ttl = validate_ttl(ttl)
        self.table = table
        self.timeout = timeout
        self._clock = clock
        # One connection, shared by the threads under a lock. (One per thread measured no faster
        # end to end, bench/e2e.py, and under concurrent writes SQLite's busy handler sleeps for
        # milliseconds where the lock only queues; the processes sharing the file use WAL.)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._next_purge = 0.0
        t = f'"{table}"'
        self._sql = {
            "load": f"SELECT CAST(session AS BLOB), created FROM {t} WHERE sid = ? AND expires > ?",
            "write": f"INSERT INTO {t} (sid, expires, session, created) VALUES (?, ?, ?, ?) ON CONFLICT (sid) "
                     "DO UPDATE SET expires = excluded.expires, session = excluded.session, "
                     f"created = CASE WHEN {t}.expires > ? AND ? THEN {t}.created ELSE excluded.created END",
            "create": f"INSERT INTO {t} (sid, expires, session, created) VALUES (?, ?, ?, ?) ON CONFLICT (sid) "
                      "DO UPDATE SET expires = excluded.expires, session = excluded.session, "
                      f"created = excluded.created WHERE {t}.expires <= ?",
            "swap": f"UPDATE {t} SET expires = ?, session = ?, created = coalesce(?, created) "
                    "WHERE sid = ? AND session = ? AND expires > ?",
            "refresh": f"UPDATE {t} SET expires = ? WHERE sid = ? AND expires > ?",
            "purge": f"DELETE FROM {t} WHERE expires <= ?",
            "destroy": f"DELETE FROM {t} WHERE sid = ?",
        }

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, table={self.table!r})"

    def _connect(self) -> sqlite3.Connection:
        file = _file_of(self.path)
        if file is not None:
            # Owner-only whatever the umask: session data is personal data. SQLite gives the -wal
            # and -shm files the database file's permissions.
            os.close(os.open(file, os.O_RDWR | os.O_CREAT, 0o600))
        connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            # 64 MiB of page cache (SQLite's default is 2 MiB): a million sessions keep their
            # upper B-tree levels and the active working set in memory.
            connection.execute("PRAGMA cache_size=-65536")
            connection.execute(
                f'CREATE TABLE IF NOT EXISTS "{self.table}" '
                "(sid TEXT PRIMARY KEY, expires INTEGER NOT NULL, session TEXT NOT NULL, created INTEGER NOT NULL) "
                "WITHOUT ROWID"
            )
            connection.execute(f'CREATE INDEX IF NOT EXISTS "{self.table}_expires" ON "{self.table}" (expires)')
        except BaseException:
            connection.close()
            raise
        return connection

    def _run(self, statement: str, parameters: tuple[Any, ...], fetch: str = "") -> Any:
        """Execute one statement on the connection (opened on first use); return its first row
        (``fetch="one"``), all its rows (``"all"``) or its rowcount. Errors become StoreUnavailable."""
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = self._connect()
                cursor = self._connection.execute(statement, parameters)
                if fetch == "one":
                    return cursor.fetchone()
                return cursor.fetchall() if fetch == "all" else cursor.rowcount
            except (sqlite3.Error, OSError) as exc:  # OSError: creating the file failed
                raise StoreUnavailable(f"SQLite session store {self.path!r} failed: {exc}") from exc


    def load(self, sid: str) -> Loaded | None:
        row = self._run(self._sql["load"], (sid, now_ms(self._clock)), "one")
        text = None if row is None else _text(row[0])
        if text is None:
            return None
        created = row[1] if type(row[1]) is int else None  # another writer may have left anything
        return Loaded(text, text, created)

    def _row(self, record: Record) -> tuple[str, int, int, int]:
        """The record's text, now, its creation time (now unless given) and expiry, in epoch ms."""
        check_size(record.text)
        now = now_ms(self._clock)
        created = now if record.created_ms is None else record.created_ms
        return record.text, now, created, self.expiry(record.expires_ms, now)

    def _purge(self, now: int) -> None:
        """Delete expired rows, at most once per PURGE_INTERVAL, after a write."""
        if now >= self._next_purge:
            self._next_purge = now + PURGE_INTERVAL * 1000
            self._run(self._sql["purge"], (now,))

    def write(self, sid: str, record: Record) -> None:
        text, now, created, expires = self._row(record)
        self._run(self._sql["write"], (sid, expires, text, created, now, record.created_ms is None))
        self._purge(now)

    def save(self, sid: str, record: Record, version: Any) -> str | None:
        text, now, created, expires = self._row(record)
        if version is None:  # only if there is no live record
            changed = self._run(self._sql["create"], (sid, expires, text, created, now))
        else:  # only if the record is still the one this request loaded
            changed = self._run(self._sql["swap"], (expires, text, record.created_ms, sid, version, now))
        self._purge(now)
        return text if changed == 1 else None

    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> None:
        now = now_ms(self._clock)
        self._run(self._sql["refresh"], (self.expiry(expires_ms, now), sid, now))

    def destroy(self, sid: str) -> bool:
        return bool(self._run(self._sql["destroy"], (sid,)) == 1)

    def all(self) -> dict[str, dict[str, Any]]:
        rows = self._run(f'SELECT sid, CAST(session AS BLOB) FROM "{self.table}" WHERE expires > ?',
                         (now_ms(self._clock),), "all")
        texts = ((sid, _text(blob)) for sid, blob in rows)
        return {sid: record for sid, text in texts if text is not None and (record := _record.parse(text)) is not None}

    def length(self) -> int:
        (count,) = self._run(f'SELECT COUNT(*) FROM "{self.table}" WHERE expires > ?', (now_ms(self._clock),), "one")
        return int(count)

    def clear(self) -> None:
        self._run(f'DELETE FROM "{self.table}"', ())

    def close(self) -> None:
        """Close the connection (a later use opens a new one)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
