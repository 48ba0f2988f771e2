"""SQLiteStore specifics: persistence, threads and processes sharing a file, purging, failures."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading

import pytest

from wsgisession import ConfigurationError, SQLiteStore, StoreUnavailable

from .helpers import record

WRITERS, PER_WRITER = 4, 50


def test_sessions_survive_a_new_store_instance(tmp_path, clock):
    path = tmp_path / "s.sqlite3"
    first = SQLiteStore(path, clock=clock)
    first.set("sid", record(clock, cuenta=3))
    first.close()
    assert SQLiteStore(path, clock=clock).get("sid")["cuenta"] == 3


def test_constructor_does_no_io(tmp_path):
    SQLiteStore(tmp_path / "never-created.sqlite3")
    assert not (tmp_path / "never-created.sqlite3").exists()


def test_file_is_in_wal_mode(tmp_path, clock):
    store = SQLiteStore(tmp_path / "s.sqlite3", clock=clock)
    store.set("sid", record(clock))
    (mode,) = sqlite3.connect(tmp_path / "s.sqlite3").execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"


def test_threads_share_one_store(tmp_path, clock):
    store = SQLiteStore(tmp_path / "s.sqlite3", clock=clock)

    def write(n):
        for i in range(PER_WRITER):
            store.set(f"t{n}-{i}", record(clock, n=n, i=i))
            assert store.get(f"t{n}-{i}")["i"] == i

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert store.length() == WRITERS * PER_WRITER


def _process_writer(path: str, n: int) -> None:
    store = SQLiteStore(path)
    for i in range(PER_WRITER):
        store.set(f"p{n}-{i}", {"cookie": {"expires": None}, "n": n, "i": i})
    store.close()


def test_processes_share_one_file(tmp_path):
    path = str(tmp_path / "s.sqlite3")
    SQLiteStore(path).length()  # create the file and table first
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_process_writer, args=(path, n)) for n in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    store = SQLiteStore(path)
    assert store.length() == WRITERS * PER_WRITER
    assert store.get("p3-49") == {"cookie": {"expires": None}, "n": 3, "i": 49}


def test_expired_rows_are_purged(tmp_path, clock):
    path = tmp_path / "s.sqlite3"
    store = SQLiteStore(path, clock=clock)
    store.set("old", record(clock, max_age_ms=1000))
    clock.advance(3600)
    store.set("new", record(clock))  # a write past the purge interval sweeps expired rows
    rows = sqlite3.connect(path).execute("SELECT sid FROM sessions").fetchall()
    assert rows == [("new",)]


def test_a_corrupt_row_reads_as_missing(tmp_path, clock):
    path = tmp_path / "s.sqlite3"
    store = SQLiteStore(path, clock=clock)
    store.set("sid", record(clock))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE sessions SET session = 'not json{'")
    assert store.get("sid") is None and store.all() == {}


def test_an_unusable_path_is_store_unavailable(tmp_path):
    store = SQLiteStore(tmp_path / "missing-dir" / "s.sqlite3")
    with pytest.raises(StoreUnavailable) as info:
        store.get("sid")
    assert isinstance(info.value.__cause__, (sqlite3.Error, OSError))


@pytest.mark.parametrize("kwargs", [{"table": "x; DROP TABLE y"}, {"ttl": 0}, {"ttl": "1"}, {"timeout": -1}])
def test_bad_options(tmp_path, kwargs):
    with pytest.raises(ConfigurationError):
        SQLiteStore(tmp_path / "s.sqlite3", **kwargs)
