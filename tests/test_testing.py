"""The contract kit (wsgisession.testing) passes correct stores and catches broken ones.

Each store below is run through the kit in a pytest of its own (pytest's ``pytester``), on a fake
clock that starts at a fixed time: the outcome is the same on every run.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
from typing import Any

import pytest

from wsgisession import Store
from wsgisession.stores.base import Loaded, Record

pytest_plugins = ["pytester"]


class TinyStore(Store):
    """The five required methods over a dict, and no capability."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.records: dict[str, tuple[str, int, int]] = {}  # sid -> (text, expires ms, version)
        self.versions = itertools.count(1)

    def now(self) -> int:
        return int(self.clock() * 1000)

    def live(self, sid: str) -> tuple[str, int, int] | None:
        entry = self.records.get(sid)
        return entry if entry is not None and entry[1] > self.now() else None

    def expiry(self, expires_ms: int | None, now: int) -> int:
        return now + int(self.ttl * 1000) if expires_ms is None else expires_ms

    def load(self, sid: str) -> Loaded | None:
        entry = self.live(sid)
        return None if entry is None else Loaded(entry[0], entry[2], None)

    def write(self, sid: str, record: Record) -> None:
        with self.lock:
            self.records[sid] = (record.text, self.expiry(record.expires_ms, self.now()), next(self.versions))

    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> bool:
        with self.lock:
            entry = self.live(sid)
            if entry is not None:
                self.records[sid] = (entry[0], self.expiry(expires_ms, self.now()), entry[2])
            return entry is not None

    def destroy(self, sid: str) -> bool:
        with self.lock:
            return self.records.pop(sid, None) is not None

    def close(self) -> None:
        self.records.clear()


class CasStore(TinyStore):
    """TinyStore with a compare-and-set."""

    def save(self, sid: str, record: Record, version: Any) -> int | None:
        with self.lock:
            entry = self.live(sid)
            if (None if entry is None else entry[2]) != version:
                return None
            new = next(self.versions)
            self.records[sid] = (record.text, self.expiry(record.expires_ms, self.now()), new)
            return new


class ExpiredServingStore(CasStore):
    """Serves a record after it expired, until something deletes it."""

    def live(self, sid: str) -> tuple[str, int, int] | None:
        return self.records.get(sid)


class VersionBlindStore(CasStore):
    """Its compare-and-set ignores the version: it always writes."""

    def save(self, sid: str, record: Record, version: Any) -> int:
        self.write(sid, record)
        return self.records[sid][2]


class RevivingStore(CasStore):
    """Its refresh writes whatever it finds under the id, live or not: it brings records back."""

    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> bool:
        with self.lock:
            text, _, stored = self.records.get(sid, ("{}", 0, next(self.versions)))
            self.records[sid] = (text, self.expiry(expires_ms, self.now()), stored)
            return True


def run_kit(pytester: pytest.Pytester, store: str) -> dict[str, dict[str, str]]:
    """Run the kit on ``store`` (a class above); the tests by outcome: {name: skip reason or ""}."""
    pytester.makepyfile(test_kit=f"""
        from tests.test_testing import {store}
        from wsgisession.testing import StoreContract

        class TestKit(StoreContract):
            start_time = 1_700_000_000.0

            def make_store(self):
                return {store}(clock=self.clock)
    """)
    passed, skipped, failed = pytester.inline_run("-p", "no:cacheprovider").listoutcomes()
    return {outcome: {report.nodeid.rpartition("::")[2]: str(report.longrepr[2]) if outcome == "skipped" else ""
                      for report in reports}
            for outcome, reports in (("passed", passed), ("skipped", skipped), ("failed", failed))}


CAPABILITIES = {  # a test of each capability, and the words its skip names
    "test_save_with_a_stale_version_writes_nothing": "compare-and-set capability (save())",
    "test_iter_bound_lists_a_users_live_records": "user index capability (iter_bound())",
    "test_a_buried_key_reads_as_buried_until_its_window_ends": "tombstones capability (bury(), buried())",
    "test_purge_deletes_expired_records_in_batches": "maintenance capability",
    "test_a_given_creation_time_replaces_the_stored_one": "tracks_creation is False",
}


def test_a_store_with_the_five_required_methods_passes_and_skips_each_capability(pytester):
    outcomes = run_kit(pytester, "TinyStore")
    assert outcomes["failed"] == {}
    assert {"test_write_then_load_gives_back_the_exact_text", "test_an_expired_record_reads_as_missing",
            "test_refresh_of_a_missing_record_creates_nothing", "test_express_get_set_touch"} <= set(outcomes["passed"])
    for test, reason in CAPABILITIES.items():
        assert reason in outcomes["skipped"][test], (test, outcomes["skipped"].get(test))


def test_a_store_with_compare_and_set_passes_its_race(pytester):
    outcomes = run_kit(pytester, "CasStore")
    assert outcomes["failed"] == {}
    assert {"test_of_racing_saves_of_one_version_exactly_one_wins", "test_racing_retry_loops_lose_no_update",
            "test_save_never_recreates_a_destroyed_or_expired_record"} <= set(outcomes["passed"])


def test_a_store_that_serves_expired_records_fails(pytester):
    failed = run_kit(pytester, "ExpiredServingStore")["failed"]
    assert {"test_an_expired_record_reads_as_missing", "test_the_ttl_applies_when_the_record_has_no_expiry",
            "test_the_cookie_expiry_wins_over_the_ttl", "test_refresh_without_an_expiry_applies_the_ttl",
            "test_refresh_of_an_expired_record_brings_nothing_back", "test_express_get_set_touch",
            "test_save_never_recreates_a_destroyed_or_expired_record"} <= set(failed), sorted(failed)


def test_a_store_whose_compare_and_set_ignores_the_version_fails(pytester):
    failed = run_kit(pytester, "VersionBlindStore")["failed"]
    assert {"test_save_without_a_version_creates_only_if_there_is_no_live_record",
            "test_save_with_the_loaded_version_succeeds_and_returns_a_new_one",
            "test_save_with_a_stale_version_writes_nothing", "test_save_never_recreates_a_destroyed_or_expired_record",
            "test_of_racing_saves_of_one_version_exactly_one_wins"} <= set(failed), sorted(failed)


def test_a_store_whose_refresh_brings_records_back_fails(pytester):
    failed = run_kit(pytester, "RevivingStore")["failed"]
    assert {"test_refresh_of_a_missing_record_creates_nothing", "test_refresh_of_an_expired_record_brings_nothing_back",
            "test_destroy_says_whether_there_was_a_record", "test_express_get_set_touch"} <= set(failed), sorted(failed)


def test_importing_wsgisession_does_not_import_pytest():
    code = "import sys, wsgisession; print('pytest' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
