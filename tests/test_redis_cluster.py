"""RedisStore on a real three-master Redis Cluster (``redis.cluster.RedisCluster``): the contract kit,
a request flow through the middleware, the accounts API, and the user index kept right although it
lives in another slot (here, on another node) than the sessions it lists."""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis.cluster import ClusterNode, RedisCluster
from webtest import TestApp

from wsgisession import RedisStore, SessionMiddleware, get_session
from wsgisession.stores.base import Account, Record
from wsgisession.stores.redis.store import INDEX_GRACE_MS

from . import test_accounts
from .helpers import FakeClock
from .redis_topologies import RedisCluster as ClusterTopology
from .redis_topologies import redis_cluster, wait_for  # noqa: F401  (fixture)
from .test_store_contract import OurStoreContract

TIMEOUT = 2.0  # the client's socket timeouts: generous for a busy 2-core machine, still bounded
SECRET = "cluster test secret, long enough to be safe"
TEXT = '{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"n":1}'


def cluster_client(topology: ClusterTopology) -> RedisCluster:
    return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in topology.startup_nodes],
                        socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)


def cluster_store(request: pytest.FixtureRequest, **options: Any) -> RedisStore:
    """RedisStore on the module's cluster, every node flushed first; its client (ours: RedisStore
    leaves a client it was given open) is closed when ``request`` ends."""
    topology = request.getfixturevalue("redis_cluster")
    for node in topology.nodes:
        node.flushall()
    client = cluster_client(topology)
    request.addfinalizer(client.close)
    return RedisStore(client, **options)


# -- the contract kit -----------------------------------------------------------------------------------


class ServerExpiryContract(OurStoreContract):
    """The kit with its fake clock ahead of Redis's."""

    @property
    def start_time(self) -> float:  # type: ignore[override]
        """An hour ahead of the real time (the kit's default is the real time rounded down): the store
        judges expiry by its clock, but Redis deletes a key when ITS clock passes the key's expiry, so
        a fake clock behind the real one would see a record written for 1 s vanish before it is read."""
        return time.time() + 3600


class TestRedisStoreOnCluster(ServerExpiryContract):
    """The kit, its compare-and-set race included, and our stores' own promises, on RedisStore over
    RedisCluster: each operation is one script on one slot, whichever node serves it."""

    def make_store(self) -> RedisStore:
        return cluster_store(self.request, clock=self.clock)


# -- a request flow through the middleware -------------------------------------------------------------------


