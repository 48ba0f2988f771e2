"""MemoryStore beyond the store contract (tests/test_store_contract.py runs that on every store)."""

from __future__ import annotations

from wsgisession import MemoryStore

from .helpers import record


def test_expired_records_are_swept_not_kept_forever(clock):
    store = MemoryStore(clock=clock)
    store.set("short", record(clock, max_age_ms=1_000, n=0))
    assert store.load("short") is not None
    clock.advance(3600)
    assert store.load("short") is None  # reads do not delete...
    store.set("later", record(clock, n=1))  # ...a write sweeps what expired
    assert "short" not in store._records and store.length() == 1


def test_the_user_index_stays_right_under_threads(clock):
    import threading

    from wsgisession.stores.base import Account, Record

    store = MemoryStore(clock=clock)
    users = [f"u{n}" for n in range(4)]

    def worker(n: int) -> None:
        for i in range(2000):
            sid = f"s{(n * 7 + i) % 50}"
            if i % 5 == 4:
                store.destroy(sid)
            else:
                store.write(sid, Record('{"cookie":{}}', None, None, Account(users[(n + i) % 4], 1, 1, None)))
            list(store.iter_bound(users[i % 4]))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {(user, sid) for user, sids in store._users.items() for sid in sids} == {
        (entry[2].user_id, sid) for sid, entry in store._records.items() if entry[2] is not None}
