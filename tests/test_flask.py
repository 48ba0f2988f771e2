"""wsgisession.flask: a real Flask app with Flask-Login (tests/flask_app.py) on wsgisession's sessions.

Every scenario runs twice: through Flask's own ``test_client()`` and through WebTest (lint on) over
the same WSGI app, behind one small ``Browser`` interface.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import flask
import pytest
from flask import Flask, session, stream_with_context
from webtest import TestApp

from wsgisession import ConfigurationError, CookieOptions, MemoryStore, SQLiteStore, Store, StoreUnavailable
from wsgisession.cookies import decode_uri_component, parse_cookie_header
from wsgisession.flask import FlaskSession, install
from wsgisession.signing import unsign

from .flask_app import SECRET, create_app
from .helpers import FakeClock
from .lost_updates import LocalServer

CLIENTS = ["flask", "webtest"]
NAME = "connect.sid"


@dataclass
class Reply:
    status: int
    json: Any
    set_cookies: list[str]  # every Set-Cookie line
    headers: Any

    def cookie(self, name: str = NAME) -> str | None:
        """The Set-Cookie line for ``name``, if any (at most one)."""
        lines = [line for line in self.set_cookies if line.startswith(name + "=")]
        assert len(lines) <= 1, lines
        return lines[0] if lines else None


class Browser:
    """One browser on a Flask app: Flask's test client or WebTest, with one cookie jar."""

    def __init__(self, kind: str, app: Flask, name: str = NAME) -> None:
        self.kind, self.app, self.name = kind, app, name
        self.client: Any = app.test_client() if kind == "flask" else TestApp(app)

    def get(self, path: str, status: int = 200, headers: dict[str, str] | None = None, https: bool = False) -> Reply:
        if self.kind == "flask":
            # Closed, as a server closes every response (a late save happens then): werkzeug's test
            # responses are closed only on request.
            with self.client.get(path, headers=headers, base_url="https://localhost" if https else None) as response:
                text = response.get_data(as_text=True)  # the whole body, as a server sends it
                assert response.status_code == status, text
                body = response.get_json(silent=True)
            return Reply(response.status_code, body, response.headers.getlist("Set-Cookie"), response.headers)
        environ = {"wsgi.url_scheme": "https"} if https else None
        response = self.client.get(path, status=status, headers=headers, extra_environ=environ)
        body = response.json if response.content_type == "application/json" else None
        return Reply(response.status_int, body, response.headers.getall("Set-Cookie"), response.headers)

    @property
    def cookie(self) -> str | None:
        """The raw value of the session cookie in the jar."""
        if self.kind == "flask":
            cookie = self.client.get_cookie(self.name)
            return None if cookie is None else cookie.value
        return self.client.cookies.get(self.name)

    def use(self, value: str) -> None:
        """Put a cookie value in the jar (a browser that kept an old cookie, or moved to a new server)."""
        self.client.set_cookie(self.name, value)  # (the same call on both)

    def fork(self, app: Flask | None = None) -> Browser:
        """Another client (of ``app``, by default the same) holding this one's cookie."""
        other = Browser(self.kind, app or self.app, self.name)
        if self.cookie is not None:
            other.use(self.cookie)
        return other


def sid_of(value: str | None) -> str | None:
    """The session id a cookie value (or a Set-Cookie line) carries, verified."""
    if value is None:
        return None
    if "=" in value.split(";", 1)[0]:
        value = parse_cookie_header(value.split(";", 1)[0]).get(NAME, "")
    value = decode_uri_component(value)
    return unsign(value[2:], [SECRET]) if value.startswith("s:") else None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db(tmp_path):
    return tmp_path / "sessions.sqlite3"


@pytest.fixture
def store(db, clock):
    made = SQLiteStore(db, clock=clock)
    yield made
    made.close()


@pytest.fixture
def made(store, clock):
    return create_app(store, clock=clock)


@pytest.fixture(params=CLIENTS)
def browser(request, made) -> Browser:
    return Browser(request.param, made[0])


# -- flask.session is the wsgisession session ------------------------------------------------------


def test_the_counter_runs_on_wsgisession_without_a_secret_key(browser, made, store):
    app, _ = made
    assert app.secret_key is None
    first = browser.get("/count")
    assert first.json["cuenta"] == 1
    line = first.cookie()
    assert line is not None and line.startswith("connect.sid=s%3A") and "HttpOnly" in line and "SameSite=Lax" in line
    sid = sid_of(line)
    assert sid == first.json["id"]
    for n in (2, 3):
        reply = browser.get("/count")
        assert reply.json == {"cuenta": n, "id": sid} and reply.cookie() is None  # the cookie went out once
    assert store.get(sid)["cuenta"] == 3


