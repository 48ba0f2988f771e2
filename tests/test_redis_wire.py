"""wire.py: RedisStore's per-request commands on kept redis-py connections, on a private redis-server."""

from __future__ import annotations

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from wsgisession import RedisStore
from wsgisession.stores.base import Record
from wsgisession.stores.redis.wire import Wire, pack

from .test_redis_store import TEXT, client  # noqa: F401  (the same record, and a client fixture on the test server)


@pytest.mark.parametrize(("args", "packed"), [
    pytest.param(("GET", "k"), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", id="str"),
    pytest.param(("SET", b"k", "é"), b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n", id="bytes and UTF-8"),
    pytest.param(("EVALSHA", "x", 0, -1), b"*4\r\n$7\r\nEVALSHA\r\n$1\r\nx\r\n$1\r\n0\r\n$2\r\n-1\r\n", id="ints"),
    pytest.param(("SET", "k", ""), b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", id="empty"),
])
def test_pack_writes_resp_arrays_of_bulk_strings(args, packed):
    assert pack(args) == packed


@pytest.mark.parametrize("bad", [None, 1.5, True])
def test_pack_refuses_what_it_cannot_send_as_is(bad):
    with pytest.raises(TypeError):
        pack(("SET", "k", bad))


def test_only_a_plain_client_on_a_plain_pool_gets_a_wire(redis_url):
    plain = redis.Redis.from_url(redis_url)
    blocking = redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(redis_url))
    single = redis.Redis.from_url(redis_url, single_connection_client=True)
    try:
        assert isinstance(Wire.for_client(plain), Wire)  # (nothing connects until a command)
        assert Wire.for_client(blocking) is None
        assert Wire.for_client(single) is None
    finally:
        for made in (plain, blocking, single):
            made.close()


def test_replies_are_execute_commands(client):
    wire = Wire.for_client(client)
    try:
        assert wire.call("SET", "w:k", "v") in (b"OK", "OK")
        assert wire.call("GET", "w:k") == client.execute_command("GET", "w:k") == b"v"
        assert wire.call("MGET", "w:k", "w:none") == [b"v", None]
        assert wire.call("EVAL", "return {1, 'a', false}", 0) == client.execute_command("EVAL", "return {1, 'a', false}", 0)
        with pytest.raises(NoScriptError):
            wire.call("EVALSHA", "0" * 40, 0)
        with pytest.raises(ResponseError):
            wire.call("HGET", "w:k", "f")  # WRONGTYPE
        assert wire.call("GET", "w:k") == b"v"  # the connection survived the error replies
    finally:
        wire.close()


def test_a_connection_is_kept_between_commands(client):
    wire = Wire.for_client(client)
    try:
        first = wire.call("CLIENT", "ID")
        assert all(wire.call("CLIENT", "ID") == first for _ in range(5))
    finally:
        wire.close()
    assert len(client.connection_pool._available_connections) == 1  # given back


def test_a_connection_the_server_closed_while_idle_is_reconnected_once(client, redis_url):
    """A restart or an idle timeout closes kept connections: the next command reconnects and is sent
    again, as redis-py's own check-out would have found the connection closed before sending (this
    client has no retries)."""
    own = redis.Redis.from_url(redis_url)
    wire = Wire.for_client(own)
    try:
        first = wire.call("CLIENT", "ID")
        assert client.client_kill_filter(_id=first) == 1
        second = wire.call("CLIENT", "ID")
        assert second != first
    finally:
        wire.close()
        own.close()


def test_a_dead_server_is_a_connection_error(redis_url):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    wire = Wire.for_client(dead)
    with pytest.raises(RedisConnectionError):
        wire.call("GET", "k")
    dead.close()


def test_the_store_uses_a_wire_and_close_gives_its_connections_back(redis_url):
    store = RedisStore.from_url(redis_url)
    try:
        assert store._wire is not None
        store.write("w-sid", Record(TEXT, None))
        assert store.load("w-sid").text == TEXT
    finally:
        store.close()


def test_an_async_wire_keeps_its_connection_and_drops_one_left_mid_reply(redis_url):
    """A request cancelled while its command waits leaves its reply on the way: that connection is
    disconnected, never handed to the next command with a stale reply in it."""
    import asyncio

    import redis.asyncio as aio

    from wsgisession.stores.redis.wire import AsyncWire

    async def scenario() -> None:
        client = aio.Redis.from_url(redis_url)
        wire = AsyncWire.for_client(client)
        assert wire is not None and AsyncWire.for_client(redis.Redis.from_url(redis_url)) is None
        try:
            first = await wire.call("CLIENT", "ID")
            assert await wire.call("CLIENT", "ID") == first
            await wire.call("SET", "aw:k", "v")
            blocked = asyncio.ensure_future(wire.call("BLPOP", "aw:list", 5))
            await asyncio.sleep(0.2)
            blocked.cancel()
            with pytest.raises(asyncio.CancelledError):
                await blocked
            assert await wire.call("GET", "aw:k") == b"v"  # not BLPOP's late reply
            assert await wire.call("CLIENT", "ID") != first  # (a new connection)
            with pytest.raises(ResponseError):
                await wire.call("HGET", "aw:k", "f")
        finally:
            await wire.aclose()
            await client.aclose()

    asyncio.run(scenario())


def test_threads_share_a_wire_without_losing_a_connection(client):
    """Many threads at once: each command gets a connection (an idle one, or a new one from the pool
    when another thread took the last idle one between its look and its pop), and all come back."""
    import threading

    wire = Wire.for_client(client)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                assert wire.call("SET", f"wt:{n}", str(i)) in (b"OK", "OK")
                assert wire.call("GET", f"wt:{n}") == str(i).encode()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert 1 <= len(wire._idle) <= 8 and not client.connection_pool._available_connections
    finally:
        wire.close()
    assert len(client.connection_pool._in_use_connections) == 0
