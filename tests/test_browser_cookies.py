"""What a real browser does with our cookie: SameSite, Secure, ``__Host-``, Partitioned, the 400-day cap
and duplicate names, in headless Chromium (Debian's) against wsgisession over http and https.

Sites are real host names to the browser (``a.test``, ``evil.a.test``, ``b.test``, all mapped to
127.0.0.1 by ``--host-resolver-rules``): ``b.test`` is another *site* than ``a.test``, so its pages
make genuinely cross-site requests. https uses a certificate made at test time (tests/browser/tls.py).
Server-side, ``Recorder`` shows whether each request carried the cookie; the counter (the demo's
own ``counter`` or the whole demo app) shows whether the session went on.

Debian's Chromium blocks third-party cookies by default; the tests about SameSite itself use a
profile that allows them (as Google Chrome's default settings do), so that what keeps a cookie off
a cross-site request is its SameSite attribute and nothing else. That default is asserted too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from selenium.webdriver.common.by import By

import demo as demo_module
from wsgisession import ConfigurationError, CookieOptions, MemoryStore, SessionMiddleware

from .browser.chromium import Browser
from .browser.fixtures import SECRET, browsers_fixture, certificate_fixture, serve_fixture  # noqa: F401  (fixtures)
from .browser.servers import ByHost, ByPath, Pages, RawCookies, Recorder, ThreadedServer

COUNT = re.compile(r"Hola has visto esta página (\d+)")
DAY = 86400
CAP = 400 * DAY  # the longest a browser keeps a cookie (RFC 6265bis), and our max_age limit


def count(browser: Browser) -> int:
    match = COUNT.search(browser.wait_text("Hola has visto esta página"))
    assert match
    return int(match.group(1))


def counter(**options: object) -> SessionMiddleware:
    """The demo's visit counter under a SessionMiddleware with ``options``, in memory."""
    return SessionMiddleware(demo_module.counter, secret=SECRET, store=MemoryStore(), **options)  # type: ignore[arg-type]


def demo_app() -> SessionMiddleware:
    """The whole demo (counter and account pages), with its default cookie options, in memory."""
    app, _ = demo_module.make_app(MemoryStore())
    return app


@pytest.fixture
def demo_secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SESSION_SECRET", SECRET)  # demo.make_app reads it
    yield


def names(browser: Browser) -> set[str]:
    return {cookie["name"] for cookie in browser.cookies()}


# -- SameSite --------------------------------------------------------------------------------------


