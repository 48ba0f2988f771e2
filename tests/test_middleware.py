from __future__ import annotations

import dataclasses
import inspect
import json

import pytest
from webtest import TestApp

from wsgisession import ConfigurationError, CookieOptions, MemoryStore, SessionCookie, SessionMiddleware
from wsgisession.config import SessionConfig
from wsgisession.errors import InsecureSecretWarning
from wsgisession.signing import sign

from .helpers import FakeClock, SpyStore, sessions_left_to_the_collector
from .webapp import SECRET, app, cookie_for, make, session_id, set_cookies

# -- the tutorial's walkthrough -----------------------------------------------------------------


def test_tutorial_walkthrough():
    store = MemoryStore()
    client, _ = make(store)
    first = client.get("/count")
    assert first.json == 1
    sid = session_id(first)
    assert sid and len(sid) == 32
    [header] = set_cookies(first)
    assert header.startswith("connect.sid=s%3A") and "HttpOnly" in header and "Path=/" in header
    for expected in (2, 3):
        again = client.get("/count")
        assert again.json == expected
        assert set_cookies(again) == []  # the browser got its cookie once
    client.reset()  # the user deletes the cookie
    fresh = client.get("/count")
    assert fresh.json == 1 and session_id(fresh) not in (None, sid)
    # a new middleware over the same store (a restarted server) continues the count
    restarted, _ = make(store)
    restarted.set_cookie("connect.sid", cookie_for(sid))
    assert restarted.get("/count").json == 4


def test_session_is_json_in_the_store_with_express_cookie_first():
    store = MemoryStore()
    client, _ = make(store)
    sid = session_id(client.get("/count"))
    assert json.loads(store._records[sid][0]) == {
        "cookie": {"originalMaxAge": None, "expires": None, "secure": False, "httpOnly": True, "path": "/",
                   "sameSite": "lax"},
        "cuenta": 1,
    }


# -- laziness -----------------------------------------------------------------------------------


def test_untouched_route_costs_nothing():
    client, spy = make()
    client.get("/count")
    spy.calls.clear()
    response = client.get("/plain")
    assert spy.calls == []
    assert set_cookies(response) == [] and "Vary" not in response.headers


def test_new_visitor_untouched_session_is_not_saved():
    client, spy = make()
    response = client.get("/read")
    assert response.json == {}
    assert spy.ops() == [] and set_cookies(response) == []
    assert response.headers["Vary"] == "Cookie"


def test_returning_unmodified_session_is_touched_not_rewritten():
    client, spy = make()
    client.get("/count")
    spy.calls.clear()
    assert set_cookies(client.get("/read")) == []
    assert spy.ops() == ["load", "refresh"]


def test_modified_session_is_one_read_and_one_write():
    client, spy = make()
    client.get("/count")
    spy.calls.clear()
    client.get("/count")
    assert spy.ops() == ["load", "save"]


def test_nested_edit_is_saved_and_unchanged_session_is_not():
    client, spy = make()
    client.get("/append?item=a")
    client.get("/append-existing?item=b")
    assert client.get("/read").json == {"cart": ["a", "b"]}
    spy.calls.clear()
    client.get("/read")
    assert "save" not in spy.ops()


# -- bad input: a fresh session, never a 500, never an adopted id ---------------------------------

FORGED = "attacker-chosen-id-000000000000"


