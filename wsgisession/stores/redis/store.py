"""RedisStore: sessions in Redis, in connect-redis 9's format, with a compare-and-set it lacks.

A Python app and an Express app (express-session + connect-redis) that share the secret and the
Redis share their users' sessions: the session JSON at ``prefix + sid``, its TTL connect-redis's
(``ceil((cookie.expires - now) / 1000)`` s, else ``ttl``, else 86400). Each operation on a session
is one Lua script (``scripts.py``) on one cluster slot (``keys.py``), so a request that only reads
its session costs one Redis command, and one that changes it two at most.

Each operation is written once, as a generator of Redis commands (``("eval", script, keys, args)``
or ``("cmd", *args)``), each sent back its reply, the way lifecycle.py writes the session's steps;
``_drive`` runs it on the synchronous client, ``_adrive`` on the ``redis.asyncio`` one (``aload``,
``asave``... the coroutines lifecycle's ``arun`` awaits).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import redis
from redis.exceptions import NoScriptError, RedisError

from ...errors import ConfigurationError, StoreUnavailable
from ...options import check_seconds
from ...serialization import now_ms
from ..at_rest import AtRestStore
from ..base import (Bound, Loaded, Record, Store, check_size, parse_texts, read_account,
                    validate_touch_after, validate_ttl)
from .keys import Keys
from .scripts import BURY, DESTROY, FORGET, LOAD, PRUNE, PRUNE_INDEX, REFRESH, STATUS, WRITE, Script, version_of
from .wire import AsyncWire, Wire

__all__ = ["CONNECT_REDIS_TTL", "INDEX_GRACE_MS", "RedisStore"]

logger = logging.getLogger(__name__)

CONNECT_REDIS_TTL = 86400  # seconds: connect-redis's default ttl
# A user index entry is added before the session it names is written (a login): an entry that
# names no session bound to its user is removed only once it is older than this, so that a read
# of the index never removes the entry of a write still on its way.
INDEX_GRACE_MS = 60_000
SCHEMES = ("redis://", "rediss://", "unix://")

Op = Generator[tuple[Any, ...], Any, Any]


def _str(value: Any) -> str | None:
    """A reply as text: bytes decoded (None, logged, if not UTF-8), a str as is (a client with
    ``decode_responses=True``), anything else None."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            logger.warning("ignored a stored value that is not UTF-8 text")
            return None
    return value if isinstance(value, str) else None


