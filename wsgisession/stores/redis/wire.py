"""The per-request commands on redis-py's own connections, without redis-py's per-command bookkeeping.

Why: on the project's 2-core VM a ``GET`` through ``redis.Redis.execute_command`` costs the app
about 130 µs of CPU where the socket calls themselves cost 18: the rest is redis-py taking a
connection from its pool and giving it back (a non-blocking ``recv`` on each to check it is clean,
observability counters), its retry and event wrappers, its argument encoding and its response
callbacks (``bench/redis_cost.py``: a modified request's app CPU; the numbers are in README's
Performance section). ``Wire`` keeps what matters and drops the rest:

- connections come from the client's pool (its settings: host, TLS, credentials, database,
  timeouts, protocol, its ``Retry``), are checked out once and kept in a list of idle ones that
  threads pop and push (atomic under the GIL), instead of a locked check-out per command. The
  pool counts kept connections as in use: at most as many as the store's commands ever ran at
  once (one per busy thread), out of its ``max_connections`` (redis-py's default: 100), which
  other users of the same client share; ``close()`` gives them back;
- a command is packed here (its arguments are str, int or bytes), sent and its reply read with
  the connection's own ``send_packed_command`` and ``read_response``, under the connection's
  ``Retry`` as redis-py does (a connection or timeout error disconnects it, then retries);
- a connection that fails is disconnected, so the next command reconnects; one found closed by
  the server while idle (``ConnectionError`` on a connection that worked before: a restart, an
  idle timeout) is reconnected and the command sent once more, as redis-py's check-out would have
  found it closed before sending.

Only a plain ``redis.Redis`` on a plain ``ConnectionPool`` gets a ``Wire`` (``for_client``): a
Cluster routes by slot, a Sentinel's pool asks the Sentinel on each connection, a blocking pool
bounds its connections, client-side caching wraps them: those keep ``execute_command``.
``AsyncWire`` is the same for a plain ``redis.asyncio.Redis`` (the store's async methods): its
connections belong to one event loop, as the client does.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

__all__ = ["AsyncWire", "Wire", "pack"]


def pack(args: tuple[Any, ...]) -> bytes:
    """A command in RESP: an array of bulk strings (str as UTF-8, int as decimal, bytes as they are)."""
    out = [b"*%d\r\n" % len(args)]
    append = out.append
    for arg in args:
        kind = type(arg)  # (exact types, not isinstance: cheaper, and a bool is no int here)
        if kind is str:
            data = arg.encode("utf-8")
        elif kind is bytes:
            data = arg
        elif kind is int:
            data = b"%d" % arg
        else:
            raise TypeError(f"a Redis command argument must be str, bytes or int, not {kind.__name__}")
        append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Wire:
    """Sends packed commands on connections of one ``redis.ConnectionPool``, kept between commands."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._idle: list[Any] = []  # checked out of the pool, not in use (list.pop/append: atomic)
        self._pid = os.getpid()
        # redis-py 5.0 to 5.2 require get_connection's command name; 5.3+ deprecate passing one
        self._checkout_args: tuple[str, ...] = (
            ("_",) if inspect.signature(pool.get_connection).parameters.get("command_name", None) is not None
            and inspect.signature(pool.get_connection).parameters["command_name"].default is inspect.Parameter.empty
            else ())

    @classmethod
    def for_client(cls, client: Any) -> Wire | None:
        """A Wire for ``client``'s pool, or None for a client that must keep ``execute_command``."""
        pool = getattr(client, "connection_pool", None)
        if type(client) is not redis.Redis or type(pool) is not redis.ConnectionPool:
            return None
        if getattr(client, "connection", None) is not None or getattr(pool, "cache", None) is not None:
            return None  # (single_connection_client=True; client-side caching)
        return cls(pool)

    def call(self, *args: Any) -> Any:
        """The reply to one command; redis-py's exceptions as ``execute_command`` raises them."""
        packed = pack(args)
        if self._pid != os.getpid():  # a forked child: the parent's sockets are not ours to use
            self._idle, self._pid = [], os.getpid()
        idle = self._idle
        try:
            conn, reused = idle.pop(), True
        except IndexError:  # (none idle, or another thread took the last one since)
            conn, reused = self._pool.get_connection(*self._checkout_args), False
        try:
            try:
                reply = conn.retry.call_with_retry(lambda: _roundtrip(conn, packed), lambda error: conn.disconnect())
            except RedisConnectionError:
                if not reused:
                    raise
                conn.disconnect()  # closed while idle: reconnect and send it once more
                reply = conn.retry.call_with_retry(lambda: _roundtrip(conn, packed), lambda error: conn.disconnect())
        except ResponseError:
            idle.append(conn)  # (an error reply, read in full: the connection is fine)
            raise
        except BaseException:
            conn.disconnect()  # in whatever state it was left: the next command reconnects
            idle.append(conn)
            raise
        idle.append(conn)
        return reply

    def close(self) -> None:
        """Give the idle connections back to the pool."""
        idle, self._idle = self._idle, []
        if self._pid == os.getpid():
            for conn in idle:
                self._pool.release(conn)


def _roundtrip(conn: Any, packed: bytes) -> Any:
    conn.send_packed_command((packed,))  # (its health check, if the client asked for one, included)
    return conn.read_response()


class AsyncWire:
    """Wire for a ``redis.asyncio`` pool: the same, awaited (one event loop, so no list is shared between threads)."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._idle: list[Any] = []

    @classmethod
    def for_client(cls, client: Any) -> AsyncWire | None:
        import redis.asyncio as aio

        pool = getattr(client, "connection_pool", None)
        if type(client) is not aio.Redis or type(pool) is not aio.ConnectionPool:
            return None
        if getattr(client, "connection", None) is not None or getattr(pool, "cache", None) is not None:
            return None
        return cls(pool)

    async def call(self, *args: Any) -> Any:
        packed = pack(args)
        idle = self._idle
        if idle:  # (one event loop: nothing takes it between the test and the pop)
            conn, reused = idle.pop(), True
        else:
            conn, reused = await self._pool.get_connection(), False
        try:
            try:
                reply = await conn.retry.call_with_retry(lambda: _aroundtrip(conn, packed),
                                                         lambda error: conn.disconnect())
            except RedisConnectionError:
                if not reused:
                    raise
                await conn.disconnect()  # closed while idle: reconnect and send it once more
                reply = await conn.retry.call_with_retry(lambda: _aroundtrip(conn, packed),
                                                         lambda error: conn.disconnect())
        except ResponseError:
            idle.append(conn)
            raise
        except BaseException:  # (a cancelled request included: its reply may still be on the way)
            await conn.disconnect(nowait=True)
            idle.append(conn)
            raise
        idle.append(conn)
        return reply

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._pool.release(conn)


async def _aroundtrip(conn: Any, packed: bytes) -> Any:
    await conn.send_packed_command((packed,))
    return await conn.read_response()
