"""wsgisession.asgi: the same sessions for Starlette and FastAPI apps, over the one lifecycle, the store's
I/O never on the event loop."""

from __future__ import annotations

import asyncio
import gc
import json
import threading

import httpx
import pytest
from fastapi import FastAPI, Request  # (module level: the endpoints' string annotations resolve here)
from starlette.background import BackgroundTask

from wsgisession import ConfigurationError, MemoryStore, SessionError, StoreUnavailable
from wsgisession.asgi import SessionMiddleware, get_middleware
from wsgisession.cookies import encode_uri_component
from wsgisession.signing import sign

from .asgi_app import SECRET, TestClient, asgi_app, asgi_client, numbered_ids, wsgi_client
from .helpers import FakeClock, SpyStore


class AccountsSpy(SpyStore):
    """SpyStore with the user index and tombstones forwarded (and recorded) too."""

    def iter_bound(self, user_id=None):
        self._record("iter_bound", user_id)
        return self.inner.iter_bound(user_id)

    def bury(self, key, until_ms):
        self._record("bury", key)
        return self.inner.bury(key, until_ms)

    def buried(self, key):
        self._record("buried", key)
        return self.inner.buried(key)


def cookie_for(sid: str) -> str:
    return "connect.sid=" + encode_uri_component("s:" + sign(sid, SECRET))


def sid_of(response) -> str | None:
    """The id a response's Set-Cookie carries (verified), or None."""
    from wsgisession.signing import unsign

    for header in response.headers.get_list("set-cookie"):
        value = header.split(";", 1)[0].split("=", 1)[1]
        if value.startswith("s%3A"):
            return unsign(value[4:].replace("%2B", "+").replace("%2F", "/"), SECRET)
    return None


# -- the counter, and what a request costs --------------------------------------------------------


def test_the_counter():
    client, _ = asgi_client(MemoryStore())
    first = client.get("/count")
    assert first.json() == 1 and sid_of(first)
    again = [client.get("/count") for _ in range(2)]
    assert [r.json() for r in again] == [2, 3]
    assert all(r.headers.get("set-cookie") is None for r in again)  # the browser got its cookie once


def test_a_request_without_a_verified_id_costs_no_store_io():
    store = SpyStore(MemoryStore())
    forged = {"Cookie": "connect.sid=" + encode_uri_component("s:" + sign("someone", "not our secret"))}
    for path, headers in [("/plain", {}), ("/read", {}), ("/id", {}), ("/read", forged), ("/plain", forged),
                          ("/stream-unused", forged)]:
        client, _ = asgi_client(store)
        assert client.get(path, headers=headers).status_code == 200
    assert store.calls == []


def test_a_verified_id_is_loaded_before_the_app_and_touched_only_if_used():
    client, spy = asgi_client(MemoryStore())
    sid = sid_of(client.get("/count"))
    spy.calls.clear()
    client.get("/plain")  # loaded before the app (request.session is synchronous), but never used: no touch
    assert spy.calls == [("load", sid)]
    spy.calls.clear()
    assert client.get("/read").json() == {"n": 1}
    assert spy.calls == [("load", sid), ("refresh", sid)]
    spy.calls.clear()
    assert client.get("/count").json() == 2
    assert spy.calls == [("load", sid), ("save", sid)]


def test_skip_paths_get_no_session_and_no_store_io():
    client, spy = asgi_client(MemoryStore(), skip_paths=["/plain", "/static/"])
    sid = sid_of(client.get("/count"))
    spy.calls.clear()
    assert client.get("/plain").status_code == 200
    assert spy.calls == []
    guarded, _ = asgi_client(MemoryStore(), skip_paths=["/count"])
    with pytest.raises(SessionError, match="skip_paths"):
        guarded.get("/count")
    assert sid


@pytest.mark.parametrize("paths", ["/static", ["static"], [None], "x", 3])
def test_bad_skip_paths_are_a_configuration_error(paths):
    with pytest.raises(ConfigurationError, match="skip_paths must be a list of path prefixes"):
        SessionMiddleware(asgi_app(store=MemoryStore()), secret=SECRET, store=MemoryStore(), skip_paths=paths)