def test_a_request_that_never_uses_the_session_sets_no_cookie(browser, made):
    reply = browser.get("/plain")
    assert reply.json == "no session used" and reply.set_cookies == []


def test_flasks_session_flags(browser):
    fresh = browser.get("/flags?write=a").json
    assert fresh["before"] == {"accessed": True, "modified": False, "new": True}
    assert fresh["after"] == {"modified": True, "permanent": False}
    nested = browser.get("/flags?write=b").json  # a nested edit (list.append) is a modification, and saved
    assert nested["before"] == {"accessed": True, "modified": False, "new": False}
    assert nested["after"]["modified"] is True
    assert browser.get("/read").json == {"list": ["a", "b"]}


def test_permanent_is_a_cookie_with_the_configured_lifetime(browser, store, clock):
    app, _ = create_app(store, config={"PERMANENT_SESSION_LIFETIME": timedelta(hours=1)}, clock=clock)
    browser = browser.fork(app)
    browser.get("/count")
    reply = browser.get("/permanent")
    assert reply.json == {"permanent": True, "max_age": 3600}
    line = reply.cookie()
    assert line is not None and "Max-Age=3600" in line and "Expires=" in line
    assert browser.get("/permanent?on=0").json == {"permanent": False, "max_age": None}


def test_a_change_made_while_the_body_streams_is_saved(browser):
    browser.get("/count")
    browser.get("/stream")
    assert browser.get("/read").json == {"cuenta": 1, "streamed": True}


def test_the_view_exposes_the_sessions_verbs(made):
    app, _ = made
    with app.test_request_context("/"):
        assert isinstance(session._get_current_object(), FlaskSession)
        session["k"] = 1
        assert session.user_id is None and session.wsgi["k"] == 1 and session.is_new
        assert "<Session" in repr(session) and session.wsgi.id not in repr(session)


# -- Flask-Login ---------------------------------------------------------------------------------------


def test_login_regenerates_the_id_and_binds_the_user(browser, made, store):
    _, sessions = made
    anonymous = browser.get("/count").json["id"]
    stale = browser.cookie
    reply = browser.get("/login?user=alice")
    assert reply.json["user"] == "alice" and reply.json["user_id"] == "alice"
    assert reply.json["data"]["cuenta"] == 1 and reply.json["data"]["_user_id"] == "alice"  # the data follows
    logged_in = sid_of(reply.cookie())
    assert logged_in not in (None, anonymous) and sid_of(browser.cookie) == logged_in
    assert store.get(anonymous) is None  # the old id is dead in the store
    assert store.get(logged_in)["_user_id"] == "alice"
    assert [info.current for info in sessions.sessions_of("alice")] == [False]
    assert browser.get("/me").json["user"] == "alice"
    # A browser that kept the old cookie (a second tab) is anonymous, and gets no new cookie over the login's.
    old = browser.fork()
    old.use(stale)
    reply = old.get("/me")
    assert reply.json["user"] is None and reply.set_cookies == []


def test_a_login_as_another_user_starts_afresh_but_stays_logged_in(browser):
    browser.get("/login?user=alice")
    browser.get("/set?cart=[1]")
    reply = browser.get("/login?user=bob").json
    assert reply["user"] == reply["user_id"] == "bob" and "cart" not in reply["data"]
    assert browser.get("/me").json["user"] == "bob"


def test_confirm_login_is_a_reauthentication(browser, clock):
    browser.get("/login?user=alice")
    before = browser.get("/reauth").json["at"]
    sid = sid_of(browser.cookie)
    clock.advance(60)
    reply = browser.get("/reauth")
    assert reply.json["at"] == pytest.approx(before + 60, abs=0.01) and reply.json["user_id"] == "alice"
    assert sid_of(reply.cookie()) not in (None, sid)  # a new id, as for a login


def test_logout_destroys_the_record(browser, made, store):
    _, sessions = made
    sid = sid_of(browser.get("/login?user=alice").cookie())
    reply = browser.get("/logout")
    assert reply.json == {"user": None, "user_id": None, "data": {}}
    assert store.get(sid) is None and sessions.sessions_of("alice") == []
    line = reply.cookie()
    assert line is not None and "Max-Age=0" in line  # the cookie is expired too
    assert browser.cookie is None
    assert browser.get("/me").json["user"] is None


