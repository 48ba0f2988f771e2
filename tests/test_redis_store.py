"""RedisStore on a private redis-server: connect-redis 9's format, the compare-and-set, the round
trips per request, stored garbage, outages, the at-rest wrapper, the asyncio twins, URLs and the CLI.

The contract kit runs in test_redis_contract.py. Round trips are counted by the server itself
(MONITOR, which lists each command a client sent, and marks the ones a Lua script ran as ``lua``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager

import pytest
import redis
from webtest import TestApp

from wsgisession import ConfigurationError, CookieOptions, RedisStore, SessionMiddleware, StoreUnavailable, get_session
from wsgisession.crypto import WebCryptoAdapter
from wsgisession.lifecycle import arun
from wsgisession.record import expires_ms as iso_to_ms
from wsgisession.stores.at_rest import AtRestStore
from wsgisession.stores.base import Account, Record
from wsgisession.stores.redis.keys import Keys
from wsgisession.stores.redis.store import INDEX_GRACE_MS
from wsgisession.stores.url import open_store
from wsgisession.testing import FakeClock

from .redis_server import RedisServer
from .webapp import SECRET, app, cookie_for, session_id

TEXT = '{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"n":1}'


@pytest.fixture
def client(redis_url):
    made = redis.Redis.from_url(redis_url, socket_timeout=10)
    yield made
    made.close()


@pytest.fixture
def clock():
    return FakeClock(float(int(time.time())))


def now_ms(clock) -> int:
    return int(clock() * 1000)


def web(store, clock=None, **options) -> TestApp:
    return TestApp(SessionMiddleware(app, secret=SECRET, store=store, clock=clock or time.time, **options))


# -- connect-redis 9's format ---------------------------------------------------------------------

@pytest.mark.parametrize("max_age", [None, 3600, 7 * 86400])
def test_key_value_and_ttl_are_connect_redis(client, clock, max_age):
    store = RedisStore(client, clock=clock)
    response = web(store, clock, cookie=CookieOptions(max_age=max_age)).get("/count")
    sid = session_id(response)
    value = client.get("sess:" + sid)
    session = json.loads(value)
    assert session == {"cookie": session["cookie"], "cuenta": 1}
    assert value.decode() == json.dumps(session, separators=(",", ":"), ensure_ascii=False)  # JSON.stringify's text
    # connect-redis: SET key value EX ceil((cookie.expires - now) / 1000), else its ttl (86400 s)
    now = now_ms(clock)
    if max_age is None:
        expected = now + 86400 * 1000
    else:
        expected = now + math.ceil((iso_to_ms(session["cookie"]["expires"]) - now) / 1000) * 1000
        assert expected == now + max_age * 1000
    assert client.pexpiretime("sess:" + sid) == expected  # (exact: the absolute expiry EX would give, by the clock)


def test_ttl_rounds_up_to_whole_seconds_and_an_expired_cookie_deletes(client, clock):
    store = RedisStore(client, clock=clock, ttl=600)
    now = now_ms(clock)
    store.write("a", Record(TEXT, now + 1_500))
    assert client.pexpiretime("sess:a") == now + 2_000  # ceil(1.5) s
    store.write("b", Record(TEXT, None))
    assert client.pexpiretime("sess:b") == now + 600_000  # ttl=
    store.write("a", Record(TEXT, now - 1))  # TTL <= 0: connect-redis deletes
    assert client.exists("sess:a") == 0 and client.exists(Keys("sess:", "wsgisession:").meta("a")) == 0


def test_a_session_express_wrote_is_read_and_touched_with_expire_only(client, clock):
    store = RedisStore(client, clock=clock)
    express = {"cookie": {"originalMaxAge": 60000, "expires": None, "httpOnly": True, "path": "/"}, "cuenta": 41}
    text = json.dumps(express, separators=(",", ":"))
    client.set("sess:from-node", text, ex=30)
    testapp = web(store, clock, cookie=CookieOptions(max_age=3600))
    testapp.set_cookie("connect.sid", cookie_for("from-node"))
    assert testapp.get("/read").json == {"cuenta": 41}
    assert client.get("sess:from-node").decode() == text  # an unmodified session: EXPIRE only, the value stays
    assert client.pexpiretime("sess:from-node") == now_ms(clock) + 60_000  # its own cookie's maxAge, as express
    assert testapp.get("/count").json == 42
    assert json.loads(client.get("sess:from-node"))["cuenta"] == 42


def test_connect_redis_scans_see_only_sessions(client, clock):
    """connect-redis's all(), length() and clear() SCAN prefix*: the index, meta hashes and tombstones live elsewhere."""
    store = RedisStore(client, clock=clock)
    store.write("s1", Record(TEXT, None, None, Account("alice", 1, 1, "UA")))
    store.write("s2", Record(TEXT, None))
    store.bury("s2", now_ms(clock) + 60_000)
    assert sorted(client.scan_iter(match="sess:*")) == [b"sess:s1"]
    assert all(not key.startswith(b"sess:") for key in client.scan_iter(match="wsgisession:*"))
    assert {key.split(b":")[1] for key in client.scan_iter(match="wsgisession:*")} == {b"m", b"u", b"t"}


