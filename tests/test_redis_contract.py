"""RedisStore through the contract kit (wsgisession.testing.StoreContract) on a private redis-server,
plain and with its session JSON encrypted: our stores' promises (test_store_contract.OurStoreContract)
included. Expiry is judged by the store's clock (the kit's fake one) against the absolute expiry it
set, so the kit's moves of time work on a real server."""

from __future__ import annotations

import redis

from wsgisession import RedisStore

from .conftest import codec
from .test_store_contract import OurStoreContract


class TestRedisStore(OurStoreContract):
    crypto = None

    def make_store(self):
        url = self.request.getfixturevalue("redis_url")
        client = redis.Redis.from_url(url, socket_timeout=10)
        self.request.addfinalizer(client.close)  # (a client passed in stays ours to close)
        return RedisStore(client, clock=self.clock, crypto=self.crypto)


class TestSealedRedisStore(TestRedisStore):
    crypto = codec("webcrypto")
