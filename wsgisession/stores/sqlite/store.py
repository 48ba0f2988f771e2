"""SQLiteStore: sessions in an SQLite file, the zero-setup persistent store (stdlib ``sqlite3``)."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from ...errors import ConfigurationError, StoreUnavailable
from ...options import check_seconds
from ...serialization import now_ms
from ..at_rest import AtRestStore
from ..base import (DEFAULT_TTL, Account, Bound, Loaded, Record, Store, check_size, parse_texts, read_account,
                    validate_touch_after, validate_ttl)
from .sql import ACCOUNT, LIVE, SID, account_parameters, statements

__all__ = ["SQLiteStore"]

logger = logging.getLogger(__name__)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
PURGE_INTERVAL = 600  # seconds between sweeps of expired rows


def _text(blob: bytes | None, what: str = "session") -> str | None:
    """A column's text, or None (logged). Text is read as bytes: sqlite3 would raise on a row that
    is not UTF-8, and one bad row must read as missing, not fail the store."""
    try:
        return None if blob is None else bytes(blob).decode("utf-8")
    except UnicodeDecodeError:
        logger.warning("ignored a stored %s that is not UTF-8 text", what)
        return None


def _account(user_id: bytes | None, logged_in: object, authenticated: object, agent: bytes | None,
             seal: object = None) -> Account | None:
    if user_id is None:
        return None
    return read_account(_text(user_id, "user id"), logged_in, authenticated, _text(agent, "user agent"), seal)


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
    ten minutes. ``touch_after`` (seconds): an unmodified session's expiry is refreshed at most
    that often (connect-mongo's touchAfter; the core applies it). Given ``crypto`` (encrypts the
    session column) or ``transform_id`` (turns ids into the keys stored), the constructor returns
    ``AtRestStore(SQLiteStore(...), crypto, transform_id)`` (stores/at_rest.py).
    """

    tracks_creation = True  # load() reports when each record was first written

    def __new__(cls, *args: Any, crypto: Any = None, transform_id: Callable[[str], str] | None = None,
                **options: Any) -> Any:
        if crypto is None and transform_id is None:
            return super().__new__(cls)
        return AtRestStore(cls(*args, **options), crypto, transform_id)

    def __init__(self, path: str | os.PathLike[str], *, ttl: float = DEFAULT_TTL, touch_after: float = 0,
                 table: str = "sessions", timeout: float = 5.0, clock: Callable[[], float] = time.time,
                 crypto: Any = None, transform_id: Callable[[str], str] | None = None) -> None:
        # (crypto and transform_id are taken by __new__: never given here)
        if not isinstance(table, str) or not _IDENTIFIER.fullmatch(table):
            raise ConfigurationError(f"table {table!r} is not a plain SQL identifier: use letters, digits and _.")
        check_seconds("timeout", timeout)
        self.path = os.fspath(path)
        self.ttl = validate_ttl(ttl)
        self.touch_after = validate_touch_after(touch_after)
        self.table = table
        self.timeout = timeout
        self._clock = clock
        # One connection, shared by the threads under a lock. (One per thread measured no faster
        # end to end, bench/e2e.py, and under concurrent writes SQLite's busy handler sleeps for
        # milliseconds where the lock only queues; the processes sharing the file use WAL.)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._next_purge = 0.0
        self._sql = statements(table)

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
            self._add_account_columns(connection)
            connection.execute(self._sql["tombstones"])
        except BaseException:
            connection.close()
            raise
        return connection

    def _add_account_columns(self, connection: sqlite3.Connection) -> None:
        """The account columns and their index (partial: only bound rows), added to a table made
        before accounts existed; idempotent, and safe against another process doing the same."""
        t = f'"{self.table}"'
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({t})")}
        for column, kind in ACCOUNT.items():
            if column not in present:
                try:
                    connection.execute(f"ALTER TABLE {t} ADD COLUMN {column} {kind}")
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc):
                        raise
        connection.execute(f'CREATE INDEX IF NOT EXISTS "{self.table}_user" ON {t} (user_id) WHERE user_id IS NOT NULL')

    def _run(self, statement: str, parameters: tuple[Any, ...] | dict[str, Any], fetch: str = "") -> Any:
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
                # sqlite3's decoding errors quote the column's text, which may be a session id: not repeated
                detail = "a stored value is not UTF-8 text" if "decode" in str(exc) else str(exc)
                raise StoreUnavailable(f"SQLite session store {self.path!r} failed: {detail}") from exc

    def load(self, sid: str) -> Loaded | None:
        row = self._run(self._sql["load"], (sid, now_ms(self._clock)), "one")
        stored = None if row is None else _text(row[0])
        if stored is None:
            return None
        created = row[1] if type(row[1]) is int else None  # another writer may have left anything
        return Loaded(stored, stored, created, _account(*row[3:]), False, row[2])

    def _row(self, sid: str, record: Record) -> dict[str, Any]:
        """The statements' parameters: the record's key and text as stored, now, its creation time
        (now unless given) and expiry in epoch ms, its account."""
        check_size(record.text)
        now = now_ms(self._clock)
        created = now if record.created_ms is None else record.created_ms
        return {"sid": sid, "session": record.text, "now": now, "created": created, "given": record.created_ms,
                "keep": record.created_ms is None, "expires": self.expiry(record.expires_ms, now),
                **account_parameters(record.account)}

    def _purge(self, now: int) -> None:
        """Delete expired rows, at most once per PURGE_INTERVAL, after a write."""
        if now >= self._next_purge:
            self._next_purge = now + PURGE_INTERVAL * 1000
            self._run(self._sql["purge"], (now,))
            self._run(self._sql["purge_tombstones"], (now,))

    def write(self, sid: str, record: Record) -> None:
        row = self._row(sid, record)
        del row["given"]
        self._run(self._sql["write"], row)
        self._purge(row["now"])

    def save(self, sid: str, record: Record, version: Any) -> str | None:
        row = self._row(sid, record)
        del row["keep"]
        if version is None:  # only if there is no live record
            del row["given"]
            changed = self._run(self._sql["create"], row)
        else:  # only if the record is still the one this request loaded
            del row["created"]
            row["version"] = version
            changed = self._run(self._sql["swap" if record.account is None else "swap_bound"], row)
        self._purge(row["now"])
        return row["session"] if changed == 1 else None

    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> bool:
        now = now_ms(self._clock)
        return bool(self._run(self._sql["refresh"], (self.expiry(expires_ms, now), sid, now)) == 1)

    def destroy(self, sid: str) -> bool:
        return bool(self._run(self._sql["destroy"], (sid,)) == 1)

    def bury(self, key: str, until_ms: int) -> bool:
        self._run(self._sql["bury"], (key, until_ms))  # first: the key is never unknown and not yet buried
        return self.destroy(key)

    def buried(self, key: str) -> bool:
        return self._run(self._sql["buried"], (key, now_ms(self._clock)), "one") is not None

    def iter_bound(self, user_id: str | None = None) -> Iterator[Bound]:
        now = now_ms(self._clock)
        if user_id is None:
            rows = self._run(self._sql["all_bound"], (now,), "all")
        else:
            rows = self._run(self._sql["bound"], (user_id, now), "all")
        for key, expires, blob, *account_columns in rows:
            key, account = _text(key, "session id"), _account(*account_columns)
            if key is not None and account is not None:
                yield Bound(key, account, expires, _text(blob))

    def purge(self, limit: int | None = None) -> int:
        now = now_ms(self._clock)
        self._run(self._sql["purge_tombstones"], (now,))
        if limit is None:
            return int(self._run(self._sql["purge"], (now,)))
        return int(self._run(self._sql["purge_some"], (now, limit)))

    def count_expired(self) -> int:
        (count,) = self._run(f'SELECT COUNT(*) FROM "{self.table}" WHERE expires <= ?', (now_ms(self._clock),), "one")
        return int(count)

    def all(self) -> dict[str, dict[str, Any]]:
        return parse_texts(self.texts())

    def texts(self) -> dict[str, str]:
        rows = self._run(f'SELECT {SID}, CAST(session AS BLOB) FROM "{self.table}" WHERE {LIVE}',
                         (now_ms(self._clock),), "all")
        texts = ((_text(key, "session id"), _text(blob)) for key, blob in rows)
        return {key: text for key, text in texts if key is not None and text is not None}

    def length(self) -> int:
        (count,) = self._run(f'SELECT COUNT(*) FROM "{self.table}" WHERE {LIVE}', (now_ms(self._clock),), "one")
        return int(count)

    def clear(self) -> None:
        self._run(f'DELETE FROM "{self.table}"', ())
        self._run(self._sql["clear_tombstones"], ())

    def close(self) -> None:
        """Close the connection (a later use opens a new one)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