def _bad_headers():
    valid = cookie_for(FORGED)
    return [
        pytest.param("connect.sid=" + valid[:-3] + "AAA", id="tampered signature"),
        pytest.param("connect.sid=" + cookie_for(FORGED, "wrong secret"), id="wrong secret"),
        pytest.param("connect.sid=" + FORGED, id="unsigned value"),
        pytest.param("connect.sid=s%3A" + FORGED, id="s: without signature"),
        pytest.param("connect.sid=", id="empty value"),
        pytest.param("connect.sid=s%3A" + FORGED + "." + "A" * 8000, id="8 KB cookie"),
        pytest.param("; ".join(f"c{i}=v{i}" for i in range(500)) + "; connect.sid=s%3Ax.y", id="500 cookies"),
        pytest.param("connect.sid=s%3Ax.y; connect.sid=s%3Az.w", id="duplicate names"),
        pytest.param("connect.sid=s%3A\xc3\xb1\xff.\xfe", id="non-ASCII bytes"),
        pytest.param('connect.sid={"id":"' + FORGED + '"}', id="JSON cookie from another app"),
        pytest.param("null=null; connect.sid=null", id="null pairs"),
        pytest.param("connect.sid=%ZZ%", id="broken escapes"),
        pytest.param(";;;===;;", id="only separators"),
    ]


@pytest.mark.parametrize("header", _bad_headers())
def test_bad_cookie_gets_a_fresh_session(header):
    store = MemoryStore()
    store.set(FORGED, {"cookie": {"originalMaxAge": None, "expires": None}, "cuenta": 41})
    client, _ = make(store)
    response = client.get("/count", headers={"Cookie": header})
    assert response.status_int == 200 and response.json == 1
    assert session_id(response) not in (None, FORGED)


def test_a_valid_cookie_is_found_among_other_apps_bad_cookies():
    client, _ = make()
    sid = session_id(client.get("/count"))
    header = f'bad"one; other={{"a": [1]}}; flag; connect.sid={cookie_for(sid)}; x=%ZZ'
    response = client.get("/count", headers={"Cookie": header})
    assert response.json == 2


def test_duplicate_cookies_a_badly_signed_one_first_is_skipped():
    """express takes the first duplicate blindly; we take the first whose signature verifies (documented)."""
    client, _ = make()
    sid = session_id(client.get("/count"))
    client.reset()
    header = f"connect.sid=s%3Abogus.AAAA; connect.sid={cookie_for(sid)}"
    assert client.get("/count", headers={"Cookie": header}).json == 2


def test_unknown_but_validly_signed_id_is_not_adopted():
    client, _ = make()
    response = client.get("/count", headers={"Cookie": "connect.sid=" + cookie_for(FORGED)})
    assert response.json == 1 and session_id(response) != FORGED


def test_expired_session_starts_fresh():
    clock = FakeClock()
    client, _ = make(MemoryStore(clock=clock), clock=clock, cookie=CookieOptions(max_age=60))
    sid = session_id(client.get("/count"))
    clock.advance(61)
    response = client.get("/count")
    assert response.json == 1 and session_id(response) != sid


# -- secrets ------------------------------------------------------------------------------------


def test_secret_rotation_accepts_old_signatures_and_signs_with_the_new():
    store = MemoryStore()
    old, _ = make(store, secret="old secret " * 4)
    sid = session_id(old.get("/count"), "old secret " * 4)
    rotated, _ = make(store, secret=["new secret " * 4, "old secret " * 4])
    rotated.set_cookie("connect.sid", cookie_for(sid, "old secret " * 4))
    assert rotated.get("/count").json == 2
    resigned = rotated.get("/regenerate")
    assert session_id(resigned, ["new secret " * 4]) is not None
    only_new, _ = make(store, secret="new secret " * 4)
    only_new.set_cookie("connect.sid", cookie_for(sid, "old secret " * 4))
    assert only_new.get("/count").json == 1


@pytest.mark.parametrize("secret", ["", b"", [], [""], None, 42, ["ok", 3]])
def test_bad_secret_is_a_configuration_error(secret):
    with pytest.raises(ConfigurationError, match="secret"):
        SessionMiddleware(app, secret=secret, store=MemoryStore())


