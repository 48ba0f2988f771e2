"""Concurrent requests on one session: merged key by key, never lost, never resurrected (in-process)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wsgisession import ConfigurationError, CookieOptions, MemoryStore, SessionMiddleware
from wsgisession.merge import merge

from .helpers import FakeClock, open_session
from .webapp import app

SID = "shared-session-id"


@pytest.fixture
def stored(store, clock):
    """The `store` (every kind) holding one session {"cart": ["a"], "keep": 1} under SID."""
    store.set(SID, {"cookie": {"originalMaxAge": None, "expires": None}, "cart": ["a"], "keep": 1})
    return store


class Request:
    """A request's session on SID (as if its cookie verified), on the core alone."""

    def __init__(self, store, clock, merge_on=True):
        self.session, self.core = open_session(store, clock, SID, genid=lambda r: "fresh",
                                               concurrency="merge" if merge_on else "overwrite")

    def __getitem__(self, key):
        return self.session[key]

    def __setitem__(self, key, value):
        self.session[key] = value

    def __delitem__(self, key):
        del self.session[key]

    def __getattr__(self, name):
        return getattr(self.session, name)

    def commit(self):
        """End of the request: its headers (save or touch happen here)."""
        return self.core.close(self.session)

    def finish(self):
        self.core.finish(self.session)


def request(store, clock, merge_on=True):
    made = Request(store, clock, merge_on)
    return made, made.core.stats


def data(store):
    record = store.get(SID)
    return None if record is None else {k: v for k, v in record.items() if k != "cookie"}


def test_disjoint_changes_are_both_kept(stored, clock):
    first, _ = request(stored, clock)
    second, stats = request(stored, clock)
    first["flash"] = "saved!"
    second["cart"].append("b")
    first.commit()
    second.commit()
    assert data(stored) == {"cart": ["a", "b"], "keep": 1, "flash": "saved!"}
    assert (stats.merged, stats.same_key_conflicts) == (1, 0)


def test_same_key_goes_to_the_later_writer_and_is_counted(stored, clock):
    first, _ = request(stored, clock)
    second, stats = request(stored, clock)
    first["cart"] = ["from first"]
    second["cart"] = ["from second"]
    first.commit()
    second.commit()
    assert data(stored)["cart"] == ["from second"] and stats.same_key_conflicts == 1


def test_a_deletion_wins_over_an_untouched_stored_key(stored, clock):
    first, _ = request(stored, clock)
    second, _ = request(stored, clock)
    first["other"] = True
    del second["keep"]
    first.commit()
    second.commit()
    assert data(stored) == {"cart": ["a"], "other": True}


@pytest.mark.parametrize("modify", [True, False], ids=["modified", "unmodified"])
def test_a_session_destroyed_meanwhile_stays_destroyed(stored, clock, modify):
    slow, stats = request(stored, clock)
    slow.get("cart")  # loaded before the logout
    logout, _ = request(stored, clock)
    logout.destroy()
    logout.commit()
    if modify:
        slow["logged_in"] = True
    assert slow.commit() == [("Vary", "Cookie")]
    slow.finish()
    assert stored.get(SID) is None and stats.dropped == 1  # its save, or its touch, found the record gone


def test_overwrite_mode_loses_the_other_update(stored, clock):
    first, _ = request(stored, clock, merge_on=False)
    second, _ = request(stored, clock, merge_on=False)
    first["flash"] = "lost"
    second["cart"].append("b")
    first.commit()
    second.commit()
    assert "flash" not in data(stored)


def test_late_changes_after_a_concurrent_write_are_merged(stored, clock):
    streaming, _ = request(stored, clock)
    streaming["during_headers"] = 1
    streaming.commit()
    other, _ = request(stored, clock)
    other["other"] = 2
    other.commit()
    streaming["while_streaming"] = 3  # after its own commit: saved at close, on top of the other
    streaming.finish()
    assert data(stored) == {"cart": ["a"], "keep": 1, "during_headers": 1, "other": 2, "while_streaming": 3}


