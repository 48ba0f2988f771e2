"""wsgisession.asgi on PostgresStore: its asynchronous pool serves the middleware on the event loop."""

from __future__ import annotations

import asyncio

import httpx

from wsgisession import PostgresStore

from .asgi_app import asgi_app
from .postgres_fixtures import postgres_server, postgres_url  # noqa: F401  (fixtures)


class CountingPostgresStore(PostgresStore):
    """PostgresStore, counting the operations its coroutines (its async pool) serve."""

    served: list[str]

    async def aload(self, sid):
        self.served.append("load")
        return await super().aload(sid)

    async def asave(self, sid, record, version):
        self.served.append("save")
        return await super().asave(sid, record, version)

    async def aiter_bound(self, user_id=None):
        self.served.append("iter_bound")
        return await super().aiter_bound(user_id)


def test_the_async_pool_serves_the_middleware_and_the_accounts_api(postgres_url):
    store = CountingPostgresStore.from_url(postgres_url)
    store.served = []

    async def scenario():
        transport = httpx.ASGITransport(app=asgi_app(store=store))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as phone, \
                httpx.AsyncClient(transport=transport, base_url="http://testserver") as laptop:
            counts = [(await phone.get("/count")).json() for _ in range(2)]
            await phone.get("/login?user=alice")
            await laptop.get("/login?user=alice")
            devices = (await laptop.get("/devices")).json()
            revoked = (await laptop.get("/revoke-others")).json()
            phone_after = (await phone.get("/read")).json()
        await store.aclose()
        return counts, devices, revoked, phone_after

    counts, devices, revoked, phone_after = asyncio.run(scenario())
    assert counts == [1, 2] and sorted(d["current"] for d in devices) == [False, True]
    assert revoked == 1 and phone_after == {}
    assert {"load", "save", "iter_bound"} <= set(store.served)
