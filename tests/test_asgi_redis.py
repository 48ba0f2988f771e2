"""wsgisession.asgi on RedisStore: its asyncio client on the event loop, a paused Redis holding up only
its own requests, and a FastAPI app sharing sessions with an Express app over connect-redis."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from wsgisession import RedisStore

from .asgi_app import asgi_app
from .redis_server import RedisServer


class CountingRedisStore(RedisStore):
    """RedisStore, counting the operations served by its coroutines (its asyncio client)."""

    served: list[str]

    async def aload(self, sid):
        self.served.append("load")
        return await super().aload(sid)

    async def asave(self, sid, record, version):
        self.served.append("save")
        return await super().asave(sid, record, version)

    async def arefresh(self, sid, expires_ms, version):
        self.served.append("refresh")
        return await super().arefresh(sid, expires_ms, version)


def counting_store(url: str, **options) -> CountingRedisStore:
    store = CountingRedisStore.from_url(url, **options)
    store.served = []
    return store


def client_of(transport):
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def test_the_asyncio_client_serves_the_middleware(redis_url):
    store = counting_store(redis_url)

    async def scenario():
        transport = httpx.ASGITransport(app=asgi_app(store=store))
        async with client_of(transport) as client:
            counts = [(await client.get("/count")).json() for _ in range(3)]
            read = (await client.get("/read")).json()
        await store.aclose()
        return counts, read

    assert asyncio.run(scenario()) == ([1, 2, 3], {"n": 3})
    assert store.served == ["save", "load", "save", "load", "save", "load", "refresh"]


def test_a_paused_redis_holds_up_its_own_requests_only_and_then_answers_503():
    """Redis frozen (SIGSTOP: it accepts connections and never answers): a request that presents a
    session waits on it, while the loop serves requests that need no store; once Redis is back the
    waiting request completes. A store that times out first answers 503 with Retry-After."""
    with RedisServer(name="asgi-paused") as server:
        patient = RedisStore.from_url(server.url, timeout=30)
        hasty = RedisStore.from_url(server.url, timeout=0.5, retries=0)

        async def scenario():
            transport = httpx.ASGITransport(app=asgi_app(store=patient))
            hasty_transport = httpx.ASGITransport(app=asgi_app(store=hasty))
            async with client_of(transport) as stuck, client_of(transport) as newcomer, \
                    client_of(hasty_transport) as impatient:
                assert (await stuck.get("/count")).json() == 1
                assert (await impatient.get("/count")).json() == 1
                server.pause()
                try:
                    pending = asyncio.create_task(stuck.get("/count"))
                    served = [(await newcomer.get(path)).status_code for path in ("/plain", "/read", "/id")]
                    assert served == [200, 200, 200] and not pending.done()
                    refused = await impatient.get("/count")
                    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
                    assert not pending.done()
                finally:
                    server.resume()
                assert (await asyncio.wait_for(pending, 60)).json() == 2
            await patient.aclose()
            await hasty.aclose()

        asyncio.run(scenario())


def test_fastapi_and_express_share_sessions_over_connect_redis(redis_server, tmp_path):
    """The FastAPI app under uvicorn and Express (express-session + connect-redis 9, tests/interop)
    on one Redis: one browser's visit counter goes back and forth, and a logout on either side ends it."""
    from .interop.harness import SECRET as EXPRESS_SECRET
    from .interop.harness import Cluster, Jar
    from .interop.peers import RedisPeer
    from .test_asgi_servers import uvicorn_serving

    cluster = Cluster(RedisPeer(redis_server), tmp_path)
    try:
        [express] = cluster.start(("node", {}))
        with uvicorn_serving(redis_server.url, tmp_path / "uvicorn.log", "create_fastapi_app",
                             WSGISESSION_TEST_EXPRESS="1", WSGISESSION_TEST_SECRET=EXPRESS_SECRET) as fastapi:
            jar = Jar()

            def fastapi_get(path):
                response = httpx.get(fastapi + path, headers=jar.header(), timeout=30)
                jar.update(response.headers.get_list("set-cookie"))
                assert response.status_code == 200, response.text
                return response.json()

            first = fastapi_get("/inc")
            assert first["cuenta"] == 1
            second = express.get("/inc", jar).body
            assert second == {"cuenta": 2, "id": first["id"]}
            assert fastapi_get("/sync/inc") == {"cuenta": 3, "id": first["id"]}  # a def endpoint
            assert express.get("/inc", jar).body["cuenta"] == 4
            assert cluster.peer.stored(first["id"]) is not None  # connect-redis's key, sess:<id>
            express.get("/destroy", jar)  # (express-session leaves the cookie: the id is simply unknown now)
            assert fastapi_get("/read") == {}
            jar = Jar()
            again = fastapi_get("/inc")
            assert again["cuenta"] == 1 and again["id"] != first["id"]
            fastapi_get("/destroy")
            assert cluster.peer.stored(again["id"]) is None
    finally:
        cluster.close()