def test_a_revoked_session_is_anonymous_for_flask_login(browser, made, store):
    _, sessions = made
    sid = sid_of(browser.get("/login?user=alice").cookie())
    assert sessions.revoke_all("alice") == 1
    reply = browser.get("/me")
    assert reply.json["user"] is None and reply.json["user_id"] is None and store.get(sid) is None


def test_logout_still_clears_flask_logins_remember_cookie(browser, store, clock):
    # Flask-Login signs its own remember_token cookie with app.secret_key (sessions never need it).
    app, _ = create_app(store, config={"SECRET_KEY": "flask-login's remember-me cookie"}, clock=clock)
    browser = browser.fork(app)
    assert browser.get("/login?user=alice&remember=1").cookie("remember_token") is not None
    line = browser.get("/logout").cookie("remember_token")
    assert line is not None and ("Max-Age=0" in line or "Expires=Thu, 01 Jan 1970" in line)


def test_strong_session_protection_ends_the_session(browser, store, clock):
    app, sessions = create_app(store, config={"SESSION_PROTECTION": "strong"}, clock=clock)
    browser = browser.fork(app)
    sid = sid_of(browser.get("/login?user=alice", headers={"User-Agent": "laptop"}).cookie())
    assert browser.get("/me", headers={"User-Agent": "laptop"}).json["user"] == "alice"
    stolen = browser.get("/me", headers={"User-Agent": "elsewhere"})  # Flask-Login drops the user...
    assert stolen.json["user"] is None
    assert store.get(sid) is None and sessions.sessions_of("alice") == []  # ...and the session ends


def test_the_session_survives_a_restart(browser, db, store, clock):
    browser.get("/login?user=alice")
    sid = sid_of(browser.cookie)
    assert browser.get("/count").json == {"cuenta": 1, "id": sid}
    store.close()
    restarted_store = SQLiteStore(db, clock=clock)  # a new process: new app, new store, same file
    try:
        app, sessions = create_app(restarted_store, clock=clock)
        restarted = browser.fork(app)
        assert restarted.get("/me").json["user"] == "alice"
        assert restarted.get("/count").json == {"cuenta": 2, "id": sid}
        assert [info.user_id for info in sessions.sessions_of("alice")] == ["alice"]
    finally:
        restarted_store.close()


# -- flash messages ------------------------------------------------------------------------------------


def test_flash_messages_appear_once(browser):
    browser.get("/flash?msg=saved!")
    browser.get("/flash?msg=careful&category=warning")
    assert browser.get("/messages?categories=1").json == [["message", "saved!"], ["warning", "careful"]]
    assert browser.get("/messages").json == []
    browser.get("/flash?msg=again")
    assert browser.get("/messages").json == ["again"]
    assert browser.get("/messages").json == []


def test_a_flash_after_logout_reaches_the_next_page(browser):
    browser.get("/login?user=alice")
    browser.get("/logout")
    browser.get("/flash?msg=bye")
    assert browser.get("/messages").json == ["bye"]


# -- concurrent requests -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 8])
def test_concurrent_requests_keep_each_others_keys(browser, made, store, n):
    """n requests of one browser all load the session before any saves (the worst case)."""
    app, sessions = made
    sid = sid_of(browser.get("/login?user=alice").cookie())
    app.config["BARRIER"] = threading.Barrier(n)
    replies: list[Any] = [None] * n

    def send(i: int) -> None:
        replies[i] = browser.fork().get(f"/sync/set?key{i}={i}")

    threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(reply is not None and reply.json == "ok" for reply in replies)
    data = store.get(sid)
    assert {key: data[key] for key in data if key.startswith("key")} == {f"key{i}": i for i in range(n)}
    assert data["_user_id"] == "alice" and sessions.stats.merged >= 1


def test_concurrent_http_requests_under_waitress_keep_each_others_keys(made, store):
    app, sessions = made
    n = 8
    server = LocalServer(app, threads=n)
    try:
        cookie = _http(server.port, "/login?user=alice")[1]
        assert cookie is not None
        app.config["BARRIER"] = threading.Barrier(n)
        results: list[Any] = [None] * n

        def send(i: int) -> None:
            results[i] = _http(server.port, f"/sync/set?key{i}={i}", cookie)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        server.close()
    assert [result[0] for result in results] == [200] * n
    data = store.get(sid_of(cookie))
    assert {key: data[key] for key in data if key.startswith("key")} == {f"key{i}": i for i in range(n)}
    assert sessions.stats.merged >= 1


