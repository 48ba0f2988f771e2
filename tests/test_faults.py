"""Faults on the real server: our app under waitress over HTTP, MongoStore on a FerretDB we kill, freeze, restart.

What tests/test_mongo_store.py already shows in-process (an outage answers 503 quickly; a frozen
server too) is not repeated; here: requests *in flight* when the server dies, acknowledged saves
across a SIGKILL and a restart, threads, logs, and the logout race over real HTTP.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from pymongo import MongoClient

from wsgisession import MongoStore, SessionMiddleware

from .lost_updates import Gate, LocalServer, Reply, Request, SECRET, fetch, make_app, session_id
from .mongo_helpers import SESSION_DOCUMENTS

TIMEOUT = 1.0  # the store's server_selection_timeout (also pymongo's timeoutMS for each operation)
BOUND = 3.0  # what "within the timeout" is allowed to take, scheduling slack included
SETTLE = 5.0  # longest wait for pymongo's monitor threads to notice a close


@dataclass
class Served:
    server: LocalServer
    store: MongoStore
    middleware: SessionMiddleware
    gate: Gate

    def request(self, path: str, cookie: str | None = None) -> Reply:
        return fetch(Request(self.server.port, path, cookie))


@contextmanager
def served(uri: str, threads: int = 8, **options) -> Iterator[Served]:
    store = MongoStore.from_url(uri, server_selection_timeout=TIMEOUT, auto_remove="interval")
    gate = Gate()
    middleware = SessionMiddleware(make_app(gate), secret=SECRET, store=store, **options)
    server = LocalServer(middleware, threads=threads)
    try:
        yield Served(server, store, middleware, gate)
    finally:
        gate.release.set()
        server.close()
        store.close()


def in_background(request: Request) -> tuple[threading.Thread, list[Reply | BaseException]]:
    """Send one request from a thread; the list receives its Reply (or the exception)."""
    result: list[Reply | BaseException] = []

    def run() -> None:
        try:
            result.append(fetch(request))
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def settled(predicate, timeout: float = SETTLE) -> bool:
    """Poll (bounded, 20 ms steps) until predicate() holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def new_threads(before: set[threading.Thread]) -> list[str]:
    return sorted(t.name for t in set(threading.enumerate()) - before)


def freeze(ferretdb) -> None:
    """SIGSTOP; FerretDB.pause() waits until every thread of the server is stopped."""
    ferretdb.pause()


# -- a server killed with requests in flight, then restarted ---------------------------------------


def test_kill_with_requests_in_flight_then_restart(ferretdb, caplog):
    """SIGKILL of a frozen server while two requests are saving to it and two are loading from it.

    Every request that touches the session gets a 503 within the timeout, requests that do not
    touch it get 200, nothing hangs; after ``start()`` on the same port and data the *same* app
    serves again and every session whose save was acknowledged (answered 200) before the kill
    is intact: each client's next count is exactly its last acknowledged count + 1.

    Threads: the app's threads are waitress's loop and its fixed pool, and pymongo's per-client
    monitors (one ``pymongo_server_monitor_thread`` per server, one ``pymongo_kill_cursors_thread``;
    FerretDB does not stream ``hello``, so no RTT thread): the outage and the restart must not add
    any, and closing the server and the store must leave exactly the threads there were before.
    """
    caplog.set_level("DEBUG", logger="wsgisession")
    before = set(threading.enumerate())
    acknowledged: dict[str, int] = {}  # cookie -> last count answered 200
    with served(ferretdb.uri + "/faults") as app:
        for _ in range(8):  # 4 idle clients, 2 that will hold a loaded session, 2 that will be mid-load
            reply = app.request("/count")
            assert reply.status == 200 and reply.set_cookie
            acknowledged[reply.set_cookie] = 1
        idle, holding, loading = list(acknowledged)[:4], list(acknowledged)[4:6], list(acknowledged)[6:]
        for cookie in idle:
            assert app.request("/count", cookie).body == 2
            acknowledged[cookie] = 2
        running = set(threading.enumerate())  # waitress + pymongo, warmed up

        in_flight = [in_background(Request(app.server.port, "/hold/count", cookie)) for cookie in holding]
        assert app.gate.wait_for_arrivals(2), "the held requests never loaded their session"
        freeze(ferretdb)  # accepts connections, answers nothing: loads and saves now hang...
        in_flight += [in_background(Request(app.server.port, "/enter/count", cookie)) for cookie in loading]
        assert app.gate.wait_for_arrivals(4), "the mid-load requests never started"
        app.gate.release.set()  # the held requests modify their session and save, to the frozen server
        assert app.gate.wait_for_arrivals(6), "the held requests were not released"
        ferretdb.kill()  # ...until the server dies under them (what it had buffered dies with it)
        killed = time.monotonic()

        plain = app.request("/plain")
        assert plain.status == 200 and plain.seconds < 1.0  # no session, no store, no wait
        down = app.request("/count", idle[0])
        assert down.status == 503 and down.seconds < BOUND and down.set_cookie is None
        for thread, _ in in_flight:
            thread.join(BOUND + TIMEOUT)
        assert not any(thread.is_alive() for thread, _ in in_flight), "a request hung on the dead server"
        assert time.monotonic() - killed < 2 * BOUND
        for _, (reply,) in in_flight:
            assert isinstance(reply, Reply) and reply.status == 503 and reply.set_cookie is None, reply

        ferretdb.start()  # same port, same data; the app is not restarted
        for cookie, count in acknowledged.items():
            reply = app.request("/count", cookie)
            assert (reply.status, reply.body, reply.set_cookie) == (200, count + 1, None), cookie
        assert settled(lambda: not new_threads(running)), f"threads added by the outage: {new_threads(running)}"
        sids = [session_id(cookie) for cookie in acknowledged]
    assert settled(lambda: not new_threads(before)), f"threads left after close: {new_threads(before)}"

    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert "store unavailable" in logged  # the 503s were logged...
    for secret in sids + [cookie.split("=", 1)[1] for cookie in acknowledged]:
        assert secret not in logged  # ...without a session id or a cookie value


