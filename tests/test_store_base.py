"""The store port (wsgisession/stores/base.py): five required methods, capabilities a store declares
by implementing them, and what the middleware says when a feature needs one a store lacks."""

from __future__ import annotations

import math

import pytest
from pymongo import MongoClient

from wsgisession import ConfigurationError, MemoryStore, MongoStore, SessionMiddleware, SQLiteStore, Store
from wsgisession.stores.base import CAPABILITIES, COMPARE_AND_SET, MAINTENANCE, TOMBSTONES, USER_INDEX, Record

from .helpers import DictStore

SECRET = "a test secret, long enough to be safe"
TEXT = '{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"n":1}'


def app(environ, start_response):
    start_response("200 OK", [])
    return [b""]


def test_every_store_of_ours_has_every_capability(store):
    assert [store.supports(c) for c in CAPABILITIES] == [True] * 4
    assert all(store.supports(name) for name in ("save", "iter_bound", "bury", "purge", "all", "texts", "clear"))
    assert (store.compares_and_sets, store.keeps_accounts, store.keeps_tombstones) == (True, True, True)


def test_a_store_declares_a_capability_by_implementing_it():
    store = DictStore()
    assert [store.supports(c) for c in (COMPARE_AND_SET, USER_INDEX, TOMBSTONES, MAINTENANCE)] == [
        True, False, False, False]

    class NoAccounts(MemoryStore):
        iter_bound = Store.iter_bound  # not implemented

    assert not NoAccounts().supports(USER_INDEX) and NoAccounts().supports(TOMBSTONES)

    class Purging(DictStore):  # each maintenance method is optional on its own
        def purge(self, limit=None):
            return 0

    assert Purging().supports(MAINTENANCE) and Purging().supports("purge") and not Purging().supports("all")
    with pytest.raises(ValueError, match="unknown store capability 'user-index'"):
        store.supports("user-index")


@pytest.mark.parametrize("method, args, capability", [
    ("iter_bound", ("alice",), USER_INDEX), ("bury", ("k", 0), TOMBSTONES), ("buried", ("k",), TOMBSTONES),
    ("purge", (), MAINTENANCE), ("count_expired", (), MAINTENANCE), ("length", (), MAINTENANCE),
    ("all", (), MAINTENANCE), ("clear", (), MAINTENANCE),
])
def test_a_missing_capability_names_itself(method, args, capability):
    with pytest.raises(NotImplementedError, match=f"DictStore has no {method}\\(\\) \\(the {capability!r} "):
        list(getattr(DictStore(), method)(*args) or ())


def test_the_middleware_names_the_capability_a_feature_needs():
    class NoSave(DictStore):
        save = Store.save  # not implemented

    with pytest.raises(ConfigurationError, match="'compare-and-set' capability.*no save\\(\\).*'overwrite'"):
        SessionMiddleware(app, secret=SECRET, store=NoSave())
    SessionMiddleware(app, secret=SECRET, store=NoSave(), concurrency="overwrite")  # fine without it
    with pytest.raises(ConfigurationError, match="max_sessions_per_user needs .*'user index' capability.*iter_bound"):
        SessionMiddleware(app, secret=SECRET, store=DictStore(), max_sessions_per_user=3)
    with pytest.raises(ConfigurationError, match="absolute_timeout .*tracks_creation"):
        SessionMiddleware(app, secret=SECRET, store=DictStore(), absolute_timeout=3600)


def test_loaded_reports_the_stored_expiry(store, clock):
    now = int(clock() * 1000)
    store.write("given", Record(TEXT, now + 5_000))
    store.write("browser-session", Record(TEXT, None))
    assert store.load("given").expires_ms == now + 5_000
    assert store.load("browser-session").expires_ms == now + int(store.ttl * 1000)
    assert store.refresh("given", now + 9_000, store.load("given").version) is not False
    assert store.load("given").expires_ms == now + 9_000


def make(kind: str, **options):
    if kind == "memory":
        return MemoryStore(**options)
    if kind == "sqlite":
        return SQLiteStore(":memory:", **options)
    return MongoStore(MongoClient(connect=False)["db"]["sessions"], **options)  # (nothing connects)


@pytest.mark.parametrize("kind", ["memory", "sqlite", "mongo"])
def test_touch_after_is_taken_by_every_store(kind):
    assert make(kind).touch_after == 0
    assert make(kind, touch_after=3600).touch_after == 3600
    assert make(kind, touch_after=60, transform_id=str.upper).touch_after == 60  # through AtRestStore
    for bad in (-1, "60", True, None, math.nan, math.inf):
        with pytest.raises(ConfigurationError, match="touch_after must be a number of seconds"):
            make(kind, touch_after=bad)