def test_same_site_lax_keeps_the_session_off_cross_site_subresources_and_posts_but_not_off_links(
        browsers: Callable[..., Browser], serve: Callable[..., ThreadedServer], demo_secret: None) -> None:
    # The demo (defaults: SameSite=Lax, Secure under https) on https://a.test, plus a control cookie
    # with SameSite=None that the browser may send anywhere; a page on https://b.test embeds it.
    pages = Pages()
    a = Recorder(ByPath({"/control": RawCookies({"/control": ["control=1; SameSite=None; Secure; Path=/"]})},
                        default=demo_app()))
    site = serve(ByHost({"a.test": a, "b.test": pages}), https=True)
    browser = browsers("lax", third_party_cookies=True)
    browser.get(site.url("a.test", "/"))
    assert count(browser) == 1
    browser.get(site.url("a.test", "/control"))
    ours = browser.cookie("connect.sid")
    assert ours is not None and ours["sameSite"] == "Lax" and ours["secure"] is True
    assert browser.cookie("control")["sameSite"] == "None"  # type: ignore[index]

    target = site.url("a.test", "/")
    pages.put("/embed", f"""<!doctype html><title>loading</title>
<img src="{target}?via=img" onload="img()" onerror="img()">
<script>
let left = 2;
function img() {{ if (--left === 0) document.title = "done"; }}
fetch("{target}?via=fetch", {{mode: "no-cors", credentials: "include"}}).then(img, img);
</script>
<a id="link" href="{target}?via=link">to a.test</a>
<form id="post" method="post" action="{target}?via=post"><input name="x" value="1"></form>""")
    browser.get(site.url("b.test", "/embed"))
    browser.wait(lambda b: b.driver.title == "done", "the image and the fetch to finish")
    for via in ("img", "fetch"):
        requests = a.seen("/", f"via={via}")
        assert requests, f"the {via} request never reached a.test"
        for request in requests:
            assert request.fetch_site == "cross-site", request
            assert request.carries("control"), f"third-party cookies are allowed here: {request}"
            assert not request.carries("connect.sid"), f"SameSite=Lax must keep it off a cross-site {via}: {request}"
    # the cookies of the new sessions those two requests started were refused too
    assert browser.cookie("connect.sid")["value"] == ours["value"]  # type: ignore[index]

    # a top-level navigation (a link) from b.test to a.test carries it: the count goes on
    browser.click("#link")
    assert count(browser) == 2
    links = a.seen("/", "via=link")
    assert links and all(link.fetch_site == "cross-site" and link.fetch_mode == "navigate"
                         and link.carries("connect.sid") for link in links), links

    # a cross-site top-level POST does not carry it (Lax sends it with safe methods only)...
    browser.get(site.url("b.test", "/embed"))
    browser.driver.find_element(By.ID, "post").submit()
    assert count(browser) == 1  # a fresh session answered the POST
    posts = a.seen("/", "via=post")
    assert posts and all(post.fetch_site == "cross-site" and not post.carries("connect.sid")
                         and post.carries("control") for post in posts), posts
    # ...but the browser does store the cookie its response sets (RFC 6265bis lets any top-level
    # navigation set a Lax cookie, whatever its method): the demo's counter, which takes any
    # method, so swaps the visitor's session for a new one. (The old session stays in the store
    # until it expires; this browser just no longer holds its cookie. The explicit SameSite=Lax
    # also rules out Chrome's two-minute "Lax+POST" allowance, which is for cookies without one.)
    swapped = browser.cookie("connect.sid")
    assert swapped is not None and swapped["value"] != ours["value"]
    browser.get(site.url("a.test", "/"))
    assert count(browser) == 2


def test_same_site_none_needs_secure_in_the_browser_and_in_our_options(
        browsers: Callable[..., Browser], serve: Callable[..., ThreadedServer]) -> None:
    # our options refuse it at start-up
    for secure in (False, "auto"):
        with pytest.raises(ConfigurationError, match="same_site='none' needs secure=True"):
            CookieOptions(same_site="none", secure=secure)  # type: ignore[arg-type]

    # the browser drops it: a raw app sends what our options refuse to write
    raw = RawCookies({"/set": ["none_insecure=1; SameSite=None; Path=/", "lax_control=1; SameSite=Lax; Path=/"]})
    plain, tls = serve(raw), serve(raw, https=True)
    browser = browsers("none", third_party_cookies=True)
    browser.get(plain.url("a.test", "/set"))
    browser.wait_text("cookies sent")
    assert names(browser) == {"lax_control"}, "Chromium must drop SameSite=None without Secure"
    browser.get(tls.url("a.test", "/set"))  # over https too: without Secure it is still dropped
    browser.wait_text("cookies sent")
    assert names(browser) == {"lax_control"}

    # with secure=True it is kept, and goes with a cross-site request from https://b.test
    pages = Pages()
    app = Recorder(counter(cookie=CookieOptions(secure=True, same_site="none")))
    site = serve(ByHost({"a.test": app, "b.test": pages}), https=True)
    browser.get(site.url("a.test", "/"))
    assert count(browser) == 1
    cookie = browser.cookie("connect.sid")
    assert cookie is not None and cookie["sameSite"] == "None" and cookie["secure"] is True
    pages.put("/embed", f'<!doctype html><title>loading</title><img src="{site.url("a.test", "/")}?via=img" '
                        'onload="document.title=\'done\'" onerror="document.title=\'done\'">')
    browser.get(site.url("b.test", "/embed"))
    browser.wait(lambda b: b.driver.title == "done", "the image to load")
    requests = app.seen("/", "via=img")
    assert requests and all(r.fetch_site == "cross-site" and r.carries("connect.sid") for r in requests), requests
    browser.get(site.url("a.test", "/"))
    assert count(browser) == 3  # the cross-site image counted too: it carried the session

    # Debian's Chromium by default blocks third-party cookies: there, even SameSite=None stays home
    default = browsers("none-default")
    default.get(site.url("a.test", "/"))
    assert count(default) == 1
    app.clear()
    default.get(site.url("b.test", "/embed"))
    default.wait(lambda b: b.driver.title == "done", "the image to load")
    requests = app.seen("/", "via=img")
    assert requests and all(r.fetch_site == "cross-site" and not r.carries("connect.sid") for r in requests), (
        "Debian's Chromium blocks third-party cookies by default (profile.cookie_controls_mode = 1); if it "
        f"no longer does, update this test and the README: {requests}")