def test_skip_paths_match_whole_segments():
    client, spy = asgi_client(MemoryStore(), skip_paths=["/sta"])
    sid = sid_of(client.get("/count"))
    spy.calls.clear()
    client.get("/sta/x")
    assert spy.calls == []
    client.get("/status")  # not under /sta: its session is loaded (the route is the /{name} catch-all)
    assert spy.calls == [("load", sid)]


def test_the_cookie_path_scopes_the_middleware():
    from wsgisession import CookieOptions

    client, spy = asgi_client(MemoryStore(), cookie=CookieOptions(path="/count"))
    assert client.get("/count").json() == 1
    assert client.get("/count").json() == 2
    with pytest.raises(AssertionError, match="SessionMiddleware must be installed"):  # Starlette's own message
        client.get("/read")


# -- the verbs, without await, as under WSGI --------------------------------------------------------

SCENARIO = ["count", "count", "read", "set?x=1", "regenerate", "count", "id", "destroy", "count", "destroy?after=1",
            "read", "remember", "count", "save-then-change", "reload", "login?user=alice", "count", "reauthenticated",
            "id", "logout", "read", "count", "login?user=bob", "logout-login?user=carol", "read", "login-logout",
            "count", "login?user=dave", "count"]


def _trace(get, spy, headers_of, body_of):
    """Each step of SCENARIO as the client saw it, with the store operations it cost."""
    steps = []
    for path in SCENARIO:
        spy.calls.clear()
        response = get("/" + path)
        steps.append((path, body_of(response), headers_of(response), list(spy.calls)))
    return steps


@pytest.mark.parametrize("options", [{}, {"max_sessions_per_user": 1}, {"rolling": True, "save_uninitialized": True},
                                     {"concurrency": "overwrite"}, {"resave": True, "tombstone_window": 0}],
                         ids=["default", "limit", "rolling", "overwrite", "resave"])
def test_the_verbs_do_what_they_do_under_wsgi(options):
    """The same requests through both middlewares: the same bodies, the same headers, the same store
    operations in the same order, the same records at the end (regenerate, destroy, login, logout,
    reauthenticated called without await; their store work done as the response starts)."""
    clocks = FakeClock(), FakeClock()
    asgi, asgi_spy = asgi_client(AccountsSpy(MemoryStore(clock=clocks[0])), genid=numbered_ids(), clock=clocks[0],
                                 **options)
    wsgi, wsgi_spy = wsgi_client(AccountsSpy(MemoryStore(clock=clocks[1])), genid=numbered_ids(), clock=clocks[1],
                                 **options)

    def asgi_headers(response):
        return [(name, response.headers.get(name)) for name in ("set-cookie", "vary", "cache-control")]

    def wsgi_headers(response):
        return [(name, response.headers.get(name)) for name in ("set-cookie", "vary", "cache-control")]

    asgi_steps = _trace(asgi.get, asgi_spy, asgi_headers, lambda r: r.json())
    wsgi_steps = _trace(wsgi.get, wsgi_spy, wsgi_headers, lambda r: r.json)
    for asgi_step, wsgi_step in zip(asgi_steps, wsgi_steps, strict=True):
        if asgi_step[0] == "login-logout" and "max_sessions_per_user" in options:
            # WSGI saves the login (the limit) before the logout ends it; ASGI, whose login's store work
            # waits for the response, finds it logged out by then and skips the save: the same end.
            assert asgi_step[:3] == wsgi_step[:3]
            assert [call for call in wsgi_step[3] if call not in asgi_step[3]] == [("save", "id-14"),
                                                                                   ("iter_bound", "bob")]
            continue
        assert asgi_step == wsgi_step
    assert asgi_spy.inner.texts() == wsgi_spy.inner.texts()
    assert any(call[0] in ("destroy", "bury") for step in asgi_steps for call in step[3])