@pytest.mark.parametrize(("prefix", "meta"), [("sess:", "sess:x:"), ("", "wsgisession:"), ("ws", "wsgisession:"),
                                              ("sess:", "a{b}")])
def test_overlapping_prefixes_are_refused(client, prefix, meta):
    with pytest.raises(ConfigurationError, match=r"\.$"):
        RedisStore(client, prefix=prefix, meta_prefix=meta)


def test_a_client_that_decodes_replies_is_refused(redis_url):
    with pytest.raises(ConfigurationError, match="decode_responses=False"):
        RedisStore(redis.Redis.from_url(redis_url, decode_responses=True))
    with pytest.raises(ConfigurationError, match="synchronous redis-py client"):
        RedisStore(redis.asyncio.Redis.from_url(redis_url))


@pytest.mark.parametrize("prefix", ["sess:", "{app}sess:", "myapp:s:"])
def test_each_sessions_own_keys_share_its_cluster_slot(prefix):
    from redis.crc import key_slot

    keys = Keys(prefix, "wsgisession:")
    for sid in ("abc", "ZXhhbXBsZQ-_", "0" * 64):
        slots = {key_slot(key.encode()) for key in keys.slotted(sid)}
        assert slots == {key_slot(keys.session(sid).encode())}


# -- compare-and-set -------------------------------------------------------------------------------

