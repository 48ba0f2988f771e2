"""The SQL of SQLiteStore: its tables' statements, and the account columns they read and write."""

from __future__ import annotations

from typing import Any

from ..base import Account

__all__ = ["ACCOUNT", "LIVE", "SID", "account_parameters", "statements"]

# The account columns (see Account), created on first use in a table an older version made.
ACCOUNT = {"user_id": "TEXT", "logged_in": "INTEGER", "authenticated": "INTEGER", "user_agent": "TEXT",
           "account_seal": "TEXT"}
# Text columns are read as bytes (see store.py's _text), the account's with the row; only a text
# user id binds (the index looks up text: a row bound otherwise could never be listed or revoked).
ACCOUNT_COLUMNS = ("CASE WHEN typeof(user_id) = 'text' THEN CAST(user_id AS BLOB) END, logged_in, authenticated, "
                   "CAST(user_agent AS BLOB), CASE WHEN typeof(account_seal) = 'text' THEN account_seal END")
# A live row: an integer expiry in the future (text, which SQLite ranks above every number, is not).
LIVE = "expires > ? AND typeof(expires) = 'integer'"
# The id of a row listed whole (NULL unless text: a row keyed otherwise is never loaded nor destroyed by id).
SID = "CASE WHEN typeof(sid) = 'text' THEN CAST(sid AS BLOB) END"


def _combined(row: str) -> dict[str, str]:
    """The new values of a live row's account columns (``row``: how to name its columns): combine()
    of stores/base.py, the given fields replace, the authentication time never goes back."""
    values = {c: f"coalesce(:{c}, {row}{c})" for c in ACCOUNT}
    values["authenticated"] = f"max(coalesce(:authenticated, {row}authenticated), coalesce({row}authenticated, :authenticated))"
    values["account_seal"] = f"max(coalesce(:account_seal, {row}account_seal), coalesce({row}account_seal, :account_seal))"
    return values


def account_parameters(account: Account | None) -> dict[str, Any]:
    if account is None:
        return dict.fromkeys(ACCOUNT)
    return {"user_id": account.user_id, "logged_in": account.logged_in_ms, "authenticated": account.authenticated_ms,
            "user_agent": account.user_agent, "account_seal": account.seal}


def statements(table: str) -> dict[str, str]:
    """Every statement SQLiteStore runs on ``table`` (a checked identifier) and its tombstones, by name."""
    t, dead = f'"{table}"', f'"{table}_tombstones"'
    insert = (f"INSERT INTO {t} (sid, expires, session, created, user_id, logged_in, authenticated, user_agent, "
              "account_seal) VALUES (:sid, :expires, :session, :created, :user_id, :logged_in, :authenticated, "
              ":user_agent, :account_seal) "
              "ON CONFLICT (sid) DO UPDATE SET expires = excluded.expires, session = excluded.session, ")
    combined = _combined(f"{t}.")
    return {
        "load": f"SELECT CAST(session AS BLOB), created, expires, {ACCOUNT_COLUMNS} FROM {t} WHERE sid = ? AND {LIVE}",
        "write": insert + f"created = CASE WHEN {t}.expires > :now AND :keep THEN {t}.created ELSE excluded.created "
                 "END, " + ", ".join(f"{c} = CASE WHEN {t}.expires > :now THEN {value} ELSE excluded.{c} END"
                                      for c, value in combined.items()),
        "create": insert + "created = excluded.created, " + ", ".join(f"{c} = excluded.{c}" for c in ACCOUNT)
                  + f" WHERE {t}.expires <= :now",
        # Without an account, the account columns are left out: assigning them, even unchanged,
        # rewrites the row's entry in the user index (a logged-in save cost 1.17x an anonymous
        # one, bench/accounts.py).
        "swap": f"UPDATE {t} SET expires = :expires, session = :session, created = coalesce(:given, created) "
                "WHERE sid = :sid AND session = :version AND expires > :now",
        "swap_bound": f"UPDATE {t} SET expires = :expires, session = :session, created = coalesce(:given, created), "
                      + ", ".join(f"{c} = {value}" for c, value in _combined("").items())
                      + " WHERE sid = :sid AND session = :version AND expires > :now",
        "refresh": f"UPDATE {t} SET expires = ? WHERE sid = ? AND expires > ?",
        "purge": f"DELETE FROM {t} WHERE expires <= ?",
        "purge_some": f"DELETE FROM {t} WHERE sid IN (SELECT sid FROM {t} WHERE expires <= ? ORDER BY expires LIMIT ?)",
        "destroy": f"DELETE FROM {t} WHERE sid = ?",
        "bound": f"SELECT {SID}, expires, CAST(session AS BLOB), {ACCOUNT_COLUMNS} FROM {t} "
                 f"WHERE user_id = ? AND {LIVE}",
        "all_bound": f"SELECT {SID}, expires, CAST(session AS BLOB), {ACCOUNT_COLUMNS} FROM {t} "
                     f"WHERE user_id IS NOT NULL AND {LIVE}",
        # Tombstones: ids a login or logout ended, each with its own expiry, in a table of their own.
        "tombstones": f"CREATE TABLE IF NOT EXISTS {dead} (sid TEXT PRIMARY KEY, until INTEGER NOT NULL) WITHOUT ROWID",
        "bury": f"INSERT INTO {dead} (sid, until) VALUES (?, ?) ON CONFLICT (sid) DO UPDATE SET until = excluded.until",
        "buried": f"SELECT 1 FROM {dead} WHERE sid = ? AND until > ?",
        "purge_tombstones": f"DELETE FROM {dead} WHERE until <= ?",
        "clear_tombstones": f"DELETE FROM {dead}",
    }