def test_destroy_is_immediate_for_the_app_and_its_store_work_waits_for_the_response():
    client, spy = asgi_client(AccountsSpy(MemoryStore()))
    sid = sid_of(client.get("/set?x=1"))
    response = client.get("/destroy")
    assert response.json() == {}  # the app saw an empty session at once
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert spy.inner.load(sid) is None
    assert client.get("/read").json() == {}


def test_regenerate_kills_the_old_id_and_keeps_the_data():
    client, spy = asgi_client(MemoryStore())
    old = sid_of(client.get("/count"))
    response = client.get("/regenerate")
    new = sid_of(response)
    assert new not in (None, old) and response.json() == {"same_id_now": new, "n": 1}
    assert spy.inner.load(old) is None
    assert client.get("/count").json() == 2


def test_save_and_reload_are_awaited_and_the_sync_ones_say_so():
    client, _ = asgi_client(MemoryStore())
    client.get("/count")
    assert client.get("/save-then-change").json() == "saved"
    assert client.get("/reload").json() == {"n": 1, "a": 1, "b": 2}

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def sync_save(request):
        request.session.save()
        return PlainTextResponse("")

    app = Starlette(routes=[Route("/", sync_save)])
    app.add_middleware(SessionMiddleware, secret=SECRET, store=MemoryStore())
    with pytest.raises(SessionError, match="await session.asave"):
        TestClient(app).get("/")


def test_a_login_beyond_the_limit_ends_the_oldest_session_when_the_response_starts():
    app = asgi_app(store=MemoryStore(), max_sessions_per_user=1)
    first, second = TestClient(app), TestClient(app)
    first.get("/login?user=alice")
    assert first.get("/count").json() == 1
    second.get("/login?user=alice")
    assert second.get("/read").json() == {}
    assert first.get("/read").json() == {}  # evicted: a fresh session


def test_the_accounts_api_is_awaited():
    store = MemoryStore()
    app = asgi_app(store=store)
    phone, laptop = TestClient(app), TestClient(app)
    phone.get("/login?user=alice")
    laptop.get("/login?user=alice")
    laptop.get("/count")
    devices = laptop.get("/devices").json()
    assert sorted(d["current"] for d in devices) == [False, True]
    assert laptop.get("/revoke-others").json() == 1
    assert [d["current"] for d in laptop.get("/devices").json()] == [True]
    assert phone.get("/read").json() == {}  # its session ended
    [mine] = laptop.get("/devices").json()
    assert laptop.get(f"/revoke?handle={mine['handle']}").json() is True
    assert laptop.get("/read").json() == {}


def test_get_middleware_without_the_middleware_says_what_to_do():
    with pytest.raises(SessionError, match="add it to the app"):
        get_middleware({})


@pytest.mark.parametrize("unset, alive", [("keep", True), ("destroy", False)])
def test_unset(unset, alive):
    client, spy = asgi_client(MemoryStore(), unset=unset)
    sid = sid_of(client.get("/count"))
    client.get("/unset")
    assert (spy.inner.load(sid) is not None) is alive


# -- headers ----------------------------------------------------------------------------------------


def test_vary_and_cache_control():
    client, _ = asgi_client(MemoryStore())
    new = client.get("/count")
    assert new.headers["vary"] == "Cookie" and new.headers["cache-control"] == 'no-cache="Set-Cookie"'
    read = client.get("/read")
    assert read.headers["vary"] == "Cookie" and "cache-control" not in read.headers
    assert "vary" not in client.get("/plain").headers  # a finished body, the session unused
    assert client.get("/stream-unused").headers["vary"] == "Cookie"  # its body could still have read it
    assert client.get("/own-vary").headers.get_list("vary") == ["Accept-Encoding, cookie"]  # not twice
    assert "vary" not in TestClient(client.app).get("/stream-unused").headers  # no cookie: nothing to vary on