def test_concurrent_requests_of_two_processes_lose_no_update(redis_url):
    """Two stores, each on its own client (two processes' worth), threads changing one session through
    the middleware with concurrency="merge" (the default), each request its own key: none is lost."""
    clients = [redis.Redis.from_url(redis_url, socket_timeout=10) for _ in range(2)]
    apps = [web(RedisStore(c)) for c in clients]
    sid = session_id(apps[0].get("/count"))
    threads, increments = 4, 15

    def hammer(i: int) -> None:
        testapp = TestApp(apps[i % 2].app)
        testapp.set_cookie("connect.sid", cookie_for(sid))
        for j in range(increments):  # each request its own key: the merge keeps them all
            testapp.get(f"/set?k{i}_{j}={j}")

    workers = [threading.Thread(target=hammer, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers)
    stored = json.loads(clients[0].get("sess:" + sid))
    assert sorted(key for key in stored if key.startswith("k")) == sorted(
        f"k{i}_{j}" for i in range(threads) for j in range(increments))
    assert stored["cuenta"] == 1
    for c in clients:
        c.close()


def test_save_compares_with_what_connect_redis_wrote(client, clock):
    store = RedisStore(client, clock=clock)
    store.write("s", Record(TEXT, None))
    loaded = store.load("s")
    client.set("sess:s", TEXT.replace('"n":1', '"n":2'), keepttl=True)  # an Express app's write
    assert store.save("s", Record(TEXT.replace('"n":1', '"n":3'), None), loaded.version) is None
    again = store.load("s")
    assert store.save("s", Record(TEXT.replace('"n":1', '"n":3'), None), again.version) is not None


# -- round trips -------------------------------------------------------------------------------

@contextmanager
def monitored(port: int, lua: list[str] | None = None):
    """The commands clients sent the server inside the block (a script's own commands left out: into
    ``lua`` when given)."""
    other = redis.Redis(port=port, socket_timeout=10)
    other.ping()  # (its handshake before the monitor starts)
    watcher = redis.Redis(port=port, socket_timeout=10)
    monitor = watcher.monitor()
    monitor.__enter__()
    seen: list[str] = []
    try:
        yield seen
        marker = "end-of-block-" + uuid.uuid4().hex
        other.echo(marker)
        for _ in range(10_000):
            entry = monitor.next_command()
            if marker in entry["command"]:
                break
            if entry.get("client_type") != "lua":
                seen.append(entry["command"].split(" ", 1)[0].upper())
            elif lua is not None:
                lua.append(entry["command"].split(" ", 1)[0].upper())
    finally:
        monitor.__exit__()
        watcher.close()
        other.close()


@pytest.mark.parametrize("touch_after", [0, 3600])
def test_round_trips_per_request(redis_server, redis_url, touch_after, record_property):
    client = redis.Redis.from_url(redis_url, socket_timeout=10)
    testapp = web(RedisStore(client, touch_after=touch_after), cookie=CookieOptions(max_age=86400))
    testapp.get("/count")  # a session; the connection open, the scripts cached (a first use costs an EVAL more)
    testapp.get("/read")
    testapp.get("/count")
    counts = {}
    # The scripts' own calls, each costing Redis a few µs (scripts.py): LOAD's GET, PEXPIRETIME and HMGET;
    # REFRESH's PEXPIREAT and the meta hash's PEXPIRETIME (its expiry left alone: within its window);
    # WRITE's GET, SET and PEXPIRETIME.
    calls = {"untouched": [], "read-only": ["GET", "PEXPIRETIME", "HMGET"] + (
        [] if touch_after else ["PEXPIREAT", "PEXPIRETIME"]),
        "modified": ["GET", "PEXPIRETIME", "HMGET", "GET", "SET", "PEXPIRETIME"]}
    for name, path, expected in (("untouched", "/plain", 0), ("read-only", "/read", 1 if touch_after else 2),
                                 ("modified", "/count", 2)):
        lua: list[str] = []
        with monitored(redis_server.port, lua) as seen:
            testapp.get(path)
        counts[name] = seen
        assert len(seen) == expected, (name, seen)
        assert len(seen) <= (1 if name == "read-only" and touch_after else 2)  # the targets
        assert lua == calls[name], (name, lua)
    fresh = TestApp(testapp.app)
    with monitored(redis_server.port) as seen:
        fresh.get("/read")  # a new, unused session: nothing stored
    assert seen == []
    record_property("measured", f"touch_after={touch_after}: " + "; ".join(f"{k} {v}" for k, v in counts.items()))
    client.close()


# -- stored data is input ----------------------------------------------------------------------

@pytest.mark.parametrize("stored", [b"\xff\xfe not utf-8", b"not json", b"[1, 2]", b'"a string"', b"{\"cookie\": 5}",
                                    b"", "hash", "list"])
def test_garbage_under_a_session_key_is_a_fresh_session(client, stored):
    if stored == "hash":
        client.hset("sess:junk", "a", "b")
    elif stored == "list":
        client.rpush("sess:junk", "a")
    else:
        client.set("sess:junk", stored)
    testapp = web(RedisStore(client))
    testapp.set_cookie("connect.sid", cookie_for("junk"))
    response = testapp.get("/count")
    assert response.status_int == 200 and response.json == 1  # a fresh session, never an error
    if session_id(response) is None:  # the id kept: the core read a JSON object as a session of no data
        assert json.loads(client.get("sess:junk"))["cuenta"] == 1


def test_a_tampered_meta_hash_binds_nobody(client, clock):
    store = RedisStore(client, clock=clock)
    store.write("s", Record(TEXT, None, None, Account("alice", 1, 2, "UA")))
    meta = Keys("sess:", "wsgisession:").meta("s")
    client.hset(meta, mapping={"u": b"\xff", "c": "yesterday"})
    loaded = store.load("s")
    assert loaded.text == TEXT and loaded.account is None and loaded.created_ms is None
    assert list(store.iter_bound("alice")) == []


# -- the user index ----------------------------------------------------------------------------

def test_index_entries_naming_no_bound_session_are_pruned_after_the_grace(client, clock):
    store = RedisStore(client, clock=clock)
    alice = Account("alice", now_ms(clock), now_ms(clock), None)
    store.write("s1", Record(TEXT, None, None, alice))
    store.write("s2", Record(TEXT, now_ms(clock) + 1_000, None, alice))
    client.delete("sess:s1")  # as an Express app's logout (DEL), or Redis's own expiry
    index = "wsgisession:u:alice"
    assert [b.key for b in store.iter_bound("alice")] == ["s2"]
    assert client.zcard(index) == 2  # young entries stay: a login's write may still be on its way
    clock.advance(INDEX_GRACE_MS / 1000 + 1)  # s2 has expired too
    assert list(store.iter_bound("alice")) == []
    assert client.exists(index) == 0  # pruned, and the empty index deleted


def test_a_binding_lasts_as_long_as_express_keeps_the_session(client, clock):
    """An Express app's saves and touches (SET ... EX, EXPIRE) move the session key only: a bound meta
    hash has no TTL, so its account outlives any number of them; an unbound one expires a grace after
    its session (nothing else would delete it) until it is bound."""
    store = RedisStore(client, clock=clock, ttl=3)
    keys = Keys("sess:", "wsgisession:")
    store.write("bound", Record(TEXT, None, None, Account("alice", 1, 1, None)))
    store.write("plain", Record(TEXT, None))
    assert client.pttl(keys.meta("bound")) == -1
    assert client.pexpiretime(keys.meta("plain")) == client.pexpiretime("sess:plain") + 2 * 3_000
    client.set("sess:bound", TEXT, ex=3)  # Express alone (its save; tests/test_interop_accounts.py lets time pass)
    client.expire("sess:bound", 3)  # (its touch)
    assert store.load("bound").account.user_id == "alice"
    assert client.pttl(keys.meta("bound")) == -1
    assert [b.key for b in store.iter_bound("alice")] == ["bound"]
    store.write("plain", Record(TEXT, None, None, Account("bob", 1, 1, None)))  # a login without a new id
    assert client.pttl(keys.meta("plain")) == -1
    store.write("plain", Record(TEXT, None))  # a later write without an account keeps the binding
    assert client.pttl(keys.meta("plain")) == -1 and store.load("plain").account.user_id == "bob"


def test_an_unbound_meta_hash_follows_each_write_later_or_earlier(client, clock):
    """scripts.follow: an unbound hash's expiry stays within one to two graces after its session's. A
    write or refresh moving the session less than a grace leaves it alone (one read, no write); past
    either end, it is set to two graces after, and its field 'x' with it; a load after an Express touch
    only extends it; a bound hash never gets a TTL."""
    store = RedisStore(client, clock=clock, ttl=60)
    meta = Keys("sess:", "wsgisession:").meta("u")
    grace = 60_000

    def expiries():
        return client.pexpiretime("sess:u"), client.pexpiretime(meta), int(client.hget(meta, "x"))

    store.write("u", Record(TEXT, now_ms(clock) + 3_600_000))
    session, first, x = expiries()
    assert first == x == session + 2 * grace
    clock.advance(5)
    loaded = store.load("u")
    assert store.save("u", Record(TEXT, now_ms(clock) + 3_600_000), loaded.version)  # 5 s later: left alone
    assert expiries() == (session + 5_000, first, first)
    clock.advance(grace / 1000)
    assert store.refresh("u", now_ms(clock) + 3_600_000, None)  # a grace later: set again
    assert expiries() == (now_ms(clock) + 3_600_000, now_ms(clock) + 3_600_000 + 2 * grace,
                          now_ms(clock) + 3_600_000 + 2 * grace)
    loaded = store.load("u")
    assert store.save("u", Record(TEXT, now_ms(clock) + 600_000), loaded.version)  # earlier: brought back
    assert expiries() == (now_ms(clock) + 600_000, now_ms(clock) + 600_000 + 2 * grace,
                          now_ms(clock) + 600_000 + 2 * grace)
    client.expire("sess:u", 7200)  # an Express touch: the next load extends the hash...
    store.load("u")
    session, extended, x = expiries()
    assert extended == x == session + 2 * grace
    client.pexpireat("sess:u", now_ms(clock) + 60_000)  # ...and never shortens it
    store.load("u")
    assert expiries()[1:] == (extended, extended)
    store.write("u", Record(TEXT, now_ms(clock) + 600_000, None, Account("alice", 1, 1, None)))
    assert client.pttl(meta) == -1
    loaded = store.load("u")
    assert store.save("u", Record(TEXT, now_ms(clock) + 3_600_000), loaded.version)  # a bound hash stays without
    assert store.refresh("u", now_ms(clock) + 7_200_000, None)
    assert client.pttl(meta) == -1 and store.load("u").account.user_id == "alice"


@pytest.mark.parametrize("clocked", [False, True])
def test_a_meta_hash_written_before_its_expiry_field_still_works(client, clock, clocked):
    """A hash as the previous version left it (no field 'x', an expiry one grace after its session's):
    read as before, its expiry read instead of 'x'; extended after an Express touch; given 'x' when next
    set. With either clock (the system one trusts Redis's expiry)."""
    store = RedisStore(client, ttl=60, **({"clock": clock} if clocked else {}))
    now = now_ms(clock) if clocked else int(time.time() * 1000)
    meta = Keys("sess:", "wsgisession:").meta("old")
    client.set("sess:old", TEXT, pxat=now + 600_000)
    client.hset(meta, "c", str(now - 5_000))
    client.pexpireat(meta, now + 600_000 + 60_000)
    loaded = store.load("old")
    assert loaded.text == TEXT and loaded.created_ms == now - 5_000 and loaded.account is None
    assert client.pexpiretime(meta) == now + 660_000 and client.hget(meta, "x") is None  # within its window
    client.pexpireat("sess:old", now + 3_600_000)  # an Express touch
    assert store.load("old").created_ms == now - 5_000
    assert client.pexpiretime(meta) == int(client.hget(meta, "x")) == now + 3_600_000 + 120_000
    client.hdel(meta, "x")
    assert store.refresh("old", now + 7_200_000, loaded.version)
    assert client.pexpiretime(meta) == int(client.hget(meta, "x")) == client.pexpiretime("sess:old") + 120_000
    assert store.load("old").created_ms == now - 5_000


@pytest.mark.parametrize("clocked", [False, True])
def test_refresh_of_a_session_redis_does_not_have(client, clock, clocked):
    """With the system clock, REFRESH reads no value: the session's PEXPIREAT tells whether Redis has it."""
    store = RedisStore(client, **({"clock": clock} if clocked else {}))
    now = now_ms(clock) if clocked else int(time.time() * 1000)
    assert store.refresh("none", now + 60_000, None) is False
    assert client.keys("*") == []
    store.write("s", Record(TEXT, None))
    client.delete("sess:s")  # as an Express app's destroy
    assert store.refresh("s", now + 60_000, None) is False
    assert client.exists("sess:s") == 0


def test_a_creation_time_given_to_a_session_express_made_expires_with_it(client):
    """An Express app's session has no meta hash; a save that gives it a creation time (the absolute
    timeout counting from the first Python request) makes one, unbound, which gets its TTL then."""
    store = RedisStore(client, ttl=60)
    meta = Keys("sess:", "wsgisession:").meta("node")
    client.set("sess:node", TEXT, ex=600)
    loaded = store.load("node")
    now = int(time.time() * 1000)
    assert store.save("node", Record(TEXT.replace('"n":1', '"n":2'), None, now), loaded.version)
    assert client.hget(meta, "c") == str(now).encode()
    assert client.pexpiretime(meta) == int(client.hget(meta, "x")) == client.pexpiretime("sess:node") + 120_000
    assert store.load("node").created_ms == now


def test_a_bound_hash_whose_session_went_is_deleted_by_the_next_reader(client, clock):
    """No meta hash leaks: a bound session that Redis expired (or an Express app destroyed) has its hash
    deleted by the next sessions_of, its index entry once past the grace; purge() sweeps a hash that
    no index names (an index write lost in a failover)."""
    store = RedisStore(client, clock=clock)
    keys = Keys("sess:", "wsgisession:")
    for sid in ("expired", "orphan", "kept"):
        store.write(sid, Record(TEXT, None, None, Account("alice", 1, 1, None)))
    client.pexpire("sess:expired", 1)  # Redis's own expiry...
    for _ in range(500):  # (bounded: a key past its expiry is deleted when it is next looked at)
        if client.exists("sess:expired") == 0:
            break
        time.sleep(0.01)
    assert client.exists("sess:expired") == 0
    assert [b.key for b in store.iter_bound("alice")] == ["kept", "orphan"]
    assert client.exists(keys.meta("expired")) == 0 and client.zscore("wsgisession:u:alice", "expired") is not None
    clock.advance(INDEX_GRACE_MS / 1000 + 1)
    assert [b.key for b in store.iter_bound("alice")] == ["kept", "orphan"]
    assert client.zscore("wsgisession:u:alice", "expired") is None

    client.zrem("wsgisession:u:alice", "orphan")  # ...and a hash no index names
    client.delete("sess:orphan")
    assert client.exists(keys.meta("orphan")) == 1
    assert store.purge() == 0
    assert client.exists(keys.meta("orphan")) == 0
    assert client.pttl(keys.meta("kept")) == -1 and store.load("kept").account.user_id == "alice"
    assert sorted(client.scan_iter(match="wsgisession:m:*")) == [keys.meta("kept").encode()]


@pytest.mark.parametrize("prefix", ["sess:", "{app}sess:", "a{b", "x}y:", "{}:", "{{:"])
@pytest.mark.parametrize("sid", ["abc", "{tag}", "a}b{c}", ""])
def test_a_meta_hash_names_its_session(prefix, sid):
    keys = Keys(prefix, "wsgisession:")
    assert keys.key_of_meta(keys.meta(sid)) == sid
    assert keys.key_of_meta(keys.tombstone(sid)) is None and keys.key_of_meta("other:m:{sess:x}") is None


def test_purge_sweeps_indexes_and_tombstones(client, clock):
    store = RedisStore(client, clock=clock)
    store.write("s1", Record(TEXT, now_ms(clock) + 1_000, None, Account("bob", None, None, None)))
    store.bury("gone", now_ms(clock) + 1_000)
    clock.advance(INDEX_GRACE_MS / 1000 + 1)
    assert store.purge() == 1
    assert sorted(client.scan_iter()) == []


# -- outages -----------------------------------------------------------------------------------

@pytest.fixture
def private_redis():
    server = RedisServer(name="redis-outage")
    server.start()
    yield server
    server.close()


def test_an_outage_answers_503_with_retry_after_and_sessions_come_back(private_redis):
    store = RedisStore.from_url(private_redis.url, timeout=0.5, retries=0)
    testapp = web(store)
    sid = session_id(testapp.get("/count"))
    private_redis.stop()
    response = testapp.get("/count", expect_errors=True)
    assert response.status_int == 503 and response.headers["Retry-After"]
    assert sid not in response.text
    private_redis.start()  # empty again (no persistence): a new session, served normally
    assert testapp.get("/count").status_int == 200
    store.close()


def test_a_frozen_server_answers_503_within_the_timeout(private_redis):
    store = RedisStore.from_url(private_redis.url, timeout=0.5, retries=0)
    testapp = web(store)
    testapp.get("/count")
    private_redis.pause()
    try:
        started = time.monotonic()
        response = testapp.get("/count", expect_errors=True)
        elapsed = time.monotonic() - started
    finally:
        private_redis.resume()
    assert response.status_int == 503 and response.headers["Retry-After"]
    assert elapsed < 30  # bounded (0.5 s per reply): never a hang
    store.close()


def test_unreachable_is_store_unavailable_and_constructors_do_no_io():
    from .redis_server import free_port

    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5, retries=0)  # nothing listens
    with pytest.raises(StoreUnavailable, match=r"Redis session store: get failed \(ConnectionError\)"):
        store.load("sid")
    async def down():
        try:
            await store.aload("sid")
        finally:
            await store.aclose()

    with pytest.raises(StoreUnavailable):
        asyncio.run(down())


