"""PostgresStore on a real PostgreSQL 15 (tests/postgres_server.py): connect-pg-simple 10's table and
rows, its TimeZone conversion, compare-and-set between pools, concurrent table creation, rows other
writers left, the contract kit (in clear and sealed), the async twins, and faults (a restart under
load, a pool with no free connection)."""

from __future__ import annotations

import asyncio
import datetime
import itertools
import json
import threading
import zoneinfo

import psycopg
import pytest
from webtest import TestApp

from wsgisession import ConfigurationError, PostgresStore, SessionMiddleware, StoreUnavailable, get_session
from wsgisession.stores.at_rest import AtRestStore
from wsgisession.stores.base import Account, Record, Store, parse_texts
from wsgisession.testing import run_threads, text

from .conftest import codec
from .postgres_fixtures import drop_database, fresh_database, postgres_server, postgres_url  # noqa: F401 (fixtures)
from .postgres_server import started
from .test_store_contract import OurStoreContract

# connect-pg-simple 10.0.0's table.sql, as its package ships it (node_modules/connect-pg-simple/table.sql)
CONNECT_PG_SIMPLE_TABLE = """CREATE TABLE "session" (
  "sid" varchar NOT NULL COLLATE "default",
  "sess" json NOT NULL,
  "expire" timestamp(6) NOT NULL
)
WITH (OIDS=FALSE);

ALTER TABLE "session" ADD CONSTRAINT "session_pkey" PRIMARY KEY ("sid") NOT DEFERRABLE INITIALLY IMMEDIATE;

CREATE INDEX "IDX_session_expire" ON "session" ("expire");
"""
# connect-pg-simple 10's statements (index.js), $n as psycopg's %s
EXPRESS_GET = "SELECT sess FROM session WHERE sid = %s AND expire >= to_timestamp(%s)"
EXPRESS_SET = ("INSERT INTO session (sess, expire, sid) SELECT %s, to_timestamp(%s), %s ON CONFLICT (sid) "
               "DO UPDATE SET sess=%s, expire=to_timestamp(%s) RETURNING sid")
SECRET = "a postgres test secret of at least 32 bytes"
_tables = itertools.count(1)


def now_ms() -> int:
    import time

    return int(time.time() * 1000)


def rows(url: str, sql: str, *params):
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(sql, params or None)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def counter_app(environ, start_response):
    session = get_session(environ)
    session["n"] = session.get("n", 0) + 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(session["n"]).encode()]


# -- the contract kit --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def contract_url(postgres_server):  # noqa: F811
    """One database for the kit's tests, each on a table of its own."""
    url = fresh_database(postgres_server)
    yield url
    drop_database(postgres_server, url)


class TestPostgresStore(OurStoreContract):
    crypto = None

    def make_store(self):
        url = self.request.getfixturevalue("contract_url")
        return PostgresStore(url, table=f"contract_{next(_tables)}", clock=self.clock, pool_size=4,
                             crypto=None if self.crypto is None else codec(self.crypto))


class TestSealedPostgresStore(TestPostgresStore):
    crypto = "webcrypto"


class AsyncTwins(Store):
    """A PostgresStore driven only through its coroutines, on an event loop in a thread of its own:
    the whole contract, through the methods lifecycle.arun calls."""

    tracks_creation = True

    def __init__(self, inner: PostgresStore) -> None:
        self.inner = inner
        self.ttl = inner.ttl
        self.crypto = getattr(inner, "crypto", None)  # (the kit leaves the seal to an AtRestStore with crypto)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def _wait(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    def load(self, sid):
        return self._wait(self.inner.aload(sid))

    def write(self, sid, record):
        return self._wait(self.inner.awrite(sid, record))

    def save(self, sid, record, version):
        return self._wait(self.inner.asave(sid, record, version))

    def refresh(self, sid, expires_ms, version):
        return self._wait(self.inner.arefresh(sid, expires_ms, version))

    def destroy(self, sid):
        return self._wait(self.inner.adestroy(sid))

    def bury(self, key, until_ms):
        return self._wait(self.inner.abury(key, until_ms))

    def buried(self, key):
        return self._wait(self.inner.aburied(key))

    def iter_bound(self, user_id=None):
        return iter(self._wait(self.inner.aiter_bound(user_id)))

    def purge(self, limit=None):
        return self._wait(self.inner.apurge(limit))

    def count_expired(self):
        return self._wait(self.inner.acount_expired())

    def length(self):
        return self._wait(self.inner.alength())

    def all(self):
        return parse_texts(self.texts())

    def texts(self):
        return self.inner.texts()  # (no coroutine: the command line's, not a request's)

    def clear(self):
        return self._wait(self.inner.aclear())

    def close(self):
        try:
            self._wait(self.inner.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=60)
            self.loop.close()