def test_changes_after_the_headers_are_saved_when_the_app_returns():
    client, spy = asgi_client(MemoryStore())
    client.get("/count")
    assert client.get("/stream").text == "one two"
    assert client.get("/background").text == "ok"
    assert client.get("/read").json() == {"n": 1, "during": True, "before": True, "background": True}


def test_a_session_first_used_in_a_streamed_body_of_a_new_visitor_is_not_stored():
    client, spy = asgi_client(MemoryStore())
    assert client.get("/stream").text == "one two"
    assert spy.inner.length() == 0 and client.cookies.get("connect.sid") is None


# -- the store fails: 503 + Retry-After ---------------------------------------------------------------


class DownStore(MemoryStore):
    """Fails the operations named in ``failing``."""

    failing: frozenset[str] = frozenset()

    def load(self, sid):
        if "load" in self.failing:
            raise StoreUnavailable("down")
        return super().load(sid)

    def save(self, sid, record, version):
        if "save" in self.failing:
            raise StoreUnavailable("down")
        return super().save(sid, record, version)


def _is_503(response):
    return (response.status_code == 503 and response.headers["retry-after"] == "5"
            and response.headers["cache-control"] == "no-store" and "set-cookie" not in response.headers)


def test_the_store_failing_in_the_app_is_a_503():
    client, _ = asgi_client(MemoryStore())
    assert _is_503(client.get("/store-down"))


def test_the_store_failing_on_load_is_a_503_before_the_app_runs():
    store = DownStore()
    client, _ = asgi_client(store)
    client.get("/count")
    store.failing = frozenset({"load"})
    assert _is_503(client.get("/plain"))


def test_the_store_failing_on_save_is_a_503_instead_of_the_apps_response():
    store = DownStore()
    client, _ = asgi_client(store)
    store.failing = frozenset({"save"})
    response = client.get("/count")
    assert _is_503(response) and "store" in response.text


def test_a_websocket_whose_store_fails_is_refused_with_1013():
    from starlette.websockets import WebSocketDisconnect

    store = DownStore()
    client, _ = asgi_client(store)
    client.get("/count")
    store.failing = frozenset({"load"})
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/ws"):
            pass
    assert refused.value.code == 1013


# -- websockets ---------------------------------------------------------------------------------------


def test_a_websocket_reads_the_session_an_http_request_wrote_and_its_changes_are_saved():
    client, _ = asgi_client(MemoryStore())
    client.get("/set?x=1")
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json() == {"x": 1}
        ws.send_text("count")
        assert ws.receive_json() == 1
        # The app's close has been sent: leaving the block now cannot cancel it before the save (the
        # test client cancels the app task on exit, which raced with the last checkpoint).
        assert ws.receive()["type"] == "websocket.close"
    assert client.get("/read").json() == {"x": 1, "n": 1}


# -- FastAPI --------------------------------------------------------------------------------------------


def test_fastapi_async_def_and_def_endpoints_share_the_session():
    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret=SECRET, store=MemoryStore())

    @app.get("/async")
    async def async_count(request: Request):
        request.session["n"] = request.session.get("n", 0) + 1
        return {"n": request.session["n"], "where": "async"}

    @app.get("/sync")
    def sync_count(request: Request):  # in a worker thread: the session needs no store there
        request.session["n"] = request.session.get("n", 0) + 1
        return {"n": request.session["n"], "where": "sync"}

    @app.post("/login")
    def login(request: Request):
        request.session.login("alice")
        return {"user": request.session.user_id}

    @app.post("/logout")
    async def logout(request: Request):
        request.session.logout()
        return {"user": request.session.user_id}

    client = TestClient(app)
    assert [client.get(path).json()["n"] for path in ("/async", "/sync", "/async", "/sync")] == [1, 2, 3, 4]
    old = client.cookies["connect.sid"]
    assert client.post("/login").json() == {"user": "alice"}
    assert client.cookies["connect.sid"] != old
    assert client.get("/sync").json()["n"] == 5
    assert client.post("/logout").json() == {"user": None}
    assert client.get("/async").json()["n"] == 1


# -- the store's I/O never blocks the loop ------------------------------------------------------------