# -- at rest ---------------------------------------------------------------------------------------

def test_crypto_and_transform_id_wrap_the_store(client, clock):
    def hashed(sid: str) -> str:
        return hashlib.sha256(sid.encode()).hexdigest()

    store = RedisStore(client, clock=clock, crypto=WebCryptoAdapter("at rest secret"), transform_id=hashed)
    assert isinstance(store, AtRestStore)
    testapp = web(store, clock)
    sid = session_id(testapp.get("/count"))
    assert testapp.get("/count").json == 2
    assert client.exists("sess:" + sid) == 0
    stored = client.get("sess:" + hashed(sid))
    assert stored is not None and b"cuenta" not in stored  # sealed: connect-redis cannot read it
    async def opened():
        try:
            return (await store.aload(sid)).text
        finally:
            await store.aclose()

    assert asyncio.run(opened()) == store.load(sid).text  # the async path opens it too
    assert RedisStore.from_url("redis://127.0.0.1:1/0", crypto=WebCryptoAdapter("x" * 32)).inner.prefix == "sess:"


def test_at_rest_offers_coroutines_only_when_the_inner_store_has_them(tmp_path, client):
    from wsgisession import SQLiteStore

    sealed_sqlite = SQLiteStore(tmp_path / "s.sqlite3", crypto=WebCryptoAdapter("at rest secret"))
    assert getattr(sealed_sqlite, "aload", None) is None  # arun then runs load() in a worker thread
    sealed_redis = RedisStore(client, crypto=WebCryptoAdapter("at rest secret"))
    assert callable(sealed_redis.aload) and callable(sealed_redis.aiter_bound)