def test_short_secret_warns():
    with pytest.warns(InsecureSecretWarning):
        SessionMiddleware(app, secret="keyboard cat", store=MemoryStore())


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        pytest.param({"store": None}, "store is required", id="no store"),
        pytest.param({"store": object()}, "store is required", id="not a store"),
        pytest.param({"name": "bad name"}, "token", id="bad name"),
        pytest.param({"name": "__Host-sid", "cookie": CookieOptions(secure=True, domain="example.com")}, "__Host-",
                     id="host prefix with domain"),
        pytest.param({"unset": "drop"}, "unset", id="bad unset"),
        pytest.param({"rolling": "yes"}, "rolling", id="bad rolling"),
        pytest.param({"cookie": {"path": "/"}}, "CookieOptions", id="cookie as dict"),
        pytest.param({"genid": "uuid"}, "genid", id="genid not callable"),
        pytest.param({"environ_key": ""}, "environ_key", id="empty environ key"),
    ],
)
def test_bad_configuration_says_what_to_do(kwargs, hint):
    kwargs.setdefault("store", MemoryStore())
    with pytest.raises(ConfigurationError) as info:
        SessionMiddleware(app, secret=SECRET, **kwargs)
    assert hint in str(info.value)


def test_repr_shows_no_secret():
    assert SECRET not in repr(SessionMiddleware(app, secret=SECRET, store=MemoryStore()))


def test_the_middleware_takes_sessionconfigs_options_and_its_own():
    """SessionMiddleware spells out SessionConfig's options (its documented signature), with the same
    defaults (None: SessionConfig's), plus the WSGI adapter's ``trust_proxy`` and ``environ_key``."""
    parameters = dict(inspect.signature(SessionMiddleware).parameters)
    del parameters["app"]
    options = {field.name: field for field in dataclasses.fields(SessionConfig) if field.init}
    assert set(parameters) == set(options) | {"trust_proxy", "environ_key"}
    for name, field in options.items():
        if field.default is not dataclasses.MISSING and name != "genid":  # genid=None: default_genid
            assert parameters[name].default == field.default, name


# -- lifecycle --------------------------------------------------------------------------------------


def test_regenerate_kills_the_old_id_and_keeps_data():
    store = MemoryStore()
    client, _ = make(store)
    old = session_id(client.get("/count"))
    response = client.get("/regenerate")
    new = session_id(response)
    assert new not in (None, old) and response.json == new
    assert store.get(old) is None
    assert client.get("/count").json == 2
    stale, _ = make(store)
    assert stale.get("/count", headers={"Cookie": "connect.sid=" + cookie_for(old)}).json == 1


def test_destroy_removes_the_record_and_expires_the_cookie():
    store = MemoryStore()
    client, _ = make(store)
    sid = session_id(client.get("/count"))
    response = client.get("/destroy")
    assert store.get(sid) is None
    [header] = set_cookies(response)
    assert header.startswith("connect.sid=;") and "Max-Age=0" in header and "1970" in header
    assert client.get("/count").json == 1


def test_destroy_then_write_starts_a_new_saved_session():
    store = MemoryStore()
    client, _ = make(store)
    sid = session_id(client.get("/count"))
    client.get("/destroy")
    response = client.get("/count")
    assert response.json == 1 and session_id(response) != sid


def test_per_session_max_age_remember_me():
    clock = FakeClock(1_768_480_496.789)
    store = MemoryStore(clock=clock)
    client, _ = make(store, clock=clock)
    client.get("/count")
    response = client.get("/remember?seconds=86400")
    [header] = set_cookies(response)
    assert "Expires=Fri, 16 Jan 2026 12:34:56 GMT" in header and "Max-Age=86400" in header
    clock.advance(86000)
    assert client.get("/count").json == 2  # still alive, and the expiry rolled
    clock.advance(86000)
    assert client.get("/count").json == 3


