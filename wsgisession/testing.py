"""The store contract kit: what the core relies on a store for, as a pytest class to subclass.

::

    from wsgisession.testing import StoreContract

    class TestMyStore(StoreContract):
        def make_store(self):
            return MyStore(clock=self.clock)

``make_store`` returns a fresh, empty store that reads the time from ``self.clock`` (a settable
fake clock, epoch seconds: the tests move time with ``self.clock.advance(seconds)`` instead of
sleeping). ``self.request`` is pytest's request, for fixtures: ``self.request.getfixturevalue(
"tmp_path")``. After each test the store is cleared (if it has ``clear``) and closed.

The required methods (``load``, ``write``, ``refresh``, ``destroy``) are tested on every store;
the tests of a capability the store does not declare (compare-and-set, user index, tombstones,
maintenance) are skipped, and the reason names it. Records go in and come out as the core hands
them over (``Record``, ``Loaded``); express's ``get``/``set``/``touch`` are tested once.

This module imports pytest (``import wsgisession`` never does). For pytest's detailed assertion
messages on failures here, call ``pytest.register_assert_rewrite("wsgisession.testing")`` in
your conftest.py before importing it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .stores import base as _base
from .stores.base import Account, Record, Store

__all__ = ["COMPARE_AND_SET", "MAINTENANCE", "TOMBSTONES", "USER_INDEX", "FakeClock", "StoreContract", "supports"]

# The capabilities' names: stores/base.py's constants (issue 22's port), spelt the same before it.
COMPARE_AND_SET: str = getattr(_base, "COMPARE_AND_SET", "compare-and-set")
USER_INDEX: str = getattr(_base, "USER_INDEX", "user index")
TOMBSTONES: str = getattr(_base, "TOMBSTONES", "tombstones")
MAINTENANCE: str = getattr(_base, "MAINTENANCE", "maintenance")
METHODS = {COMPARE_AND_SET: ("save",), USER_INDEX: ("iter_bound",), TOMBSTONES: ("bury", "buried"),
           MAINTENANCE: ("purge", "count_expired", "length", "all", "clear")}
_FLAGS = {COMPARE_AND_SET: "compares_and_sets", USER_INDEX: "keeps_accounts", TOMBSTONES: "keeps_tombstones"}


def supports(store: Any, capability: str, method: str | None = None) -> bool:
    """Whether ``store`` declares ``capability`` (and, if named, implements that one of its methods).

    ``store.supports(capability)`` when the store has it; otherwise (a store written before it)
    the store's ``compares_and_sets``/``keeps_accounts``/``keeps_tombstones``, else whether its
    class overrides the capability's methods.
    """
    def implements(name: str) -> bool:
        found = getattr(type(store), name, None)
        return callable(found) and found is not getattr(Store, name, None)

    ask = getattr(store, "supports", None)
    if callable(ask):
        declared = bool(ask(capability))
    elif _FLAGS.get(capability) and hasattr(store, _FLAGS[capability]):
        declared = bool(getattr(store, _FLAGS[capability]))
    else:
        declared = any(implements(name) for name in METHODS[capability])
    return declared and (method is None or implements(method))


class FakeClock:
    """A settable clock in epoch seconds, injected instead of sleeping."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


