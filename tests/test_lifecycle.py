"""The request's state (lifecycle.py): its phases, and one lifecycle driven by a sync and by an async store."""

from __future__ import annotations

import asyncio
import threading

import pytest

from wsgisession import MemoryStore
from wsgisession.config import SessionConfig
from wsgisession.cookies import encode_uri_component
from wsgisession.core import SessionCore
from wsgisession.lifecycle import (COMMITTED, DROPPED, FINISHED, LIVE, SET_COOKIE, SessionState, arun,
                                   run)
from wsgisession.signing import sign

from .helpers import CORE_SECRET, FakeClock


class AsyncMemoryStore:
    """MemoryStore's operations as coroutines (``aload``...), each yielding to the loop first, and
    a record of the operations served natively (never in a worker thread)."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.served: list[str] = []

    def __getattr__(self, name: str):
        if not name.startswith("a"):
            raise AttributeError(name)
        method = getattr(self.inner, name[1:])

        async def native(*args):
            await asyncio.sleep(0)  # let other requests run in between, as real I/O would
            self.served.append(name[1:])
            return method(*args)

        return native


def core_on(store, clock, **options) -> SessionCore:
    options.setdefault("genid", iter(f"id-{n}" for n in range(1000)).__next__)
    genid = options.pop("genid")
    return SessionCore(SessionConfig(secret=CORE_SECRET, store=store, clock=clock, genid=lambda request: genid(),
                                     **options))


def header_for(sid: str) -> str:
    return "connect.sid=" + encode_uri_component("s:" + sign(sid, CORE_SECRET))


def state_of(core: SessionCore, sid: str | None) -> SessionState:
    return SessionState(core.life, None if sid is None else header_for(sid), False, None)


def test_phases_live_committed_finished():
    clock = FakeClock()
    core = core_on(MemoryStore(clock=clock), clock)
    state = state_of(core, None)
    run(state.open(), core.store)
    assert state.phase == LIVE
    state.use(True)["n"] = 1
    assert run(state.commit(), core.store) == SET_COOKIE
    assert state.phase == COMMITTED
    run(state.finish(), core.store)
    assert state.phase == FINISHED


def test_dropped_absorbs_the_commit_and_the_finish():
    clock = FakeClock()
    core = core_on(MemoryStore(clock=clock), clock)
    first = state_of(core, None)
    run(first.open(), core.store)
    first.use(True)["n"] = 1
    run(first.commit(), core.store)
    sid = first.id
    loaded = state_of(core, sid)
    run(loaded.open(), core.store)
    core.store.destroy(sid)  # another request logs out meanwhile
    loaded.use(True)["n"] = 2
    assert run(loaded.commit(), core.store) is None
    assert loaded.phase == DROPPED
    loaded.use(True)["n"] = 3
    run(loaded.finish(), core.store)
    assert loaded.phase == DROPPED and core.store.load(sid) is None


def scenario(core: SessionCore, drive):
    """One visitor's three requests (new, modified, read-only), each driven by ``drive``; what the store holds."""
    answers = []
    sid = None
    for change in (1, 2, None):
        state = state_of(core, sid)
        drive(state.open())
        if change is not None:
            state.use(True)["n"] = change
        answers.append(drive(state.commit()))
        drive(state.finish())
        sid = state.id
    return answers, core.store.get(sid)


def test_the_same_steps_drive_a_sync_and_an_async_store():
    clock = FakeClock()
    sync_core = core_on(MemoryStore(clock=clock), clock)
    sync_answers, sync_record = scenario(sync_core, lambda steps: run(steps, sync_core.store))

    async_inner = MemoryStore(clock=clock)
    async_core = core_on(async_inner, clock)
    native = AsyncMemoryStore(async_inner)
    loop = asyncio.new_event_loop()
    try:
        async_answers, async_record = scenario(async_core, lambda steps: loop.run_until_complete(arun(steps, native)))
    finally:
        loop.close()
    assert async_answers == sync_answers == [SET_COOKIE, None, None]
    assert async_record == sync_record and async_record["n"] == 2
    assert native.served == ["save", "load", "save", "load", "refresh"]