def _http(port: int, path: str, cookie: str | None = None) -> tuple[int, str | None]:
    """GET over real HTTP; the status and the session cookie's "name=value" the reply set, if any."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        response.read()
        lines = response.msg.get_all("Set-Cookie") or []
    finally:
        connection.close()
    pairs = [line.split(";", 1)[0] for line in lines if line.startswith(NAME + "=")]
    return response.status, pairs[0] if pairs else cookie


# -- store outages -------------------------------------------------------------------------------------


class DownStore(MemoryStore):
    """A store that cannot be reached (``down``), for loads or for saves."""

    def __init__(self) -> None:
        super().__init__()
        self.down = ""

    def load(self, sid: str) -> Any:
        if self.down == "load":
            raise StoreUnavailable("down")
        return super().load(sid)

    def save(self, sid: str, record: Any, version: Any) -> Any:
        if self.down == "save":
            raise StoreUnavailable("down")
        return super().save(sid, record, version)


# Werkzeug's test client (Flask's test_client) raises any exc_info handed to its start_response, even
# before headers were sent (werkzeug/test.py, run_wsgi_app; PEP 3333 asks that only once they were), and
# the middleware's 503 hands it one: see the report's proposed middleware.py change.
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("down", ["load", "save"])
@pytest.mark.parametrize("catch_all", [False, True], ids=["plain", "catch-all-handler"])
def test_a_store_outage_is_a_503(client, down, catch_all):
    store = DownStore()
    app, sessions = create_app(store)
    if catch_all:  # an app's handler for every exception does not turn the outage into its 500
        app.register_error_handler(Exception, lambda error: ({"error": "ours"}, 500))
    browser = Browser(client, app)
    browser.get("/count")
    store.down = down
    reply = browser.get("/count", status=503)
    assert reply.headers["Retry-After"] and reply.set_cookies == []
    assert sessions.events.counts["store_error"] == 1
    assert Browser(client, app).get("/plain").json == "no session used"  # without a cookie: no store needed
    store.down = ""
    assert browser.get("/count").json["cuenta"] == 2


# -- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("config", "https", "expected", "absent"), [
    pytest.param({"SESSION_COOKIE_NAME": "sid"}, False, ["sid=s%3A"], [], id="name"),
    pytest.param({"SESSION_COOKIE_SAMESITE": "Strict"}, False, ["SameSite=Strict"], ["SameSite=Lax"], id="samesite"),
    pytest.param({"SESSION_COOKIE_HTTPONLY": False}, False, [], ["HttpOnly"], id="httponly"),
    pytest.param({"SESSION_COOKIE_DOMAIN": "example.com"}, False, ["Domain=example.com"], [], id="domain"),
    pytest.param({"SESSION_COOKIE_PATH": "/"}, False, ["Path=/"], [], id="path"),
    pytest.param({"SESSION_COOKIE_SECURE": True}, True, ["Secure"], [], id="secure"),
    pytest.param({"SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_PARTITIONED": True}, True, ["Partitioned"], [],
                 id="partitioned"),
    pytest.param({"SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_SAMESITE": "None"}, True, ["SameSite=None"], [],
                 id="samesite-none"),
    pytest.param({}, True, ["Secure", "SameSite=Lax"], [], id="defaults-are-wsgisessions"),
])
def test_session_cookie_config_keys_map_onto_the_cookie(store, config, https, expected, absent):
    app, sessions = create_app(store, config=config)
    line = Browser("flask", app, sessions.name).get("/count", https=https).cookie(sessions.name)
    assert line is not None
    for part in expected:
        assert part in line, line
    for part in absent:
        assert part not in line, line


def test_a_secure_cookie_is_never_sent_over_http(store):
    app, _ = create_app(store, config={"SESSION_COOKIE_SECURE": True})
    assert Browser("flask", app).get("/count").set_cookies == []


def test_outside_the_cookie_path_there_is_no_session(store):
    app, _ = create_app(store, config={"SESSION_COOKIE_PATH": "/app"})
    browser = Browser("flask", app)
    assert browser.get("/plain").set_cookies == []
    browser.get("/count", status=500)  # the app wrote to a session it has not got (SessionError)
    inside = app.test_client().get("/count", base_url="http://localhost/app/")  # the app mounted at /app
    assert "Path=/app" in inside.headers["Set-Cookie"] and inside.get_json()["cuenta"] == 1


def test_application_root_is_the_cookie_path_when_session_cookie_path_is_unset(store):
    app, _ = create_app(store, config={"APPLICATION_ROOT": "/app"})
    reply = app.test_client().get("/count")  # Flask's test client mounts the app at APPLICATION_ROOT
    assert "Path=/app" in reply.headers["Set-Cookie"] and reply.get_json()["cuenta"] == 1


def test_config_that_contradicts_installs_arguments_is_an_error(store):
    app = Flask(__name__)
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    with pytest.raises(ConfigurationError, match="SESSION_COOKIE_SAMESITE"):
        install(app, secret=SECRET, store=store, cookie=CookieOptions(same_site="lax"))
    app.config["SESSION_COOKIE_NAME"] = "sid"
    with pytest.raises(ConfigurationError, match="SESSION_COOKIE_NAME"):
        install(app, secret=SECRET, store=store, name="other", cookie=CookieOptions(same_site="strict"))
    install(app, secret=SECRET, store=store, name="sid", cookie=CookieOptions(same_site="strict"))  # they agree


def test_a_lifetime_browsers_would_cap_is_an_error(store):
    app = Flask(__name__)
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=401)
    with pytest.raises(ConfigurationError, match="PERMANENT_SESSION_LIFETIME"):
        install(app, secret=SECRET, store=store)


def test_install_options_are_the_middlewares(store):
    app = Flask(__name__)
    with pytest.raises(TypeError):
        install(app, secret=SECRET, store=store, no_such_option=True)
    sessions = install(app, secret=SECRET, store=store, rolling=True, cookie=CookieOptions(max_age=60))
    assert app.extensions["wsgisession"] is sessions and sessions.config.rolling


# -- Flask's testing tools -----------------------------------------------------------------------------


def test_session_transaction_reads_and_writes_the_stored_session(made, store):
    app, _ = made
    client = app.test_client()
    with client.session_transaction() as session:
        session["cart"] = ["book"]
    assert client.get("/read").get_json() == {"cart": ["book"]}
    client.get("/set?more=1")
    with client.session_transaction() as session:
        assert dict(session) == {"cart": ["book"], "more": 1}


def test_only_importing_wsgisession_flask_imports_flask():
    code = ("import sys, wsgisession; assert 'flask' not in sys.modules; "
            "import wsgisession.flask; print('flask' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"



def test_a_remember_me_login_never_keeps_the_id_the_browser_presented():
    """Flask-Login's remember cookie logs in whatever session came with it: a planted one must not
    become the victim's logged-in session (fixation), so it gets a new id."""
    app, _ = create_app(MemoryStore(), {"SECRET_KEY": "Flask-Login signs its remember cookie with it"})
    victim = app.test_client()
    victim.get("/login?user=alice&remember=1")
    remember = victim.get_cookie("remember_token").value
    attacker = app.test_client()
    attacker.get("/count")
    planted = attacker.get_cookie(NAME).value
    browser = app.test_client()  # the victim's browser, its session over, with the attacker's cookie planted
    browser.set_cookie(NAME, planted)
    browser.set_cookie("remember_token", remember)
    assert browser.get("/me").json["user"] == "alice"
    assert sid_of(browser.get_cookie(NAME).value) != sid_of(planted)
    assert attacker.get("/me").json["user"] is None  # the attacker's session did not become alice's