def _raw(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def _int(value: Any) -> int | None:
    text = _str(value) if isinstance(value, bytes) else value
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 16:
        return int(text)
    return None


class RedisStore(Store):
    """Sessions in Redis, readable and writable by connect-redis 9::

        store = RedisStore.from_url("redis://localhost:6379/0")           # or rediss://, unix://
        store = RedisStore(redis.Redis(host="localhost"), prefix="sess:")  # a client of yours
        app = SessionMiddleware(app, secret=SECRET, store=store)

    ``client`` is a redis-py client: ``redis.Redis``, ``redis.cluster.RedisCluster``, or a Sentinel's
    ``master_for(...)``. ``prefix`` is connect-redis's; ``ttl`` (seconds) applies to sessions whose
    cookie has no expiry (connect-redis's default, a day, when None); ``touch_after`` (seconds)
    skips expiry refreshes of unchanged sessions until they would move by that much (one command
    per read-only request instead of two). ``meta_prefix`` is where wsgisession keeps what
    connect-redis must not read as sessions (``keys.py``). ``async_client`` is the
    ``redis.asyncio`` client for the async methods; by default one is made on first use, from the
    URL (``from_url``) or from ``client``'s connection settings (a Sentinel or Cluster client you
    pass in: give ``async_client``, else the async methods run the synchronous ones in a thread).
    Given ``crypto`` or ``transform_id``, the constructor returns ``AtRestStore(RedisStore(...),
    crypto, transform_id)`` (stores/at_rest.py): connect-redis then cannot read the sessions.

    The user index (accounts) on a Cluster: each user's index is a sorted set in a slot of its own,
    never updated in the same script as the session. A login adds the session's key to the index
    first, then writes the session (and its account) in one script; a reader of the index loads
    each session it names and keeps only the live ones still bound to that user. An entry that
    names nothing (a session Redis expired, one another process logged out, one an Express app
    destroyed) is removed lazily by that reader, or by ``purge()``, once it is older than
    ``INDEX_GRACE_MS``: so the index may hold stale entries, never miss a bound session.

    A bound session's meta hash has no TTL (an Express app alone may keep the session alive for
    ever, and its binding with it: ``revoke_all`` must still find it). When the session goes without
    us, the reader's load of it deletes the hash (in the session's slot) before the reader prunes
    the entry (in the index's): no bound hash outlives its index entry, and ``purge()`` sweeps any
    that no index names.
    """

    tracks_creation = True  # the meta hash beside each session written from Python keeps its creation time

    def __new__(cls, *args: Any, crypto: Any = None, transform_id: Callable[[str], str] | None = None,
                **options: Any) -> Any:
        if crypto is None and transform_id is None:
            return super().__new__(cls)
        return AtRestStore(cls(*args, **options), crypto, transform_id)

    def __init__(self, client: Any, *, prefix: str = "sess:", ttl: float | None = None, touch_after: float = 0,
                 meta_prefix: str = "wsgisession:", async_client: Any = None,
                 clock: Callable[[], float] = time.time, crypto: Any = None,
                 transform_id: Callable[[str], str] | None = None) -> None:
        # (crypto and transform_id are taken by __new__: never given here)
        if not callable(getattr(client, "execute_command", None)) or inspect.iscoroutinefunction(
                client.execute_command):
            raise ConfigurationError("client must be a synchronous redis-py client, like redis.Redis(host=...) or "
                                     "redis.cluster.RedisCluster(...); to connect from a URL use "
                                     "RedisStore.from_url(url); an asyncio client goes in async_client=.")
        encoder = getattr(client, "get_encoder", None)
        if callable(encoder) and getattr(encoder(), "decode_responses", False):
            raise ConfigurationError("RedisStore reads values as bytes (a value another writer left that is not "
                                     "UTF-8 must read as missing, not fail the request): give it a client made "
                                     "with decode_responses=False, redis-py's default.")
        if async_client is not None and not inspect.iscoroutinefunction(
                getattr(async_client, "execute_command", None)):
            raise ConfigurationError("async_client must be a redis.asyncio client, like "
                                     "redis.asyncio.Redis(host=...), or None.")
        if not callable(clock):
            raise ConfigurationError("clock must be a callable returning epoch seconds, like time.time.")
        self.keys = Keys(prefix, meta_prefix)
        self.prefix = prefix
        self.ttl = validate_ttl(CONNECT_REDIS_TTL if ttl is None else ttl)
        self.touch_after = validate_touch_after(touch_after)
        self.client = client
        self.cluster = isinstance(client, redis.cluster.RedisCluster)
        self._wire = Wire.for_client(client)  # the per-request commands' short way (wire.py), when it has one
        self._clock = clock
        # With the system clock, Redis's own expiry of a key is the store's (up to the hosts' clock skew):
        # a write then skips reading it (a PEXPIRETIME, scripts.WRITE), a refresh its value too (its
        # PEXPIREAT tells whether Redis has the key, scripts.REFRESH). Another clock (the contract kit's
        # fake one) judges each expiry itself.
        self._trust_expiry = clock is time.time
        self._grace_ms = int(self.ttl * 1000)  # how long an unbound meta hash outlives its session
        self._async_given = async_client
        self._async_factory: Callable[[], Any] | None = None  # from_url's: the same URL, asyncio
        self._async: tuple[Any, Any, AsyncWire | None] | None = None  # (event loop, client for it, its wire)
        self._owns_client = False

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 3.0, retries: int = 1, cluster: bool = False,
                 **options: Any) -> Store:
        """A store on its own client for ``url`` (closed by ``close()``); nothing connects yet.

        ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` for TLS (redis-py's
        ``ssl_*`` query parameters: ``?ssl_cert_reqs=required&ssl_ca_certs=/path/ca.pem``),
        ``unix:///path/to/redis.sock[?db=0]``. ``timeout`` (seconds) bounds connecting and each
        reply, and a failed command is retried ``retries`` times: a dead or frozen server costs a
        request at most about ``(retries + 1) * timeout`` before its 503. ``cluster=True`` makes a
        ``RedisCluster`` (the URL names any one node). ``options`` are the constructor's keywords.
        """
        check_seconds("timeout", timeout, at_most=300)
        if type(retries) is not int or not 0 <= retries <= 10:
            raise ConfigurationError(f"retries must be an int from 0 to 10, not {retries!r}.")
        if not isinstance(url, str) or not url.startswith(SCHEMES):
            raise ConfigurationError("url must be a Redis URL, like 'redis://localhost:6379/0', "
                                     "'rediss://host:6380/0' (TLS) or 'unix:///run/redis/redis.sock'.")
        _check_url(url)
        if cluster and url.startswith("unix://"):
            raise ConfigurationError("a Redis Cluster is reached over TCP: give cluster=True a redis:// or "
                                     "rediss:// URL naming one of its nodes.")
        crypto, transform_id = options.pop("crypto", None), options.pop("transform_id", None)

        def settings(asyncio_: bool) -> dict[str, Any]:
            if asyncio_:
                from redis.asyncio.retry import Retry
            else:
                from redis.retry import Retry
            from redis.backoff import ExponentialBackoff

            return {"socket_timeout": timeout, "socket_connect_timeout": timeout,
                    "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries)}

        def make(asyncio_: bool) -> Any:
            if asyncio_:
                import redis.asyncio as package
                from redis.asyncio.cluster import RedisCluster as AsyncCluster
                factory = AsyncCluster.from_url if cluster else package.Redis.from_url
            else:
                factory = redis.cluster.RedisCluster.from_url if cluster else redis.Redis.from_url
            return factory(url, **settings(asyncio_))

        try:
            client = make(False)
        except (ValueError, TypeError, RedisError) as exc:  # never quoted: the URL may hold a password
            raise ConfigurationError(f"the Redis URL cannot be used ({type(exc).__name__}): write it as "
                                     "redis://[user:password@]host:port/db, rediss://... for TLS, or "
                                     "unix:///path/to/redis.sock.") from exc
        except OSError as exc:  # RedisCluster connects at construction to learn the slots
            raise StoreUnavailable(f"Redis Cluster unreachable at start-up ({type(exc).__name__}).") from exc
        try:
            store = cls(client, **options)
        except BaseException:
            client.close()
            raise
        store._owns_client = True
        store._async_factory = lambda: make(True)
        return store if crypto is None and transform_id is None else AtRestStore(store, crypto, transform_id)

    def __repr__(self) -> str:  # the prefix, never the URL (it may hold a password)
        return f"RedisStore(prefix={self.prefix!r}{', cluster' if self.cluster else ''})"

    # -- time and expiry ---------------------------------------------------------------------------

    def _now(self) -> int:
        return now_ms(self._clock)

    def expiry(self, expires_ms: int | None, now_ms: int) -> int:
        """connect-redis's: now + ``ceil((expires - now) / 1000)`` s, else now + ``ttl``: a whole number
        of seconds, as its ``SET ... EX``; at or before now, the record is deleted."""
        if expires_ms is None:
            return now_ms + int(self.ttl * 1000)
        return now_ms + max(0, math.ceil((expires_ms - now_ms) / 1000)) * 1000

    # -- the operations, as generators of commands --------------------------------------------------

    def _peek(self, key: str) -> Op:
        """The live record under ``key``: (value as stored, its text or None, expiry, created, account), or None."""
        reply = yield ("eval", LOAD, self.keys.pair(key), (self._now(), self._grace_ms))
        if not reply:
            return None
        if type(reply) is bytes:  # (unbound: scripts.LOAD's one string, expiry|created|value)
            head, _, rest = reply.partition(b"|")
            created, _, raw = rest.partition(b"|")
            at, account = int(head), None
        else:
            raw, at, created, user, logged_in, authenticated, agent, seal = reply
            account = None if user is None else read_account(_str(user), _int(logged_in), _int(authenticated),
                                                              None if agent is None else _str(agent),
                                                              None if seal is None else _str(seal))
        return raw, _str(raw), (at if isinstance(at, int) and at >= 0 else None), _int(created), account

    def _load(self, key: str) -> Op:
        found = yield from self._peek(key)
        if found is None or found[1] is None:
            return None
        raw, text, expires, created, account = found
        return Loaded(text, version_of(_raw(raw)), created, account, False, expires)

    def _write(self, key: str, record: Record, mode: str = "w", version: str | None = None) -> Op:
        check_size(record.text)
        now = self._now()
        at = self.expiry(record.expires_ms, now)
        account = record.account
        if account is not None:  # the index first: it may name a session not written yet, never miss one
            yield ("cmd", "ZADD", self.keys.user(account.user_id), now, key)
        args: tuple[Any, ...] = (now, mode.upper() if self._trust_expiry else mode, version or "", record.text, at,
                                 _opt(record.created_ms), self._grace_ms)
        if account is not None:  # (the account's fields are sent only when there is one: scripts.WRITE)
            args += (account.user_id, _opt(account.logged_in_ms), _opt(account.authenticated_ms),
                     "" if account.user_agent is None else "=" + account.user_agent,
                     "" if account.seal is None else account.seal)
        written = yield ("eval", WRITE, self.keys.pair(key), args)
        return written == 1

    def _save(self, key: str, record: Record, version: Any) -> Op:
        if version is not None and not isinstance(version, str):
            return None  # not a version this store handed out
        written = yield from self._write(key, record, "c" if version is None else "s", version)
        return version_of(record.text.encode("utf-8")) if written else None

    def _refresh(self, key: str, expires_ms: int | None) -> Op:
        now = self._now()
        refreshed = yield ("eval", REFRESH, self.keys.pair(key),
                           (now, self.expiry(expires_ms, now), self._grace_ms, "1" if self._trust_expiry else ""))
        return refreshed == 1

    def _destroy(self, key: str) -> Op:
        return (yield ("eval", DESTROY, self.keys.pair(key), (self._now(),))) == 1

    def _bury(self, key: str, until_ms: int) -> Op:
        return (yield ("eval", BURY, self.keys.slotted(key), (self._now(), until_ms))) == 1

    def _buried(self, key: str) -> Op:
        until = yield ("cmd", "GET", self.keys.tombstone(key))
        until_ms = _int(until)
        return until_ms is not None and until_ms > self._now()

    def _bound(self, user_id: str) -> Op:
        """The user's live bound records; entries of the index that name none are pruned (``INDEX_GRACE_MS``),
        after the load that found a session gone has deleted its meta hash (scripts.LOAD)."""
        index = self.keys.user(user_id)
        members = yield ("cmd", "ZRANGE", index, 0, -1)
        found: list[Bound] = []
        stale: list[Any] = []
        for member in members or ():
            key = _str(member)
            peeked = None if key is None else (yield from self._peek(key))
            if peeked is None or peeked[4] is None or peeked[4].user_id != user_id:
                stale.append(member)
                continue
            _, text, expires, _, account = peeked
            found.append(Bound(key, account, self._now() + int(self.ttl * 1000) if expires is None else expires, text))
        if stale:
            yield ("eval", PRUNE_INDEX, (index,), (self._now() - INDEX_GRACE_MS, *stale))
        return found

    # -- drivers -------------------------------------------------------------------------------------

    def _drive(self, op: Op, action: str) -> Any:
        """Run ``op`` on the synchronous client; Redis errors become StoreUnavailable."""
        call = self.client.execute_command if self._wire is None else self._wire.call
        try:
            command = next(op)
            while True:
                command = op.send(_execute(call, command))
        except StopIteration as done:
            return done.value
        except RedisError as exc:
            raise _unavailable(action, exc) from exc

    async def _adrive(self, op: Op, action: str) -> Any:
        """Run ``op`` on the asyncio client (made on first use, per event loop); in a worker thread on
        the synchronous one when there is none."""
        client, wire = self._async_client()
        if client is None:
            return await asyncio.to_thread(self._drive, op, action)
        call = client.execute_command if wire is None else wire.call
        try:
            command = next(op)
            while True:
                command = op.send(await _aexecute(call, command))
        except StopIteration as done:
            return done.value
        except RedisError as exc:
            raise _unavailable(action, exc) from exc

    def _async_client(self) -> tuple[Any, AsyncWire | None]:
        """(the asyncio client, its AsyncWire or None); (None, None) when there is none."""
        loop = asyncio.get_running_loop()
        if self._async is not None and self._async[0] is loop:
            return self._async[1], self._async[2]
        # A redis.asyncio client's connections belong to the loop that opened them: one per loop
        # (and a Wire's with them: a given client gets one per loop too).
        client = self._async_given
        if client is None:
            client = self._async_factory() if self._async_factory is not None else _derive_async(self.client)
        if client is None:
            return None, None
        wire = AsyncWire.for_client(client)
        self._async = (loop, client, wire)
        return client, wire

    # -- the port ------------------------------------------------------------------------------------

    def load(self, sid: str) -> Loaded | None:
        return self._drive(self._load(sid), "get")

    def write(self, sid: str, record: Record) -> None:
        self._drive(self._write(sid, record), "set")

    def save(self, sid: str, record: Record, version: Any) -> Any:
        """write() as a compare-and-set on the stored value's SHA-1, in one script: connect-redis's
        own writes change it too."""
        return self._drive(self._save(sid, record, version), "save")

    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> bool:
        """connect-redis's touch(): the key's expiry moves, its value (and its cookie.expires) stays."""
        return bool(self._drive(self._refresh(sid, expires_ms), "touch"))

    def destroy(self, sid: str) -> bool:
        return bool(self._drive(self._destroy(sid), "destroy"))

    def bury(self, key: str, until_ms: int) -> bool:
        return bool(self._drive(self._bury(key, until_ms), "destroy"))

    def buried(self, key: str) -> bool:
        return bool(self._drive(self._buried(key), "get"))

    def iter_bound(self, user_id: str | None = None) -> Iterator[Bound]:
        users = [user_id] if user_id is not None else self._users()
        for user in users:
            yield from self._drive(self._bound(user), "find by user")

    def close(self) -> None:
        """Close the clients ``from_url`` made (an asyncio one is dropped: ``aclose()`` closes it on
        its loop); a client you passed in stays yours to close."""
        if self._wire is not None:
            self._wire.close()
        if self._owns_client:
            self.client.close()
        self._async = None

    # -- the same, from an event loop (lifecycle's arun awaits them) --------------------------------

    async def aload(self, sid: str) -> Loaded | None:
        return await self._adrive(self._load(sid), "get")

    async def awrite(self, sid: str, record: Record) -> None:
        await self._adrive(self._write(sid, record), "set")

    async def asave(self, sid: str, record: Record, version: Any) -> Any:
        return await self._adrive(self._save(sid, record, version), "save")

    async def arefresh(self, sid: str, expires_ms: int | None, version: Any) -> bool:
        return bool(await self._adrive(self._refresh(sid, expires_ms), "touch"))

    async def adestroy(self, sid: str) -> bool:
        return bool(await self._adrive(self._destroy(sid), "destroy"))

    async def adestroy_key(self, key: str) -> bool:
        return await self.adestroy(key)

    async def abury(self, key: str, until_ms: int) -> bool:
        return bool(await self._adrive(self._bury(key, until_ms), "destroy"))

    async def aburied(self, key: str) -> bool:
        return bool(await self._adrive(self._buried(key), "get"))

    async def aiter_bound(self, user_id: str | None = None) -> list[Bound]:
        if user_id is None:  # (a scan of every master: maintenance, in a thread)
            return await asyncio.to_thread(lambda: list(self.iter_bound(None)))
        return list(await self._adrive(self._bound(user_id), "find by user"))

    async def aclose(self) -> None:
        """Close the asyncio client made for the running loop, then ``close()``."""
        made, self._async = self._async, None
        if made is not None and made[0] is asyncio.get_running_loop():
            if made[2] is not None:
                await made[2].aclose()
            if made[1] is not self._async_given:
                await made[1].aclose()
        self.close()

    # -- maintenance: SCAN of prefix* (on every master of a Cluster) ---------------------------------

    def _scan(self, pattern: str, kind: str | None = None) -> list[Any]:
        try:
            return list(self.client.scan_iter(match=pattern, count=1000, _type=kind))
        except RedisError as exc:
            raise _unavailable("scan", exc) from exc

    def _users(self) -> list[str]:
        users = (_str(key) for key in self._scan(self.keys.user_pattern, "zset"))
        return [self.keys.user_of(key) for key in users if key is not None]

    def _sessions(self) -> list[str]:
        """The keys (without prefix) of every string value under ``prefix``."""
        keys = (_str(key) for key in self._scan(self.keys.session_pattern, "string"))
        return [key[len(self.prefix):] for key in keys if key is not None]

    def _statuses(self) -> list[tuple[str, int]]:
        """(key, expiry: -1 none) of each session key, expired or not (by this store's clock)."""
        keys = self._sessions()
        replies = self._each(STATUS, [((self.keys.session(key),), ()) for key in keys], "scan")
        return [(key, at) for key, (kind, at) in zip(keys, replies) if _str(kind) == "string" and at != -2]

    def _each(self, script: Script, calls: list[tuple[tuple[str, ...], tuple[Any, ...]]], action: str) -> list[Any]:
        """Run ``script`` once per (keys, args): pipelined on one server, one by one on a Cluster."""
        try:
            if self.cluster or not calls:
                return [_execute(self.client.execute_command, ("eval", script, keys, args)) for keys, args in calls]
            self.client.script_load(script.source)
            replies: list[Any] = []
            for start in range(0, len(calls), 500):
                pipe = self.client.pipeline(transaction=False)
                for keys, args in calls[start:start + 500]:
                    pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
                replies += pipe.execute()
            return replies
        except RedisError as exc:
            raise _unavailable(action, exc) from exc

    def count_expired(self) -> int:
        """Sessions past their expiry that Redis has not deleted yet (0, unless the clocks disagree)."""
        now = self._now()
        return sum(1 for _, at in self._statuses() if 0 <= at <= now)

    def purge(self, limit: int | None = None) -> int:
        """Delete expired sessions (Redis deletes them itself: this is for clocks that disagree, and
        tests), then prune every user index of entries that name no bound session, and expired
        tombstones. Returns how many sessions were deleted."""
        now = self._now()
        expired = sorted((at, key) for key, at in self._statuses() if 0 <= at <= now)
        if limit is not None:
            expired = expired[:max(0, limit)]
        deleted = self._each(PRUNE, [((self.keys.session(key), self.keys.meta(key)), (now,)) for _, key in expired],
                             "purge")
        for user in self._users():  # (each session an index names is loaded: a bound hash whose session went goes)
            self._drive(self._bound(user), "purge")
        self._forget()
        tombstones = [key for key in self._scan(_pattern(self.keys.meta_prefix + "t:"), "string")]
        stale = [key for key in tombstones if (_int(self._get(key)) or 0) <= now]
        if stale:
            self._delete(stale)
        return sum(1 for reply in deleted if reply == 1)

    def _forget(self) -> None:
        """Delete every meta hash whose session is not live. A bound one has no TTL and is found gone
        by its user index's reader; this sweeps any that no index names (a write lost in a failover)."""
        now = self._now()
        calls: list[tuple[tuple[str, ...], tuple[Any, ...]]] = []
        for found in self._scan(self.keys.meta_hash_pattern, "hash"):
            meta = _str(found)
            key = None if meta is None else self.keys.key_of_meta(meta)
            if key is not None:
                calls.append(((self.keys.session(key), meta), (now,)))
        self._each(FORGET, calls, "purge")

    def _get(self, key: Any) -> Any:
        try:
            return self.client.get(key)
        except RedisError as exc:
            raise _unavailable("purge", exc) from exc

    def length(self) -> int:
        now = self._now()
        return sum(1 for _, at in self._statuses() if at < 0 or at > now)

    def all(self) -> dict[str, dict[str, Any]]:
        return parse_texts(self.texts())

    def texts(self) -> dict[str, str]:
        keys = self._sessions()
        replies = self._each(LOAD, [((self.keys.session(key), self.keys.meta(key)), (self._now(), self._grace_ms))
                                    for key in keys], "all")
        texts = ((key, _str(_value_of(reply)) if reply else None) for key, reply in zip(keys, replies))
        return {key: text for key, text in texts if text is not None}

    def clear(self) -> None:
        """Delete every session under ``prefix`` (as connect-redis's clear()) and wsgisession's own keys."""
        self._delete(self._scan(self.keys.session_pattern) + self._scan(self.keys.meta_pattern))

    def _delete(self, keys: list[Any]) -> None:
        try:
            for start in range(0, len(keys), 500):
                batch = keys[start:start + 500]
                if self.cluster:  # (keys in many slots: one DEL each)
                    for key in batch:
                        self.client.delete(key)
                else:
                    self.client.delete(*batch)
        except RedisError as exc:
            raise _unavailable("clear", exc) from exc


def _check_url(url: str) -> None:
    """Refuse what redis-py would take silently: a path that names no database number (it would
    use database 0), a unix:// URL without a socket path. Messages never quote the URL."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigurationError("the Redis URL cannot be parsed: write it as redis://[user:password@]host:port/db "
                                 "(an IPv6 host in brackets: redis://[::1]:6379/0).") from exc
    if parts.scheme == "unix":
        if not parts.path.strip("/"):
            raise ConfigurationError("a unix:// Redis URL names the socket's path, as in "
                                     "unix:///run/redis/redis.sock (the database as ?db=0).")
    elif parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise ConfigurationError("the Redis URL's path must be a database number, as in redis://host:6379/0.")


def _value_of(loaded: Any) -> Any:
    """The stored value in a reply of scripts.LOAD (one string for an unbound session, else an array)."""
    return loaded.split(b"|", 2)[2] if type(loaded) is bytes else loaded[0]


def _opt(value: int | None) -> str:
    return "" if value is None else str(int(value))


def _pattern(literal_prefix: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in literal_prefix) + "*"


def _unavailable(action: str, exc: RedisError) -> StoreUnavailable:
    """A StoreUnavailable naming the action and the error's class (never a key: keys hold session ids)."""
    return StoreUnavailable(f"Redis session store: {action} failed ({type(exc).__name__}).")


def _execute(call: Callable[..., Any], command: tuple[Any, ...]) -> Any:
    """Run one command with ``call`` (a client's ``execute_command``, or a Wire's ``call``): a script
    by EVALSHA, or EVAL when the server does not have it yet."""
    if command[0] != "eval":
        return call(*command[1:])
    _, script, keys, args = command
    try:
        return call("EVALSHA", script.sha, len(keys), *keys, *args)
    except NoScriptError:  # (a new or restarted server: EVAL runs the script and caches it)
        return call("EVAL", script.source, len(keys), *keys, *args)


async def _aexecute(call: Callable[..., Any], command: tuple[Any, ...]) -> Any:
    """``_execute`` with a coroutine ``call`` (redis.asyncio's ``execute_command``, an AsyncWire's ``call``)."""
    if command[0] != "eval":
        return await call(*command[1:])
    _, script, keys, args = command
    try:
        return await call("EVALSHA", script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return await call("EVAL", script.source, len(keys), *keys, *args)


def _derive_async(client: Any) -> Any:
    """A ``redis.asyncio.Redis`` with the connection settings of a plain synchronous ``redis.Redis``
    (host, port or socket path, TLS, credentials, timeouts); None for any other client (a Cluster,
    a Sentinel master), whose async methods then run in a worker thread."""
    import redis.asyncio as aio
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    pool = getattr(client, "connection_pool", None)
    if type(client) is not redis.Redis or type(pool) not in (redis.ConnectionPool, redis.BlockingConnectionPool):
        return None
    classes = {redis.Connection: aio.Connection, redis.SSLConnection: aio.SSLConnection,
               redis.UnixDomainSocketConnection: aio.UnixDomainSocketConnection}
    connection_class = classes.get(pool.connection_class)
    if connection_class is None:
        return None
    accepted: set[str] = set()
    for klass in connection_class.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            accepted |= set(inspect.signature(init).parameters)
    kwargs = {name: value for name, value in pool.connection_kwargs.items()
              if name in accepted and name not in ("self", "retry", "redis_connect_func", "event_dispatcher")}
    retries = getattr(pool.connection_kwargs.get("retry"), "_retries", 1)
    kwargs["retry"] = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries)
    return aio.Redis.from_pool(aio.ConnectionPool(connection_class=connection_class, **kwargs))  # (owns the pool)

