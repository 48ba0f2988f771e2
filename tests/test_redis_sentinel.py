"""RedisStore on the master a Sentinel names (``redis.sentinel.Sentinel(...).master_for(...)``): the
contract kit and a request flow through the middleware, with the writes reaching the replica. The
failover itself (the master killed) is in tests/test_redis_faults.py."""

from __future__ import annotations

from typing import Any

from redis.sentinel import Sentinel
from webtest import TestApp

from wsgisession import RedisStore, SessionMiddleware

from .redis_topologies import MASTER_NAME, RedisSentinel, ask, redis_sentinel  # noqa: F401  (fixture)
from .test_redis_cluster import ServerExpiryContract, counter

TIMEOUT = 2.0  # the clients' socket timeouts: generous for a busy 2-core machine, still bounded
SECRET = "sentinel test secret, long enough to be safe"


class SentinelStore:
    """RedisStore on ``Sentinel.master_for``; closing it closes the Sentinel's own clients too."""

    def __init__(self, topology: RedisSentinel, **options: Any) -> None:
        topology.master.flushall()
        self.sentinel = Sentinel(topology.sentinels, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
        self.store = RedisStore(self.sentinel.master_for(MASTER_NAME, socket_timeout=TIMEOUT,
                                                         socket_connect_timeout=TIMEOUT), **options)

    def close(self) -> None:
        self.store.close()
        self.store.client.close()  # (RedisStore leaves a client it was given open)
        for client in self.sentinel.sentinels:
            client.close()


class TestRedisStoreOnSentinel(ServerExpiryContract):
    """The kit (and our stores' own promises) on RedisStore over the Sentinel's master."""

    def make_store(self) -> RedisStore:
        opened = SentinelStore(self.request.getfixturevalue("redis_sentinel"), clock=self.clock)
        self.request.addfinalizer(opened.close)  # (after the kit's own close of the store: closing twice is fine)
        return opened.store


def test_requests_count_through_the_middleware_and_reach_the_replica(redis_sentinel):
    opened = SentinelStore(redis_sentinel)
    store = opened.store
    try:
        browser = TestApp(SessionMiddleware(counter, secret=SECRET, store=store))
        assert [browser.get("/").text for _ in range(3)] == ["1", "2", "3"]
        (sid,) = store.all()
        key = store.prefix + sid
        redis_sentinel.replicated()  # (a write and WAIT 1 on one connection: all writes before it are there)
        assert ask(redis_sentinel.replica.port, "GET", key) == ask(redis_sentinel.master.port, "GET", key)
        assert '"n":3' in ask(redis_sentinel.replica.port, "GET", key)
    finally:
        opened.close()