def test_a_store_without_accounts_still_gets_a_new_id_at_login():
    class Plain(MemoryStore):
        iter_bound = Store.iter_bound  # (what a store of your own without accounts looks like)

    app, _ = create_app(Plain())
    client = app.test_client()
    client.get("/count")
    before = sid_of(client.get_cookie(NAME).value)
    assert client.get("/login?user=alice").status_code in (200, 302)
    assert sid_of(client.get_cookie(NAME).value) not in (None, before)


# -- issue 23: what Flask's own tests and a review found ---------------------------------------------


def test_a_lifetime_set_before_login_is_kept(browser, store, clock):
    """"Remember me" chosen before login_user(): the login's new id keeps the cookie's lifetime."""
    app, _ = create_app(store, config={"PERMANENT_SESSION_LIFETIME": timedelta(hours=1)}, clock=clock)
    browser = browser.fork(app)
    assert browser.get("/permanent").json["permanent"] is True
    line = browser.get("/login?user=alice").cookie()
    assert line is not None and "Max-Age=3600" in line
    assert store.get(sid_of(line))["cookie"]["originalMaxAge"] == 3_600_000


def test_strong_session_protection_marks_a_permanent_session_not_fresh(browser, store, clock):
    """Flask-Login applies only "basic" to a permanent session: another browser makes it not fresh, and the
    user stays logged in (before the fix, the login dropped the lifetime, and "strong" logged the user out)."""
    app, _ = create_app(store, config={"SESSION_PROTECTION": "strong"}, clock=clock)
    browser = browser.fork(app)
    browser.get("/permanent", headers={"User-Agent": "laptop"})
    sid = sid_of(browser.get("/login?user=alice", headers={"User-Agent": "laptop"}).cookie())
    elsewhere = browser.get("/me", headers={"User-Agent": "elsewhere"}).json
    assert elsewhere["user"] == "alice" and elsewhere["data"]["_fresh"] is False
    assert store.get(sid)["_user_id"] == "alice"


