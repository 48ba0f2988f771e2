"""Every express-session 1.19 vector, sent through SessionMiddleware."""

from __future__ import annotations

import email.utils
from typing import Any

import pytest
from webtest import TestApp

from wsgisession import CookieOptions, MemoryStore, SessionMiddleware, get_session
from wsgisession.cookies import cookie_values

from .helpers import FakeClock
from .vectorfiles import express

VECTORS = express()
FRESH = "fresh-id-generated-by-the-middleware"


def counter(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    session = get_session(environ)
    session["cuenta"] = 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{session.id} {session.is_new}".encode()]


def options_for(case: dict[str, Any]) -> dict[str, Any]:
    """Our options equivalent to the case's express-session options."""
    express_cookie = case["options"]["cookie"]
    cookie: dict[str, Any] = {"secure": express_cookie.get("secure", False), "same_site": None}
    if "maxAge" in express_cookie:
        cookie["max_age"] = express_cookie["maxAge"] / 1000
    for ours, theirs in (("domain", "domain"), ("path", "path"), ("http_only", "httpOnly"),
                         ("partitioned", "partitioned"), ("priority", "priority")):
        if theirs in express_cookie:
            cookie[ours] = express_cookie[theirs]
    if "sameSite" in express_cookie:
        same_site = express_cookie["sameSite"]
        cookie["same_site"] = "strict" if same_site is True else same_site
    clock = FakeClock(case["now_ms"] / 1000)
    return {
        "secret": case["secrets"], "name": case["options"]["name"], "cookie": CookieOptions(**cookie),
        "trust_proxy": bool(case["options"].get("proxy")), "genid": lambda environ: case["sid"], "clock": clock,
    }


def request(case: dict[str, Any], options: dict[str, Any]) -> Any:
    client = TestApp(SessionMiddleware(counter, store=MemoryStore(clock=options["clock"]), **options))
    return client.get(case["request"]["path"], headers=case["request"]["headers"])


def attributes(header: str) -> tuple[str, dict[str, str]]:
    pair, *rest = header.split("; ")
    return pair, {a.split("=", 1)[0]: (a.split("=", 1) + [""])[1] for a in rest}


@pytest.mark.parametrize("case", VECTORS["cookie_value"], ids=[c["label"] for c in VECTORS["cookie_value"]])
def test_set_cookie_matches_express(case):
    response = request(case, options_for(case))
    [ours] = response.headers.getall("Set-Cookie")
    our_pair, our_attrs = attributes(ours)
    their_pair, their_attrs = attributes(case["set_cookie_header"])
    assert our_pair == their_pair
    if "Expires" in their_attrs:
        ours_at = email.utils.parsedate_to_datetime(our_attrs.pop("Expires"))
        theirs_at = email.utils.parsedate_to_datetime(their_attrs.pop("Expires"))
        assert abs((ours_at - theirs_at).total_seconds()) <= 1
        # documented extra: Max-Age alongside Expires, for clients whose clock is wrong
        assert int(our_attrs.pop("Max-Age")) == case["options"]["cookie"]["maxAge"] // 1000
    assert our_attrs == their_attrs


@pytest.mark.parametrize("case", VECTORS["cookie_value_not_sent"],
                         ids=[c["label"] for c in VECTORS["cookie_value_not_sent"]])
def test_no_set_cookie_where_express_sends_none(case):
    options = options_for(case)
    store = MemoryStore(clock=options["clock"])
    client = TestApp(SessionMiddleware(lambda e, s: _plain_or_count(e, s), store=store, **options))
    response = client.get(case["request"]["path"], headers=case["request"]["headers"])
    assert response.headers.getall("Set-Cookie") == []


def _plain_or_count(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    if "wsgisession.session" not in environ:  # outside the cookie path: no session at all
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"no session"]
    return counter(environ, start_response)


def candidates(header: str) -> list[str]:
    """Every id any connect.sid cookie in the header claims, signed or not."""
    ids = []
    for value in cookie_values(header, "connect.sid"):
        value = value[2:] if value.startswith("s:") else value
        ids.append(value.rpartition(".")[0] or value)
    return ids


@pytest.mark.parametrize("case", VECTORS["unsign"], ids=[c["note"] for c in VECTORS["unsign"]])
def test_cookie_reading_matches_express(case):
    store = MemoryStore()
    for sid in candidates(case["cookie_header"]) + ([case["expected_sid"]] if case["expected_sid"] else []):
        if sid:
            store.set(sid, {"cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"}})
    app = SessionMiddleware(counter, secret=case["secrets"], store=store, genid=lambda environ: FRESH)
    environ = {"HTTP_COOKIE": case["cookie_header"]}
    sid, is_new = TestApp(app).get("/", extra_environ=environ).text.rsplit(" ", 1)
    if case["expected_sid"] is not None:
        assert (sid, is_new) == (case["expected_sid"], "False")
    elif sid != FRESH:
        # Documented difference: with duplicate connect.sid cookies we take the first whose
        # signature verifies, where express takes the first blindly (and loops logins).
        valid = cookie_values(case["cookie_header"], "connect.sid")
        assert len(valid) > 1 and sid in candidates(case["cookie_header"])[1:]
        assert "duplicate" in case["note"]
    else:
        assert is_new == "True"