def test_frozen_server_with_concurrent_requests_then_thaw(ferretdb):
    """SIGSTOP under concurrent requests: all of them 503 within the timeout, none hangs, plain
    requests still pass; after SIGCONT the same app goes on, with no thread added.

    A 503 after a timeout means "unknown", not "not saved": the loads that timed out wrote
    nothing, but the save that timed out reached the server's socket, and the server applies it
    when it wakes up (a killed server, above, drops it).
    """
    with served(ferretdb.uri + "/faults") as app:
        cookies = [app.request("/count").set_cookie for _ in range(5)]
        loading, saving = cookies[:4], cookies[4]
        running = set(threading.enumerate())
        held = in_background(Request(app.server.port, "/hold/count", saving))
        assert app.gate.wait_for_arrivals(1), "the held request never loaded its session"
        freeze(ferretdb)
        try:
            started = time.monotonic()
            app.gate.release.set()  # alone, so it sends its save on the idle pooled connection
            held[0].join(BOUND + TIMEOUT)
            started_loads = time.monotonic()
            frozen = [in_background(Request(app.server.port, "/count", cookie)) for cookie in loading]
            plain = app.request("/plain")
            for thread, _ in frozen:
                thread.join(BOUND + TIMEOUT)
            assert not any(thread.is_alive() for thread, _ in [*frozen, held]), "a request hung"
            assert started_loads - started < BOUND and time.monotonic() - started_loads < BOUND
        finally:
            ferretdb.resume()
        assert plain.status == 200 and plain.seconds < 1.0
        for _, (reply,) in [*frozen, held]:
            assert isinstance(reply, Reply) and reply.status == 503, reply
        for cookie in loading:  # their loads timed out: nothing of theirs was written
            assert app.request("/count", cookie).body == 2
        assert app.request("/count", saving).body == 3  # its save was answered 503, and applied on SIGCONT
        assert settled(lambda: not new_threads(running)), f"threads added by the freeze: {new_threads(running)}"


# -- the logout race, over HTTP -------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "concurrency", "resurrected"), [
    pytest.param("/hold/count", "merge", False, id="modified"),
    pytest.param("/hold/read", "merge", False, id="unmodified"),
    pytest.param("/hold/count", "overwrite", True, id="overwrite-brings-it-back"),
])
def test_logout_while_a_request_holds_the_session(mongo_uri, path, concurrency, resurrected):
    """A loads the session and waits; B logs out; A then finishes: the session stays destroyed.

    (``concurrency="overwrite"``, the plain upsert express-session does, brings it back: that is
    the race the default closes.)
    """
    database = "logout_race_" + str(time.monotonic_ns())
    client: MongoClient = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    try:
        with served(f"{mongo_uri.rstrip('/')}/{database}", concurrency=concurrency) as app:
            created = app.request("/set?user=%22ana%22")
            cookie = created.set_cookie
            sid = session_id(cookie)
            collection = client[database]["sessions"]
            assert collection.count_documents({"_id": sid}) == 1

            thread, result = in_background(Request(app.server.port, path, cookie))
            assert app.gate.wait_for_arrivals(1), "request A never loaded the session"
            logout = app.request("/destroy", cookie)
            assert logout.status == 200 and logout.set_cookie == "connect.sid="  # expired (Max-Age=0)
            assert collection.count_documents(SESSION_DOCUMENTS) == 0
            assert collection.count_documents({"_id": "tombstone:" + sid}) == 1  # buried for tombstone_window
            app.gate.release.set()
            thread.join(BOUND)
            assert not thread.is_alive()
            (a_reply,) = result
            assert isinstance(a_reply, Reply) and a_reply.status == 200

            if resurrected:
                assert collection.find_one({"_id": sid}) is not None
                return
            assert a_reply.set_cookie is None  # no cookie for a session that no longer exists
            assert collection.count_documents(SESSION_DOCUMENTS) == 0  # not recreated, under its id or any other
            assert app.middleware.stats.dropped == 1  # its save, or its touch, found the record gone
            again = app.request("/read", cookie)  # the old cookie now gets a fresh, empty session
            assert again.status == 200 and again.body == {"data": {}, "is_new": True}
            assert collection.count_documents(SESSION_DOCUMENTS) == 0  # an unmodified new session is not saved
    finally:
        client.drop_database(database)
        client.close()