def test_concurrent_async_saves_merge():
    """Two requests of one session interleaved on one event loop: the compare-and-set and merge loop
    (written once, in lifecycle.py) keeps both keys, driven asynchronously."""
    clock = FakeClock()
    inner = MemoryStore(clock=clock)
    core = core_on(inner, clock)
    seed = state_of(core, None)
    run(seed.open(), inner)
    seed.use(True)["start"] = True
    run(seed.commit(), inner)
    native = AsyncMemoryStore(inner)

    async def request(key):
        state = state_of(core, seed.id)
        await arun(state.open(), native)
        await asyncio.sleep(0)
        state.use(True)[key] = True
        return await arun(state.commit(), native)

    async def both():
        return await asyncio.gather(request("a"), request("b"))

    asyncio.run(both())
    assert inner.get(seed.id)["a"] is True and inner.get(seed.id)["b"] is True
    assert core.events.counts["merged"] == 1


def test_a_sync_store_runs_in_a_worker_thread_under_arun():
    clock = FakeClock()
    threads = set()

    class SyncOnly(MemoryStore):  # its own load(), which may block: no coroutine twin (MemoryStore's runs on the loop)
        def load(self, sid):
            threads.add(threading.get_ident())
            return super().load(sid)

    store = SyncOnly(clock=clock)
    core = core_on(store, clock)
    state = state_of(core, "nobody")

    async def main():
        await arun(state.open(), store)
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert threads and loop_thread not in threads


@pytest.mark.parametrize("touch_after", [0, 60])
def test_touch_after_throttles_refreshes_on_any_store(touch_after):
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    store.touch_after = touch_after
    core = core_on(store, clock)
    refreshes = []
    refresh = store.refresh

    def spied(*args):
        refreshes.append(clock())
        return refresh(*args)

    store.refresh = spied  # type: ignore[method-assign]
    seed = state_of(core, None)
    run(seed.open(), store)
    seed.use(True)["n"] = 1
    run(seed.commit(), store)
    for _ in range(5):  # an unmodified request every 20 s
        clock.advance(20)
        state = state_of(core, seed.id)
        run(state.open(), store)
        run(state.commit(), store)
    assert len(refreshes) == (5 if touch_after == 0 else 1)  # at 60 s (written at 0): once in 100 s


def test_skip_touch_leaves_the_expiry_alone():
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    core = core_on(store, clock, rolling=True)
    seed = state_of(core, None)
    run(seed.open(), store)
    seed.use(True)["n"] = 1
    run(seed.commit(), store)
    clock.advance(100)
    state = state_of(core, seed.id)
    run(state.open(), store)
    state.skip_touch()
    assert run(state.commit(), store) is None  # no rolling cookie either
    clock.advance(store.ttl - 90)  # 10 s past the first request's expiry, 90 s before the second's would be
    assert store.load(seed.id) is None


@pytest.mark.parametrize("kind", ["memory", "sqlite", "memory+transform_id"])
def test_touch_after_through_the_middleware(kind, tmp_path):
    """``touch_after`` on every store: an unmodified request refreshes the expiry at most that often."""
    from webtest import TestApp

    from wsgisession import SessionMiddleware, SQLiteStore, get_session

    from .helpers import SpyStore

    clock = FakeClock()
    if kind == "sqlite":
        inner = SQLiteStore(tmp_path / "s.sqlite3", clock=clock, touch_after=600)
    else:
        inner = MemoryStore(clock=clock, touch_after=600, transform_id=(lambda sid: "k" + sid) if "+" in kind else None)
    spy = SpyStore(inner)

    def app(environ, start_response):
        session = get_session(environ)
        if environ["PATH_INFO"] == "/inc":
            session["n"] = session.get("n", 0) + 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(session.get("n")).encode()]

    client = TestApp(SessionMiddleware(app, secret=CORE_SECRET, store=spy, clock=clock))
    client.get("/inc")
    for _ in range(12):  # a read every 100 s for 20 minutes
        clock.advance(100)
        assert client.get("/read").text == "1"
    assert spy.count()["refresh"] == 2  # at 600 s and 1200 s
    spy.calls.clear()
    clock.advance(100)
    client.get("/inc")  # a change is always written
    assert spy.count()["save"] == 1


