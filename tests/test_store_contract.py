"""One behaviour suite, run against every store (the `store` fixture in conftest.py)."""

from __future__ import annotations

import json

import pytest

from wsgisession.serialization import format_iso
from wsgisession.stores.base import Record, to_record


def record(clock, *, max_age_ms=None, **data):
    expires = None if max_age_ms is None else format_iso(int(clock() * 1000) + max_age_ms)
    cookie = {"originalMaxAge": max_age_ms, "expires": expires, "httpOnly": True, "path": "/"}
    return {"cookie": cookie, **data}


def test_missing_is_none(store):
    assert store.get("no-such-id") is None


def test_round_trip_keeps_nested_and_non_ascii_data(store, clock):
    data = record(clock, cuenta=3, name="ñandú 日本 🍣", cart=[{"sku": "a", "qty": 2}, None, True, 1.5],
                  nested={"deep": {"deeper": [1, -2, 3e20]}})
    store.set("sid-1", data)
    assert store.get("sid-1") == data


def test_overwrite_replaces_the_record(store, clock):
    store.set("sid-1", record(clock, a=1, b=2))
    store.set("sid-1", record(clock, a=5))
    assert store.get("sid-1") == record(clock, a=5)


def test_destroy_removes_and_tolerates_missing(store, clock):
    store.set("sid-1", record(clock, a=1))
    assert store.destroy("sid-1") is True
    assert store.get("sid-1") is None
    assert store.destroy("sid-1") is False  # a missing record is not an error; it is reported


def test_record_without_cookie_expires_after_ttl(store, clock):
    store.set("sid-1", {"cookie": {"originalMaxAge": None, "expires": None}, "a": 1})
    clock.advance(store.ttl - 60)
    assert store.get("sid-1") is not None
    clock.advance(120)
    assert store.get("sid-1") is None


def test_cookie_expires_wins_over_ttl(store, clock):
    store.set("sid-1", record(clock, max_age_ms=10_000, a=1))
    clock.advance(9)
    assert store.get("sid-1") is not None
    clock.advance(2)
    assert store.get("sid-1") is None


def test_touch_extends_expiry_without_rewriting_data(store, clock):
    store.set("sid-1", record(clock, max_age_ms=10_000, a=1))
    clock.advance(8)
    store.touch("sid-1", record(clock, max_age_ms=10_000, a="not written"))
    clock.advance(8)  # 16 s after set, 8 s after touch
    loaded = store.get("sid-1")
    assert loaded is not None and loaded["a"] == 1


def test_touch_of_missing_record_creates_nothing(store, clock):
    store.touch("ghost", record(clock, a=1))
    assert store.get("ghost") is None


def test_all_length_clear_see_only_live_records(store, clock):
    store.set("short", record(clock, max_age_ms=1_000, n=0))
    store.set("long-1", record(clock, max_age_ms=100_000, n=1))
    store.set("long-2", record(clock, max_age_ms=100_000, n=2))
    clock.advance(2)
    everything = store.all()
    assert sorted(everything) == ["long-1", "long-2"]
    assert everything["long-2"]["n"] == 2
    assert store.length() == 2
    store.clear()
    assert store.length() == 0 and store.all() == {} and store.get("long-1") is None


# -- the primitives the core calls: load, save (compare-and-set), write, refresh ------------------


def rec(clock, *, created_ms=None, **data):
    """A Record, as the core hands it to a store."""
    return to_record(record(clock, **data), created_ms)


def parsed(loaded):
    return json.loads(loaded.text)


def test_load_returns_the_text_a_version_and_the_creation_time(store, clock):
    assert store.load("missing") is None
    assert store.save("sid-1", rec(clock, a=1), None) is not None
    loaded = store.load("sid-1")
    assert parsed(loaded) == record(clock, a=1) and loaded.version is not None
    assert abs(loaded.created_ms - clock() * 1000) < 1000


