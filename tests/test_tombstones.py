"""Tombstones, on every store: a request that races a login or a logout never overwrites its cookie.

When an id ends (``login``/``regenerate``, ``logout``/``destroy``, a revocation) the store keeps a
tombstone for it for ``tombstone_window`` seconds. A request that still presents that id (it was
in flight, or sent by a second tab) is served an empty session, stores nothing and sends no
Set-Cookie, exactly as a request whose session ended while it ran; a login in it starts a new
session all the same. After the window, the id is one more unknown id.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest
from webtest import TestApp

from wsgisession import ConfigurationError, MemoryStore, SessionError, SessionMiddleware, get_session

from .helpers import set_cookie_of

SECRET = "tombstone test secret, long enough to be safe"


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    session = get_session(environ)
    query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    route = environ["PATH_INFO"]
    if route == "/login":
        session.login(query["user"])
    elif route == "/logout":
        session.logout()
    elif route == "/set":
        session[query["key"]] = query["value"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{session.user_id} {dict(session)}".encode()]


def middleware(store: Any, clock: Any, **options: Any) -> SessionMiddleware:
    return SessionMiddleware(app, secret=SECRET, store=store, clock=clock, **options)


def cookie_header(client: TestApp) -> str:
    return f"connect.sid={client.cookies['connect.sid']}"


def request_with(ware: SessionMiddleware, header: str, path: str) -> list[tuple[str, str]]:
    """A request that presents ``header`` as its Cookie; its response headers."""
    return TestApp(ware).get(path, headers={"Cookie": header}).headerlist


def in_flight(ware: SessionMiddleware, header: str) -> Any:
    """A request that has loaded its session and not yet finished (the core's API, as an adapter uses it)."""
    session = ware.core.open(header, False, None)
    session.get("anything")  # loads it
    return session


@pytest.fixture
def browser(store, clock):
    """(the middleware, a browser holding an anonymous session with data, its old Cookie header)."""
    ware = middleware(store, clock)
    client = TestApp(ware)
    client.get("/set?key=cart&value=pears")
    return ware, client, cookie_header(client)


# -- a login racing another request of the same browser ---------------------------------------


def test_a_request_after_the_login_with_the_old_cookie_sends_no_cookie(browser, store):
    ware, client, old = browser
    client.get("/login?user=alice")
    logged_in = cookie_header(client)
    headers = request_with(ware, old, "/set?key=flash&value=welcome")  # (an XHR sent before the login's response)
    assert set_cookie_of(headers) is None  # the browser keeps its logged-in cookie
    assert client.get("/").text.startswith("alice") and cookie_header(client) == logged_in
    assert ware.events.counts["tombstoned"] == 1 and len(store.all()) == 1  # and nothing was stored


def test_a_request_loaded_before_the_login_and_saved_after_sends_no_cookie(browser, store):
    ware, client, old = browser
    racing = in_flight(ware, old)
    client.get("/login?user=alice")
    racing["flash"] = "welcome"
    assert not any(name == "Set-Cookie" for name, _ in ware.core.close(racing))  # the same rule
    assert client.get("/").text.startswith("alice") and len(store.all()) == 1


def test_a_double_submitted_login_leaves_the_browser_logged_in(browser, store):
    ware, client, old = browser
    client.get("/login?user=alice")
    headers = request_with(ware, old, "/login?user=alice")  # the second submit, with the old cookie
    assert "connect.sid=s%3A" in (set_cookie_of(headers) or "")  # a login is a new session all the same
    assert client.get("/").text.startswith("alice")


# -- a logout racing another request -----------------------------------------------------------


@pytest.mark.parametrize("loaded_first", [False, True], ids=["after", "during"])
def test_no_request_recreates_a_cookie_over_a_logout(browser, store, loaded_first):
    ware, client, _ = browser
    client.get("/login?user=alice")
    logged_in = cookie_header(client)
    racing = in_flight(ware, logged_in) if loaded_first else None
    response = client.get("/logout")
    assert "Max-Age=0" in set_cookie_of(response.headerlist)
    if racing is not None:
        racing["last_page"] = "/cart"
        headers = ware.core.close(racing)
    else:
        headers = request_with(ware, logged_in, "/set?key=last_page&value=/cart")
    assert not any(name == "Set-Cookie" for name, _ in headers)  # neither logged in nor anonymous
    assert store.all() == {}


def test_a_rolling_cookie_is_not_resent_for_an_id_that_ended_meanwhile(store, clock):
    ware = middleware(store, clock, rolling=True)
    client = TestApp(ware)
    client.get("/set?key=cart&value=pears")
    racing = in_flight(ware, cookie_header(client))  # loaded, unmodified: would only touch and resend
    client.get("/login?user=alice")
    assert not any(name == "Set-Cookie" for name, _ in ware.core.close(racing))
    assert client.get("/").text.startswith("alice")


def test_only_ids_a_browser_holds_are_buried(store, clock, monkeypatch):
    ware = middleware(store, clock)
    buried = []
    real = store.bury
    monkeypatch.setattr(store, "bury", lambda key, until: buried.append(key) or real(key, until))
    client = TestApp(ware)
    client.get("/logout")  # no cookie: nothing to bury
    client.get("/login?user=alice")  # a fresh session logs in: its first id was never sent
    assert buried == []
    old = cookie_header(client)
    client.get("/logout")
    assert buried == [store.key(session_id(old))]
    request_with(ware, old, "/logout")  # a logout in the tombstoned request does not extend the window
    assert len(buried) == 1


def test_reload_in_a_dropped_request_keeps_it_dropped(browser, store):
    ware, client, old = browser
    client.get("/login?user=alice")
    racing = ware.core.open(old, False, None)
    racing["k"] = "v"
    with pytest.raises(SessionError):
        racing.reload()  # the fresh session was never stored
    racing["k"] = "w"
    assert not any(name == "Set-Cookie" for name, _ in ware.core.close(racing))


def session_id(header: str) -> str:
    from urllib.parse import unquote

    return unquote(header.split("=", 1)[1])[2:].rsplit(".", 1)[0]


def test_after_the_window_an_old_id_is_one_more_unknown_id(browser, store, clock):
    ware, client, old = browser
    client.get("/login?user=alice")
    clock.advance(61)
    headers = request_with(ware, old, "/set?key=k&value=v")
    assert "connect.sid=s%3A" in set_cookie_of(headers)  # a fresh session, as for any unknown id
    assert ware.events.counts["tombstoned"] == 0 and ware.events.counts["unknown_id"] >= 1


def test_a_revoked_browser_gets_no_cookie_within_the_window_but_can_log_in(store, clock):
    ware = middleware(store, clock)
    laptop, phone = TestApp(ware), TestApp(ware)
    laptop.get("/login?user=alice")
    phone.get("/login?user=alice")
    assert ware.revoke_all("alice", keep=in_flight(ware, cookie_header(laptop))) == 1
    assert set_cookie_of(phone.get("/set?key=k&value=v").headerlist) is None
    assert phone.get("/login?user=alice").text.startswith("alice")
    assert phone.get("/").text.startswith("alice")


def test_a_window_of_zero_keeps_no_tombstones(store, clock):
    ware = middleware(store, clock, tombstone_window=0)
    client = TestApp(ware)
    client.get("/set?key=cart&value=pears")
    old = cookie_header(client)
    client.get("/login?user=alice")
    assert "connect.sid=s%3A" in set_cookie_of(request_with(ware, old, "/set?key=k&value=v"))  # as before


def test_a_live_cookie_costs_no_tombstone_lookup(browser, store, monkeypatch):
    _, client, _ = browser
    looked_up = []
    monkeypatch.setattr(store, "buried", lambda key: looked_up.append(key) or False)
    client.get("/set?key=k&value=v")
    client.get("/")
    assert looked_up == []


# -- the store's side ------------------------------------------------------------------------------


def test_a_buried_key_reads_as_missing_until_its_window_ends(store, clock):
    from wsgisession.stores.base import Record

    text = '{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"n":1}'
    store.save("s1", Record(text, None), None)
    until = int(clock() * 1000) + 60_000
    assert store.bury(store.key("s1"), until) is True and store.bury(store.key("gone"), until) is False
    assert store.load("s1") is None and store.buried(store.key("s1")) and store.buried(store.key("gone"))
    assert store.all() == {} and store.length() == 0 and list(store.iter_bound()) == []
    clock.advance(61)
    assert not store.buried(store.key("s1")) and store.purge() == 0
    store.bury(store.key("s2"), int(clock() * 1000) + 60_000)
    store.clear()
    assert not store.buried(store.key("s2"))


@pytest.mark.parametrize("window", [-1, "60", True, 3601])
def test_a_bad_window_is_a_configuration_error(window, clock):
    with pytest.raises(ConfigurationError, match="tombstone_window"):
        middleware(MemoryStore(clock=clock), clock, tombstone_window=window)


def test_mongo_keeps_a_tombstone_as_a_document_connect_mongo_never_reads(mongo_database, clock):
    from datetime import datetime, timezone

    from wsgisession import MongoStore
    from wsgisession.stores.base import Record
    from wsgisession.stores.mongo.documents import live

    raw = mongo_database["sessions"]
    store = MongoStore(raw, clock=clock, auto_remove="interval", auto_remove_interval=30,
                       transform_id=lambda sid: "h-" + sid)
    store.save("s1", Record('{"cookie":{},"n":1}', None), None)
    now = int(clock() * 1000)
    assert store.bury("h-s1", now + 60_000) is True
    (doc,) = raw.find()
    until = doc.pop("tombstoneUntil").replace(tzinfo=timezone.utc)
    assert doc == {"_id": "tombstone:h-s1", "expires": None}  # under its own _id: Node's touch finds nothing
    assert until == datetime.fromtimestamp(now / 1000 + 60, timezone.utc)
    assert raw.find_one({"_id": "tombstone:h-s1", **live(now)}) is None  # connect-mongo's get and all() filters
    assert list(raw.find(live(now))) == [] and store.length() == 0
    clock.advance(61)  # past its window and the interval: the next tombstone sweeps it
    store.bury("h-s2", int(clock() * 1000) + 60_000)
    assert [doc["_id"] for doc in raw.find()] == ["tombstone:h-s2"]