class StallingAsyncStore(MemoryStore):
    """Native coroutines for load and save; the load of ``stalled`` waits on an asyncio.Event."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled: str | None = None
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def aload(self, sid):
        if sid == self.stalled:
            self.entered.set()
            await self.gate.wait()
        await asyncio.sleep(0)
        return self.load(sid)

    async def asave(self, sid, record, version):
        await asyncio.sleep(0)
        return self.save(sid, record, version)


class BlockingStore(MemoryStore):
    """A synchronous store whose load of ``stalled`` blocks its thread; records the threads it ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled: str | None = None
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.threads: set[int] = set()

    def load(self, sid):
        self.threads.add(threading.get_ident())
        if sid == self.stalled:
            self.entered.set()
            assert self.gate.wait(60), "the test never released the stalled load"
        return super().load(sid)

    def save(self, sid, record, version):
        self.threads.add(threading.get_ident())
        return super().save(sid, record, version)

    def refresh(self, sid, expires_ms, version):
        self.threads.add(threading.get_ident())
        return super().refresh(sid, expires_ms, version)


@pytest.mark.parametrize("kind", ["async store", "sync store in a thread"])
def test_a_stalled_store_call_does_not_stop_other_requests(kind):
    async def scenario():
        store = StallingAsyncStore() if kind == "async store" else BlockingStore()
        app = asgi_app(store=store)
        transport = httpx.ASGITransport(app=app)

        def client():
            return httpx.AsyncClient(transport=transport, base_url="http://testserver")

        async with client() as stuck, client() as other:
            assert (await stuck.get("/count")).json() == 1
            assert (await other.get("/count")).json() == 1
            store.stalled = sid_of_cookie(stuck.cookies["connect.sid"])
            pending = asyncio.create_task(stuck.get("/count"))
            if kind == "async store":
                await asyncio.wait_for(store.entered.wait(), 60)
            else:
                assert await asyncio.to_thread(store.entered.wait, 60)
            # The loop keeps serving: other users' requests, their own loads and saves included.
            served = [(await other.get("/count")).json() for _ in range(3)]
            assert served == [2, 3, 4] and not pending.done()
            store.gate.set()
            assert (await asyncio.wait_for(pending, 60)).json() == 2
        return store

    loop_thread = threading.get_ident()
    store = asyncio.run(scenario())
    if isinstance(store, BlockingStore):
        assert store.threads and loop_thread not in store.threads  # every call in a worker thread


def sid_of_cookie(value: str) -> str:
    from wsgisession.signing import unsign

    sid = unsign(value.replace("%3A", ":").replace("%2B", "+").replace("%2F", "/")[2:], SECRET)
    assert sid
    return sid


def test_events_are_counted_as_under_wsgi():
    middleware = SessionMiddleware(asgi_app(store=MemoryStore()).router, secret=SECRET, store=MemoryStore())
    client = TestClient(middleware)
    client.get("/count")
    client.get("/count")
    assert middleware.events.counts["created"] == 1 and middleware.events.counts["loaded"] == 1
    assert 'event="created"' in middleware.metrics()


def test_the_options_are_checked_as_under_wsgi():
    with pytest.raises(ConfigurationError, match="store is required"):
        SessionMiddleware(asgi_app(store=MemoryStore()), secret=SECRET)
    with pytest.raises(ConfigurationError, match="scope_key"):
        SessionMiddleware(asgi_app(store=MemoryStore()), secret=SECRET, store=MemoryStore(), scope_key="")
    with pytest.raises(ConfigurationError, match="ASGI application"):
        SessionMiddleware(None, secret=SECRET, store=MemoryStore())
    assert "secret" not in repr(SessionMiddleware(asgi_app(store=MemoryStore()), secret=SECRET, store=MemoryStore()))


def test_lifespan_passes_through():
    with TestClient(asgi_app(store=MemoryStore())) as client:
        assert client.get("/count").json() == 1