def test_save_with_the_loaded_version_succeeds_and_returns_the_new_one(store, clock):
    store.set("sid-1", record(clock, a=1))
    version = store.load("sid-1").version
    new_version = store.save("sid-1", rec(clock, a=2), version)
    assert new_version is not None and new_version != version
    assert store.load("sid-1").version == new_version and store.get("sid-1")["a"] == 2


def test_save_with_a_stale_version_writes_nothing(store, clock):
    store.set("sid-1", record(clock, a=1))
    stale = store.load("sid-1").version
    store.set("sid-1", record(clock, a=2))  # another request wrote meanwhile
    assert store.save("sid-1", rec(clock, a=3), stale) is None
    assert store.get("sid-1")["a"] == 2


def test_save_never_recreates_a_destroyed_record(store, clock):
    store.set("sid-1", record(clock, a=1))
    version = store.load("sid-1").version
    store.destroy("sid-1")
    assert store.save("sid-1", rec(clock, a=2), version) is None
    assert store.get("sid-1") is None


def test_save_without_version_only_creates(store, clock):
    assert store.save("sid-1", rec(clock, a=1), None) is not None
    assert store.save("sid-1", rec(clock, a=2), None) is None
    assert store.get("sid-1")["a"] == 1


def test_save_without_version_may_reuse_an_expired_record(store, clock):
    store.set("sid-1", record(clock, max_age_ms=1000, a=1))
    clock.advance(2)
    assert store.save("sid-1", rec(clock, a=2), None) is not None
    assert store.get("sid-1")["a"] == 2


def test_the_expiry_is_the_records_not_parsed_from_its_text(store, clock):
    now = int(clock() * 1000)
    store.write("sid-1", Record(json.dumps(record(clock, a=1)), now + 5_000))  # the text says: no expiry
    clock.advance(4)
    assert store.get("sid-1") is not None
    clock.advance(2)
    assert store.get("sid-1") is None


def test_refresh_extends_a_live_record_only(store, clock):
    now = int(clock() * 1000)
    store.write("sid-1", Record(json.dumps(record(clock, a=1)), now + 5_000))
    loaded = store.load("sid-1")
    store.refresh("sid-1", now + 60_000, loaded.version)
    clock.advance(30)
    assert store.load("sid-1").text == loaded.text
    store.refresh("ghost", now + 60_000, None)
    assert store.get("ghost") is None


def test_touch_keeps_the_version_and_updates_keep_the_creation_time(store, clock):
    store.set("sid-1", record(clock, a=1))
    first = store.load("sid-1")
    clock.advance(60)
    store.touch("sid-1", record(clock, a=1))
    assert store.load("sid-1").version == first.version
    store.save("sid-1", rec(clock, a=2), first.version)
    store.set("sid-1", record(clock, a=3))
    assert store.load("sid-1").created_ms == first.created_ms


def test_a_given_creation_time_is_written_by_set_and_save(store, clock):
    created = int(clock() * 1000) - 3_600_000  # a regenerated session keeps its own
    store.set("sid-1", record(clock, a=1), created_ms=created)
    assert store.load("sid-1").created_ms == created
    assert store.save("sid-2", rec(clock, a=1, created_ms=created), None) is not None
    assert store.load("sid-2").created_ms == created
    version = store.load("sid-2").version
    store.save("sid-2", rec(clock, a=2, created_ms=created - 1), version)
    assert store.load("sid-2").created_ms == created - 1
    store.set("sid-2", record(clock, a=3))  # without one, the creation time stays
    assert store.load("sid-2").created_ms == created - 1


def test_oversized_session_is_a_clear_error_not_a_broken_record(store, clock):
    from wsgisession import SessionError

    big = "x" * (16 * 1024 * 1024)
    for write in (lambda: store.set("sid-1", record(clock, big=big)),
                  lambda: store.save("sid-1", rec(clock, big=big), None)):
        with pytest.raises(SessionError, match="over the store's limit"):
            write()
    assert store.get("sid-1") is None

