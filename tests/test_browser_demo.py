"""The demo in a real browser: headless Chromium (Debian's) against ``python demo.py`` on waitress.

The README's walkthrough (reload counts, a restart continues, deleting the cookie starts again),
the cookie as the browser's jar holds it, logout, and the accounts page in two browser profiles.
Screenshots of /sessions go to tests/browser/artifacts/ (git-ignored). See tests/browser/.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from selenium.webdriver.common.by import By

from .browser.chromium import Browser
from .browser.fixtures import ARTIFACTS, SECRET, browsers_fixture, certificate_fixture  # noqa: F401  (fixtures)
from .browser.servers import DemoProcess

COUNT = re.compile(r"^Hola has visto esta página (\d+)$")


def count(browser: Browser) -> int:
    """The number the counter page shows (the page must be the counter)."""
    text = browser.wait_text("Hola has visto esta página")
    match = COUNT.match(text.strip())
    assert match, f"not the counter page: {text!r}"
    return int(match.group(1))


def session_id(cookie_value: str) -> str:
    """The session id inside a connect.sid value: ``s:<id>.<signature>``, URI-encoded."""
    decoded = unquote(cookie_value)
    assert decoded.startswith("s:"), decoded
    return decoded[2:].rsplit(".", 1)[0]


def sid_cookie(browser: Browser) -> dict:
    cookie = browser.cookie("connect.sid")
    assert cookie is not None, f"no connect.sid in the jar: {browser.cookies()}"
    return cookie


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    """One ``python demo.py`` for the account tests (each logs in under its own name), SQLite in a temp dir."""
    workdir = tmp_path_factory.mktemp("demo")
    process = DemoProcess(workdir, SESSION_SECRET=SECRET, SESSION_DB=str(workdir / "sessions.sqlite3"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_walkthrough_reload_counts_a_restart_continues_and_a_deleted_cookie_starts_again(
        browsers: Callable[..., Browser], tmp_path: Path) -> None:
    # the README's quick start, exactly: `python demo.py`, no settings (sessions.sqlite3 in its
    # working directory, the development secret), then reload
    demo = DemoProcess(tmp_path)
    demo.start()
    try:
        browser = browsers("walkthrough")
        browser.get(demo.url("/"))
        assert count(browser) == 1
        first = sid_cookie(browser)["value"]
        for expected in (2, 3):
            browser.driver.refresh()
            browser.wait_text(f"página {expected}")
            assert count(browser) == expected
        assert sid_cookie(browser)["value"] == first  # the same session all along

        demo.stop()  # Ctrl-C, and start it again (the same port, as `python demo.py` would take)
        demo.start()
        browser.driver.refresh()
        assert count(browser) == 4, "a restart must keep the session: it lives in sessions.sqlite3"
        assert sid_cookie(browser)["value"] == first

        browser.delete_cookies("connect.sid")  # what a user does in the browser's settings
        assert browser.cookie("connect.sid") is None
        browser.driver.refresh()
        assert count(browser) == 1
        fresh = sid_cookie(browser)["value"]
        assert session_id(fresh) != session_id(first)
        browser.driver.refresh()
        assert count(browser) == 2
    finally:
        demo.stop()
    assert (tmp_path / "sessions.sqlite3").is_file()
    assert "SESSION_SECRET is not set" in demo.log_text()


def test_the_session_cookie_is_httponly_and_the_jar_holds_the_attributes_we_send(
        browsers: Callable[..., Browser], demo: DemoProcess) -> None:
    # what we send: one raw request to the demo, outside the browser
    connection = http.client.HTTPConnection("127.0.0.1", demo.port, timeout=10)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        sent = response.getheader("Set-Cookie")
    finally:
        connection.close()
    assert sent is not None
    attributes = {part.strip().split("=", 1)[0].lower(): part.strip().partition("=")[2]
                  for part in sent.split(";")[1:]}
    assert attributes == {"path": "/", "httponly": "", "samesite": "Lax"}, sent  # no Expires: a browser session

    browser = browsers("jar")
    browser.get(demo.url("/"))
    assert count(browser) == 1
    cookie = sid_cookie(browser)
    assert cookie["domain"] == "127.0.0.1"  # host-only: no Domain attribute was sent
    assert cookie["path"] == "/"
    assert cookie["httpOnly"] is True
    assert cookie["secure"] is False  # secure="auto" on plain http
    assert cookie["sameSite"] == "Lax"
    assert cookie["session"] is True and cookie["expires"] == -1  # gone when the browser closes
    assert cookie["value"].startswith("s%3A")

    # HttpOnly: scripts never see it, though they do see a cookie that is not HttpOnly
    browser.js("document.cookie = 'visible=1; path=/'")
    assert browser.js("return document.cookie") == "visible=1"
    assert "connect.sid" not in browser.js("return document.cookie")
    browser.js("document.cookie = 'connect.sid=forged; path=/'")  # nor can a script overwrite it
    assert sid_cookie(browser)["value"] == cookie["value"]
    assert browser.js("return document.cookie") == "visible=1"
    browser.driver.refresh()
    assert count(browser) == 2


def test_logout_removes_the_cookie_from_the_browser(browsers: Callable[..., Browser], demo: DemoProcess) -> None:
    browser = browsers("logout")
    browser.get(demo.url("/login?user=carol"))
    browser.wait_text("Logged in as carol")
    assert browser.url == demo.url("/sessions")
    logged_in = sid_cookie(browser)["value"]

    # /logout answers 303 to /, where the counter would start a new session at once: to see what
    # the logout itself does to the jar, fetch it without following the redirect, from a page of
    # the demo that has no Content-Security-Policy (the account pages forbid fetch)
    browser.get(demo.url("/not-a-page"))
    browser.wait_text("Not found")
    outcome = browser.js_async("const done = arguments[arguments.length - 1];"
                               "fetch('/logout', {redirect: 'manual', credentials: 'same-origin'})"
                               ".then(r => done(r.type), e => done('error: ' + e));")
    assert outcome == "opaqueredirect"
    assert browser.cookie("connect.sid") is None, "the logout's Max-Age=0 must remove the cookie from the jar"
    browser.get(demo.url("/sessions"))
    browser.wait_text("You are not logged in.")
    assert browser.cookie("connect.sid") is None  # an untouched anonymous session sends no cookie

    # and the way a user does it: the "Log out" link, then the counter starts again at 1
    browser.get(demo.url("/login?user=carol"))
    browser.wait_text("Logged in as carol")
    again = sid_cookie(browser)["value"]
    assert session_id(again) != session_id(logged_in)
    browser.driver.find_element(By.LINK_TEXT, "Log out").click()
    assert count(browser) == 1
    assert browser.url == demo.url("/")
    assert session_id(sid_cookie(browser)["value"]) not in (session_id(again), session_id(logged_in))


def rows(browser: Browser) -> list[str]:
    """The /sessions table's rows, as text."""
    browser.wait_text("Your sessions")
    return [row.text for row in browser.driver.find_elements(By.CSS_SELECTOR, "tbody tr")]