def test_memory_store_runs_on_the_loop_and_a_subclass_that_may_block_in_a_thread():
    """MemoryStore's coroutine twins (nothing there waits on I/O) save two thread hops a request; a
    subclass overriding a method loses that method's twin, so its own code never runs on the loop."""
    threads = []

    class Recording(MemoryStore):
        def save(self, sid, record, version):
            threads.append(threading.get_ident())
            return super().save(sid, record, version)

    assert Recording.asave is None and Recording.aload is MemoryStore.aload

    async def scenario(store):
        transport = httpx.ASGITransport(app=asgi_app(store=store))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert [(await client.get("/count")).json() for _ in range(2)] == [1, 2]
        return threading.get_ident()

    loop_thread = asyncio.run(scenario(Recording()))
    assert len(threads) == 2 and loop_thread not in threads


def test_a_store_that_never_blocks_is_read_on_first_use_as_under_wsgi():
    """MemoryStore is called from the loop (lifecycle.never_blocks), so nothing needs reading before the
    app: a route that never uses its session costs it no read; a route that does reads it then."""
    middleware = SessionMiddleware(asgi_app(store=MemoryStore()).router, secret=SECRET, store=MemoryStore())
    client = TestClient(middleware)
    assert client.get("/count").json() == 1
    for path in ("/plain", "/stream-unused"):
        assert client.get(path).status_code == 200
    assert middleware.events.counts["loaded"] == 0
    assert client.get("/count").json() == 2
    assert middleware.events.counts["loaded"] == 1


@pytest.mark.parametrize("own_genid", [False, True], ids=["default-genid", "own-genid"])
def test_a_request_leaves_no_reference_cycle_to_the_garbage_collector(own_genid):
    """The scope holds the session; the session holds the scope only for a genid (or a cookie callable)
    of the app's, and lets go of it when the request is over (keeping a copy without itself for genid),
    so a request's objects are freed as it ends, as the bare app's are."""
    seen = []

    def genid(request):
        seen.append(request)
        return f"id-{len(seen)}"

    middleware = SessionMiddleware(asgi_app(store=MemoryStore()).router, secret=SECRET, store=MemoryStore(),
                                   genid=genid if own_genid else None)

    async def scenario():
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        def scope(cookie):
            headers = [(b"host", b"testserver")] + ([(b"cookie", cookie)] if cookie else [])
            return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                    "scheme": "http", "path": "/count", "raw_path": b"/count", "root_path": "", "query_string": b"",
                    "headers": headers, "client": ("127.0.0.1", 1), "server": ("testserver", 80)}

        await middleware(scope(None), receive, send)
        cookie = dict(sent[0]["headers"])[b"set-cookie"].split(b";")[0]
        gc.collect()
        gc.disable()
        try:
            for _ in range(5):
                await middleware(scope(cookie), receive, send)
            return gc.collect()
        finally:
            gc.enable()

    assert asyncio.run(scenario()) == 0
    if own_genid:
        assert seen == [seen[0]] and seen[0]["session"].id == "id-1"  # genid was handed the request's own scope


