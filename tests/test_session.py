from __future__ import annotations

import pytest

from wsgisession import CookieOptions, MemoryStore, SessionError
from wsgisession import SessionCookie

from .helpers import FakeClock, SpyStore, open_session, set_cookie_of

NOW = 1_768_480_496.789  # 2026-01-15T12:34:56.789Z


def test_cookie_json_has_express_keys_in_express_order():
    clock = FakeClock(NOW)
    options = CookieOptions(max_age=3600, partitioned=True, priority="high", secure=True, domain="example.com",
                            same_site="strict")
    cookie = SessionCookie(options, is_secure=True, clock=clock)
    assert list(cookie.to_json().items()) == [
        ("originalMaxAge", 3_600_000), ("partitioned", True), ("priority", "high"),
        ("expires", "2026-01-15T13:34:56.789Z"), ("secure", True), ("httpOnly", True),
        ("domain", "example.com"), ("path", "/"), ("sameSite", "strict"),
    ]


def test_default_cookie_json():
    cookie = SessionCookie(CookieOptions(), is_secure=False, clock=FakeClock(NOW))
    assert cookie.to_json() == {"originalMaxAge": None, "expires": None, "secure": False, "httpOnly": True,
                                "path": "/", "sameSite": "lax"}


def test_stored_lifetime_round_trips_but_the_options_decide_security_attributes():
    stored = {"originalMaxAge": 86_400_000, "expires": "2026-01-16T14:03:00.000Z", "httpOnly": False,
              "path": "/app", "sameSite": True, "domain": "example.org", "priority": "High"}
    cookie, invalid = SessionCookie.from_json(stored, CookieOptions(), False, FakeClock(NOW))
    assert invalid == []
    assert (cookie.path, cookie.same_site, cookie.domain, cookie.http_only, cookie.original_max_age) == (
        "/", "lax", None, True, 86_400_000)
    assert cookie.priority == "high" and cookie.to_json()["expires"] == "2026-01-16T14:03:00.000Z"


def test_minimal_stored_cookie_is_a_browser_session_cookie():
    cookie, _ = SessionCookie.from_json({}, CookieOptions(), False, FakeClock(NOW))
    assert cookie.expires is None and cookie.max_age is None and cookie.path == "/"


def test_max_age_setter_and_reset():
    clock = FakeClock(NOW)
    cookie = SessionCookie(CookieOptions(), False, clock)
    cookie.max_age = 10
    assert cookie.original_max_age == 10_000 and cookie.max_age == 10
    clock.advance(4)
    assert cookie.max_age == 6
    cookie.reset()
    assert cookie.max_age == 10
    with pytest.raises(ValueError):
        cookie.max_age = -1


def test_session_loads_lazily_and_only_once():
    clock = FakeClock(NOW)
    store = SpyStore(MemoryStore(clock=clock))
    store.inner.set("known", {"cookie": {"originalMaxAge": None, "expires": None}, "a": 1})
    session, _ = open_session(store, clock, "known")
    assert store.calls == [] and not session.loaded
    assert session["a"] == 1 and session.get("b") is None and "a" in session and len(session) == 1
    assert store.ops() == ["load"] and session.id == "known" and not session.is_new


def test_record_without_cookie_gets_default_cookie_settings():
    clock = FakeClock(NOW)
    store = MemoryStore(clock=clock)
    store.set("known", {"cuenta": 3})
    session, _ = open_session(store, clock, "known")
    assert session["cuenta"] == 3 and session.cookie.path == "/"


def test_reserved_keys():
    clock = FakeClock(NOW)
    session = open_session(MemoryStore(clock=clock), clock)[0]
    with pytest.raises(KeyError):
        session["cookie"] = {}


def test_genid_must_return_text():
    clock = FakeClock(NOW)
    session = open_session(MemoryStore(clock=clock), clock, genid=lambda request: None)[0]
    with pytest.raises(SessionError, match="genid"):
        session.get("x")


def test_reload_of_a_vanished_session_is_an_error():
    clock = FakeClock(NOW)
    store = MemoryStore(clock=clock)
    session, core = open_session(store, clock)
    session["a"] = 1
    assert set_cookie_of(core.close(session)) is not None
    store.clear()
    with pytest.raises(SessionError, match="no longer exists"):
        session.reload()


def test_repr_never_shows_the_id():
    clock = FakeClock(NOW)
    session = open_session(MemoryStore(clock=clock), clock)[0]
    session["a"] = 1
    assert session.id not in repr(session)


def test_empty_stored_cookie_gets_the_configured_attributes():
    cookie, _ = SessionCookie.from_json({}, CookieOptions(same_site="strict"), False, FakeClock(NOW))
    assert (cookie.http_only, cookie.path, cookie.secure, cookie.same_site) == (True, "/", False, "strict")


@pytest.mark.parametrize("key", ["id", "save", "constructor", "__proto__", "lastModified"])
def test_keys_express_would_drop_are_refused(key):
    clock = FakeClock(NOW)
    session = open_session(MemoryStore(clock=clock), clock)[0]
    with pytest.raises(KeyError, match="reserved"):
        session[key] = 1


def test_max_age_keeps_whole_milliseconds():
    cookie = SessionCookie(CookieOptions(), False, FakeClock(NOW))
    cookie.max_age = 1.001
    assert cookie.original_max_age == 1001


@pytest.mark.parametrize("options", [
    CookieOptions(),
    CookieOptions(max_age=3600, partitioned=True, priority="high", secure=True, domain="example.com",
                  same_site="strict"),
    CookieOptions(same_site=None, http_only=False, path='/a"b\\c'),
    CookieOptions(same_site="auto", max_age=0.5),
], ids=["defaults", "every attribute", "escaped path", "auto"])
@pytest.mark.parametrize("is_secure", [False, True])
def test_the_rendered_cookie_json_is_the_serialized_cookie_object(options, is_secure):
    from wsgisession.serialization import dumps

    cookie = SessionCookie(options, is_secure, FakeClock(NOW))
    assert cookie.json() == dumps(cookie.to_json())
    cookie.priority = "low"
    assert cookie.json() == dumps(cookie.to_json())


def test_the_cookie_object_follows_the_one_list_of_express_keys():
    from wsgisession.record import COOKIE_KEYS

    options = CookieOptions(max_age=60, partitioned=True, priority="low", secure=True, domain="a.example",
                            same_site="none")
    rendered = list(SessionCookie(options, True, FakeClock(NOW)).to_json())
    assert rendered == list(COOKIE_KEYS)
