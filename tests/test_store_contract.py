"""One behaviour suite, run against every store (the `store` fixture in conftest.py)."""

from __future__ import annotations

from wsgisession.serialization import format_iso


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
    store.destroy("sid-1")
    assert store.get("sid-1") is None
    store.destroy("sid-1")  # a missing record is not an error


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
