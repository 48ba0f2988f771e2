"""The SQL of PostgresStore: connect-pg-simple 10's table, the columns added beside it, every statement.

connect-pg-simple's three columns keep its meaning: ``sid``, ``sess`` (the session's JSON text,
stored verbatim by the ``json`` type) and ``expire`` (``timestamp(6)`` *without* time zone, always
written through ``to_timestamp``, so that PostgreSQL converts it with the connection's TimeZone
exactly as connect-pg-simple's own statements do; reads compare the same way, and the epoch comes
back through ``expire::timestamptz``, the inverse conversion). A row is live while ``expire >=
now``, as connect-pg-simple's ``get`` reads it. The columns added beside them are nullable and
never named by connect-pg-simple, which names its columns in every statement: ``created`` (epoch
ms), the account (``user_id`` with its partial index, ``logged_in``, ``authenticated``,
``user_agent``). Tombstones live in a table of their own, ``<table>_tombstones``, which an
Express peer never reads.

Compare-and-set compares the stored text itself (``sess``): any writer's change, an Express
peer's included, makes a loaded version stale, while a refresh (which writes only ``expire``)
leaves it current. Times are parameters in epoch seconds (floats, millisecond precision) for
``to_timestamp``; the clock is the store's, never the server's ``now()``.
"""

from __future__ import annotations

from typing import Any

from ..base import Account

__all__ = ["ACCOUNT", "Statements", "account_parameters", "table_sql"]

ACCOUNT = {"user_id": "varchar", "logged_in": "bigint", "authenticated": "bigint", "user_agent": "varchar"}
EXTRA = {"created": "bigint", **ACCOUNT}  # added to connect-pg-simple's table, in this order
LIVE = "expire >= to_timestamp(%(now)s)"  # connect-pg-simple's get: expire >= to_timestamp(now)
EXPIRES_MS = "round(extract(epoch FROM expire::timestamptz) * 1000)::bigint"
ACCOUNT_COLUMNS = "user_id, logged_in, authenticated, user_agent"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# connect-pg-simple 10's table.sql, verbatim (node_modules/connect-pg-simple/table.sql)
TABLE_SQL = """CREATE TABLE "session" (
  "sid" varchar NOT NULL COLLATE "default",
  "sess" json NOT NULL,
  "expire" timestamp(6) NOT NULL
)
WITH (OIDS=FALSE);

ALTER TABLE "session" ADD CONSTRAINT "session_pkey" PRIMARY KEY ("sid") NOT DEFERRABLE INITIALLY IMMEDIATE;

CREATE INDEX "IDX_session_expire" ON "session" ("expire");
"""


def table_sql(table: str) -> str:
    """connect-pg-simple's table.sql with ``"session"`` replaced by the table's quoted name, as its
    createTableIfMissing does. The default table is exactly its; another table's constraint and
    index are named after it (``<table>_pkey``, ``IDX_<table>_expire``) where connect-pg-simple
    would reuse ``session_pkey``, which clashes with a ``session`` table in the same schema."""
    sql = TABLE_SQL
    if table != "session":
        sql = sql.replace('"session_pkey"', quote(f"{table}_pkey")).replace('"IDX_session_expire"',
                                                                            quote(f"IDX_{table}_expire"))
    return sql.replace('"session"', quote(table))


def account_parameters(account: Account | None) -> dict[str, Any]:
    if account is None:
        return dict.fromkeys(ACCOUNT)
    return {"user_id": account.user_id, "logged_in": account.logged_in_ms, "authenticated": account.authenticated_ms,
            "user_agent": account.user_agent}


