from __future__ import annotations

import dataclasses

import pytest

from wsgisession import ConfigurationError, CookieOptions
from wsgisession.options import validate_cookie_name


def test_defaults_are_safe():
    options = CookieOptions()
    assert (options.path, options.domain, options.http_only, options.secure, options.same_site, options.max_age) == (
        "/", None, True, "auto", "lax", None)


def test_frozen_and_keyword_only():
    options = CookieOptions(max_age=60)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.max_age = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        CookieOptions("/")  # type: ignore[misc]
    assert dataclasses.replace(options, path="/app").path == "/app"


def test_case_is_normalised():
    options = CookieOptions(same_site="Strict", priority="HIGH")
    assert (options.same_site, options.priority) == ("strict", "high")


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        pytest.param({"same_site": "sometimes"}, "same_site must be", id="bad samesite"),
        pytest.param({"same_site": "none"}, "secure=True", id="samesite none without secure"),
        pytest.param({"same_site": "none", "secure": "auto"}, "same_site='auto'", id="samesite none with auto"),
        pytest.param({"partitioned": True}, "secure=True", id="partitioned without secure"),
        pytest.param({"secure": "yes"}, "secure must be", id="bad secure"),
        pytest.param({"max_age": -1}, "max_age", id="negative max age"),
        pytest.param({"max_age": "60"}, "max_age", id="max age as text"),
        pytest.param({"path": "app"}, "absolute", id="relative path"),
        pytest.param({"path": "/a;b"}, "path", id="path with semicolon"),
        pytest.param({"domain": "exa mple.com"}, "domain", id="bad domain"),
        pytest.param({"priority": "urgent"}, "priority", id="bad priority"),
        pytest.param({"http_only": "yes"}, "http_only", id="bad http only"),
    ],
)
def test_invalid_options_say_what_to_do(kwargs, hint):
    with pytest.raises(ConfigurationError) as info:
        CookieOptions(**kwargs)
    assert hint in str(info.value)
    assert isinstance(info.value, ValueError)


def test_valid_combinations():
    CookieOptions(same_site="none", secure=True, partitioned=True)
    CookieOptions(same_site="auto")
    CookieOptions(domain=".example.org", path="/app", max_age=0)


@pytest.mark.parametrize(
    ("name", "options", "hint"),
    [
        pytest.param("bad name", CookieOptions(), "not a valid token", id="space in name"),
        pytest.param("", CookieOptions(), "not a valid token", id="empty name"),
        pytest.param("__Host-sid", CookieOptions(), "__Host-", id="host prefix without secure"),
        pytest.param("__Host-sid", CookieOptions(secure=True, domain="example.com"), "domain=None", id="host with domain"),
        pytest.param("__Host-sid", CookieOptions(secure=True, path="/app"), "path='/'", id="host with path"),
        pytest.param("__Secure-sid", CookieOptions(), "secure=True", id="secure prefix without secure"),
    ],
)
def test_cookie_name_rules(name, options, hint):
    with pytest.raises(ConfigurationError) as info:
        validate_cookie_name(name, options)
    assert hint in str(info.value)


def test_prefixed_names_accepted_when_valid():
    validate_cookie_name("__Host-sid", CookieOptions(secure=True))
    validate_cookie_name("__Secure-sid", CookieOptions(secure=True, domain="example.com"))


@pytest.mark.parametrize(("value", "positive", "ok"), [
    (1, True, True), (0.5, True, True), (0, True, False), (0, False, True), (-1, False, False),
    (True, True, False), ("1", True, False), (float("nan"), True, False), (301, True, False),
])
def test_one_rule_for_a_number_of_seconds(value, positive, ok):
    from wsgisession.errors import ConfigurationError
    from wsgisession.options import check_seconds

    if ok:
        assert check_seconds("wait", value, positive=positive, at_most=300) == value
    else:
        with pytest.raises(ConfigurationError, match="wait must be a .*number of seconds"):
            check_seconds("wait", value, positive=positive, at_most=300)


# -- express-session 1.19's dynamic options: cookie=callable --------------------------------------

from webtest import TestApp  # noqa: E402

from wsgisession import MemoryStore, SessionMiddleware, get_session  # noqa: E402
from wsgisession.options import cookie_options  # noqa: E402

from .helpers import FakeClock  # noqa: E402

SECRET = "a test secret that is long enough for the warning"


def test_cookie_options_takes_options_or_a_dict_of_their_fields():
    options = CookieOptions(max_age=60)
    assert cookie_options(options, "connect.sid") is options
    from_dict = cookie_options({"max_age": 60, "same_site": "Strict"}, "connect.sid")
    assert (from_dict.max_age, from_dict.same_site) == (60, "strict")
    assert cookie_options({"same_site": "Strict", "max_age": 60}, "connect.sid") is from_dict  # checked once