@pytest.mark.parametrize("note", [False, True], ids=["lifetime-only", "with-a-data-change"])
def test_permanent_false_reaches_the_browser(browser, store, clock, note):
    """A permanent session made a browser-session one again sends its cookie, without Max-Age or Expires."""
    browser.get("/permanent")
    line = browser.get("/permanent?on=0" + ("&note=x" if note else "")).cookie()
    assert line is not None and "Max-Age" not in line and "Expires" not in line
    assert sid_of(line) == sid_of(browser.cookie)  # the same session, now until the browser closes


@pytest.mark.parametrize("client", CLIENTS)
def test_no_vary_cookie_on_a_response_that_never_touched_the_session(client, store):
    """Werkzeug hands every body over as an iterator: only a streamed one can still read the session.
    (An app without Flask-Login, which reads the session after every request.)"""
    app = Flask(__name__)
    install(app, secret=SECRET, store=store)
    app.add_url_rule("/count", "count", lambda: {"n": session.setdefault("n", 1)})
    app.add_url_rule("/plain", "plain", lambda: "no session used")

    @app.get("/stream")
    def stream() -> Any:
        @stream_with_context
        def body() -> Any:
            yield "n="
            yield str(session.get("n"))

        return app.response_class(body())

    browser = Browser(client, app)
    assert browser.get("/count").headers["Vary"] == "Cookie"  # the browser holds the cookie from now on
    assert "Vary" not in browser.get("/plain").headers
    assert browser.get("/stream").headers["Vary"] == "Cookie"  # a streamed body may still read the session


def test_the_apps_own_vary_is_merged_into_one_header(browser):
    reply = browser.get("/vary")
    values = reply.headers.getlist("Vary") if browser.kind == "flask" else reply.headers.getall("Vary")
    assert values == ["Accept-Encoding, Cookie"]


@pytest.mark.parametrize(("kind", "advice"), [("bytes", "base64"), ("uuid", "str(value)"),
                                              ("datetime", "isoformat()"), ("date", "isoformat()"),
                                              ("set", "a list")])
def test_a_value_that_is_not_json_fails_where_the_app_handles_it(browser, store, kind, advice):
    browser.get("/set?kept=1")
    failed = browser.get(f"/store?kind={kind}", status=422)  # the TypeError, at the assignment, to the app's handler
    assert "not JSON" in failed.json["error"] and advice in failed.json["error"]
    assert browser.get("/read").json == {"kept": 1}  # the session itself is unharmed


def test_a_nested_value_that_is_not_json_fails_inside_flasks_error_handling(browser):
    browser.get("/set?list=[1]")
    failed = browser.get("/store?kind=bytes&nested=1", status=500)  # found as Flask saves: its 500 handler answers
    assert "session['list'] holds a bytes" in failed.json["error"]
    assert browser.get("/read").json == {"list": [1]}  # the key keeps what the store held


def test_accessed_and_modified_can_be_reset_as_in_flask(made):
    app, _ = made
    with app.test_request_context():
        session["k"] = 1
        view = flask.globals.request_ctx._session  # (not through the proxy, which sets accessed)
        view.accessed = view.modified = False
        assert not view.accessed and not view.modified
        assert view.get("k") == 1 and view.accessed and not view.modified
        view["k"] = 1  # setting a key counts, even to what it held
        assert view.modified