def test_the_sync_twins_do_what_the_steps_do():
    """``commit_sync`` and the others are compiled from the generators' source: one visitor's
    requests, driven by the twins and by ``run``, leave the same records and answers."""

    def through_twins(core):
        answers, sid = [], None
        for change in (1, None, 2):
            state = state_of(core, sid)
            state.open_sync(store=core.store)
            if change is not None:
                state.use(True)["n"] = change
            answers.append(state.commit_sync(store=core.store))
            state.finish_sync(store=core.store)
            sid = state.id
        return answers, core.store.get(sid)

    def through_steps(core):
        answers, sid = [], None
        for change in (1, None, 2):
            state = state_of(core, sid)
            run(state.open(), core.store)
            if change is not None:
                state.use(True)["n"] = change
            answers.append(run(state.commit(), core.store))
            run(state.finish(), core.store)
            sid = state.id
        return answers, core.store.get(sid)

    clock = FakeClock()
    assert through_twins(core_on(MemoryStore(clock=clock), clock)) == through_steps(
        core_on(MemoryStore(clock=clock), clock))


def test_a_twin_reports_errors_at_the_source_line():
    """A twin is compiled with its generator's file and line numbers: tracebacks point at lifecycle.py."""
    import traceback

    from wsgisession import lifecycle

    clock = FakeClock()
    core = core_on(MemoryStore(clock=clock), clock, genid=iter(["same", "same"]).__next__)
    first = state_of(core, None)
    first.open_sync(store=core.store)
    first.use(True)["n"] = 1
    first.commit_sync(store=core.store)
    second = state_of(core, None)
    second.open_sync(store=core.store)
    second.use(True)["n"] = 2
    with pytest.raises(Exception, match="genid returned an id that is already in use") as raised:
        second.commit_sync(store=core.store)
    frames = traceback.extract_tb(raised.tb)
    assert any(frame.filename == lifecycle.__file__ and frame.name == "persist_sync" and
               "genid returned" in (frame.line or "") for frame in frames)


def test_without_the_source_a_twin_drives_the_generator():
    from wsgisession.lifecycle import _driving

    clock = FakeClock()
    core = core_on(MemoryStore(clock=clock), clock)
    state = state_of(core, None)
    _driving(SessionState.open)(state, store=core.store)
    state.use(True)["n"] = 1
    assert _driving(SessionState.commit)(state, store=core.store) == SET_COOKIE
    assert core.store.get(state.id)["n"] == 1


def test_only_a_store_whose_class_declares_it_never_blocks_is_called_from_the_loop():
    """MemoryStore says so; a subclass that overrides a method (which may block) loses the claim,
    and a wrapper that forwards attributes (AtRestStore) never takes it from the store it wraps."""
    from wsgisession.lifecycle import never_blocks
    from wsgisession.stores.at_rest import AtRestStore

    class Slow(MemoryStore):
        def load(self, sid):
            return super().load(sid)

    class Promised(MemoryStore):  # a subclass may keep the claim by saying so itself
        never_blocks = True

        def load(self, sid):
            return super().load(sid)

    assert never_blocks(MemoryStore()) and never_blocks(Promised())
    assert not never_blocks(Slow())
    assert not never_blocks(AtRestStore(MemoryStore(), transform_id=lambda sid: "k" + sid))