def test_one_sessions_lifetime_never_reaches_another():
    """Sessions loaded with a browser-session cookie share one cookie object until one is changed
    (lifecycle.Lifecycle.plain_cookies): a "remember me" must give that session its own."""
    clock = FakeClock(1_768_480_496.789)
    store = MemoryStore(clock=clock)
    remembered, _ = make(store, clock=clock)
    other = TestApp(remembered.app)
    for client in (remembered, other):
        client.get("/count")
        client.get("/count")  # (loaded: its cookie the shared one)
    [header] = set_cookies(remembered.get("/remember?seconds=86400"))
    assert "Max-Age=86400" in header
    response = other.get("/count")
    assert response.json == 3 and set_cookies(response) == []  # still a browser-session cookie
    [record] = [json.loads(text) for text in store.texts().values() if '"cuenta":3' in text]
    assert record["cookie"]["originalMaxAge"] is None and record["cookie"]["expires"] is None
    assert SessionCookie.shared(CookieOptions(), False, clock).unshared().original_max_age is None
    with pytest.raises(AssertionError, match="shared"):
        SessionCookie.shared(CookieOptions(), False, clock).max_age = 60


def test_expiring_cookie_is_resent_when_modified():
    client, _ = make(cookie=CookieOptions(max_age=3600))
    client.get("/count")
    assert len(set_cookies(client.get("/count"))) == 1  # express: expires != null and modified
    assert set_cookies(client.get("/read")) == []


def test_rolling_resends_the_cookie_on_every_loading_request():
    client, _ = make(rolling=True, cookie=CookieOptions(max_age=3600))
    client.get("/count")
    assert len(set_cookies(client.get("/read"))) == 1
    assert set_cookies(client.get("/plain")) == []  # lazy: no load, no cookie (documented)


def test_resave_rewrites_unmodified_sessions():
    client, spy = make(resave=True)
    client.get("/count")
    spy.calls.clear()
    client.get("/read")
    assert spy.ops() == ["load", "save"]


def test_save_uninitialized_saves_and_sends_empty_sessions():
    client, spy = make(save_uninitialized=True)
    response = client.get("/read")
    assert spy.ops() == ["save"] and len(set_cookies(response)) == 1


def test_explicit_save_then_no_change_only_touches():
    client, spy = make()
    client.get("/count")
    spy.calls.clear()
    client.get("/save-then-change")
    assert spy.ops() == ["load", "save", "refresh"]


def test_reload_drops_unsaved_changes():
    client, _ = make()
    client.get("/count")
    assert client.get("/reload").json == {"cuenta": 1}


@pytest.mark.parametrize(("unset", "alive"), [("keep", True), ("destroy", False)])
def test_unset(unset, alive):
    store = MemoryStore()
    client, _ = make(store, unset=unset)
    sid = session_id(client.get("/count"))
    client.get("/unset")
    assert (store.get(sid) is not None) is alive


def test_non_json_value_fails_loudly():
    client, _ = make()
    with pytest.raises(Exception, match="JSON"):
        client.get("/bad-value")


def test_custom_genid():
    client, _ = make(genid=lambda environ: "id-for-" + environ["PATH_INFO"].strip("/"))
    assert session_id(client.get("/count")) == "id-for-count"


def test_cookie_path_scopes_the_middleware():
    client, spy = make(cookie=CookieOptions(path="/app"))
    assert client.get("/plain").status_int == 200
    with pytest.raises(Exception, match="no session"):
        client.get("/count")
    assert spy.calls == []


# -- secure cookies and proxies -----------------------------------------------------------------------


def test_secure_auto_over_https():
    client, _ = make()
    [header] = set_cookies(client.get("/count", extra_environ={"wsgi.url_scheme": "https"}))
    assert "; Secure" in header


def test_secure_auto_over_http():
    client, _ = make()
    [header] = set_cookies(client.get("/count"))
    assert "Secure" not in header


def test_secure_true_over_http_sends_no_cookie_but_saves():
    client, spy = make(cookie=CookieOptions(secure=True))
    response = client.get("/count")
    assert set_cookies(response) == [] and "save" in spy.ops()