COOKIE = {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"}


def text(**data: Any) -> str:
    """A record's JSON as express-session writes it (compact, non-ASCII as is)."""
    return json.dumps({"cookie": COOKIE, **data}, separators=(",", ":"), ensure_ascii=False)


def count_of(loaded: Any) -> int:
    return int(json.loads(loaded.text)["n"])


class StoreContract:
    """The contract a store keeps with the core; subclass it and define ``make_store``."""

    clock: FakeClock
    request: pytest.FixtureRequest
    store: Any
    # Epoch seconds self.clock starts at; None: the next whole second, never behind the real clock, so
    # that a server that expires records by its own clock (Redis, a MongoDB TTL index) never deletes
    # one before the fake clock says it expired.
    start_time: float | None = None
    race_threads = 4  # the compare-and-set race: threads, each incrementing one counter this many times
    race_increments = 10

    def make_store(self) -> Store:
        """A fresh, empty store reading the time from ``self.clock`` (its ``clock=``), otherwise as
        configured by default (a store that skips refreshes by itself, like MongoStore's
        ``touch_after``, with that off: the kit tests ``refresh`` itself)."""
        raise NotImplementedError(f"{type(self).__name__} must define make_store(self), returning a fresh store")

    @pytest.fixture(autouse=True)
    def _contract_store(self, request: pytest.FixtureRequest) -> Iterator[None]:
        self.request = request
        self.clock = FakeClock(float(int(time.time()) + 1) if self.start_time is None else self.start_time)
        self.store = self.make_store()
        try:
            yield
        finally:
            try:
                if supports(self.store, MAINTENANCE, "clear"):
                    self.store.clear()
            finally:
                self.store.close()

    # -- helpers ---------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def require(self, capability: str, *methods: str) -> None:
        """Skip the test unless the store declares ``capability`` (and implements ``methods``)."""
        if not supports(self.store, capability):
            names = ", ".join(f"{name}()" for name in METHODS[capability])
            pytest.skip(f"the store does not declare the {capability} capability ({names})")
        for name in methods:
            if not supports(self.store, capability, name):
                pytest.skip(f"the store's {capability} capability has no {name}()")

    def require_creation_times(self) -> None:
        if not getattr(self.store, "tracks_creation", False):
            pytest.skip("the store does not track creation times (tracks_creation is False; absolute_timeout needs them)")

    def ttl_ms(self) -> int:
        return int(self.store.ttl * 1000)

    def create(self, sid: str, record: Record) -> None:
        """Create a record as the core does: ``save`` with no version (compare-and-set), else ``write``."""
        if supports(self.store, COMPARE_AND_SET):
            assert self.store.save(sid, record, None) is not None
        else:
            self.store.write(sid, record)

    # -- load and write ----------------------------------------------------------------------------

    def test_a_missing_record_loads_as_none(self) -> None:
        assert self.store.load("no-such-id") is None

    def test_write_then_load_gives_back_the_exact_text(self) -> None:
        written = '{"cookie":{"originalMaxAge":null},  "name":"ñandú 日本 🍣","esc":"\\u00e9\\n","deep":[1,{"x":null}]}'
        self.store.write("sid-1", Record(written, None))
        loaded = self.store.load("sid-1")
        assert loaded is not None and loaded.text == written

    def test_write_replaces_the_record(self) -> None:
        self.store.write("sid-1", Record(text(a=1, b=2), None))
        self.store.write("sid-1", Record(text(a=5), None))
        assert self.store.load("sid-1").text == text(a=5)

    def test_records_are_kept_apart_by_id(self) -> None:
        self.store.write("sid-1", Record(text(n=1), None))
        self.store.write("sid-2", Record(text(n=2), None))
        assert count_of(self.store.load("sid-1")) == 1 and count_of(self.store.load("sid-2")) == 2

    # -- expiry ----------------------------------------------------------------------------------

    def test_an_expired_record_reads_as_missing(self) -> None:
        self.store.write("sid-1", Record(text(a=1), self.now_ms() + 5_000))  # (its text says: no expiry)
        self.clock.advance(4)
        assert self.store.load("sid-1") is not None
        self.clock.advance(2)  # expired, and no purge ran: it is still missing
        assert self.store.load("sid-1") is None

    def test_the_ttl_applies_when_the_record_has_no_expiry(self) -> None:
        self.store.write("sid-1", Record(text(a=1), None))
        self.clock.advance(self.store.ttl - 60)
        assert self.store.load("sid-1") is not None
        self.clock.advance(120)
        assert self.store.load("sid-1") is None

    def test_the_cookie_expiry_wins_over_the_ttl(self) -> None:
        ttl = self.store.ttl
        self.store.write("short", Record(text(a=1), self.now_ms() + 10_000))
        self.store.write("long", Record(text(a=2), self.now_ms() + self.ttl_ms() + 86_400_000))
        self.clock.advance(11)
        assert self.store.load("short") is None
        self.clock.advance(ttl)  # past the ttl, within the cookie's expiry
        assert self.store.load("long") is not None

    def test_loaded_expires_ms_is_the_stored_expiry(self) -> None:
        expires = self.now_ms() + 60_000
        self.store.write("sid-1", Record(text(a=1), expires))
        self.store.write("sid-2", Record(text(a=1), None))
        if getattr(self.store.load("sid-1"), "expires_ms", None) is None:
            pytest.skip("the store does not report Loaded.expires_ms (touch_after then cannot throttle refreshes)")
        assert self.store.load("sid-1").expires_ms == expires
        assert self.store.load("sid-2").expires_ms == self.now_ms() + self.ttl_ms()
        self.store.refresh("sid-1", expires + 30_000, self.store.load("sid-1").version)
        assert self.store.load("sid-1").expires_ms == expires + 30_000

    # -- refresh ---------------------------------------------------------------------------------

    def test_refresh_extends_the_expiry_and_never_rewrites_the_data(self) -> None:
        self.store.write("sid-1", Record(text(a=1), self.now_ms() + 5_000))
        loaded = self.store.load("sid-1")
        assert self.store.refresh("sid-1", self.now_ms() + 60_000, loaded.version) is not False
        self.clock.advance(30)
        again = self.store.load("sid-1")
        assert again is not None and again.text == loaded.text

    def test_refresh_without_an_expiry_applies_the_ttl(self) -> None:
        self.store.write("sid-1", Record(text(a=1), self.now_ms() + 5_000))
        self.store.refresh("sid-1", None, self.store.load("sid-1").version)
        self.clock.advance(self.store.ttl - 60)
        assert self.store.load("sid-1") is not None
        self.clock.advance(120)
        assert self.store.load("sid-1") is None

    def test_refresh_of_a_missing_record_creates_nothing(self) -> None:
        assert self.store.refresh("ghost", self.now_ms() + 60_000, None) in (False, None)
        assert self.store.load("ghost") is None
        self.store.write("sid-1", Record(text(a=1), None))
        version = self.store.load("sid-1").version
        self.store.destroy("sid-1")  # (a logout, while another request had it loaded)
        assert self.store.refresh("sid-1", self.now_ms() + 60_000, version) in (False, None)
        assert self.store.load("sid-1") is None

    def test_refresh_of_an_expired_record_brings_nothing_back(self) -> None:
        self.store.write("sid-1", Record(text(a=1), self.now_ms() + 1_000))
        version = self.store.load("sid-1").version
        self.clock.advance(2)
        assert self.store.refresh("sid-1", self.now_ms() + 60_000, version) in (False, None)
        assert self.store.load("sid-1") is None  # an expired record is not brought back

    # -- destroy ---------------------------------------------------------------------------------

    def test_destroy_says_whether_there_was_a_record(self) -> None:
        self.store.write("sid-1", Record(text(a=1), None))
        assert self.store.destroy("sid-1") in (True, None)  # None: the store cannot tell
        assert self.store.load("sid-1") is None
        assert self.store.destroy("sid-1") in (False, None)  # a missing record is not an error
        assert self.store.destroy("never-was") in (False, None)
        self.store.refresh("sid-1", None, None)
        assert self.store.load("sid-1") is None

    # -- creation times --------------------------------------------------------------------------

    def test_a_new_record_is_created_now(self) -> None:
        self.require_creation_times()
        self.store.write("sid-1", Record(text(a=1), None))
        assert self.store.load("sid-1").created_ms == self.now_ms()

    def test_the_creation_time_is_kept_across_writes_and_refreshes(self) -> None:
        self.require_creation_times()
        self.store.write("sid-1", Record(text(a=1), None))
        created = self.store.load("sid-1").created_ms
        self.clock.advance(60)
        self.store.write("sid-1", Record(text(a=2), None))
        self.store.refresh("sid-1", None, self.store.load("sid-1").version)
        assert self.store.load("sid-1").created_ms == created

    def test_a_given_creation_time_replaces_the_stored_one(self) -> None:
        self.require_creation_times()
        created = self.now_ms() - 3_600_000  # a regenerated session keeps its own
        self.store.write("sid-1", Record(text(a=1), None, created))
        assert self.store.load("sid-1").created_ms == created
        self.store.write("sid-1", Record(text(a=2), None, created - 1))
        assert self.store.load("sid-1").created_ms == created - 1

    def test_a_record_created_over_an_expired_one_is_created_now(self) -> None:
        self.require_creation_times()
        self.store.write("sid-1", Record(text(a=1), self.now_ms() + 1_000))
        self.clock.advance(2)
        self.create("sid-1", Record(text(a=2), None))
        assert self.store.load("sid-1").created_ms == self.now_ms()  # (absolute_timeout counts from here)

    # -- express-session's get/set/touch, over session dicts (the base class's) -------------------

    def test_express_get_set_touch(self) -> None:
        from .serialization import format_iso

        def session(**data: Any) -> dict[str, Any]:
            cookie = {**COOKIE, "originalMaxAge": 10_000, "expires": format_iso(self.now_ms() + 10_000)}
            return {"cookie": cookie, **data}

        written = session(name="ñandú", cart=[{"sku": "a", "qty": 2}, None, True, 1.5])
        self.store.set("sid-1", written)
        assert self.store.get("sid-1") == written and self.store.get("missing") is None
        self.clock.advance(8)
        self.store.touch("sid-1", session(name="not written"))
        self.store.touch("ghost", session())
        self.clock.advance(8)  # 16 s after set, 8 s after touch
        assert self.store.get("sid-1") == written and self.store.get("ghost") is None
        self.clock.advance(3)
        assert self.store.get("sid-1") is None

    # -- compare-and-set: save(sid, record, version) ------------------------------------------------

    def test_save_without_a_version_creates_only_if_there_is_no_live_record(self) -> None:
        self.require(COMPARE_AND_SET)
        assert self.store.save("sid-1", Record(text(n=1), None), None) is not None
        assert self.store.save("sid-1", Record(text(n=2), None), None) is None
        assert self.store.load("sid-1").text == text(n=1)

    def test_save_without_a_version_may_reuse_an_expired_record(self) -> None:
        self.require(COMPARE_AND_SET)
        self.store.write("sid-1", Record(text(n=1), self.now_ms() + 1_000))
        self.clock.advance(2)
        assert self.store.save("sid-1", Record(text(n=2), None), None) is not None
        assert self.store.load("sid-1").text == text(n=2)

    def test_save_with_the_loaded_version_succeeds_and_returns_a_new_one(self) -> None:
        self.require(COMPARE_AND_SET)
        self.store.write("sid-1", Record(text(n=1), None))
        loaded = self.store.load("sid-1")
        version = self.store.save("sid-1", Record(text(n=2), None), loaded.version)
        assert version is not None and self.store.load("sid-1").text == text(n=2)
        assert self.store.save("sid-1", Record(text(n=3), None), version) is not None  # the new one is current
        assert self.store.save("sid-1", Record(text(n=4), None), loaded.version) is None  # the first is stale
        assert self.store.load("sid-1").text == text(n=3)

    def test_save_with_a_stale_version_writes_nothing(self) -> None:
        self.require(COMPARE_AND_SET)
        self.store.write("sid-1", Record(text(n=1), None))
        stale = self.store.load("sid-1").version
        self.store.write("sid-1", Record(text(n=2), None))  # another request wrote meanwhile
        assert self.store.save("sid-1", Record(text(n=3), None), stale) is None
        assert self.store.load("sid-1").text == text(n=2)

    def test_save_never_recreates_a_destroyed_or_expired_record(self) -> None:
        self.require(COMPARE_AND_SET)
        self.store.write("sid-1", Record(text(n=1), None))
        version = self.store.load("sid-1").version
        self.store.destroy("sid-1")  # a logout, while another request had it loaded
        assert self.store.save("sid-1", Record(text(n=2), None), version) is None
        assert self.store.load("sid-1") is None
        self.store.write("sid-2", Record(text(n=1), self.now_ms() + 1_000))
        version = self.store.load("sid-2").version
        self.clock.advance(2)
        assert self.store.save("sid-2", Record(text(n=2), None), version) is None
        assert self.store.load("sid-2") is None

    def test_a_refresh_leaves_the_loaded_version_current(self) -> None:
        self.require(COMPARE_AND_SET)
        self.store.write("sid-1", Record(text(n=1), None))
        version = self.store.load("sid-1").version
        self.clock.advance(60)
        self.store.refresh("sid-1", None, version)  # an unmodified request, racing a modified one
        assert self.store.save("sid-1", Record(text(n=2), None), version) is not None

    def test_save_keeps_the_creation_time_unless_given_one(self) -> None:
        self.require(COMPARE_AND_SET)
        self.require_creation_times()
        created = self.now_ms() - 3_600_000
        version = self.store.save("sid-1", Record(text(n=1), None, created), None)
        assert self.store.load("sid-1").created_ms == created
        self.clock.advance(60)
        version = self.store.save("sid-1", Record(text(n=2), None), version)
        assert self.store.load("sid-1").created_ms == created
        self.store.save("sid-1", Record(text(n=3), None, created - 1), version)
        assert self.store.load("sid-1").created_ms == created - 1

    def test_of_racing_saves_of_one_version_exactly_one_wins(self) -> None:
        self.require(COMPARE_AND_SET)
        self.store.write("sid-1", Record(text(n=0), None))
        version = self.store.load("sid-1").version
        start = threading.Barrier(self.race_threads, timeout=60)
        won: list[int] = []

        def attempt(i: int) -> None:
            start.wait()
            if self.store.save("sid-1", Record(text(n=i + 1), None), version) is not None:
                won.append(i)

        run_threads(attempt, self.race_threads)
        assert len(won) == 1, f"{len(won)} of {self.race_threads} saves of the same version succeeded"
        assert count_of(self.store.load("sid-1")) == won[0] + 1

    def test_racing_retry_loops_lose_no_update(self) -> None:
        self.require(COMPARE_AND_SET)
        self.store.write("counter", Record(text(n=0), None))
        start = threading.Barrier(self.race_threads, timeout=60)

        def increment(_: int) -> None:  # what concurrency="merge" does: load, change, save; again on a conflict
            start.wait()
            for _ in range(self.race_increments):
                for _attempt in range(10_000):
                    loaded = self.store.load("counter")
                    saved = self.store.save("counter", Record(text(n=count_of(loaded) + 1), None), loaded.version)
                    if saved is not None:
                        break
                else:
                    raise AssertionError("10000 conflicts in a row: save() never succeeds")

        run_threads(increment, self.race_threads)
        assert count_of(self.store.load("counter")) == self.race_threads * self.race_increments

    # -- user index: iter_bound, and the accounts kept beside records --------------------------------

    def alice(self, authenticated_ms: int | None = None, agent: str | None = "Firefox") -> Account:
        now = self.now_ms()
        return Account("alice", now, now if authenticated_ms is None else authenticated_ms, agent)

    def bound_keys(self, user_id: str | None = "alice") -> list[str]:
        return sorted(bound.key for bound in self.store.iter_bound(user_id))

    def test_a_new_record_has_exactly_the_account_given(self) -> None:
        self.require(USER_INDEX)
        self.store.write("s1", Record(text(n=1), None, None, self.alice()))
        self.store.write("s2", Record(text(n=1), None))
        assert self.store.load("s1").account == self.alice() and self.store.load("s1").text == text(n=1)
        assert self.store.load("s2").account is None
        if supports(self.store, COMPARE_AND_SET):
            self.store.save("s3", Record(text(n=1), None, None, self.alice()), None)
            self.store.save("s4", Record(text(n=1), None), None)
            assert self.store.load("s3").account == self.alice() and self.store.load("s4").account is None

    def test_iter_bound_lists_a_users_live_records(self) -> None:
        self.require(USER_INDEX)
        self.store.write("a1", Record(text(n=1), None, None, self.alice()))
        self.store.write("a2", Record(text(n=2), self.now_ms() + 5_000, None, self.alice(agent=None)))
        self.store.write("b1", Record(text(n=3), None, None, Account("bob", None, None, None)))
        self.store.write("anon", Record(text(n=4), None))
        found = {bound.key: bound for bound in self.store.iter_bound("alice")}
        assert sorted(found) == sorted(self.store.key(sid) for sid in ("a1", "a2"))
        a1, a2 = found[self.store.key("a1")], found[self.store.key("a2")]
        assert a2.expires_ms == self.now_ms() + 5_000 and a2.text == text(n=2) and a2.account == self.alice(agent=None)
        assert a1.expires_ms == self.now_ms() + self.ttl_ms() and a1.account == self.alice()
        assert self.bound_keys(None) == sorted(self.store.key(sid) for sid in ("a1", "a2", "b1"))
        assert self.bound_keys("carol") == []
        self.clock.advance(6)
        assert self.bound_keys() == [self.store.key("a1")]  # a2 expired

    def test_an_accounts_seal_is_kept_as_given(self) -> None:
        """``Account.seal`` (AtRestStore's MAC of the binding, with crypto) is opaque text kept with
        the account: without it, a store wrapped with crypto loads every session logged out."""
        self.require(USER_INDEX)
        if getattr(self.store, "crypto", None) is not None:  # (an AtRestStore with crypto seals and checks it itself)
            return
        sealed = self.alice()._replace(seal="s" * 43)
        self.store.write("s1", Record(text(n=1), None, None, sealed))
        assert self.store.load("s1").account == sealed
        assert [bound.account for bound in self.store.iter_bound("alice")] == [sealed]
        self.store.write("s1", Record(text(n=2), None))  # no account given: the record's own, seal included
        assert self.store.load("s1").account == sealed

    def test_a_bound_key_is_what_destroy_key_deletes(self) -> None:
        self.require(USER_INDEX)
        self.store.write("s1", Record(text(n=1), None, None, self.alice()))
        (bound,) = self.store.iter_bound("alice")
        assert bound.key == self.store.key("s1")
        assert self.store.destroy_key(bound.key) in (True, None)
        assert self.store.load("s1") is None and self.bound_keys() == []

    def test_writes_without_an_account_keep_the_records_own(self) -> None:
        self.require(USER_INDEX)
        self.store.write("s1", Record(text(n=1), None, None, self.alice()))
        self.store.write("s1", Record(text(n=2), None))
        self.store.refresh("s1", None, self.store.load("s1").version)
        if supports(self.store, COMPARE_AND_SET):
            assert self.store.save("s1", Record(text(n=3), None), self.store.load("s1").version) is not None
        assert self.store.load("s1").account == self.alice()
        assert self.bound_keys() == [self.store.key("s1")]

    def test_the_authentication_time_never_goes_back(self) -> None:
        self.require(USER_INDEX)
        self.store.write("s1", Record(text(n=1), None, None, self.alice(authenticated_ms=2_000)))
        # a request that loaded the session before a re-authentication writes its older time
        self.store.write("s1", Record(text(n=1), None, None, self.alice(authenticated_ms=1_000)))
        assert self.store.load("s1").account.authenticated_ms == 2_000
        self.store.write("s1", Record(text(n=1), None, None, self.alice(authenticated_ms=3_000, agent=None)))
        assert self.store.load("s1").account == self.alice(authenticated_ms=3_000)  # (no agent given: kept)
        if supports(self.store, COMPARE_AND_SET):
            version = self.store.load("s1").version
            version = self.store.save("s1", Record(text(n=1), None, None, self.alice(authenticated_ms=2_500)), version)
            assert self.store.load("s1").account.authenticated_ms == 3_000
            self.store.save("s1", Record(text(n=1), None, None, self.alice(authenticated_ms=4_000)), version)
            assert self.store.load("s1").account.authenticated_ms == 4_000

    def test_a_record_created_over_an_expired_one_drops_its_account(self) -> None:
        self.require(USER_INDEX)
        self.store.write("s1", Record(text(n=1), self.now_ms() + 1_000, None, self.alice()))
        self.clock.advance(2)
        self.create("s1", Record(text(n=2), None))  # the same id, created anew
        assert self.store.load("s1").account is None and self.bound_keys() == []

    def test_destroy_and_clear_unbind(self) -> None:
        self.require(USER_INDEX)
        self.store.write("s1", Record(text(n=1), None, None, self.alice()))
        self.store.write("s2", Record(text(n=1), None, None, self.alice()))
        self.store.destroy("s1")
        assert self.bound_keys() == [self.store.key("s2")]
        if supports(self.store, MAINTENANCE, "clear"):
            self.store.clear()
            assert self.bound_keys() == [] and self.bound_keys(None) == []

    # -- tombstones: bury(key, until_ms), buried(key) -------------------------------------------------

    def test_a_buried_key_reads_as_buried_until_its_window_ends(self) -> None:
        self.require(TOMBSTONES)
        store, key = self.store, self.store.key
        store.write("s1", Record(text(n=1), None, None, self.alice() if supports(store, USER_INDEX) else None))
        until = self.now_ms() + 60_000
        assert store.bury(key("s1"), until) in (True, None) and store.bury(key("gone"), until) in (False, None)
        assert store.load("s1") is None  # the record is gone
        assert store.buried(key("s1")) and store.buried(key("gone")) and not store.buried(key("other"))
        if supports(store, USER_INDEX):
            assert self.bound_keys(None) == []
        if supports(store, MAINTENANCE, "length"):
            assert store.length() == 0
        self.clock.advance(59)
        assert store.buried(key("s1"))
        self.clock.advance(2)
        assert not store.buried(key("s1")) and not store.buried(key("gone"))
        if supports(store, MAINTENANCE, "clear"):
            store.bury(key("s2"), self.now_ms() + 60_000)
            store.clear()
            assert not store.buried(key("s2"))

    # -- maintenance: purge, count_expired, length, all, clear ----------------------------------------

    def test_all_length_and_clear_see_only_live_records(self) -> None:
        self.require(MAINTENANCE, "all", "length", "clear")
        self.store.write("short", Record(text(n=0), self.now_ms() + 1_000))
        self.store.write("long-1", Record(text(n=1), self.now_ms() + 100_000))
        self.store.write("long-2", Record(text(n=2), None))
        self.clock.advance(2)
        everything = self.store.all()
        assert sorted(everything) == ["long-1", "long-2"] and everything["long-2"] == json.loads(text(n=2))
        assert self.store.length() == 2
        self.store.clear()
        assert self.store.length() == 0 and self.store.all() == {} and self.store.load("long-1") is None

    def test_purge_deletes_expired_records_in_batches(self) -> None:
        self.require(MAINTENANCE, "purge", "count_expired")
        bound = self.alice() if supports(self.store, USER_INDEX) else None
        # (each its own expiry: a store may delete records expiring with the last one too; a minute
        # away, so that a server expiring records by its own clock, as Redis does, never deletes one
        # of them before count_expired() sees it, however slowly the machine runs the test)
        for n in range(5):
            self.store.write(f"old-{n}", Record(text(n=n), self.now_ms() + 60_000 + n, None, bound if n == 0 else None))
        self.store.write("live-1", Record(text(n=5), self.now_ms() + 100_000))
        self.store.write("live-2", Record(text(n=6), None, None, bound))
        self.clock.advance(61)
        assert self.store.count_expired() == 5
        assert self.store.purge(limit=0) == 0 and self.store.count_expired() == 5
        assert self.store.purge(limit=2) == 2 and self.store.count_expired() == 3
        assert self.store.purge() == 3
        assert self.store.count_expired() == 0 and self.store.purge() == 0
        assert count_of(self.store.load("live-1")) == 5 and count_of(self.store.load("live-2")) == 6
        if supports(self.store, MAINTENANCE, "length"):
            assert self.store.length() == 2
        if bound is not None:
            assert self.bound_keys() == [self.store.key("live-2")]


def run_threads(target: Callable[[int], None], count: int) -> None:
    """Run ``target(0)``, ..., ``target(count - 1)`` in threads; raise the first error any of them raised."""
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # (re-raised below, in the test's thread)
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a store call hung for two minutes"
    if errors:
        raise errors[0]