@pytest.mark.parametrize(
    ("returned", "hint"),
    [
        pytest.param(None, "returned NoneType: return a CookieOptions(...) or a dict of its fields", id="none"),
        pytest.param([("max_age", 60)], "returned list", id="list"),
        pytest.param({"maxAge": 60}, "maxAge, which CookieOptions does not have", id="express spelling"),
        pytest.param({"same_site": "none"}, "returned invalid options: same_site='none' needs secure=True",
                     id="invalid combination"),
        pytest.param({"max_age": [1]}, "returned invalid options: max_age", id="unhashable value"),
        pytest.param({"secure": False}, "the cookie name forbids: a cookie named '__Host-sid'", id="prefix rules"),
    ],
)
def test_a_bad_return_says_what_it_was_and_what_to_return(returned, hint):
    with pytest.raises(ConfigurationError) as info:
        cookie_options(returned, "__Host-sid", "the cookie callable")
    assert hint in str(info.value)


def _counter(environ, start_response):
    if environ["PATH_INFO"].endswith("/untouched"):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"-"]
    session = get_session(environ)
    session["n"] = session.get("n", 0) + 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(session["n"]).encode()]


def test_the_callable_decides_each_requests_cookie():
    """Per host: the cookie's domain and lifetime come from what the callable returned for the request."""
    seen = []

    def per_host(environ):
        seen.append(environ["HTTP_HOST"])
        if environ["HTTP_HOST"] == "shop.example.com":
            return {"domain": "shop.example.com", "max_age": 3600, "same_site": "strict"}
        return CookieOptions()

    clock = FakeClock()
    client = TestApp(SessionMiddleware(_counter, secret=SECRET, store=MemoryStore(clock=clock), cookie=per_host,
                                       clock=clock))
    shop = client.get("/", extra_environ={"HTTP_HOST": "shop.example.com"}).headers["Set-Cookie"]
    assert "Domain=shop.example.com" in shop and "Max-Age=3600" in shop and "SameSite=Strict" in shop
    client.reset()
    other = client.get("/", extra_environ={"HTTP_HOST": "www.example.com"}).headers["Set-Cookie"]
    assert "Domain" not in other and "Max-Age" not in other and "SameSite=Lax" in other
    assert seen == ["shop.example.com", "www.example.com"]  # once per request


def test_a_loaded_session_gets_the_security_attributes_the_callable_returns_now():
    """The stored cookie keeps its lifetime; Secure, SameSite, Domain... are the request's options, as static ones are."""
    strict = {"value": False}
    clock = FakeClock()
    client = TestApp(SessionMiddleware(_counter, secret=SECRET, store=MemoryStore(clock=clock), rolling=True, clock=clock,
                                       cookie=lambda environ: {"same_site": "strict" if strict["value"] else "lax",
                                                               "max_age": 600}))
    assert "SameSite=Lax" in client.get("/").headers["Set-Cookie"]
    strict["value"] = True
    again = client.get("/")
    assert again.text == "2" and "SameSite=Strict" in again.headers["Set-Cookie"] and "Max-Age=600" in again.headers[
        "Set-Cookie"]


def test_the_callable_is_called_for_every_request_and_its_path_scopes_the_session():
    """As express-session 1.19: called for each request (its path decides whether there is a session at all)."""
    calls = []

    def under_app(environ):
        calls.append(environ["PATH_INFO"])
        return CookieOptions(path="/app")

    client = TestApp(SessionMiddleware(_counter, secret=SECRET, store=MemoryStore(), cookie=under_app))
    assert "Path=/app" in client.get("/app/count").headers["Set-Cookie"]
    client.get("/app/untouched")
    from wsgisession import SessionError
    with pytest.raises(SessionError, match="no session"):
        client.get("/elsewhere")
    assert calls == ["/app/count", "/app/untouched", "/elsewhere"]


def test_a_bad_return_is_a_configuration_error_at_the_request_and_nothing_is_stored():
    store = MemoryStore()
    client = TestApp(SessionMiddleware(_counter, secret=SECRET, store=store, cookie=lambda environ: {"max_age": -1}))
    with pytest.raises(ConfigurationError, match="the cookie callable returned invalid options: max_age"):
        client.get("/")
    assert store.length() == 0


def test_the_cookie_option_is_options_or_a_callable():
    with pytest.raises(ConfigurationError, match="or a callable that takes the request"):
        SessionMiddleware(_counter, secret=SECRET, store=MemoryStore(), cookie={"max_age": 60})
    with pytest.raises(ConfigurationError, match="not a valid token"):
        SessionMiddleware(_counter, secret=SECRET, store=MemoryStore(), name="a b", cookie=lambda environ: {})