def counter(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """``/`` counts in the session; ``/logout`` destroys it."""
    session = get_session(environ)
    if environ["PATH_INFO"] == "/logout":
        session.destroy()
        body = "bye"
    else:
        session["n"] = session.get("n", 0) + 1
        body = str(session["n"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]


def test_requests_count_through_the_middleware_spread_over_the_masters(request, redis_cluster):
    store = cluster_store(request)
    ids = iter(f"cluster-flow-{i:02d}" for i in range(100))  # fixed ids: the same slots, on the same masters, every run
    middleware = SessionMiddleware(counter, secret=SECRET, store=store, genid=lambda environ: next(ids))
    browsers = [TestApp(middleware) for _ in range(12)]
    for expected in (1, 2, 3):
        for browser in browsers:
            assert browser.get("/").text == str(expected)
    sids = list(store.all())
    assert len(sids) == 12 and store.length() == 12
    # Where the sessions are: connect-redis's keys, spread by their slots over the masters.
    nodes = {redis_cluster.node_of_slot(store.client.keyslot(store.prefix + sid)).port for sid in sids}
    assert len(nodes) == 3, "twelve sessions' keys not spread over the three masters"
    assert browsers[0].get("/logout").text == "bye"
    assert browsers[0].get("/").text == "1" and store.length() == 12


# -- the accounts API on the cluster ---------------------------------------------------------------------------

# Every test of tests/test_accounts.py that runs on the `store` fixture runs here again, on the
# `store` fixture below: RedisStore over the cluster, where each user's index and each session
# live in slots of their own, on whichever node serves them.
for _name, _test in list(vars(test_accounts).items()):
    if _name.startswith("test_") and "store" in inspect.signature(_test).parameters:
        globals()[_name] = _test


@pytest.fixture
def store(request, clock) -> Iterator[RedisStore]:
    """RedisStore on the emptied cluster, on the test's fake clock (this module's `store`: conftest's is
    every other store)."""
    made = cluster_store(request, clock=clock)
    yield made
    made.clear()


def test_a_revocation_reaches_every_process_sharing_the_cluster(request, clock):
    """Two middlewares, each on its own cluster client (two processes): a login through one is listed,
    and revoked, through the other."""
    first, second = (test_accounts.AccountsApp(cluster_store(request, clock=clock), clock) for _ in range(2))
    laptop = test_accounts.browser(first, "Laptop")
    laptop.get("/login?user=alice")
    (info,) = second.sessions.sessions_of("alice")
    assert second.sessions.revoke("alice", info.handle)
    assert laptop.get("/me").text == "None None"
    assert first.sessions.sessions_of("alice") == []


# -- the user index in other slots than its sessions ---------------------------------------------------------------


def user_on_another_node(store: RedisStore, topology: ClusterTopology, key: str, taken: str = "") -> str:
    """A user id (not ``taken``) whose index key is served by another master than the session ``key``
    (slots are deterministic: the same id every run)."""
    session_node = topology.node_of_slot(store.client.keyslot(store.keys.session(key)))
    for user in (f"user{i}" for i in range(100)):
        if user != taken and topology.node_of_slot(store.client.keyslot(store.keys.user(user))) is not session_node:
            return user
    raise AssertionError("no user id of 100 has its index on another node")


def index_of(store: RedisStore, user: str) -> list[str]:
    return sorted(member.decode() for member in store.client.zrange(store.keys.user(user), 0, -1))


def test_index_entries_of_sessions_redis_expired_are_removed(request, redis_cluster):
    """A bound session with a 1 s cookie: Redis itself deletes the key (awaited by polling, bounded),
    its user's index, on another node, still names it; the next read of the index (``sessions_of``,
    ``iter_bound``) hides it at once and removes the entry once it is older than INDEX_GRACE_MS; so
    does ``purge()`` for users nobody looks up. A live session's entry is never removed."""
    clock = FakeClock(time.time())  # the real time: Redis's own expiry and the store's agree
    store = cluster_store(request, clock=clock)
    now = int(clock() * 1000)
    looked_up = user_on_another_node(store, redis_cluster, "short-1")
    forgotten = user_on_another_node(store, redis_cluster, "short-2", taken=looked_up)
    for key, user in (("short-1", looked_up), ("short-2", forgotten)):
        assert store.save(key, Record(TEXT, now + 1000, None, Account(user, now, now, "UA")), None)
        assert store.save(f"live-{user}", Record(TEXT, None, None, Account(user, now, now, "UA")), None)
        assert index_of(store, user) == sorted([key, f"live-{user}"])
    wait_for(lambda: store.client.exists(store.keys.session("short-1"), store.keys.session("short-2")) == 0,
             30.0, "Redis expiring the two 1 s sessions")

    clock.now = time.time()  # (real time has passed: the store's clock follows it)
    assert [bound.key for bound in store.iter_bound(looked_up)] == [f"live-{looked_up}"]
    assert index_of(store, looked_up) == sorted(["short-1", f"live-{looked_up}"])  # within the grace: kept
    clock.advance(INDEX_GRACE_MS / 1000 + 1)
    assert [bound.key for bound in store.iter_bound(looked_up)] == [f"live-{looked_up}"]
    assert index_of(store, looked_up) == [f"live-{looked_up}"]  # the expired session's entry is gone

    assert index_of(store, forgotten) == sorted(["short-2", f"live-{forgotten}"])
    store.purge()
    assert index_of(store, forgotten) == [f"live-{forgotten}"]
    store.destroy(f"live-{forgotten}")
    store.destroy(f"live-{looked_up}")
    clock.advance(INDEX_GRACE_MS / 1000 + 1)
    store.purge()  # an index left with no entry is deleted, not kept empty
    assert store.client.exists(store.keys.user(looked_up), store.keys.user(forgotten)) == 0


# -- the coroutines, on redis.asyncio's RedisCluster ------------------------------------------------------------


def test_the_async_twins_run_on_an_asyncio_cluster_client(request, redis_cluster):
    """The same store object, given ``async_client=redis.asyncio.cluster.RedisCluster``: the coroutines the
    lifecycle's ``arun`` awaits see and change what the synchronous methods do, each on its session's slot."""
    import asyncio

    from redis.asyncio.cluster import ClusterNode as AsyncNode
    from redis.asyncio.cluster import RedisCluster as AsyncCluster

    clock = FakeClock(time.time())
    now = int(clock() * 1000)
    alice = Account("alice", now, now, "UA")

    async def scenario() -> None:
        client = AsyncCluster(startup_nodes=[AsyncNode(host, port) for host, port in redis_cluster.startup_nodes],
                              socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
        store = cluster_store(request, clock=clock, async_client=client)
        try:
            keys = [f"async-{i}" for i in range(6)]  # six keys: several slots, several nodes
            versions = [await store.asave(key, Record(TEXT, None, None, alice), None) for key in keys]
            assert all(versions)
            assert {bound.key for bound in await store.aiter_bound("alice")} == set(keys)
            assert {bound.key for bound in store.iter_bound("alice")} == set(keys)
            loaded = await store.aload(keys[0])
            assert loaded is not None and loaded.text == TEXT and loaded.account == alice
            assert await store.asave(keys[0], Record(TEXT.replace('"n":1', '"n":2'), None), loaded.version)
            assert await store.asave(keys[0], Record(TEXT, None), loaded.version) is None  # a stale version
            assert store.load(keys[0]).text.endswith('"n":2}')
            assert await store.arefresh(keys[1], now + 60_000, None)
            assert await store.adestroy(keys[2]) and store.load(keys[2]) is None
            assert await store.abury(keys[3], now + 60_000) and await store.aburied(keys[3])
            assert {bound.key for bound in await store.aiter_bound("alice")} == set(keys) - {keys[2], keys[3]}
        finally:
            await store.aclose()
            await client.aclose()

    asyncio.run(scenario())