async def late_app(scope, receive, send):
    """A raw ASGI app that starts its response before it uses the session (the start is held)."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    scope["session"]["late"] = True  # after the start, before the body: still gets its cookie
    await send({"type": "http.response.body", "body": b"late"})


def test_a_session_used_between_the_start_and_the_body_gets_its_cookie():
    store = MemoryStore()
    client = TestClient(SessionMiddleware(late_app, secret=SECRET, store=store))
    response = client.get("/")
    sid = sid_of(response)
    assert response.text == "late" and sid and store.get(sid)["late"] is True
    assert response.headers["vary"] == "Cookie"


def test_a_store_failure_on_the_held_start_is_a_503():
    store = DownStore()
    store.failing = frozenset({"save"})
    assert _is_503(TestClient(SessionMiddleware(late_app, secret=SECRET, store=store)).get("/"))


def test_a_websocket_that_uses_a_new_session_before_accepting_sends_its_cookie_on_the_handshake():
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    async def ws(websocket):
        websocket.session["greeted"] = True
        await websocket.accept()
        await websocket.close()

    store = MemoryStore()
    app = Starlette(routes=[WebSocketRoute("/ws", ws)])
    app.add_middleware(SessionMiddleware, secret=SECRET, store=store)
    with TestClient(app).websocket_connect("/ws") as connection:
        headers = dict(connection.extra_headers or [])
    assert headers[b"set-cookie"].startswith(b"connect.sid=s%3A") and b"vary" not in headers
    assert len(store.texts()) == 1


def test_the_verbs_store_work_is_done_when_the_app_raises():
    """A logout whose response never comes (the app raised after it) still ends the session, as under WSGI."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    async def crash(request):
        request.session.logout()
        raise RuntimeError("after the logout")

    store = MemoryStore()
    app = Starlette(routes=[Route("/crash", crash)])
    app.add_middleware(SessionMiddleware, secret=SECRET, store=store)
    client, _ = asgi_client(store)
    sid = sid_of(client.get("/count"))
    with pytest.raises(RuntimeError, match="after the logout"):
        TestClient(app).get("/crash", headers={"Cookie": cookie_for(sid)})
    assert store.load(sid) is None


@pytest.mark.parametrize("where", ["inside", "outside"])
def test_with_other_middleware_around_or_inside(where):
    """Starlette's GZipMiddleware and a BaseHTTPMiddleware, inside or outside the session middleware."""
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.middleware.gzip import GZipMiddleware
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def big(request):
        request.session["n"] = request.session.get("n", 0) + 1
        return PlainTextResponse(str(request.session["n"]) * 2000)

    async def stamp(request, call_next):
        response = await call_next(request)
        response.headers["x-stamp"] = "1"
        return response

    others = [Middleware(GZipMiddleware, minimum_size=100), Middleware(BaseHTTPMiddleware, dispatch=stamp)]
    ours = Middleware(SessionMiddleware, secret=SECRET, store=MemoryStore())
    stack = [ours, *others] if where == "inside" else [*others, ours]  # (the first is the outermost)
    client = TestClient(Starlette(routes=[Route("/", big)], middleware=stack))
    first = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert first.text == "1" * 2000 and first.headers["content-encoding"] == "gzip"
    assert first.headers["x-stamp"] == "1" and sid_of(first)
    assert "Cookie" in first.headers["vary"]
    assert client.get("/").text == "2" * 2000


def test_an_admin_route_in_skip_paths_can_still_revoke():
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def revoke_all(request):  # no session here, but the accounts API
        return JSONResponse(await get_middleware(request).revoke_all(request.query_params["user"]))

    store = MemoryStore()
    app = asgi_app(store=store, skip_paths=["/admin"])
    app.router.routes.insert(0, Route("/admin/revoke-all", revoke_all))
    user = TestClient(app)
    user.get("/login?user=alice")
    user.get("/count")
    admin = TestClient(app)
    assert admin.get("/admin/revoke-all?user=alice").json() == 1
    assert user.get("/read").json() == {}


def test_a_streamed_body_varies_on_cookie_only_if_our_cookie_came():
    client, _ = asgi_client(MemoryStore())
    other = {"Cookie": "theme=dark"}
    assert "vary" not in client.get("/stream-unused", headers=other).headers


def test_a_request_presenting_an_id_a_logout_just_ended_stores_nothing_and_sends_no_cookie():
    """The tombstone rule, as under WSGI: a request still presenting the id (a tab racing the logout)."""
    store = MemoryStore()
    client, _ = asgi_client(AccountsSpy(store))
    client.get("/login?user=alice")
    old = client.cookies["connect.sid"]
    client.get("/logout")
    stale = TestClient(client.app)
    response = stale.get("/count", headers={"Cookie": f"connect.sid={old}"})
    assert response.json() == 1 and "set-cookie" not in response.headers
    assert store.length() == 0
    assert get_middleware_events(client)["tombstoned"] == 1