class Statements:
    """Every statement on ``table`` (and its tombstones); ``sealed``: ``sess`` holds a JSON string
    (a ciphertext, crypto=), whose value is the record's text, rather than the record's JSON itself."""

    def __init__(self, table: str, sealed: bool) -> None:
        t, dead = quote(table), quote(f"{table}_tombstones")
        self.table, self.tombstones = t, dead
        self.tombstones_ddl = f"CREATE TABLE IF NOT EXISTS {dead} (sid varchar PRIMARY KEY, until bigint NOT NULL)"
        self.user_index_ddl = (f"CREATE INDEX IF NOT EXISTS {quote(f'IDX_{table}_user_id')} ON {t} (user_id) "
                               "WHERE user_id IS NOT NULL")
        text = "sess #>> '{}'" if sealed else "sess::text"  # the record's text, as the store hands it back
        value = "to_json(%(sess)s::text)" if sealed else "%(sess)s::json"
        given = {"user_id": "%(user_id)s::varchar", "logged_in": "%(logged_in)s::bigint",
                 "authenticated": "%(authenticated)s::bigint", "user_agent": "%(user_agent)s::varchar"}
        # combine() of stores/base.py: the given fields replace, the authentication time never goes back
        combined = {c: f"coalesce({g}, s.{c})" for c, g in given.items()}
        combined["authenticated"] = f"greatest({given['authenticated']}, s.authenticated)"
        live_s = "s.expire >= to_timestamp(%(now)s)"
        insert = (f"INSERT INTO {t} AS s (sid, sess, expire, created, {ACCOUNT_COLUMNS}) VALUES (%(sid)s, {value}, "
                  f"to_timestamp(%(expire)s), %(created)s::bigint, {', '.join(given.values())}) ON CONFLICT (sid) DO UPDATE "
                  "SET sess = excluded.sess, expire = excluded.expire, ")
        self.load = (f"SELECT {text}, created, {EXPIRES_MS}, {ACCOUNT_COLUMNS} FROM {t} WHERE sid = %(sid)s AND {LIVE}")
        # write: create or replace; a live row keeps its creation time (unless given) and combines its account
        self.write = insert + (f"created = CASE WHEN {live_s} AND %(keep)s THEN s.created ELSE excluded.created END, "
                               + ", ".join(f"{c} = CASE WHEN {live_s} THEN {v} ELSE excluded.{c} END"
                                           for c, v in combined.items()))
        # save with no version: only over no row, or an expired one
        self.create = insert + ("created = excluded.created, " + ", ".join(f"{c} = excluded.{c}" for c in ACCOUNT)
                                + f" WHERE NOT ({live_s})")
        # save with a version: only if the live row's text is still the one loaded
        self.swap = (f"UPDATE {t} AS s SET sess = {value}, expire = to_timestamp(%(expire)s), "
                     "created = coalesce(%(given)s::bigint, s.created), "
                     + ", ".join(f"{c} = {v}" for c, v in combined.items())
                     + f" WHERE sid = %(sid)s AND {text.replace('sess', 's.sess')} = %(version)s AND {live_s}")
        self.refresh = f"UPDATE {t} SET expire = to_timestamp(%(expire)s) WHERE sid = %(sid)s AND {LIVE}"
        self.destroy = f"DELETE FROM {t} WHERE sid = %(sid)s"
        self.bury = (f"WITH dead AS (INSERT INTO {dead} (sid, until) VALUES (%(sid)s, %(until)s) ON CONFLICT (sid) "
                     f"DO UPDATE SET until = excluded.until) DELETE FROM {t} WHERE sid = %(sid)s")
        self.buried = f"SELECT 1 FROM {dead} WHERE sid = %(sid)s AND until > %(now_ms)s"
        bound = f"SELECT sid, {EXPIRES_MS}, {text}, {ACCOUNT_COLUMNS} FROM {t} WHERE "
        self.bound = bound + f"user_id = %(user_id)s AND {LIVE}"
        self.all_bound = bound + f"user_id IS NOT NULL AND {LIVE}"
        # purge: in batches, oldest first (connect-pg-simple's prune deletes every expired row at once)
        self.purge_some = (f"DELETE FROM {t} WHERE sid IN (SELECT sid FROM {t} WHERE expire < to_timestamp(%(now)s) "
                           "ORDER BY expire LIMIT %(limit)s)")
        self.purge_tombstones = f"DELETE FROM {dead} WHERE until <= %(now_ms)s"
        self.count_expired = f"SELECT count(*) FROM {t} WHERE expire < to_timestamp(%(now)s)"
        self.length = f"SELECT count(*) FROM {t} WHERE {LIVE}"
        self.texts = f"SELECT sid, {text} FROM {t} WHERE {LIVE}"
        self.clear = f"DELETE FROM {t}"
        self.clear_tombstones = f"DELETE FROM {dead}"