def wait_rows(browser: Browser, n: int) -> list[str]:
    """The rows, once there are ``n`` of them (bounded wait)."""
    def listed(b: Browser) -> list[str] | None:
        found = rows(b)
        return found if len(found) == n else None

    return browser.wait(listed, f"{n} rows on /sessions")


def test_two_profiles_list_two_sessions_and_ending_one_logs_the_other_out(
        browsers: Callable[..., Browser], demo: DemoProcess) -> None:
    first, second = browsers("first", window=(1100, 520)), browsers("second", window=(1100, 520))
    first.get(demo.url("/login?user=alice"))
    first.wait_text("Logged in as alice")
    assert len(wait_rows(first, 1)) == 1 and "this device" in rows(first)[0]

    second.get(demo.url("/login?user=alice"))
    second.wait_text("Logged in as alice")
    assert len(wait_rows(second, 2)) == 2
    first.driver.refresh()
    listed = wait_rows(first, 2)
    assert sum("this device" in row for row in listed) == 1
    assert all("HeadlessChrome" in row for row in listed)  # the User-Agent each browser logged in with
    first.screenshot(ARTIFACTS / "sessions-two-profiles-first.png")
    second.screenshot(ARTIFACTS / "sessions-two-profiles-second.png")

    # "End" the other one (a form POST with the CSRF token, from the first profile)
    ends = first.driver.find_elements(By.XPATH, "//tbody//button[normalize-space()='End']")
    assert len(ends) == 1
    ends[0].click()
    first.wait(lambda b: len(rows(b)) == 1, "the ended session to leave the list")
    assert "this device" in rows(first)[0]
    first.screenshot(ARTIFACTS / "sessions-after-end.png")
    second.driver.refresh()  # its next load
    second.wait_text("You are not logged in.")
    second.get(demo.url("/"))
    assert count(second) == 1  # its old session is gone: the counter starts again

    # "Log out my other devices"
    second.get(demo.url("/login?user=alice"))
    wait_rows(second, 2)
    first.driver.refresh()
    wait_rows(first, 2)
    first.driver.find_element(By.XPATH, "//button[normalize-space()='Log out my other devices']").click()
    first.wait(lambda b: len(rows(b)) == 1, "the other devices to leave the list")
    second.driver.refresh()
    second.wait_text("You are not logged in.")
    first.driver.refresh()
    assert len(wait_rows(first, 1)) == 1  # the first profile is still logged in
