"""RedisStore through the contract kit (wsgisession.testing.StoreContract) on a private redis-server,
plain and with its session JSON encrypted: our stores' promises (test_store_contract.OurStoreContract)
included. Expiry is judged by the store's clock (the kit's fake one) against the absolute expiry it
set, so the kit's moves of time work on a real server."""

from __future__ import annotations

import pytest
import redis

from wsgisession import RedisStore
from wsgisession.stores.base import Record
from wsgisession.stores.redis.keys import Keys

from .conftest import codec
from .redis_server import RedisServer
from .test_store_contract import OurStoreContract

TEXT = '{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"n":1}'


class TestRedisStore(OurStoreContract):
    crypto = None

    def make_store(self):
        url = self.request.getfixturevalue("redis_url")
        client = redis.Redis.from_url(url, socket_timeout=10)
        self.request.addfinalizer(client.close)  # (a client passed in stays ours to close)
        return RedisStore(client, clock=self.clock, crypto=self.crypto)


class TestSealedRedisStore(TestRedisStore):
    crypto = codec("webcrypto")


@pytest.fixture(scope="module")
def redis_6_2():
    """A redis-server without PEXPIRETIME (Redis 7.0's), as 6.2 is: the scripts' fallback, PTTL + TIME."""
    with RedisServer(extra_args=["--rename-command", "PEXPIRETIME", ""]) as server:
        yield server


class TestRedisStoreWithoutPexpiretime(TestRedisStore):
    def make_store(self):
        server = self.request.getfixturevalue("redis_6_2")
        server.flushall()
        client = redis.Redis.from_url(server.url, socket_timeout=10)
        self.request.addfinalizer(client.close)
        return RedisStore(client, clock=self.clock)


def test_the_meta_hash_follows_its_session_without_pexpiretime(redis_6_2):
    """The fallback judges the meta hash's expiry as PEXPIRETIME would (within a ms: PTTL + TIME)."""
    redis_6_2.flushall()
    client = redis.Redis.from_url(redis_6_2.url, socket_timeout=10)
    store = RedisStore(client, ttl=60)
    meta = Keys("sess:", "wsgisession:").meta("s")
    store.write("s", Record(TEXT, None))
    session = client.pttl("sess:s")
    assert 0 < session <= 60_000 and session + 60_000 < client.pttl(meta) <= session + 120_000
    client.hdel(meta, "x")  # (as the previous version left it: its expiry read instead)
    client.expire("sess:s", 600)  # an Express touch
    assert store.load("s").text == TEXT
    assert 600_000 + 60_000 < client.pttl(meta) <= 600_000 + 120_000 and client.hget(meta, "x") is not None
    assert store.refresh("s", None, None) is True
    client.close()
