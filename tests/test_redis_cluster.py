"""RedisStore on a real three-master Redis Cluster (``redis.cluster.RedisCluster``): the contract kit,
a request flow through the middleware, the accounts API, and the user index kept right although it
lives in other slots (on other nodes) than the sessions it lists."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from redis.cluster import ClusterNode, RedisCluster
from webtest import TestApp

from wsgisession import RedisStore, SessionMiddleware, get_session
from wsgisession.testing import StoreContract

from . import test_accounts
from .redis_topologies import RedisCluster as ClusterTopology
from .redis_topologies import redis_cluster  # noqa: F401  (fixture)

TIMEOUT = 2.0  # the client's socket timeouts: generous for a busy 2-core machine, still bounded
SECRET = "cluster test secret, long enough to be safe"


def cluster_client(topology: ClusterTopology) -> RedisCluster:
    return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in topology.startup_nodes],
                        socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)


def emptied(topology: ClusterTopology) -> ClusterTopology:
    """The cluster with every node flushed: each test starts from nothing."""
    for node in topology.nodes:
        node.flushall()
    return topology


def cluster_store(topology: ClusterTopology, **options: Any) -> RedisStore:
    return RedisStore(cluster_client(emptied(topology)), **options)


# -- the contract kit -----------------------------------------------------------------------------------


class TestRedisStoreOnCluster(StoreContract):
    """The kit, its compare-and-set race included, on RedisStore over RedisCluster."""

    def make_store(self) -> RedisStore:
        return cluster_store(self.request.getfixturevalue("redis_cluster"), clock=self.clock)


# -- a request flow through the middleware -------------------------------------------------------------------


def counter(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    session = get_session(environ)
    if environ["PATH_INFO"] == "/logout":
        session.destroy()
        body = "bye"
    else:
        session["n"] = session.get("n", 0) + 1
        body = str(session["n"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]


def test_requests_count_through_the_middleware_on_the_cluster(redis_cluster):
    store = cluster_store(redis_cluster)
    try:
        browsers = [TestApp(SessionMiddleware(counter, secret=SECRET, store=store)) for _ in range(12)]
        for expected in (1, 2, 3):
            for browser in browsers:
                assert browser.get("/").text == str(expected)
        sids = list(store.all())
        assert len(sids) == 12
        # twelve sessions over three masters: the keys really are spread over the cluster
        raw = cluster_client(redis_cluster)
        try:
            slots = {raw.keyslot(store.prefix + sid) for sid in sids}
            assert len({redis_cluster.node_of_slot(slot).port for slot in slots}) > 1
        finally:
            raw.close()
        browsers[0].get("/logout")
        assert browsers[0].get("/").text == "1" and store.length() == 12
    finally:
        store.close()


# -- the accounts API on the cluster ---------------------------------------------------------------------------

# Every test of tests/test_accounts.py that runs on the `store` fixture runs here again, on the
# `store` below: RedisStore over the cluster, where each user's index and each tombstone live in
# slots of their own, on whichever node serves them.
for _name, _test in vars(test_accounts).items():
    if _name.startswith("test_") and "store" in inspect.signature(_test).parameters:
        globals()[_name] = _test


@pytest.fixture
def store(redis_cluster, clock) -> Iterator[RedisStore]:
    """RedisStore on the emptied cluster, on the test's fake clock (overrides conftest's `store`)."""
    made = cluster_store(redis_cluster, clock=clock)
    yield made
    made.clear()
    made.close()
