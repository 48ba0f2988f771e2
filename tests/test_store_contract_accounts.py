"""Accounts and purging, store by store: what the contract kit (test_store_contract.py) cannot see
through the port. Stored data is input (another writer's junk binds nobody); each store looks users
up through an index; purge deletes what expired first."""

from __future__ import annotations

import sqlite3

import pytest

from wsgisession import MemoryStore, SQLiteStore, StoreUnavailable
from wsgisession.stores.base import Account, Record, read_account

TEXT = '{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"n":1}'


def ms(clock) -> int:
    return int(clock() * 1000)


def alice(clock, authenticated_ms=None, agent="Firefox") -> Account:
    now = ms(clock)
    return Account("alice", now, now if authenticated_ms is None else authenticated_ms, agent)


# -- stored data is input ------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "expected"), [
    pytest.param(("alice", 1, 2, "UA"), Account("alice", 1, 2, "UA"), id="valid"),
    pytest.param((42, 1, 2, "UA"), None, id="user-not-a-str"),
    pytest.param(("", 1, 2, "UA"), None, id="empty-user"),
    pytest.param(("x" * 257, 1, 2, "UA"), None, id="user-too-long"),
    pytest.param(("alice", "1", 2.5, 7), Account("alice", None, None, None), id="bad-times-and-agent"),
    pytest.param(("alice", True, -5, "u" * 513), Account("alice", None, None, None), id="bool-negative-long-agent"),
])
def test_stored_account_fields_are_validated(fields, expected):
    assert read_account(*fields) == expected


def test_sqlite_reads_a_tampered_account_as_unbound(tmp_path, clock):
    store = SQLiteStore(tmp_path / "s.sqlite3", clock=clock)
    store.save("s1", Record(TEXT, None, None, alice(clock)), None)
    with sqlite3.connect(store.path) as db:  # not UTF-8, as another writer could leave it
        db.execute("UPDATE sessions SET user_id = CAST(X'FF' AS TEXT), user_agent = CAST(X'FE' AS TEXT)")
    loaded = store.load("s1")
    assert loaded is not None and loaded.account is None and loaded.text == TEXT
    assert list(store.iter_bound()) == []
    store.close()


def test_sqlite_looks_users_up_through_an_index(tmp_path, clock):
    store = SQLiteStore(tmp_path / "s.sqlite3", clock=clock)
    store.save("s1", Record(TEXT, None, None, alice(clock)), None)
    with sqlite3.connect(store.path) as db:
        plan = db.execute("EXPLAIN QUERY PLAN " + store._sql["bound"], ("alice", 0)).fetchall()
    assert any("USING INDEX sessions_user" in row[-1] for row in plan), plan
    store.close()


def test_sqlite_adds_the_account_columns_to_an_older_table(tmp_path, clock):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the schema before accounts
        db.execute("CREATE TABLE sessions (sid TEXT PRIMARY KEY, expires INTEGER NOT NULL, session TEXT NOT NULL, "
                   "created INTEGER NOT NULL) WITHOUT ROWID")
        db.execute("INSERT INTO sessions VALUES ('old', ?, ?, ?)", (ms(clock) + 60_000, TEXT, ms(clock)))
    store = SQLiteStore(path, clock=clock)
    loaded = store.load("old")
    assert loaded is not None and loaded.text == TEXT and loaded.account is None
    store.save("new", Record(TEXT, None, None, alice(clock)), None)
    assert [bound.key for bound in store.iter_bound("alice")] == ["new"]
    store.close()
    assert SQLiteStore(path, clock=clock).load("new").account == alice(clock)  # a second opening: idempotent


def test_memory_store_index_forgets_ended_sessions(clock):
    store = MemoryStore(clock=clock)
    store.save("s1", Record(TEXT, ms(clock) + 1_000, None, alice(clock)), None)
    store.save("s2", Record(TEXT, None, None, alice(clock)), None)
    store.destroy("s2")
    clock.advance(2)
    store.purge()
    assert store._users == {}