class TestPostgresStoreAsync(TestPostgresStore):
    def make_store(self):
        return AsyncTwins(super().make_store())


class TestSealedPostgresStoreAsync(TestPostgresStoreAsync):
    """Through AtRestStore's coroutines, which seal and open as its synchronous methods do."""

    crypto = "kruptein"


# -- connect-pg-simple's table and rows ----------------------------------------------------------------


def describe(url: str, table: str):
    """A table's columns, constraints and indexes, as the catalogs say."""
    columns = rows(url, "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                        "coalesce((SELECT collname FROM pg_collation WHERE oid = a.attcollation), '') "
                        "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
                        "ORDER BY a.attnum", table)
    constraints = rows(url, "SELECT conname, pg_get_constraintdef(oid), condeferrable FROM pg_constraint "
                            "WHERE conrelid = %s::regclass ORDER BY conname", table)
    indexes = rows(url, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY indexname", table)
    return columns, constraints, indexes


def test_the_table_is_the_one_connect_pg_simple_creates(postgres_server):  # noqa: F811
    theirs, ours = fresh_database(postgres_server), fresh_database(postgres_server)
    try:
        rows(theirs, CONNECT_PG_SIMPLE_TABLE)
        store = PostgresStore(ours)
        assert store.load("nothing") is None  # (the first operation creates the table)
        store.close()
        their_columns, their_constraints, their_indexes = describe(theirs, "session")
        columns, constraints, indexes = describe(ours, "session")
        assert columns[:3] == their_columns == [("sid", "character varying", True, "default"),
                                                ("sess", "json", True, ""),
                                                ("expire", "timestamp(6) without time zone", True, "")]
        assert [(name, kind, not_null) for name, kind, not_null, _ in columns[3:]] == [
            ("created", "bigint", False), ("user_id", "character varying", False), ("logged_in", "bigint", False),
            ("authenticated", "bigint", False), ("user_agent", "character varying", False),
            ("account_seal", "character varying", False)]
        assert constraints == their_constraints == [("session_pkey", "PRIMARY KEY (sid)", False)]
        assert [i for i in indexes if i[0] != "IDX_session_user_id"] == their_indexes
        assert ("IDX_session_user_id", 'CREATE INDEX "IDX_session_user_id" ON public.session USING btree (user_id) '
                "WHERE (user_id IS NOT NULL)") in indexes
    finally:
        drop_database(postgres_server, theirs)
        drop_database(postgres_server, ours)


def test_a_table_connect_pg_simple_made_gains_our_columns_and_keeps_its_rows(postgres_url):  # noqa: F811
    rows(postgres_url, CONNECT_PG_SIMPLE_TABLE)
    rows(postgres_url, EXPRESS_SET, '{"cookie":{},"n":7}', now_ms() / 1000 + 60, "express-sid",
         '{"cookie":{},"n":7}', now_ms() / 1000 + 60)
    store = PostgresStore(postgres_url)
    try:
        loaded = store.load("express-sid")
        assert loaded.text == '{"cookie":{},"n":7}' and loaded.created_ms is None and loaded.account is None
        assert store.save("express-sid", Record(text(n=8), None), loaded.version) is not None
    finally:
        store.close()
    assert rows(postgres_url, EXPRESS_GET, "express-sid", now_ms() / 1000) == [({"cookie": COOKIE, "n": 8},)]


COOKIE = json.loads(text())["cookie"]


def test_the_row_is_what_connect_pg_simple_writes_and_reads(postgres_url):  # noqa: F811
    store = PostgresStore(postgres_url)
    try:
        expires = now_ms() + 3_600_000
        store.write("sid-1", Record(text(n=1), expires))
        [(sess, expire, created)] = rows(postgres_url, "SELECT sess::text, extract(epoch FROM expire::timestamptz), "
                                                       "created FROM session WHERE sid = 'sid-1'")
        assert sess == text(n=1) and round(float(expire) * 1000) == expires and created is not None
        # connect-pg-simple's get finds it, and its set is what our load reads next
        assert rows(postgres_url, EXPRESS_GET, "sid-1", now_ms() / 1000) == [(json.loads(text(n=1)),)]
        version = store.load("sid-1").version
        rows(postgres_url, EXPRESS_SET, text(n=2), expires / 1000, "sid-1", text(n=2), expires / 1000)
        assert store.load("sid-1").text == text(n=2)
        # an Express write makes a loaded version stale: concurrency="merge" loses no update of its either
        assert store.save("sid-1", Record(text(n=3), None), version) is None
        # no expiry: now + ttl, connect-pg-simple's default ttl of a day
        store.write("sid-2", Record(text(n=1), None))
        assert store.ttl == 86400 and abs(store.load("sid-2").expires_ms - (now_ms() + 86_400_000)) < 60_000
        # an expired row reads as missing for both
        rows(postgres_url, "UPDATE session SET expire = to_timestamp(%s) WHERE sid = 'sid-1'", now_ms() / 1000 - 1)
        assert store.load("sid-1") is None and rows(postgres_url, EXPRESS_GET, "sid-1", now_ms() / 1000) == []
    finally:
        store.close()


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/Sao_Paulo", "Pacific/Chatham"])
def test_expire_is_converted_with_the_connections_time_zone(postgres_url, zone):  # noqa: F811
    """The database's TimeZone is not UTC: expire holds the local wall time there, as connect-pg-simple's
    to_timestamp writes it, and both read it back as the same instant."""
    rows(postgres_url, f"ALTER DATABASE {postgres_url.rpartition('/')[2]} SET timezone TO '{zone}'")
    store = PostgresStore(postgres_url)
    try:
        expires = (now_ms() // 1000 + 7200) * 1000 + 250
        store.write("sid-1", Record(text(n=1), expires))
        [(shown_zone, expire)] = rows(postgres_url, "SELECT current_setting('TimeZone'), expire FROM session")
        wall = datetime.datetime.fromtimestamp(expires / 1000, zoneinfo.ZoneInfo(zone)).replace(tzinfo=None)
        assert shown_zone == zone and expire == wall
        assert store.load("sid-1").expires_ms == expires
        rows(postgres_url, EXPRESS_SET, text(n=2), expires / 1000, "sid-2", text(n=2), expires / 1000)
        assert store.load("sid-2").expires_ms == expires  # connect-pg-simple's row, the same instant
        assert rows(postgres_url, EXPRESS_GET, "sid-1", expires / 1000 - 1) != []
        assert rows(postgres_url, EXPRESS_GET, "sid-1", expires / 1000 + 1) == []
    finally:
        store.close()


def test_a_schema_like_connect_pg_simples_schema_name(postgres_url):  # noqa: F811
    rows(postgres_url, "CREATE SCHEMA app; CREATE SCHEMA other")
    stores = [PostgresStore(postgres_url, schema=schema) for schema in ("app", "other")]
    try:
        for n, store in enumerate(stores):
            store.write("sid-1", Record(text(n=n), None, None, Account("alice", 1, 1, None)))
        assert [json.loads(store.load("sid-1").text)["n"] for store in stores] == [0, 1]
        assert [[b.key for b in store.iter_bound("alice")] for store in stores] == [["sid-1"], ["sid-1"]]
        assert rows(postgres_url, "SELECT schemaname FROM pg_tables WHERE tablename = 'session' ORDER BY 1") == [
            ("app",), ("other",)]
        assert rows(postgres_url, 'SELECT sess FROM "app"."session" WHERE sid = %s AND expire >= to_timestamp(%s)',
                    "sid-1", now_ms() / 1000) == [(json.loads(text(n=0)),)]
        assert stores[0].bury("sid-1", now_ms() + 60_000) and stores[0].buried("sid-1")
        assert not stores[1].buried("sid-1") and stores[1].load("sid-1") is not None
    finally:
        for store in stores:
            store.close()
    with pytest.raises(ConfigurationError):
        PostgresStore(postgres_url, schema="no such; schema")


def test_concurrent_table_creation_by_several_stores_succeeds_once(postgres_url):  # noqa: F811
    stores = [PostgresStore(postgres_url, table="raced") for _ in range(4)]
    start = threading.Barrier(len(stores), timeout=60)

    def first_use(i: int) -> None:
        start.wait()
        stores[i].write(f"sid-{i}", Record(text(n=i), None))

    try:
        run_threads(first_use, len(stores))
        assert stores[0].length() == 4
    finally:
        for store in stores:
            store.close()
    assert rows(postgres_url, "SELECT count(*) FROM pg_class WHERE relname IN ('raced', 'raced_tombstones')") == [(2,)]


def test_table_creation_racing_connect_pg_simples_own_succeeds(postgres_url):  # noqa: F811
    """connect-pg-simple creates the table without our lock (to_regclass, then table.sql): whoever
    wins, every store of ours starts, and the table is connect-pg-simple's."""
    stores = [PostgresStore(postgres_url) for _ in range(3)]
    start = threading.Barrier(len(stores) + 2, timeout=60)

    def express_creation() -> None:
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            start.wait()
            if connection.execute("SELECT to_regclass('\"session\"')").fetchone()[0] is None:
                try:
                    connection.execute(CONNECT_PG_SIMPLE_TABLE)
                except psycopg.errors.DatabaseError:
                    pass  # (lost the race: connect-pg-simple's own problem, not ours)

    def first_use(i: int) -> None:
        if i >= len(stores):
            return express_creation()
        start.wait()
        stores[i].write(f"sid-{i}", Record(text(n=i), None))

    try:
        run_threads(first_use, len(stores) + 2)
        assert stores[0].length() == 3
    finally:
        for store in stores:
            store.close()
    assert [c[:3] for c in describe(postgres_url, "session")[0][:3]] == [
        ("sid", "character varying", True), ("sess", "json", True), ("expire", "timestamp(6) without time zone", True)]


def test_concurrent_table_creation_from_two_processes(postgres_url):  # noqa: F811
    import subprocess
    import sys

    code = ("import sys; from wsgisession import PostgresStore; from wsgisession.stores.base import Record; "
            "s = PostgresStore(sys.argv[1], table='by_processes'); sys.stdin.read(); "
            "s.write(sys.argv[2], Record('{}', None)); s.close()")
    processes = [subprocess.Popen([sys.executable, "-c", code, postgres_url, f"sid-{i}"], stdin=subprocess.PIPE)
                 for i in range(2)]
    for process in processes:  # both are started and waiting: release them together
        process.stdin.close()
    assert [process.wait(timeout=120) for process in processes] == [0, 0]
    assert rows(postgres_url, "SELECT sid FROM by_processes ORDER BY sid") == [("sid-0",), ("sid-1",)]


# -- rows other writers left ---------------------------------------------------------------------------


def test_rows_other_writers_left_are_input(postgres_url):  # noqa: F811
    store = PostgresStore(postgres_url)
    sealed = PostgresStore(postgres_url, table="sealed", crypto=codec("webcrypto"))
    try:
        store.load("create the table")
        sealed.load("create the table")
        later = now_ms() / 1000 + 600
        for table in ("session", "sealed"):
            for sid, sess in [("array", "[]"), ("string", '"x"'), ("null", "null"), ("number", "5"),
                              ("cookie", '{"cookie": 5}'), ("object", '{"cookie":{},"n":1}')]:
                rows(postgres_url, f"INSERT INTO {table} (sid, sess, expire) VALUES (%s, %s, to_timestamp(%s))",
                     sid, sess, later)
            rows(postgres_url, f"INSERT INTO {table} (sid, sess, expire, user_id) VALUES "
                               "('empty-user', '{}', to_timestamp(%s), '')", later)
        for sid in ("array", "string", "null", "number"):
            assert store.get(sid) is None  # not a session: what the core reads as missing
            assert sealed.load(sid) is None  # nothing a secret opens
        assert store.get("object") == {"cookie": {}, "n": 1} and sealed.load("cookie") is None
        assert list(store.iter_bound(None)) == [] and store.load("empty-user").account is None
        # through the middleware: a fresh session, never an error
        app = TestApp(SessionMiddleware(counter_app, secret=SECRET, store=store))
        assert app.get("/").text == "1"
    finally:
        store.close()
        sealed.close()


def test_a_sealed_record_is_a_json_string_in_sess(postgres_url):  # noqa: F811
    store = PostgresStore(postgres_url, crypto=codec("webcrypto"))
    try:
        assert isinstance(store, AtRestStore)
        store.write("sid-1", Record(text(secret="ñandú"), None))
        [(kind, value)] = rows(postgres_url, "SELECT json_typeof(sess), sess #>> '{}' FROM session")
        assert kind == "string" and "ñandú" not in value
        assert json.loads(store.load("sid-1").text)["secret"] == "ñandú"

        async def through_the_coroutines() -> str:  # (lifecycle.arun's path: sealed and opened too)
            try:
                await store.awrite("sid-2", Record(text(secret="日本"), None))
                return (await store.aload("sid-2")).text
            finally:
                await store.aclose()

        assert json.loads(asyncio.run(through_the_coroutines()))["secret"] == "日本"
        assert "日本" not in rows(postgres_url, "SELECT sess #>> '{}' FROM session WHERE sid = 'sid-2'")[0][0]
    finally:
        store.close()


def test_writes_sweep_expired_rows_one_batch_at_a_time(postgres_url, monkeypatch):  # noqa: F811
    from wsgisession.stores.postgres import store as module
    from wsgisession.testing import FakeClock

    monkeypatch.setattr(module, "PURGE_BATCH", 2)
    clock = FakeClock(float(now_ms() // 1000))
    store = PostgresStore(postgres_url, clock=clock)
    try:
        for n in range(5):  # (the first write swept nothing, and the next sweep waits PURGE_INTERVAL)
            store.write(f"old-{n}", Record(text(n=n), int(clock() * 1000) + 1_000))
        clock.advance(module.PURGE_INTERVAL + 1)
        left = []
        for n in range(4):
            store.write("live", Record(text(n=n), None))
            left.append(store.count_expired())
        assert left == [3, 1, 0, 0] and store.length() == 1
    finally:
        store.close()


# -- compare-and-set between pools (processes) ----------------------------------------------------------


def test_racing_stores_on_separate_pools_lose_no_update(postgres_url):  # noqa: F811
    stores = [PostgresStore(postgres_url, pool_size=2) for _ in range(3)]
    stores[0].write("counter", Record(text(n=0), None))
    threads, increments = 6, 20
    start = threading.Barrier(threads, timeout=60)

    def increment(i: int) -> None:
        store = stores[i % len(stores)]
        start.wait()
        for _ in range(increments):
            for _attempt in range(10_000):
                loaded = store.load("counter")
                n = json.loads(loaded.text)["n"]
                if store.save("counter", Record(text(n=n + 1), None), loaded.version) is not None:
                    break
            else:
                raise AssertionError("save never succeeded")

    try:
        run_threads(increment, threads)
        assert json.loads(stores[0].load("counter").text)["n"] == threads * increments
    finally:
        for store in stores:
            store.close()


def test_merge_through_the_middleware_loses_no_update(postgres_url):  # noqa: F811
    """Concurrent requests of one session, each adding its own key: every key is there at the end."""
    def app_adding_a_key(environ, start_response):
        get_session(environ)[environ["PATH_INFO"].strip("/")] = True
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    store = PostgresStore(postgres_url, pool_size=4)
    app = TestApp(SessionMiddleware(app_adding_a_key, secret=SECRET, store=store))
    app.get("/first")
    cookie = app.cookies["connect.sid"]
    threads, requests = 4, 10

    def hammer(i: int) -> None:
        client = TestApp(app.app)
        client.set_cookie("connect.sid", cookie)
        for n in range(requests):
            client.get(f"/k{i}-{n}")

    try:
        run_threads(hammer, threads)
        (stored,) = store.all().values()
        assert sorted(k for k in stored if k != "cookie") == sorted(
            ["first", *(f"k{i}-{n}" for i in range(threads) for n in range(requests))])
    finally:
        store.close()


# -- async ---------------------------------------------------------------------------------------------


def test_the_async_twins_share_the_table_with_the_sync_methods(postgres_url):  # noqa: F811
    store = PostgresStore(postgres_url)

    async def scenario() -> None:
        alice = Account("alice", 1, 2, "Firefox")
        assert await store.aload("sid-1") is None
        await store.awrite("sid-1", Record(text(n=1), None, None, alice))
        loaded = await store.aload("sid-1")
        assert loaded.text == text(n=1) and loaded.account == alice
        version = await store.asave("sid-1", Record(text(n=2), None), loaded.version)
        assert version is not None and await store.asave("sid-1", Record(text(n=3), None), loaded.version) is None
        assert await store.arefresh("sid-1", now_ms() + 60_000, version) is True
        assert [bound.key for bound in await store.aiter_bound("alice")] == ["sid-1"]
        assert await store.asave("sid-2", Record(text(n=1), None), None) is not None
        assert await store.adestroy("sid-2") is True and await store.adestroy("sid-2") is False
        assert await store.abury("sid-1", now_ms() + 60_000) is True and await store.aburied("sid-1")
        assert await store.alength() == 0
        await asyncio.gather(*(store.awrite(f"many-{i}", Record(text(n=i), None)) for i in range(20)))
        assert await store.alength() == 20
        await store.aclose()  # (an ASGI app's shutdown: the loop's pool closed in its loop)

    async def in_another_loop() -> None:  # (a new loop gets a pool of its own)
        assert await store.aburied("sid-1") and await store.aload("many-0") is not None
        await store.aclose()

    try:
        asyncio.run(scenario())
        asyncio.run(in_another_loop())
        assert store.length() == 20 and store.buried("sid-1")
    finally:
        store.close()


def test_the_lifecycle_drives_the_async_twins(postgres_url):  # noqa: F811
    from wsgisession.lifecycle import arun

    store = PostgresStore(postgres_url)
    called = []
    original = store.aload

    async def aload(sid):
        called.append(sid)
        return await original(sid)

    store.aload = aload
    try:
        store.write("sid-1", Record(text(n=1), None))

        def steps():
            loaded = yield ("load", "sid-1")
            return loaded.text

        async def main():
            try:
                return await arun(steps(), store)
            finally:
                await store.aclose()

        assert asyncio.run(main()) == text(n=1) and called == ["sid-1"]
    finally:
        store.close()


# -- configuration -------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql//nope", 42])
def test_a_url_that_is_not_postgresql_is_a_configuration_error(url):
    with pytest.raises(ConfigurationError):
        PostgresStore.from_url(url)


@pytest.mark.parametrize("options", [{"table": "bad name"}, {"table": "x" * 64}, {"pool_size": 0},
                                     {"pool_timeout": -1}, {"connect_timeout": 1}, {"ttl": 0}])
def test_bad_options_are_configuration_errors(options):
    with pytest.raises(ConfigurationError):
        PostgresStore("postgresql://u@127.0.0.1/db", **options)


def test_an_unparsable_connection_string_is_a_configuration_error_that_hides_it():
    with pytest.raises(ConfigurationError) as raised:
        PostgresStore("host=x password=hunter2 'unterminated")
    assert "hunter2" not in str(raised.value)


def test_the_constructor_connects_to_nothing_and_a_dead_server_is_a_503():
    from .postgres_server import free_port

    store = PostgresStore(f"postgresql://postgres:secret-pw@127.0.0.1:{free_port()}/db", pool_timeout=0.5)
    try:
        assert store._pool is None  # nothing opened yet
        with pytest.raises(StoreUnavailable) as raised:
            store.load("sid-1")
        assert "secret-pw" not in str(raised.value) and "sid-1" not in str(raised.value)
        response = TestApp(SessionMiddleware(counter_app, secret=SECRET, store=store)).get("/", status=503)
        assert response.headers["Retry-After"]
    finally:
        store.close()


# -- faults --------------------------------------------------------------------------------------------


def test_a_pool_with_no_free_connection_is_a_503_after_the_timeout_not_a_hang(postgres_url):  # noqa: F811
    store = PostgresStore(postgres_url, pool_size=1, pool_timeout=0.5)
    app = TestApp(SessionMiddleware(counter_app, secret=SECRET, store=store))
    try:
        assert app.get("/").text == "1"
        held = store._sync_pool().getconn(timeout=10)  # every connection busy (a slow request, say)
        try:
            with pytest.raises(StoreUnavailable, match="PoolTimeout"):
                store.load("sid-1")
            response = app.get("/", status=503)
            assert response.headers["Retry-After"] and "sid" not in response.text
        finally:
            store._sync_pool().putconn(held)
        assert app.get("/").text == "2"  # the same session, once a connection is free
    finally:
        store.close()


def test_a_server_restarted_under_load_gives_503_then_recovers_and_loses_nothing_committed():
    server = started()
    store = PostgresStore(server.url, pool_size=4, pool_timeout=1.0)
    app = SessionMiddleware(counter_app, secret=SECRET, store=store)
    committed: dict[int, int] = {}  # client -> the count its last 200 answered
    statuses: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()
    clients = 4

    def client(i: int) -> None:
        browser = TestApp(app)
        for _ in range(2_000):  # bounded: stops when told, long before this
            if stop.is_set():
                return
            response = browser.get("/", expect_errors=True)
            with lock:
                statuses.append(response.status_int)
                if response.status_int == 200:
                    # never back: a save the server committed is never lost (one whose answer the
                    # restart cut, a 503, may have committed: the count then moves by two)
                    assert int(response.text) > committed.get(i, 0), "a committed count was lost"
                    committed[i] = int(response.text)
                else:
                    assert response.status_int == 503 and response.headers["Retry-After"]

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    try:
        for thread in threads:
            thread.start()
        _wait_for(lambda: len(statuses) >= 40)
        server.stop()  # fast shutdown: every connection of the pool is cut
        seen = len(statuses)
        _wait_for(lambda: 503 in statuses[seen:])
        server.start()
        restarted = len(statuses)
        _wait_for(lambda: statuses[restarted:].count(200) >= 40)  # recovered
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
        # every committed count is in the database, each session's record saying exactly it
        for sid_text in store.texts().values():
            assert json.loads(sid_text)["n"] in committed.values()
        assert sorted(json.loads(t)["n"] for t in store.texts().values()) == sorted(committed.values())
    finally:
        stop.set()
        store.close()
        server.close()


def test_a_frozen_server_is_a_503_after_the_timeout_then_recovers():
    """A server that keeps its connections open and never answers (SIGSTOP): each request fails
    once the store's timeout has passed, rather than waiting for ever; after SIGCONT, service resumes."""
    server = started()
    store = PostgresStore(server.url, timeout=1.0, pool_timeout=1.0)
    app = TestApp(SessionMiddleware(counter_app, secret=SECRET, store=store))
    outcomes: list[object] = []
    try:
        assert app.get("/").text == "1"
        server.pause()
        worker = threading.Thread(target=lambda: outcomes.append(app.get("/", expect_errors=True)), daemon=True)
        worker.start()
        worker.join(timeout=120)
        assert not worker.is_alive(), "a request hung on a frozen server"
        (response,) = outcomes
        assert response.status_int == 503 and response.headers["Retry-After"]

        async def through_the_coroutines() -> None:
            try:
                with pytest.raises(StoreUnavailable):
                    await store.aload("sid-1")
            finally:
                await store.aclose()

        asyncio.run(through_the_coroutines())  # (the async pool connects, then its first wait expires)
        server.resume()
        _wait_for(lambda: app.get("/", expect_errors=True).status_int == 200)
        assert int(app.get("/").text) >= 3  # the session survived (2, or 3 if a frozen save committed)
    finally:
        server.resume()
        store.close()
        server.close()


def _wait_for(condition, limit: float = 120.0) -> None:
    """Poll ``condition`` (bounded: fails after ``limit`` s; never an assertion on how long it took)."""
    import time

    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.01)