# -- Secure, __Host-, duplicates --------------------------------------------------------------------


def test_secure_auto_gives_a_secure_cookie_over_https_and_none_over_http(
        browsers: Callable[..., Browser], serve: Callable[..., ThreadedServer], demo_secret: None) -> None:
    app = demo_app()  # the demo's defaults: secure="auto"
    tls, plain = serve(app, https=True), serve(app)

    over_https = browsers("https")
    over_https.get(tls.url("a.test", "/"))
    assert count(over_https) == 1
    cookie = over_https.cookie("connect.sid")
    assert cookie is not None and cookie["secure"] is True and cookie["sourceScheme"] == "Secure"
    over_https.driver.refresh()
    assert count(over_https) == 2

    over_http = browsers("http")
    over_http.get(plain.url("a.test", "/"))
    assert count(over_http) == 1
    cookie = over_http.cookie("connect.sid")
    assert cookie is not None and cookie["secure"] is False
    over_http.driver.refresh()
    assert count(over_http) == 2

    # A Secure cookie never travels over http, and the browser refuses to let an http response
    # replace it ("strict secure cookies"): the same host over http gets a fresh session each
    # time, while the https session is untouched.
    secure_value = over_https.cookie("connect.sid")["value"]  # type: ignore[index]
    for _ in range(2):
        over_https.get(plain.url("a.test", "/"))
        assert count(over_https) == 1
    assert [c["value"] for c in over_https.cookies() if c["name"] == "connect.sid"] == [secure_value]
    over_https.get(tls.url("a.test", "/"))
    assert count(over_https) == 3


