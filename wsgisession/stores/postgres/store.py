"""PostgresStore: sessions in PostgreSQL, in connect-pg-simple 10's table (psycopg 3 and psycopg_pool)."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from ...errors import ConfigurationError, StoreUnavailable
from ...options import check_seconds
from ...serialization import now_ms
from ..at_rest import AtRestStore
from ..base import (Account, Bound, Loaded, Record, Store, check_size, parse_texts, read_account,
                    validate_touch_after, validate_ttl)
from .sql import EXTRA, Statements, account_parameters, quote, table_sql

__all__ = ["PostgresStore"]

logger = logging.getLogger(__name__)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
CONNECT_PG_SIMPLE_TTL = 86400  # seconds: connect-pg-simple's default ttl (one day)
PURGE_BATCH = 1000  # rows a purge deletes per statement
PURGE_INTERVAL = 900  # seconds between sweeps of expired rows after writes (connect-pg-simple prunes every 15 min)

# One operation: a generator that yields (statement, parameters, fetch) and returns the result;
# fetch is "one" (the first row), "all" (every row) or "" (the row count). The same plan runs on
# the synchronous pool (_run) and on the asynchronous one (_arun).
Plan = Generator[tuple[str, dict[str, Any], str], Any, Any]


def _seconds(ms: int) -> float:
    """Epoch ms as the epoch seconds to_timestamp takes (a float: millisecond precision survives it)."""
    return ms / 1000


def _account(user_id: object, logged_in: object, authenticated: object, agent: object) -> Account | None:
    return None if user_id is None else read_account(user_id, logged_in, authenticated, agent)


class PostgresStore(Store):
    """Sessions in PostgreSQL, in the table connect-pg-simple 10 reads and writes::

        store = PostgresStore.from_url("postgresql://app@db:5432/app")           # table "session"
        store = PostgresStore("host=db dbname=app user=app", table="session", ttl=86400)
        store = PostgresStore(pool)       # a psycopg_pool.ConnectionPool (or AsyncConnectionPool) of yours

    Nothing connects in the constructor: the pool opens at the first operation, which also creates
    the table if it is missing (connect-pg-simple's table.sql, under an advisory lock so that two
    processes starting together both succeed) and adds this store's nullable columns beside
    connect-pg-simple's. The same object serves an event loop: ``aload``, ``asave``... run on
    psycopg's AsyncConnectionPool, created in the loop on first use (``lifecycle.arun`` calls them).

    Options: ``ttl`` (seconds a session whose cookie has no expiry lives; connect-pg-simple's
    default, a day), ``touch_after``, ``table``, ``create_table`` (False: the table must exist,
    made by this store), ``pool_size`` (connections at most, per pool), ``pool_timeout`` (seconds
    a request waits for a free connection, then 503), ``connect_timeout`` (seconds, libpq's),
    ``crypto``/``transform_id`` (the constructor then returns ``AtRestStore(PostgresStore(...))``;
    a ciphertext is kept as a JSON string in ``sess``). A failure of the database (psycopg's
    errors, a pool timeout) is StoreUnavailable: a 503 with Retry-After.
    """

    tracks_creation = True  # load() reports when each record was first written (None for a row Express created)

    def __new__(cls, *args: Any, crypto: Any = None, transform_id: Callable[[str], str] | None = None,
                **options: Any) -> Any:
        if crypto is None and transform_id is None:
            return super().__new__(cls)
        if crypto is not None:  # a ciphertext is not JSON: sess keeps it as a JSON string
            options["sealed"] = True
        return AtRestStore(cls(*args, **options), crypto, transform_id)

    def __init__(self, conninfo_or_pool: str | ConnectionPool | AsyncConnectionPool, *, table: str = "session",
                 ttl: float = CONNECT_PG_SIMPLE_TTL, touch_after: float = 0, create_table: bool = True,
                 pool_size: int = 10, pool_timeout: float = 5.0, connect_timeout: int = 3,
                 sealed: bool = False, clock: Callable[[], float] = time.time,
                 crypto: Any = None, transform_id: Callable[[str], str] | None = None) -> None:
        # (crypto and transform_id are taken by __new__: never given here)
        if not isinstance(table, str) or not _IDENTIFIER.fullmatch(table):
            raise ConfigurationError(f"table {table!r} is not a plain SQL identifier: use letters, digits and _ "
                                     "(at most 63).")
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or not 1 <= pool_size <= 1000:
            raise ConfigurationError(f"pool_size must be an int from 1 to 1000 (connections), not {pool_size!r}.")
        check_seconds("pool_timeout", pool_timeout, at_most=300)
        if isinstance(connect_timeout, bool) or not isinstance(connect_timeout, int) or not 2 <= connect_timeout <= 300:
            raise ConfigurationError("connect_timeout must be an int of seconds from 2 to 300 (libpq counts whole "
                                     f"seconds, at least 2), not {connect_timeout!r}.")
        self.ttl = validate_ttl(ttl)
        self.touch_after = validate_touch_after(touch_after)
        self.table = table
        self.create_table = bool(create_table)
        self.pool_size = pool_size
        self.pool_timeout = pool_timeout
        self.connect_timeout = connect_timeout
        self.sealed = bool(sealed)
        self._clock = clock
        self._sql = Statements(table, self.sealed)
        self._lock = threading.Lock()
        self._pool: ConnectionPool | None = None
        self._apool: AsyncConnectionPool | None = None
        self._apool_loop: asyncio.AbstractEventLoop | None = None
        self._own_pools = True
        self._ready = not self.create_table  # whether the table is known to exist with our columns
        self._next_purge = 0
        if isinstance(conninfo_or_pool, (ConnectionPool, AsyncConnectionPool)):
            pool = conninfo_or_pool
            self._conninfo, self._kwargs = pool.conninfo, dict(pool.kwargs or {})
            if isinstance(pool, ConnectionPool):
                self._pool = pool
            else:
                self._apool = pool
                self._apool_loop = None  # (the loop it was made for: checked at first use)
            self._given_pool = pool
        elif isinstance(conninfo_or_pool, str):
            self._conninfo, self._kwargs = conninfo_or_pool, self._connection_options(conninfo_or_pool)
            self._given_pool = None
        else:
            raise ConfigurationError("PostgresStore takes a connection string (postgresql://user@host/db or "
                                     "'host=... dbname=...') or a psycopg_pool pool; not "
                                     f"{type(conninfo_or_pool).__name__}.")

    def _connection_options(self, conninfo: str) -> dict[str, Any]:
        """The keywords every connection of our pools gets: autocommit, and bounded waits on the network
        (unless the connection string sets them). Never the TimeZone: connect-pg-simple uses the server's."""
        try:
            given = conninfo_to_dict(conninfo)
        except psycopg.ProgrammingError:
            raise ConfigurationError("the PostgreSQL connection string cannot be parsed: write "
                                     "postgresql://user:password@host:5432/database, or libpq's "
                                     "'host=... port=... dbname=... user=...'.") from None
        options: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in given:
            options["connect_timeout"] = self.connect_timeout
        if "keepalives" not in given:  # a dead peer is noticed in about 20 s, not hours
            options.update(keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=2)
        return options

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Store:
        """A store on its own pools, ``postgresql://user:password@host:5432/database`` (or ``postgres://``);
        ``options`` are the constructor's keywords. Nothing connects yet."""
        if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://")):
            raise ConfigurationError("url must be a PostgreSQL URL, like 'postgresql://user@localhost:5432/app'.")
        return cls(url, **options)  # type: ignore[no-any-return]

    def __repr__(self) -> str:  # never the connection string: it may hold a password
        return f"PostgresStore(table={self.table!r})"

    # -- pools, opened on first use --------------------------------------------------------------

    def _sync_pool(self) -> ConnectionPool:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    made = ConnectionPool(self._conninfo, kwargs=self._kwargs, min_size=1, max_size=self.pool_size,
                                          timeout=self.pool_timeout, open=False, name=f"wsgisession-{self.table}")
                    made.open(wait=False)  # connects in the background; a request waits at most pool_timeout
                    self._pool = made
                pool = self._pool
        elif self._given_pool is pool and pool.closed and not getattr(self, "_opened_given", False):
            with self._lock:
                if pool.closed and not getattr(self, "_opened_given", False):
                    pool.open(wait=False)
                    self._opened_given = True
        return pool

    async def _async_pool(self) -> AsyncConnectionPool:
        loop = asyncio.get_running_loop()
        pool = self._apool
        if pool is None or (self._apool_loop is not None and self._apool_loop is not loop):
            # a pool belongs to one event loop: another loop (a test's asyncio.run) gets its own
            if pool is not None and pool is not self._given_pool:
                self._stale_pools = [*getattr(self, "_stale_pools", []), pool]
            pool = AsyncConnectionPool(self._conninfo, kwargs=self._kwargs, min_size=1, max_size=self.pool_size,
                                       timeout=self.pool_timeout, open=False, name=f"wsgisession-{self.table}-async")
            self._apool, self._apool_loop = pool, loop
        elif self._apool_loop is None:
            self._apool_loop = loop
        if pool.closed:
            await pool.open(wait=False)
        return pool

    # -- running plans -----------------------------------------------------------------------------

    def _run(self, plan: Plan) -> Any:
        """Run ``plan`` on one connection of the synchronous pool (the table made ready first)."""
        try:
            with self._sync_pool().connection() as connection:
                if not self._ready:
                    self._ensure_table(connection)
                return _drive(connection, plan)
        except psycopg.Error as exc:
            raise _unavailable(exc) from exc

    async def _arun(self, plan: Plan) -> Any:
        """``_run`` on the event loop's asynchronous pool."""
        try:
            pool = await self._async_pool()
            async with pool.connection() as connection:
                if not self._ready:
                    await self._aensure_table(connection)
                return await _adrive(connection, plan)
        except psycopg.Error as exc:
            raise _unavailable(exc) from exc

    # -- the table ---------------------------------------------------------------------------------

    def _table_plan(self) -> Plan:
        """Create connect-pg-simple's table if missing and add our columns, under a transaction-scoped
        advisory lock (two processes starting at once take turns; the second finds it made)."""
        yield "SELECT pg_advisory_xact_lock(hashtext(%(key)s))", {"key": f"wsgisession {self.table}"}, "one"
        (found,) = yield "SELECT to_regclass(%(name)s) IS NOT NULL", {"name": quote(self.table)}, "one"
        if not found:
            yield table_sql(self.table), {}, ""
        rows = yield ("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                      "AND table_name = %(name)s"), {"name": self.table}, "all"
        present = {row[0] for row in rows}
        for column, kind in EXTRA.items():
            if column not in present:
                yield f"ALTER TABLE {self._sql.table} ADD COLUMN IF NOT EXISTS {column} {kind}", {}, ""
        yield self._sql.user_index_ddl, {}, ""
        yield self._sql.tombstones_ddl, {}, ""

    def _ensure_table(self, connection: psycopg.Connection[Any]) -> None:
        for attempt in range(3):
            try:
                with connection.transaction():
                    _drive(connection, self._table_plan())
                self._ready = True
                return
            except (psycopg.errors.DuplicateTable, psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                if attempt == 2:  # a creator without our lock (connect-pg-simple) won the race: look again
                    raise

    async def _aensure_table(self, connection: psycopg.AsyncConnection[Any]) -> None:
        for attempt in range(3):
            try:
                async with connection.transaction():
                    await _adrive(connection, self._table_plan())
                self._ready = True
                return
            except (psycopg.errors.DuplicateTable, psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                if attempt == 2:
                    raise

    # -- plans of the port -------------------------------------------------------------------------

    def _now(self) -> int:
        return now_ms(self._clock)

    def _load(self, sid: str) -> Plan:
        row = yield self._sql.load, {"sid": sid, "now": _seconds(self._now())}, "one"
        if row is None or not isinstance(row[0], str):
            return None
        text, created, expires, *account = row
        return Loaded(text, text, created if type(created) is int else None, _account(*account), False, expires)

    def _row(self, sid: str, record: Record) -> dict[str, Any]:
        """The statements' parameters: the record's key and text, now, its creation time (now unless
        given), its expiry (to_timestamp's seconds), its account."""
        check_size(record.text)
        now = self._now()
        return {"sid": sid, "sess": record.text, "now": _seconds(now), "now_ms": now,
                "created": now if record.created_ms is None else record.created_ms, "given": record.created_ms,
                "keep": record.created_ms is None, "expire": _seconds(self.expiry(record.expires_ms, now)),
                **account_parameters(record.account)}

    def _purge_now(self, now: int) -> Plan:
        """Delete expired rows at most once per PURGE_INTERVAL, after a write (in batches)."""
        if now >= self._next_purge:
            self._next_purge = now + PURGE_INTERVAL * 1000
            yield from self._purge(None, now)
        return None

    def _write(self, row: dict[str, Any]) -> Plan:
        yield self._sql.write, row, ""
        yield from self._purge_now(row["now_ms"])

    def _save(self, row: dict[str, Any], version: Any) -> Plan:
        if version is None:
            changed = yield self._sql.create, row, ""
        else:
            changed = yield self._sql.swap, {**row, "version": version}, ""
        yield from self._purge_now(row["now_ms"])
        return row["sess"] if changed == 1 else None

    def _refresh(self, sid: str, expires_ms: int | None) -> Plan:
        now = self._now()
        changed = yield self._sql.refresh, {"sid": sid, "now": _seconds(now),
                                            "expire": _seconds(self.expiry(expires_ms, now))}, ""
        return changed == 1

    def _destroy(self, sid: str) -> Plan:
        return (yield self._sql.destroy, {"sid": sid}, "") == 1

    def _bury(self, key: str, until_ms: int) -> Plan:
        return (yield self._sql.bury, {"sid": key, "until": int(until_ms)}, "") == 1

    def _buried(self, key: str) -> Plan:
        return (yield self._sql.buried, {"sid": key, "now_ms": self._now()}, "one") is not None

    def _iter_bound(self, user_id: str | None) -> Plan:
        now = _seconds(self._now())
        if user_id is None:
            rows = yield self._sql.all_bound, {"now": now}, "all"
        else:
            rows = yield self._sql.bound, {"user_id": user_id, "now": now}, "all"
        found = []
        for key, expires, text, *account_columns in rows:
            account = _account(*account_columns)
            if account is not None:
                found.append(Bound(key, account, expires, text if isinstance(text, str) else None))
        return found

    def _purge(self, limit: int | None, now: int | None = None) -> Plan:
        now = self._now() if now is None else now
        yield self._sql.purge_tombstones, {"now_ms": now}, ""
        deleted = 0
        while limit is None or deleted < limit:
            batch = PURGE_BATCH if limit is None else min(PURGE_BATCH, limit - deleted)
            count = yield self._sql.purge_some, {"now": _seconds(now), "limit": batch}, ""
            deleted += count
            if count < batch:
                break
        return deleted

    def _one(self, statement: str) -> Plan:
        (value,) = yield statement, {"now": _seconds(self._now())}, "one"
        return int(value)

    def _texts(self) -> Plan:
        rows = yield self._sql.texts, {"now": _seconds(self._now())}, "all"
        return {key: text for key, text in rows if isinstance(text, str)}

    def _clear(self) -> Plan:
        yield self._sql.clear, {}, ""
        yield self._sql.clear_tombstones, {}, ""

    # -- the port (synchronous) ----------------------------------------------------------------------

    def load(self, sid: str) -> Loaded | None:
        return self._run(self._load(sid))  # type: ignore[no-any-return]

    def write(self, sid: str, record: Record) -> None:
        self._run(self._write(self._row(sid, record)))

    def save(self, sid: str, record: Record, version: Any) -> str | None:
        return self._run(self._save(self._row(sid, record), version))  # type: ignore[no-any-return]

    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> bool:
        return self._run(self._refresh(sid, expires_ms))  # type: ignore[no-any-return]

    def destroy(self, sid: str) -> bool:
        return self._run(self._destroy(sid))  # type: ignore[no-any-return]

    def bury(self, key: str, until_ms: int) -> bool:
        return self._run(self._bury(key, until_ms))  # type: ignore[no-any-return]

    def buried(self, key: str) -> bool:
        return self._run(self._buried(key))  # type: ignore[no-any-return]

    def iter_bound(self, user_id: str | None = None) -> Iterator[Bound]:
        return iter(self._run(self._iter_bound(user_id)))

    def purge(self, limit: int | None = None) -> int:
        return self._run(self._purge(limit))  # type: ignore[no-any-return]

    def count_expired(self) -> int:
        return self._run(self._one(self._sql.count_expired))  # type: ignore[no-any-return]

    def length(self) -> int:
        return self._run(self._one(self._sql.length))  # type: ignore[no-any-return]

    def all(self) -> dict[str, dict[str, Any]]:
        return parse_texts(self.texts())

    def texts(self) -> dict[str, str]:
        return self._run(self._texts())  # type: ignore[no-any-return]

    def clear(self) -> None:
        self._run(self._clear())

    def close(self) -> None:
        """Close the pools this store opened (a pool you gave it is yours to close)."""
        with self._lock:
            pool, self._pool = self._pool, None if self._given_pool is None else self._pool
        if pool is not None and pool is not self._given_pool:
            pool.close(timeout=self.pool_timeout)
        # An asynchronous pool closes in its loop (aclose); one left open here is dropped with its loop.
        for stale in getattr(self, "_stale_pools", []):
            logger.debug("dropping an asynchronous pool of a finished event loop (%s)", stale.name)
        self._stale_pools = []

    # -- the port (asynchronous: lifecycle.arun calls these) ----------------------------------------

    async def aload(self, sid: str) -> Loaded | None:
        return await self._arun(self._load(sid))  # type: ignore[no-any-return]

    async def awrite(self, sid: str, record: Record) -> None:
        await self._arun(self._write(self._row(sid, record)))

    async def asave(self, sid: str, record: Record, version: Any) -> str | None:
        return await self._arun(self._save(self._row(sid, record), version))  # type: ignore[no-any-return]

    async def arefresh(self, sid: str, expires_ms: int | None, version: Any) -> bool:
        return await self._arun(self._refresh(sid, expires_ms))  # type: ignore[no-any-return]

    async def adestroy(self, sid: str) -> bool:
        return await self._arun(self._destroy(sid))  # type: ignore[no-any-return]

    async def abury(self, key: str, until_ms: int) -> bool:
        return await self._arun(self._bury(key, until_ms))  # type: ignore[no-any-return]

    async def aburied(self, key: str) -> bool:
        return await self._arun(self._buried(key))  # type: ignore[no-any-return]

    async def aiter_bound(self, user_id: str | None = None) -> list[Bound]:
        return await self._arun(self._iter_bound(user_id))  # type: ignore[no-any-return]

    async def apurge(self, limit: int | None = None) -> int:
        return await self._arun(self._purge(limit))  # type: ignore[no-any-return]

    async def alength(self) -> int:
        return await self._arun(self._one(self._sql.length))  # type: ignore[no-any-return]

    async def aclear(self) -> None:
        await self._arun(self._clear())

    async def aclose(self) -> None:
        """Close the asynchronous pool of the running loop (and the synchronous one: ``close``)."""
        pool, self._apool = self._apool, None if self._given_pool is None else self._apool
        if pool is not None and pool is not self._given_pool:
            await pool.close(timeout=self.pool_timeout)
        await asyncio.to_thread(self.close)


def _drive(connection: psycopg.Connection[Any], plan: Plan) -> Any:
    """Execute a plan's statements on ``connection``, each result sent back into it; its return value."""
    result = None
    while True:
        try:
            statement, parameters, fetch = plan.send(result)
        except StopIteration as done:
            return done.value
        cursor = connection.execute(statement, parameters or None)
        result = cursor.fetchone() if fetch == "one" else cursor.fetchall() if fetch == "all" else cursor.rowcount


async def _adrive(connection: psycopg.AsyncConnection[Any], plan: Plan) -> Any:
    result = None
    while True:
        try:
            statement, parameters, fetch = plan.send(result)
        except StopIteration as done:
            return done.value
        cursor = await connection.execute(statement, parameters or None)
        result = await cursor.fetchone() if fetch == "one" else await cursor.fetchall() if fetch == "all" \
            else cursor.rowcount


def _unavailable(exc: psycopg.Error) -> StoreUnavailable:
    """A store failure without the statement's data: the first line of the error (never its detail,
    which can quote a session id)."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return StoreUnavailable(f"PostgreSQL session store failed: {type(exc).__name__}: {first}")
