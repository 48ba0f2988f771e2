"""MemoryStore beyond the store contract (tests/test_store_contract.py runs that on every store)."""

from __future__ import annotations

from wsgisession import MemoryStore

from .test_store_contract import record


def test_expired_records_are_swept_not_kept_forever(clock):
    store = MemoryStore(clock=clock)
    store.set("short", record(clock, max_age_ms=1_000, n=0))
    assert store.load("short") is not None
    clock.advance(3600)
    assert store.load("short") is None  # reads do not delete...
    store.set("later", record(clock, n=1))  # ...a write sweeps what expired
    assert "short" not in store._records and store.length() == 1
