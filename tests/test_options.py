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