# -- asyncio -----------------------------------------------------------------------------------------

def test_async_methods_on_a_derived_client(client, clock):
    store = RedisStore(client, clock=clock)
    assert store._async is None  # nothing made, nothing connected, until awaited
    alice = Account("alice", now_ms(clock), now_ms(clock), "UA")

    async def scenario():
        assert await store.aload("s") is None
        version = await store.asave("s", Record(TEXT, None, None, alice), None)
        assert version is not None and await store.asave("s", Record(TEXT, None), None) is None
        loaded = await store.aload("s")
        assert loaded.text == TEXT and loaded.account == alice and loaded.version == version
        assert await store.arefresh("s", now_ms(clock) + 60_000, version) is True
        assert [b.key for b in await store.aiter_bound("alice")] == ["s"]
        await store.awrite("t", Record(TEXT, None))
        assert await store.abury("t", now_ms(clock) + 60_000) is True and await store.aburied("t")
        assert await store.adestroy("s") is True and await store.aload("s") is None
        made = store._async[1]
        await store.aclose()
        return made

    made = asyncio.run(scenario())
    assert isinstance(made, redis.asyncio.Redis)

    async def again():
        try:
            assert await store.aload("t") is None
            assert store._async[1] is not made  # a new event loop gets a client of its own
        finally:
            await store.aclose()

    asyncio.run(again())