@pytest.mark.parametrize(("trust", "proto", "secure"), [
    (True, "https", True), (True, "HTTPS, http", True), (True, "http", False),
    (False, "https", False),
])
def test_trust_proxy_decides_https_from_x_forwarded_proto(trust, proto, secure):
    client, _ = make(trust_proxy=trust)
    [header] = set_cookies(client.get("/count", headers={"X-Forwarded-Proto": proto}))
    assert ("; Secure" in header) is secure


# -- cache headers --------------------------------------------------------------------------------------


def test_cache_headers():
    client, _ = make()
    first = client.get("/count")
    assert first.headers["Cache-Control"] == 'no-cache="Set-Cookie"' and first.headers["Vary"] == "Cookie"
    second = client.get("/count")
    assert "Cache-Control" not in second.headers and second.headers["Vary"] == "Cookie"


# -- PEP 3333 ------------------------------------------------------------------------------------


def test_changes_while_streaming_are_saved_on_close():
    client, _ = make()
    response = client.get("/stream")
    assert response.body == b"one two" and len(set_cookies(response)) == 1
    assert client.get("/read").json == {"before": True, "during": True}


def test_write_callable():
    client, _ = make()
    client.get("/count")
    response = client.get("/write")
    assert response.body == b"via write()"
    assert client.get("/read").json == {"cuenta": 1, "written": True}


def test_exc_info_error_page_keeps_session_headers():
    client, _ = make()
    response = client.get("/error-page", status=500)
    assert response.body == b"error page" and len(set_cookies(response)) == 1


def test_close_is_forwarded():
    closed = []

    class Body:
        def __iter__(self):
            return iter([b"ok"])

        def close(self):
            closed.append(True)

    def closing_app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()

    TestApp(SessionMiddleware(closing_app, secret=SECRET, store=MemoryStore())).get("/")
    assert closed == [True]


def test_store_unavailable_in_the_app_is_a_503():
    client, _ = make()
    response = client.get("/store-down", status=503)
    assert response.headers["Retry-After"] and response.content_type == "text/plain"


def test_store_failure_on_save_is_a_503():
    class DownStore(MemoryStore):
        def save(self, sid, session, version):
            from wsgisession import StoreUnavailable

            raise StoreUnavailable("down")

    client, _ = make(DownStore())
    assert client.get("/count", status=503).headers["Retry-After"]
    assert client.get("/plain").status_int == 200


def test_signature_uses_first_secret_exactly():
    client, _ = make(genid=lambda environ: "fixed-id")
    [header] = set_cookies(client.get("/count"))
    assert header.split(";")[0] == "connect.sid=" + cookie_for("fixed-id")
    assert sign("fixed-id", SECRET) in header.replace("%2B", "+").replace("%2F", "/").replace("%3A", ":")


def test_session_ids_are_random_and_long():
    client, _ = make()
    ids = set()
    for _ in range(20):
        client.reset()
        ids.add(session_id(client.get("/count")))
    assert len(ids) == 20 and all(len(i) == 32 for i in ids)


def test_spy_sees_no_call_for_untouched_requests_with_a_cookie_and_options():
    client, spy = make(rolling=True, resave=True)
    client.get("/count")
    spy.calls.clear()
    client.get("/plain")
    assert isinstance(spy, SpyStore) and spy.calls == []


# -- logging ---------------------------------------------------------------------------------------


def test_lifecycle_is_logged_without_ids_or_cookies(caplog):
    caplog.set_level("DEBUG", logger="wsgisession")
    client, _ = make()
    first = client.get("/count")
    sid = session_id(first)
    cookie_value = first.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    new = session_id(client.get("/regenerate"))
    client.get("/destroy")
    client.get("/count", headers={"Cookie": "connect.sid=" + cookie_value})  # now unknown
    client.get("/count", headers={"Cookie": "connect.sid=s%3Aforged.sig"})  # bad signature
    client.get("/store-down", status=503)
    text = "\n".join(record.getMessage() for record in caplog.records)
    for event in ("created", "regenerated", "destroyed", "unknown or expired", "ignored a session cookie",
                  "store unavailable"):
        assert event in text
    for secret in (sid, new, cookie_value, "forged"):
        assert secret not in text


