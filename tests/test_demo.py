"""demo.py: the counter over real HTTP (waitress in a subprocess, restarted mid-way), and the
account pages (WebTest, on the stores the demo uses)."""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import unquote

import pytest
from webtest import TestApp

import demo as demo_module
from wsgisession import MemoryStore
from wsgisession.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE

from .mongo_server import free_port

ROOT = Path(__file__).resolve().parent.parent


class Demo:
    """`python3 demo.py` on a free port, with a bounded wait for it to listen."""

    def __init__(self, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "PORT": str(self.port), **env}
        self.workdir = workdir
        self.log = workdir / "demo.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, str(ROOT / "demo.py")], cwd=self.workdir,
                                            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"demo exited: {self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"demo did not listen within 20 s: {self.log.read_text()}")

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=10)

    def get(self, cookie: str | None = None) -> tuple[str, str | None]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("GET", "/", headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        body = response.read().decode("utf-8")
        connection.close()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
        set_cookie = response.getheader("Set-Cookie")
        return body, set_cookie.split(";", 1)[0] if set_cookie else None


def walkthrough(demo: Demo) -> None:
    demo.start()
    try:
        body, cookie = demo.get()
        assert body == "Hola has visto esta página 1" and cookie and cookie.startswith("connect.sid=s%3A")
        assert demo.get(cookie) == ("Hola has visto esta página 2", None)
        assert demo.get(cookie) == ("Hola has visto esta página 3", None)
    finally:
        demo.stop()
    demo.start()  # the sessions live in a database: a restart keeps them
    try:
        assert demo.get(cookie) == ("Hola has visto esta página 4", None)
        fresh_body, fresh_cookie = demo.get()  # no cookie: a new session
        assert fresh_body == "Hola has visto esta página 1" and fresh_cookie != cookie
    finally:
        demo.stop()
    log = demo.log.read_text()
    assert f"listening on http://127.0.0.1:{demo.port}/" in log
    assert "SESSION_SECRET is not set" in log


def test_demo_survives_a_restart_with_sqlite(tmp_path):
    demo = Demo(tmp_path)
    walkthrough(demo)
    assert (tmp_path / "sessions.sqlite3").exists()
    assert "SQLiteStore" in demo.log.read_text()


def test_demo_survives_a_restart_with_mongodb(tmp_path, mongo_uri):
    database = "demo_" + uuid.uuid4().hex[:12]
    demo = Demo(tmp_path, MONGODB_URI=mongo_uri.rstrip("/") + "/" + database)
    walkthrough(demo)
    assert "MongoStore" in demo.log.read_text()
    assert not (tmp_path / "sessions.sqlite3").exists()


def test_demo_survives_a_restart_with_redis(tmp_path, redis_url):
    demo = Demo(tmp_path, SESSION_STORE=redis_url)  # SESSION_STORE: any URL open_store takes
    walkthrough(demo)
    assert "RedisStore" in demo.log.read_text()
    assert not (tmp_path / "sessions.sqlite3").exists()


def fetch(demo: Demo, method: str, path: str, cookie: str | None = None) -> http.client.HTTPResponse:
    """One request to the running demo; the response, its body read."""
    connection = http.client.HTTPConnection("127.0.0.1", demo.port, timeout=10)
    connection.request(method, path, headers={"Cookie": cookie, "User-Agent": "curl"} if cookie else {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_demo_account_pages_over_http(tmp_path):
    demo = Demo(tmp_path)
    demo.start()
    try:
        login = fetch(demo, "GET", "/login?user=alice")
        assert login.status == 303 and login.getheader("Location") == "/sessions"
        cookie = login.getheader("Set-Cookie").split(";", 1)[0]
        page = fetch(demo, "GET", "/sessions", cookie)
        assert page.status == 200 and page.getheader("Content-Type") == "text/html; charset=utf-8"
        assert fetch(demo, "HEAD", "/sessions", cookie).status == 200
        assert fetch(demo, "POST", "/sessions/revoke-others", cookie).status == 403  # no CSRF token
        logout = fetch(demo, "GET", "/logout", cookie)
        assert logout.status == 303 and "Max-Age=0" in logout.getheader("Set-Cookie")
        metrics = fetch(demo, "GET", "/metrics")
        assert metrics.getheader("Content-Type") == METRICS_CONTENT_TYPE
    finally:
        demo.stop()


# -- the account pages, in process ------------------------------------------------------------------

SECRET = "the demo tests' secret, over thirty-two bytes"
METRIC_LINE = re.compile(r'wsgisession_session_events_total\{event="([a-z_]+)"\} (\d+)')


@pytest.fixture(params=["memory", "sqlite"])
def served(request, tmp_path, monkeypatch):
    """demo.make_app(): on a MemoryStore, or on the SQLiteStore that SESSION_DB names."""
    monkeypatch.setenv("SESSION_SECRET", SECRET)
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.delenv("SESSION_STORE", raising=False)
    if request.param == "memory":
        app, store = demo_module.make_app(MemoryStore())
    else:
        monkeypatch.setenv("SESSION_DB", str(tmp_path / "sessions.sqlite3"))
        app, store = demo_module.make_app()
        assert type(store).__name__ == "SQLiteStore"
    yield app, store
    store.close()


def browser(app, agent: str = "Test browser") -> TestApp:
    return TestApp(app, extra_environ={"HTTP_USER_AGENT": agent})


def session_id(client: TestApp) -> str:
    """The id in the browser's signed cookie, ``s:<id>.<signature>``."""
    value = unquote(client.cookies["connect.sid"])
    assert value.startswith("s:")
    return value[2:].rsplit(".", 1)[0]


def log_in(client: TestApp, user: str = "alice"):
    """GET /login?user=..., then the /sessions page it redirects to."""
    response = client.get("/login", {"user": user}, status=303)
    assert response.headers["Location"] == "/sessions"
    return response.follow()


def marked_current(page) -> int:
    return page.text.count("<strong>this device</strong>")


def end_buttons(page) -> list:
    return [form for form in page.forms.values() if form.action == "/sessions/revoke"]


def revoke_others_form(page):
    [form] = [form for form in page.forms.values() if form.action == "/sessions/revoke-others"]
    return form


def logged_out(client: TestApp) -> bool:
    return "You are not logged in." in client.get("/sessions").text


def test_counter_counts_as_before(served):
    app, _ = served
    client = browser(app)
    for count in (1, 2, 3):
        response = client.get("/")
        assert response.text == f"Hola has visto esta página {count}"
        assert response.content_type == "text/plain" and response.charset == "utf-8"
        assert (response.headers.getall("Set-Cookie") != []) == (count == 1)  # the cookie goes out once


def test_login_gives_a_new_id_and_keeps_the_count(served):
    app, store = served
    client = browser(app)
    client.get("/")
    before = session_id(client)
    response = client.get("/login", {"user": "alice"}, status=303)
    assert response.headers["Location"] == "/sessions"
    assert len(response.headers.getall("Set-Cookie")) == 1
    after = session_id(client)
    assert after != before
    assert set(store.all()) == {after}  # the old record is gone
    page = response.follow()
    assert "Logged in as <strong>alice</strong>" in page.text and "Visits counted on" in page.text
    assert marked_current(page) == 1 and end_buttons(page) == []
    assert client.get("/").text == "Hola has visto esta página 2"


def test_sessions_page_lists_each_browser_and_marks_this_one(served):
    app, _ = served
    laptop, phone = browser(app, "Laptop"), browser(app, "Phone")
    log_in(laptop)
    log_in(phone)
    page = laptop.get("/sessions")
    assert page.headers["Cache-Control"] == "no-store"
    assert page.text.count("<tr><td>") == 2 and "Laptop" in page.text and "Phone" in page.text
    assert marked_current(page) == 1 and len(end_buttons(page)) == 1
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</td>", page.text)
    assert 'href="/logout"' in page.text and 'href="/"' in page.text


def test_end_logs_the_other_browser_out(served):
    app, _ = served
    laptop, phone = browser(app, "Laptop"), browser(app, "Phone")
    log_in(laptop)
    log_in(phone)
    [end] = end_buttons(laptop.get("/sessions"))
    assert end["handle"].value and end["csrf"].value
    assert end.submit(status=303).headers["Location"] == "/sessions"
    assert logged_out(phone)
    page = laptop.get("/sessions")
    assert marked_current(page) == 1 and end_buttons(page) == [] and "Phone" not in page.text


def test_log_out_my_other_devices(served):
    app, _ = served
    browsers = [browser(app, name) for name in ("Laptop", "Phone", "Tablet")]
    for client in browsers:
        log_in(client)
    other = browser(app, "Bob's laptop")
    log_in(other, "bob")
    revoke_others_form(browsers[0].get("/sessions")).submit(status=303)
    assert [logged_out(client) for client in browsers] == [False, True, True]
    assert not logged_out(other)  # another user's sessions are not touched
    assert app.sessions_of("bob") != [] and len(app.sessions_of("alice")) == 1


def forged(client: TestApp, path: str, **fields: str):
    return client.post(path, fields, status=403)


@pytest.mark.parametrize("token", [None, "", "wrong", "é", "phone's"], ids=["missing", "empty", "wrong", "non-ascii",
                                                                           "another-session"])
def test_posts_without_the_csrf_token_are_refused(served, token):
    app, _ = served
    laptop, phone = browser(app, "Laptop"), browser(app, "Phone")
    log_in(laptop)
    phone_page = log_in(phone)
    [end] = end_buttons(laptop.get("/sessions"))
    if token == "phone's":
        token = revoke_others_form(phone_page)["csrf"].value  # a real token, of another session
    fields = {} if token is None else {"csrf": token}
    assert "CSRF" in forged(laptop, "/sessions/revoke", handle=end["handle"].value, **fields).text
    forged(laptop, "/sessions/revoke-others", **fields)
    assert not logged_out(phone) and len(app.sessions_of("alice")) == 2


def test_posts_when_logged_out_are_refused(served):
    app, _ = served
    client = browser(app)
    assert "not logged in" in client.post("/sessions/revoke-others", {"csrf": "x"}, status=403).text


def test_oversized_or_malformed_forms_are_refused(served):
    app, _ = served
    laptop, phone = browser(app, "Laptop"), browser(app, "Phone")
    log_in(laptop)
    log_in(phone)
    token = revoke_others_form(laptop.get("/sessions"))["csrf"].value
    laptop.post("/sessions/revoke-others", {"csrf": token, "padding": "x" * 5000}, status=413)
    laptop.post("/sessions/revoke-others", f"csrf={token}&x=\u00e9".encode(),  # a raw byte, not %-escaped
                content_type="application/x-www-form-urlencoded", status=400)
    laptop.post("/sessions/revoke-others", {"csrf": token, **{f"f{n}": "x" for n in range(20)}}, status=400)
    assert not logged_out(phone)


def test_logout_expires_the_cookie_and_destroys_the_record(served):
    app, store = served
    client = browser(app)
    log_in(client)
    sid = session_id(client)
    response = client.get("/logout", status=303)
    assert response.headers["Location"] == "/"
    [set_cookie] = response.headers.getall("Set-Cookie")
    assert set_cookie.startswith("connect.sid=;") and "Max-Age=0" in set_cookie
    assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in set_cookie
    assert sid not in store.all() and app.sessions_of("alice") == []
    assert "connect.sid" not in client.cookies
    assert logged_out(client)


def test_logged_out_page_offers_a_login_form(served):
    app, store = served
    page = browser(app).get("/sessions")
    assert page.headers.getall("Set-Cookie") == [] and store.length() == 0  # looking saves nothing
    form = page.forms[0]
    assert form.method.upper() == "GET" and form.action == "/login"
    form["user"] = "carol"
    assert form.submit(status=303).follow().text.count("Logged in as <strong>carol</strong>") == 1


def test_user_agents_are_escaped(served):
    app, _ = served
    page = log_in(browser(app, '<script>alert("hi")</script>'))
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt;" in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize("query", [
    pytest.param("", id="missing"),
    pytest.param("user=", id="empty"),
    pytest.param("user=" + "a" * 65, id="too-long"),
    pytest.param("user=al%20ice", id="space"),
    pytest.param("user=%3Cb%3E", id="markup"),
    pytest.param("user=al%C3%A9", id="non-ascii"),
    pytest.param("user=alice%0A", id="newline"),
    pytest.param("user=alice&user=bob", id="twice"),
])
def test_bad_user_names_are_refused(served, query):
    app, store = served
    client = browser(app)
    response = client.get("/login?" + query, status=400)
    assert response.headers.getall("Set-Cookie") == [] and store.length() == 0


@pytest.mark.parametrize("user", ["a", "a" * 64, "alice.smith-2_x@example.org"])
def test_good_user_names_log_in(served, user):
    app, _ = served
    assert f"Logged in as <strong>{user}</strong>" in log_in(browser(app), user).text


def test_metrics_count_the_logins(served):
    app, _ = served
    for name in ("Laptop", "Phone"):
        log_in(browser(app, name))
    response = browser(app).get("/metrics")
    assert response.headers["Content-Type"] == METRICS_CONTENT_TYPE
    assert response.headers.getall("Set-Cookie") == []
    counts = {}
    for line in response.text.splitlines():
        if line.startswith("#"):
            assert re.fullmatch(r"# (HELP|TYPE) wsgisession_session_events_total .+", line)
        else:
            event, count = METRIC_LINE.fullmatch(line).groups()
            counts[event] = int(count)
    assert counts["login"] == 2 and counts.get("logout", 0) == 0


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("POST", "/login", "GET"),
    ("POST", "/logout", "GET"),
    ("POST", "/sessions", "GET, HEAD"),
    ("GET", "/sessions/revoke", "POST"),
    ("GET", "/sessions/revoke-others", "POST"),
    ("DELETE", "/metrics", "GET, HEAD"),
])
def test_wrong_methods_are_405(served, method, path, allow):
    app, _ = served
    response = browser(app).request(path, method=method, status=405)
    assert response.headers["Allow"] == allow


@pytest.mark.parametrize("path", ["/favicon.ico", "/other", "/sessions/", "/login/x"])
def test_other_paths_are_404(served, path):
    app, _ = served
    assert browser(app).get(path, status=404).headers.getall("Set-Cookie") == []


def test_counter_alone_still_serves(served):
    """bench/ serves demo.counter on its own: it keeps its 404."""
    from wsgisession import SessionMiddleware

    client = TestApp(SessionMiddleware(demo_module.counter, secret=SECRET, store=MemoryStore()))
    assert client.get("/").text == "Hola has visto esta página 1"
    assert client.get("/other", status=404).headers.getall("Set-Cookie") == []