def test_arun_drives_a_session_through_the_async_client(client, clock):
    from wsgisession.config import SessionConfig
    from wsgisession.core import SessionCore
    from wsgisession.lifecycle import SessionState

    store = RedisStore(client, clock=clock)
    calls = []
    for name in ("aload", "asave"):
        method = getattr(store, name)

        async def spy(*args, _method=method, _name=name):
            calls.append(_name)
            return await _method(*args)

        setattr(store, name, spy)
    core = SessionCore(SessionConfig(secret=SECRET, store=store, clock=clock))

    async def request(header):
        state = SessionState(core.life, header, False, None)
        await arun(state.open(), store)
        data = state.use(True)
        data["n"] = data.get("n", 0) + 1
        await arun(state.commit(), store)
        return state.id

    async def both():
        try:
            sid = await request(None)
            await request("connect.sid=" + cookie_for(sid))
            return sid
        finally:
            await store.aclose()

    sid = asyncio.run(both())
    assert json.loads(client.get("sess:" + sid))["n"] == 2
    assert calls == ["asave", "aload", "asave"]  # (a new session is saved unloaded; the second request loads it)


# -- URLs and the command line --------------------------------------------------------------------

@pytest.mark.parametrize("url", ["redis://u:secret@127.0.0.1:1/3", "rediss://u:secret@127.0.0.1:1/0",
                                 "unix:///run/redis.sock?db=2"])
