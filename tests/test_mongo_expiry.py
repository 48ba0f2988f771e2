"""How MongoStore removes expired sessions (wsgisession/stores/mongo/expiry.py): connect-mongo's TTL
index, or a sweep every interval where the server has none."""

from __future__ import annotations

import threading
import warnings

import pytest

from wsgisession.serialization import format_iso
from wsgisession.stores.mongo import MongoStore, TTLIndexWarning

from .mongo_helpers import (SID, VECTORS, RecordingCollection, aware, from_vector,
                            record, server_supports_ttl)


def test_native_auto_remove_sends_connect_mongos_index_once(mongo_database, clock):
    supported = server_supports_ttl(mongo_database)
    collection = RecordingCollection(mongo_database, "sessions")
    store = MongoStore(collection, clock=clock)
    barrier = threading.Barrier(8)

    def first_use() -> None:
        barrier.wait()
        store.get(SID)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        threads = [threading.Thread(target=first_use) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        store.set(SID, record(clock, cuenta=1))
        store.length()
    keys, options = VECTORS["operations"]["constructor_native_autoRemove"]
    assert collection.index_calls == [((list(keys.items()),), options)]
    ttl_warnings = [w for w in caught if issubclass(w.category, TTLIndexWarning)]
    if supported:
        assert ttl_warnings == []
        index = mongo_database["sessions"].index_information()["expires_1"]
        assert index["key"] == [("expires", 1)] and index["expireAfterSeconds"] == 0
    else:
        assert len(ttl_warnings) == 1 and "auto_remove='interval'" in str(ttl_warnings[0].message)
        assert store.auto_remove == "interval"


def test_native_fallback_removes_expired_sessions_by_interval(mongo_database, clock):
    if server_supports_ttl(mongo_database):  # the server reaps them itself; nothing to fall back to
        assert MongoStore(mongo_database["sessions"], clock=clock).auto_remove == "native"
        return
    raw = mongo_database["sessions"]
    store = MongoStore(raw, auto_remove_interval=600, clock=clock)
    with pytest.warns(TTLIndexWarning) as caught:
        store.set("short", record(clock, 10_000, n=1))
        store.set("long", record(clock, 3_600_000, n=2))
        clock.advance(601)
        store.set("other", record(clock, n=3))
    assert len(caught) == 1
    assert sorted(doc["_id"] for doc in raw.find()) == ["long", "other"]


def test_interval_removal_runs_at_most_once_per_interval(commands, clock):
    collection, sent = commands
    store = MongoStore(collection, auto_remove="interval", auto_remove_interval=600, clock=clock)
    store.set("short", record(clock, 10_000, n=1))
    store.set("long", record(clock, 3_600_000, n=2))
    clock.advance(60)
    store.set("other", record(clock, n=3))
    assert store.get("short") is None and collection.find_one("short") is not None  # expired, not yet reaped
    assert sent.count("delete") == 0
    clock.advance(600)
    store.set("other", record(clock, n=4))
    assert sorted(doc["_id"] for doc in collection.find()) == ["long", "other"]
    (delete,) = [command["deletes"][0] for name, command in sent.sent if name == "delete"]
    tick_filter = from_vector(VECTORS["operations"]["autoRemove_interval_tick"][0])
    assert list(delete["q"]) == list(tick_filter) and list(delete["q"]["expires"]) == ["$lt"]
    assert aware(delete["q"]["expires"]["$lt"]) == from_vector({"$date": format_iso(int(clock() * 1000))})
    store.touch("long", record(clock, 3_600_000, n=2))
    assert sent.count("delete") == 1
    clock.advance(600)
    store.touch("long", record(clock, 3_600_000, n=2))  # touches piggy-back too
    assert sent.count("delete") == 2
    assert sent.count("createIndexes") == 0


def test_disabled_auto_remove_never_deletes_or_indexes(commands, clock):
    collection, sent = commands
    store = MongoStore(collection, auto_remove="disabled", auto_remove_interval=1, clock=clock)
    store.set("short", record(clock, 1_000, n=1))
    clock.advance(3600)
    store.set("other", record(clock, n=2))
    assert collection.count_documents({}) == 2
    assert sent.count("delete") == 0 and sent.count("createIndexes") == 0