def test_a_host_prefixed_cookie_is_accepted_with_our_attributes_and_cannot_be_planted(
        browsers: Callable[..., Browser], serve: Callable[..., ThreadedServer]) -> None:
    with pytest.raises(ConfigurationError, match="__Host-"):
        SessionMiddleware(demo_module.counter, secret=SECRET, store=MemoryStore(), name="__Host-sid")  # secure="auto"
    app = Recorder(counter(name="__Host-sid", cookie=CookieOptions(secure=True)))
    evil = RawCookies({"/plant": ["__Host-sid=planted; Domain=a.test; Path=/; Secure",
                                  "__Host-sid=planted; Path=/; Secure",  # a host cookie, but for evil.a.test
                                  "__Host-path=planted; Path=/admin; Secure"],
                       "/http": ["__Host-http=1; Path=/"]})
    site = serve(ByHost({"a.test": app, "evil.a.test": evil}), https=True)
    plain = serve(evil)

    browser = browsers("host-prefix")
    browser.get(site.url("a.test", "/"))
    assert count(browser) == 1
    cookie = browser.cookie("__Host-sid")
    assert cookie is not None
    assert (cookie["domain"], cookie["path"], cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == \
        ("a.test", "/", True, True, "Lax")
    browser.driver.refresh()
    assert count(browser) == 2

    # a sibling subdomain cannot plant one for a.test, nor can plain http set one at all
    browser.get(site.url("evil.a.test", "/plant"))
    browser.wait_text("cookies sent")
    browser.get(plain.url("a.test", "/http"))
    browser.wait_text("cookies sent")
    # kept: ours, and evil.a.test's own host-only one; refused: the one with Domain=a.test, the
    # one with another path, and the one over http
    host_cookies = sorted((c["name"], c["domain"], c["path"]) for c in browser.cookies())
    assert host_cookies == [("__Host-sid", "a.test", "/"), ("__Host-sid", "evil.a.test", "/")], host_cookies
    browser.get(site.url("a.test", "/"))
    assert count(browser) == 3
    assert app.seen("/")[-1].cookie.count("__Host-sid=") == 1  # only ours reached a.test


def test_duplicate_cookie_names_the_first_valid_one_wins(
        browsers: Callable[..., Browser], serve: Callable[..., ThreadedServer]) -> None:
    # A sibling subdomain plants connect.sid for the whole domain before the user's first visit;
    # the browser then sends both, the planted (older) one first. The first cookie that verifies
    # is used (express would take the planted one, and start a new session at every request).
    app = Recorder(counter())
    evil = RawCookies({"/plant": ["connect.sid=s%3Aplanted.bad-signature; Domain=a.test; Path=/"]})
    site = serve(ByHost({"a.test": app, "evil.a.test": evil}))
    browser = browsers("duplicates")
    browser.get(site.url("evil.a.test", "/plant"))
    browser.wait_text("cookies sent")
    for expected in (1, 2, 3):
        browser.get(site.url("a.test", "/"))
        assert count(browser) == expected
    header = app.seen("/")[-1].cookie
    values = [part.strip() for part in header.split(";")]
    assert len(values) == 2 and values[0] == "connect.sid=s%3Aplanted.bad-signature", header
    jar = sorted((c["domain"], c["name"]) for c in browser.cookies())
    assert jar == [(".a.test", "connect.sid"), ("a.test", "connect.sid")]


# -- Partitioned, the 400-day cap --------------------------------------------------------------------


def test_a_partitioned_cookie_works_in_a_cross_site_frame_and_only_there(
        browsers: Callable[..., Browser], serve: Callable[..., ThreadedServer]) -> None:
    with pytest.raises(ConfigurationError, match="partitioned=True needs secure=True"):
        CookieOptions(partitioned=True, secure="auto")
    app = Recorder(counter(cookie=CookieOptions(secure=True, same_site="none", partitioned=True)))
    pages = Pages()
    site = serve(ByHost({"a.test": app, "b.test": pages}), https=True)
    pages.put("/frame", f'<!doctype html><iframe id="f" src="{site.url("a.test", "/")}"></iframe>')

    browser = browsers("partitioned")  # Chromium's default: third-party cookies blocked, CHIPS allowed
    for expected in (1, 2, 3):
        browser.get(site.url("b.test", "/frame"))
        browser.driver.switch_to.frame(browser.driver.find_element(By.ID, "f"))
        try:
            assert count(browser) == expected
        finally:
            browser.driver.switch_to.default_content()
    cookie = browser.cookie("connect.sid")
    assert cookie is not None and cookie["secure"] is True and cookie["sameSite"] == "None"
    assert cookie["partitionKey"]["topLevelSite"] == "https://b.test"  # kept in b.test's partition
    assert all(request.fetch_site == "cross-site" for request in app.seen("/"))

    # visited directly, a.test does not get the cookie of its frame on b.test: a new session
    browser.get(site.url("a.test", "/"))
    assert count(browser) == 1
    assert not app.seen("/")[-1].carries("connect.sid")
    # two cookies of the same name now, one per top-level site (our options make both Partitioned)
    keys = sorted(c["partitionKey"]["topLevelSite"] for c in browser.cookies() if c["name"] == "connect.sid")
    assert keys == ["https://a.test", "https://b.test"]


def test_browsers_cap_a_cookie_at_400_days_and_so_do_our_options(
        browsers: Callable[..., Browser], serve: Callable[..., ThreadedServer]) -> None:
    with pytest.raises(ConfigurationError):
        CookieOptions(max_age=CAP + 1)
    app = counter(cookie=CookieOptions(max_age=CAP))
    raw = RawCookies({"/ten-years": [f"ten_years=1; Max-Age={10 * 365 * DAY}; Path=/"]})
    site = serve(ByPath({"/ten-years": raw}, default=app))
    browser = browsers("cap")
    before = time.time()
    browser.get(site.url("a.test", "/"))
    assert count(browser) == 1
    browser.get(site.url("a.test", "/ten-years"))
    browser.wait_text("cookies sent")
    after = time.time()
    ours, ten_years = browser.cookie("connect.sid"), browser.cookie("ten_years")
    assert ours is not None and ten_years is not None
    for cookie in (ours, ten_years):  # both end 400 days after they were set, give or take the requests
        assert before + CAP - 1 <= cookie["expires"] <= after + CAP + 1, cookie
        assert cookie["session"] is False