# -- express-session 1.19's dynamic cookie options -------------------------------------------------------


def test_a_cookie_callable_is_called_with_a_flask_request(store):
    from flask import Request

    seen = []

    def per_host(request):
        seen.append(type(request))
        return {"max_age": 3600} if request.host == "remember.example" else CookieOptions()

    app, _ = create_app(store, cookie=per_host)
    client = app.test_client()
    assert "Max-Age=" in client.get("/count", base_url="http://remember.example/").headers["Set-Cookie"]
    other = app.test_client().get("/count", base_url="http://plain.example/")
    assert "Max-Age=" not in other.headers["Set-Cookie"]
    assert seen and all(issubclass(kind, Request) for kind in seen)
    with client.session_transaction(base_url="http://remember.example/") as session:  # (outside the middleware)
        assert session["cuenta"] == 1 and session.cookie.options.max_age == 3600
    contradicting = Flask(__name__)
    contradicting.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    with pytest.raises(ConfigurationError, match="SESSION_COOKIE_SAMESITE.*return those from the callable"):
        install(contradicting, secret=SECRET, store=store, cookie=per_host)


def test_a_login_refused_by_the_session_limit_logs_nobody_in(store, clock):
    """max_sessions_policy="refuse": TooManySessions comes out of login_user(), and Flask-Login's keys go."""
    from wsgisession import TooManySessions

    app, _ = create_app(store, max_sessions_per_user=1, max_sessions_policy="refuse", clock=clock)
    app.register_error_handler(TooManySessions, lambda refused: (str(refused), 409))
    first, second = app.test_client(), app.test_client()
    first.get("/login?user=alice")
    second.get("/set?cart=%5B%22book%22%5D")
    refused = second.get("/login?user=alice")
    assert refused.status_code == 409 and "already signed in on 1 device" in refused.text
    seen = second.get("/me").get_json()
    assert (seen["user"], seen["user_id"], seen["data"]["cart"]) == (None, None, ["book"]) and "_user_id" not in seen["data"]
    assert first.get("/me").get_json()["user"] == "alice"


def test_a_remember_me_login_is_bound_to_the_user_but_not_as_an_authentication(clock):
    """Flask-Login's remember cookie logs the user in: the session is bound (sessions_of lists it, a
    later login as another user starts afresh), but the user proved nothing now."""
    store = MemoryStore(clock=clock)
    app, sessions = create_app(store, {"SECRET_KEY": "Flask-Login signs its remember cookie with it"}, clock=clock)

    @app.get("/fresh")
    def fresh() -> Any:
        return {"within": session.authenticated_within(3600), "at": session.authenticated_at}

    first = app.test_client()
    first.get("/login?user=alice&remember=1")
    remember = first.get_cookie("remember_token").value
    browser = app.test_client()  # another visit: the session is gone, the remember cookie is not
    browser.set_cookie("remember_token", remember)
    assert browser.get("/set?cart=%5B%22alices%20book%22%5D").get_json()["cart"] == ["alices book"]
    seen = browser.get("/me").get_json()
    assert (seen["user"], seen["user_id"]) == ("alice", "alice")  # bound
    assert browser.get("/fresh").get_json() == {"within": False, "at": None}  # not authenticated now
    assert len(sessions.sessions_of("alice")) == 2
    browser.get("/reauth")  # confirm_login(): the password again
    assert browser.get("/fresh").get_json()["within"] is True
    browser.get("/login?user=bob")  # a login as another user, no logout between
    seen = browser.get("/me").get_json()
    assert (seen["user"], seen["user_id"]) == ("bob", "bob") and "cart" not in seen["data"]  # alice's data stayed hers


def test_a_session_setting_changed_after_install_is_refused_not_ignored(store):
    """install() reads app.config once: a SESSION_COOKIE_SECURE set afterwards would otherwise be silently ignored."""
    app, _ = create_app(store)
    app.config["SESSION_COOKIE_SECURE"] = True
    response = app.test_client().get("/count")
    assert response.status_code == 500 and "Set-Cookie" not in response.headers
    assert "SESSION_COOKIE_SECURE changed after wsgisession.flask.install()" in response.json["error"]
    app.config["SESSION_COOKIE_SECURE"] = False  # put back: the check passes, once, and is not made again
    assert app.test_client().get("/count").json["cuenta"] == 1
