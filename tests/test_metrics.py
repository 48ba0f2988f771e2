"""The Prometheus exposition of the lifecycle counters, read back by Prometheus's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from webtest import TestApp

from wsgisession import MemoryStore, SessionMiddleware, get_session
from wsgisession.events import EVENTS
from wsgisession.metrics import CONTENT_TYPE, render_metrics

SECRET = "metrics test secret, long enough to be safe"


def samples(text: str) -> dict[str, float]:
    (family,) = text_string_to_metric_families(text)
    assert family.name == "wsgisession_session_events" and family.type == "counter"
    return {sample.labels["event"]: sample.value for sample in family.samples}


def app(environ, start_response):
    session = get_session(environ)
    if environ["PATH_INFO"] == "/login":
        session.login("alice")
    elif environ["PATH_INFO"] == "/logout":
        session.logout()
    else:
        session["n"] = 1
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_every_event_is_exposed_and_counts_what_happened():
    sessions = SessionMiddleware(app, secret=SECRET, store=MemoryStore())
    browser = TestApp(sessions)
    browser.get("/")
    browser.get("/login")
    browser.get("/logout")
    browser.set_cookie("connect.sid", "s:forged.signature")
    browser.get("/")
    counted = samples(sessions.metrics())
    assert set(counted) == set(EVENTS)
    assert counted["login"] == 1 and counted["logout"] == 1 and counted["destroyed"] == 1
    assert counted["created"] == 2 and counted["bad_signature"] == 1 and counted["revoked"] == 0
    sessions.revoke_all("alice")
    assert counted == {name: float(count) for name, count in sessions.events.counts.items()}


def test_label_values_are_escaped_and_the_content_type_is_prometheus_text():
    text = render_metrics({'odd "name"\\\n': 3})
    assert samples(text) == {'odd "name"\\\n': 3.0}
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")