def get_middleware_events(client):
    app = client.app
    node = app.middleware_stack or app.build_middleware_stack()
    while not isinstance(node, SessionMiddleware):
        node = node.app
    return node.events.counts


def test_the_absolute_timeout_holds_under_asgi():
    clock = FakeClock()
    client, spy = asgi_client(MemoryStore(clock=clock), clock=clock, absolute_timeout=3600)
    sid = sid_of(client.get("/count"))
    clock.advance(1800)
    assert client.get("/count").json() == 2
    clock.advance(1801)
    fresh = client.get("/count")
    assert fresh.json() == 1 and sid_of(fresh) != sid and spy.inner.load(sid) is None


def test_a_background_task_that_raises_keeps_what_it_changed_before():
    """As a WSGI server closes a failed body (and the session saves its late changes)."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def failing_background(request):
        session = request.session

        def later():
            session["seen"] = True
            raise RuntimeError("the task failed after its change")

        return PlainTextResponse("ok", background=BackgroundTask(later))

    store = MemoryStore()
    app = Starlette(routes=[Route("/bg", failing_background)])
    app.add_middleware(SessionMiddleware, secret=SECRET, store=store)
    client, _ = asgi_client(store)
    sid = sid_of(client.get("/count"))
    with pytest.raises(RuntimeError, match="after its change"):
        TestClient(app).get("/bg", headers={"Cookie": cookie_for(sid)})
    assert store.get(sid)["seen"] is True


# -- the WSGI middleware's newer options, under ASGI too ---------------------------------------------


def test_a_cookie_callable_decides_each_requests_cookie_and_path():
    """express-session 1.19's ``cookie: function (req)``: called with the scope; its path scopes the session."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from wsgisession import CookieOptions

    async def count(request):
        request.session["n"] = request.session.get("n", 0) + 1
        return PlainTextResponse(str(request.session["n"]))

    async def other(request):
        return PlainTextResponse(str("session" in request.scope))

    def cookie(scope):
        remember = scope["path"].startswith("/app/remember")
        return CookieOptions(path="/app", max_age=3600 if remember else None)

    app = Starlette(routes=[Route("/app/{name}", count), Route("/other", other)])
    clock = FakeClock(1_800_000_000.0)  # (a real clock makes the Max-Age 3599 when a millisecond passes)
    app.add_middleware(SessionMiddleware, secret=SECRET, store=MemoryStore(clock=clock), cookie=cookie, clock=clock)
    browser, remembering = TestClient(app), TestClient(app)
    first = browser.get("/app/plain")
    assert first.text == "1" and "Path=/app" in first.headers["set-cookie"]
    assert "Max-Age" not in first.headers["set-cookie"]  # this request's options: a browser-session cookie
    assert browser.get("/app/plain").text == "2"
    assert "Max-Age=3600" in remembering.get("/app/remember").headers["set-cookie"]
    assert browser.get("/other").text == "False"  # outside the callable's path: no session at all


def test_the_refuse_policy_is_awaited_where_the_app_can_answer_it():
    """max_sessions_policy="refuse": a login that may be refused is ``await session.alogin(user)``; the
    plain verb says so rather than fail later, when the response starts."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from wsgisession import TooManySessions

    async def login(request):
        try:
            await request.session.alogin("alice")
        except TooManySessions:
            return PlainTextResponse("refused", status_code=409)
        return PlainTextResponse("in")

    async def plain_login(request):
        try:
            request.session.login("alice")
        except SessionError as error:
            return PlainTextResponse(str(error), status_code=500)
        return PlainTextResponse("in")

    app = Starlette(routes=[Route("/login", login), Route("/plain-login", plain_login)])
    app.add_middleware(SessionMiddleware, secret=SECRET, store=MemoryStore(), max_sessions_per_user=1,
                       max_sessions_policy="refuse")
    assert TestClient(app).get("/login").text == "in"
    second = TestClient(app).get("/login")  # another browser: alice already has her one session
    assert (second.status_code, second.text) == (409, "refused")
    assert "alogin" in TestClient(app).get("/plain-login").text