def test_mongo_keeps_the_account_in_indexed_fields_that_connect_mongos_writes_leave_alone(mongo_database, clock):
    from wsgisession import MongoStore
    from wsgisession.serialization import ms_to_datetime

    store = MongoStore(mongo_database["sessions"], clock=clock, auto_remove="disabled")
    store.save("s1", Record(TEXT, None, None, alice(clock)), None)
    raw = mongo_database["sessions"]
    doc = raw.find_one("s1")
    naive = ms_to_datetime(ms(clock)).replace(tzinfo=None)  # (this client is not tz_aware)
    assert {key: doc[key] for key in ("userId", "loggedInAt", "authenticatedAt", "userAgent")} == {
        "userId": "alice", "loggedInAt": naive, "authenticatedAt": naive,
        "userAgent": "Firefox"}
    assert "userId_1" in raw.index_information()
    # connect-mongo's set(): its whole document in $set, upserted; the account fields stay
    raw.update_one({"_id": "s1"}, {"$set": {"_id": "s1", "session": TEXT.replace('"n":1', '"n":9'),
                                            "expires": ms_to_datetime(ms(clock) + 60_000)}}, upsert=True)
    assert store.load("s1").account == alice(clock)
    raw.update_one({"_id": "s1"}, {"$set": {"userId": 42}})  # another writer's junk: unbound, not an error
    assert store.load("s1").account is None and list(store.iter_bound()) == []
    raw.update_one({"_id": "s1"}, {"$set": {"userId": "alice", "authenticatedAt": "yesterday", "userAgent": 7}})
    assert store.load("s1").account == Account("alice", ms(clock), None, None)


def stored_ids(store) -> set[str]:
    """Every id the store holds, expired or not (read behind its back)."""
    store = getattr(store, "inner", store)  # (with crypto, the plain store an AtRestStore wraps)
    if isinstance(store, MemoryStore):
        return set(store._records)
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as db:
            return {row[0] for row in db.execute("SELECT sid FROM sessions")}
    return {doc["_id"] for doc in store.collection.find({}, {"_id": 1})}


def test_purge_deletes_what_expired_first(store, clock):
    store.save("a-late", Record(TEXT, ms(clock) + 5_000), None)  # first written, first by id
    store.save("early", Record(TEXT, ms(clock) + 1_000), None)
    store.save("live", Record(TEXT, ms(clock) + 60_000), None)
    clock.advance(6)
    assert store.purge(limit=1) == 1
    assert stored_ids(store) == {"a-late", "live"}


# -- SQLite rows another writer tampered with: never an error, never an id in a message ----------

def tampered(tmp_path, clock, statement: str) -> SQLiteStore:
    store = SQLiteStore(tmp_path / "s.sqlite3", clock=clock)
    store.save("kept", Record(TEXT, None, None, alice(clock)), None)
    store.save("other", Record(TEXT, None, None, alice(clock)), None)
    with sqlite3.connect(store.path) as db:
        db.execute(statement)
    return store


def test_sqlite_a_blob_user_id_binds_nobody(tmp_path, clock):
    store = tampered(tmp_path, clock, "UPDATE sessions SET user_id = CAST('alice' AS BLOB) WHERE sid = 'other'")
    assert store.load("other").account is None  # (the index, which looks up text, could never find it)
    assert [bound.key for bound in store.iter_bound("alice")] == ["kept"]


def test_sqlite_a_text_expiry_is_not_live(tmp_path, clock):
    store = tampered(tmp_path, clock, "UPDATE sessions SET expires = 'never' WHERE sid = 'other'")
    assert store.load("other") is None and store.length() == 1
    assert [bound.key for bound in store.iter_bound("alice")] == ["kept"]


@pytest.mark.parametrize("sid", ["CAST('SECRETID' AS BLOB)", "CAST(X'FF5345435245544944' AS TEXT)"],
                         ids=["blob", "not-utf-8"])
def test_sqlite_an_unreadable_id_hides_neither_the_others_nor_leaks_into_a_message(tmp_path, clock, sid):
    store = tampered(tmp_path, clock, f"UPDATE sessions SET sid = {sid} WHERE sid = 'other'")
    assert [bound.key for bound in store.iter_bound("alice")] == ["kept"]
    assert set(store.all()) == {"kept"}
    store.destroy("kept")
    assert list(store.iter_bound("alice")) == []
    if "X'FF" in sid:  # sqlite3's own decoding error quotes the text: the store's message must not
        with pytest.raises(StoreUnavailable) as failure:
            store._run("SELECT sid FROM sessions", (), "all")
        assert "SECRETID" not in str(failure.value) and "not UTF-8" in str(failure.value)