def test_a_list_body_reaches_the_server_unwrapped():
    """Servers such as waitress set Content-Length from a one-item list; a wrapper would hide it."""
    store = MemoryStore()
    middleware = SessionMiddleware(app, secret=SECRET, store=store)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/count", "SCRIPT_NAME": "", "wsgi.url_scheme": "http"}
    result = middleware(environ, lambda status, headers, exc_info=None: None)
    assert type(result) is list and store.length() == 1


def test_store_failure_on_a_late_save_is_a_503():
    class FailsAfterHeaders(MemoryStore):
        calls = 0

        def save(self, sid, session, version):
            self.calls += 1
            if self.calls > 1:
                from wsgisession import StoreUnavailable

                raise StoreUnavailable("down")
            return super().save(sid, session, version)

    client, _ = make(FailsAfterHeaders())
    client.get("/count")
    assert client.get("/late", status=503).headers["Retry-After"]


def test_verified_cookie_memo_holds_only_verified_results_and_is_bounded(monkeypatch):
    from wsgisession import ids

    monkeypatch.setattr(ids, "VERIFIED_CACHE_SIZE", 3)
    client, _ = make()
    sid = session_id(client.get("/count"))
    valid = "connect.sid=" + cookie_for(sid)
    assert client.get("/count", headers={"Cookie": valid}).json == 2
    forged = valid[:-2] + "AA"
    assert client.get("/count", headers={"Cookie": forged}).json == 1  # never served from the memo
    memo = client.app.core.ids._verified
    assert forged not in memo and memo[valid] == sid
    for n in range(5):
        client.get("/count", headers={"Cookie": "connect.sid=" + cookie_for(f"other-{n}")})
    assert len(memo) <= 3


def test_the_scheme_is_read_on_entry_and_a_later_fix_is_reported(caplog):
    """As in express-session, https is judged when the request enters the middleware; a scheme
    fixed by middleware inside it (ProxyFix there) comes too late, and a warning says what to do."""
    def fix_scheme(inner):
        def wrapped(environ, start_response):
            environ["wsgi.url_scheme"] = "https"
            return inner(environ, start_response)
        return wrapped

    inside = TestApp(SessionMiddleware(fix_scheme(app), secret=SECRET, store=MemoryStore()))
    with caplog.at_level("WARNING", logger="wsgisession"):
        response = inside.get("/count")
    assert "Secure" not in response.headers["Set-Cookie"] and "wrap that middleware around" in caplog.text
    outside = TestApp(fix_scheme(SessionMiddleware(app, secret=SECRET, store=MemoryStore())))
    assert "Secure" in outside.get("/count").headers["Set-Cookie"]


@pytest.mark.parametrize("path", ["/", "/count"])
def test_a_request_leaves_no_reference_cycle(path):
    """environ -> session -> environ would be a cycle: every request's environ, session and state
    then wait for the garbage collector instead of being freed when the server drops them. The
    session holds the environ only when a genid or cookie callable of the app's may read it."""
    middleware = SessionMiddleware(lambda environ, start_response: (
        start_response("200 OK", [("Content-Type", "text/plain")]),
        [str(environ["wsgisession.session"].setdefault("n", 1)).encode() if environ["PATH_INFO"] != "/" else b"-"],
    )[1], secret=SECRET, store=MemoryStore())

    def request():
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SCRIPT_NAME": "", "wsgi.url_scheme": "http"}
        assert b"".join(middleware(environ, lambda status, headers, exc_info=None: None)) in (b"-", b"1")

    assert sessions_left_to_the_collector(request) == []
