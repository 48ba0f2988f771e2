"""The store the two twins share, one class per Express peer store: what each twin is told
(environment variables) and how a test reads and tampers with what they stored, raw.

* ``MongoPeer``: connect-mongo 6's collection (MongoStore), on a fresh database of a test server;
* ``RedisPeer``: connect-redis 9's keys (RedisStore), ``sess:<sid>`` holding the session JSON with a
  TTL, on the run's private redis-server (emptied first);
* ``PostgresPeer``: connect-pg-simple 10's table ``"session"`` (PostgresStore), on a fresh database
  of the run's private PostgreSQL, whose sessions run in a zone that is not UTC (Kathmandu, +05:45):
  ``expire`` is a timestamp *without* time zone that connect-pg-simple writes through
  ``to_timestamp``, so a side that read or wrote it as UTC would be 5 h 45 min off.

Every peer answers the same questions in the same units: ``stored(sid)`` is the session's JSON text
and the store's expiry in epoch ms (None when there is no live record), ``sids()`` every session id
stored, ``set_expiry(sid, ms)`` moves the expiry (into the past: expired). ``resolution_ms`` is how
far the store's expiry may lie after the cookie's: connect-mongo stores the cookie's date, to the
ms; connect-redis and connect-pg-simple round it up to the second. ``default_ttl_ms`` is how long
the Express store keeps a session whose cookie has no expiry (connect-mongo: 14 days; connect-redis
and connect-pg-simple: one day); its Python counterpart must keep it as long.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

PG_ZONE = "Asia/Kathmandu"  # +05:45 all year: no DST, not a whole number of hours


@dataclass(frozen=True)
class Stored:
    text: str  # the session JSON, as the store holds it
    expires_ms: int  # the store's own expiry (document date, key TTL, row's expire)


class MongoPeer:
    kind = "mongo"
    resolution_ms = 0
    default_ttl_ms = 14 * 86_400_000
    expired_records_stay = True  # an expired document stays until it is purged (and must not be read)

    def __init__(self, mongo_uri: str, collection: str = "sessions") -> None:
        from pymongo import MongoClient

        self.database = "interop_" + uuid.uuid4().hex[:12]
        self.url = mongo_uri.rstrip("/") + "/" + self.database
        self.collection_name = collection
        self.client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True,
                                                                serverSelectionTimeoutMS=5000)
        self.collection = self.client[self.database][collection]

    def env(self) -> dict[str, str]:
        return {"MONGODB_URL": self.url, "COLLECTION": self.collection_name}

    def stored(self, sid: str) -> Stored | None:
        from wsgisession.serialization import datetime_to_ms

        doc = self.collection.find_one({"_id": sid})
        return None if doc is None else Stored(doc["session"], datetime_to_ms(doc["expires"]))

    def sids(self) -> set[str]:
        from ..mongo_helpers import SESSION_DOCUMENTS

        return {doc["_id"] for doc in self.collection.find(SESSION_DOCUMENTS, {"_id": 1})}

    def set_expiry(self, sid: str, ms: int) -> None:
        when = datetime.fromtimestamp(ms / 1000, timezone.utc)
        assert self.collection.update_one({"_id": sid}, {"$set": {"expires": when}}).matched_count == 1

    def close(self) -> None:
        try:
            self.client.drop_database(self.database)
        finally:
            self.client.close()


class RedisPeer:
    kind = "redis"
    resolution_ms = 1000  # connect-redis: SET ... EX ceil(seconds left)
    default_ttl_ms = 86_400_000  # connect-redis's ttl
    expired_records_stay = False  # Redis deletes an expired key itself

    def __init__(self, server: Any, prefix: str = "sess:") -> None:
        import redis

        server.flushall()  # one server for the run: each test starts from an empty one
        self.url = server.url
        self.prefix = prefix
        self.client = redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=5, decode_responses=True)

    def env(self) -> dict[str, str]:
        return {"REDIS_URL": self.url, "PREFIX": self.prefix}

    def stored(self, sid: str) -> Stored | None:
        key = self.prefix + sid
        with self.client.pipeline(transaction=True) as pipe:
            text, expires = pipe.get(key).pexpiretime(key).execute()
        if text is None:
            return None
        assert expires > 0, f"{key} has no TTL ({expires}): connect-redis always sets one"
        return Stored(text, expires)

    def sids(self) -> set[str]:
        return {key[len(self.prefix):] for key in self.client.scan_iter(match=self.prefix + "*", count=1000)}

    def keys(self) -> set[str]:
        """Every key on the server, whatever its prefix."""
        return set(self.client.scan_iter(count=1000))

    def set_expiry(self, sid: str, ms: int) -> None:
        assert self.client.pexpireat(self.prefix + sid, ms), f"no key for {sid}"

    def close(self) -> None:
        self.client.close()


class PostgresPeer:
    kind = "postgres"
    resolution_ms = 1000  # connect-pg-simple: to_timestamp(ceil(seconds))
    default_ttl_ms = 86_400_000  # connect-pg-simple's ttl
    expired_records_stay = True  # rows stay until connect-pg-simple's prune (or PostgresStore's purge)

    def __init__(self, server: Any, table: str = "session") -> None:
        import psycopg

        self.server = server
        self.database = "interop_" + uuid.uuid4().hex[:12]
        self.table = table
        with psycopg.connect(server.url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{self.database}"')
            connection.execute(f"ALTER DATABASE \"{self.database}\" SET timezone = '{PG_ZONE}'")
        self.url = server.database_url(self.database)
        self.connection = psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def env(self) -> dict[str, str]:
        return {"POSTGRES_URL": self.url, "TABLE": self.table}

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def stored(self, sid: str) -> Stored | None:
        # expire is local time in the zone of the writer's session, which is the database's
        rows = self.query(f'SELECT sess::text, (extract(epoch FROM expire AT TIME ZONE \'{PG_ZONE}\') * 1000)::bigint'
                          f' FROM "{self.table}" WHERE sid = %s', sid)
        return Stored(rows[0][0], rows[0][1]) if rows else None

    def sids(self) -> set[str]:
        return {row[0] for row in self.query(f'SELECT sid FROM "{self.table}"')}

    def set_expiry(self, sid: str, ms: int) -> None:
        rows = self.query(f'UPDATE "{self.table}" SET expire = to_timestamp(%s) WHERE sid = %s RETURNING sid',
                          ms / 1000, sid)
        assert rows, f"no row for {sid}"

    def close(self) -> None:
        import psycopg

        self.connection.close()
        with psycopg.connect(self.server.url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def open_peer(request: Any, name: str) -> MongoPeer | RedisPeer | PostgresPeer:
    """The peer store ``name`` (a MongoDB server of mongo_fixtures.MONGO_SERVERS, ``redis`` or ``postgres``),
    fresh, on the run's server of that kind (started by its fixture on first use: one that cannot start fails
    the test with its log, never skips it)."""
    if name == "redis":
        return RedisPeer(request.getfixturevalue("redis_server"))
    if name == "postgres":
        return PostgresPeer(request.getfixturevalue("postgres_server"))
    return MongoPeer(request.getfixturevalue("mongo_servers").uri(name))