def test_open_store_takes_redis_urls_without_connecting(url):
    store = open_store(url, timeout=1.5)
    try:
        assert isinstance(store, RedisStore) and "secret" not in repr(store)
        kwargs = store.client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == 1.5 and kwargs["socket_connect_timeout"] == 1.5
    finally:
        store.close()


@pytest.mark.parametrize(("url", "says"), [
    pytest.param("redis://u:secret@h:notaport/0", "cannot be used", id="bad-port"),
    pytest.param("redis://u:secret@h:6379/sessions", "database number", id="path-not-a-db"),
    pytest.param("unix://", "socket's path", id="unix-no-path"),
    pytest.param("redis://u:secret@h:6379/0?socket_timeout=abc", "cannot be used", id="bad-query"),
    pytest.param("redi://u:secret@h:6379/0", "unsupported store scheme 'redi'", id="typo"),
])
def test_bad_redis_urls_say_what_to_write_and_never_repeat_a_password(url, says):
    with pytest.raises(ConfigurationError, match=says) as caught:
        open_store(url)
    assert "secret" not in str(caught.value) and str(caught.value).endswith(".")


def test_the_command_line_on_redis(redis_url, client):
    store = RedisStore(client)
    store.write("s1", Record(TEXT, None, None, Account("alice", 1, 1, "Firefox")))
    store.write("s2", Record(TEXT, None))

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "wsgisession", "--store", redis_url, *args],
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    counted = cli("count")
    assert counted.returncode == 0 and "2" in counted.stdout, counted.stderr
    listed = cli("list", "--user", "alice")
    assert listed.returncode == 0 and "alice" in listed.stdout and "s1" not in listed.stdout
    assert cli("revoke", "--user", "alice").returncode == 0 and client.exists("sess:s1") == 0
    assert cli("--table", "t", "count").returncode == 2
    assert cli("clear", "--yes").returncode == 0 and client.dbsize() == 0
    from .redis_server import free_port

    down = subprocess.run([sys.executable, "-m", "wsgisession", "--store", f"redis://127.0.0.1:{free_port()}/0",
                           "--timeout", "0.5", "count"], capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "no Redis server answered" in down.stderr and "Traceback" not in down.stderr