keys = st.text(alphabet="abcdefgh", min_size=1, max_size=2)
values = st.none() | st.integers() | st.text(max_size=3) | st.lists(st.integers(), max_size=2)
DELETE = object()
changes = st.dictionaries(keys, values | st.just(DELETE))


def apply(base, change):
    result = {k: v for k, v in base.items() if change.get(k, None) is not DELETE}
    result.update({k: v for k, v in change.items() if v is not DELETE})
    return result


@given(base=st.dictionaries(keys, values), change_a=changes, change_b=changes)
def test_merge_of_disjoint_changes_is_order_independent(base, change_a, change_b):
    change_b = {k: v for k, v in change_b.items() if k not in change_a}  # disjoint keys
    ours_a, ours_b = apply(base, change_a), apply(base, change_b)
    a_then_b, conflicts_1 = merge(base, ours_b, merge(base, ours_a, base)[0])
    b_then_a, conflicts_2 = merge(base, ours_a, merge(base, ours_b, base)[0])
    assert a_then_b == b_then_a == apply(apply(base, change_a), change_b)
    assert conflicts_1 == conflicts_2 == 0


# -- through the middleware -------------------------------------------------------------------------


def test_absolute_timeout_ends_an_active_session():
    from webtest import TestApp

    from .webapp import SECRET, session_id

    clock = FakeClock()
    middleware = SessionMiddleware(app, secret=SECRET, store=MemoryStore(clock=clock), clock=clock,
                                   cookie=CookieOptions(max_age=3600), absolute_timeout=8 * 3600)
    client = TestApp(middleware)
    sid = session_id(client.get("/count"))
    for expected in range(2, 11):  # active every 50 minutes for 7.5 hours: the idle timeout never fires
        clock.advance(50 * 60)
        assert client.get("/count").json == expected
    clock.advance(50 * 60)  # 8 h 20 min after creation
    response = client.get("/count")
    assert response.json == 1 and session_id(response) != sid


@pytest.mark.parametrize(("kwargs", "hint"), [
    ({"absolute_timeout": 0}, "absolute_timeout"),
    ({"absolute_timeout": "1h"}, "absolute_timeout"),
    ({"concurrency": "lock"}, "concurrency"),
])
def test_bad_concurrency_options(kwargs, hint):
    with pytest.raises(ConfigurationError, match=hint):
        SessionMiddleware(app, secret="x" * 32, store=MemoryStore(), **kwargs)


def test_a_store_without_compare_and_set_needs_overwrite():
    from wsgisession import Store

    class Minimal(Store):  # the required primitives only: no save()
        def __init__(self):
            self.inner = MemoryStore()

        def load(self, sid):
            return self.inner.load(sid)

        def write(self, sid, record):
            self.inner.write(sid, record)

        def refresh(self, sid, expires_ms, version):
            self.inner.refresh(sid, expires_ms, version)

        def destroy(self, sid):
            return self.inner.destroy(sid)

        def all(self):
            return self.inner.all()

        def length(self):
            return self.inner.length()

        def clear(self):
            self.inner.clear()

        def close(self):
            pass

    with pytest.raises(ConfigurationError, match="concurrency='overwrite'"):
        SessionMiddleware(app, secret="x" * 32, store=Minimal())
    from webtest import TestApp

    client = TestApp(SessionMiddleware(app, secret="x" * 32, store=Minimal(), concurrency="overwrite"))
    client.get("/count")
    assert client.get("/count").json == 2


def test_an_object_that_is_not_a_store_is_refused_with_a_sentence():
    class DuckTyped:
        def get(self, sid):
            return None

    with pytest.raises(ConfigurationError, match="subclass wsgisession.Store"):
        SessionMiddleware(app, secret="x" * 32, store=DuckTyped())


def test_late_changes_do_not_reapply_keys_saved_earlier(stored, clock):
    streaming, _ = request(stored, clock)
    streaming["cart"] = ["mine"]
    streaming.commit()  # saved with the headers
    other, stats = request(stored, clock)
    other["cart"] = ["theirs, later"]
    other.commit()
    streaming["late"] = True  # only this is new since streaming's own save
    streaming.finish()
    assert data(stored)["cart"] == ["theirs, later"] and data(stored)["late"] is True
