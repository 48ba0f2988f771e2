"""The lifecycle event stream: counts, DEBUG logs and user hooks, never a session id."""

from __future__ import annotations

import logging

from webtest import TestApp

from wsgisession import MemoryStore, SessionMiddleware
from wsgisession.events import EVENTS, Event, Events

from .webapp import SECRET, app, cookie_for, session_id


def test_a_hook_sees_each_lifecycle_event_with_a_salted_tag_never_the_id():
    middleware = SessionMiddleware(app, secret=SECRET, store=MemoryStore())
    seen: list[Event] = []
    middleware.events.subscribe(seen.append)
    client = TestApp(middleware)
    sid = session_id(client.get("/count"))
    client.get("/count")
    new = session_id(client.get("/regenerate"))
    client.get("/destroy")
    client.get("/count", headers={"Cookie": "connect.sid=" + cookie_for(sid)})  # ended moments ago: tombstoned
    client.get("/count", headers={"Cookie": "connect.sid=" + cookie_for("never-stored")})  # unknown
    client.get("/count", headers={"Cookie": "connect.sid=s%3Aforged.sig"})
    names = [event.name for event in seen]
    for name in ("created", "loaded", "regenerated", "destroyed", "tombstoned", "unknown_id", "bad_signature"):
        assert name in names
    assert all(event.name in EVENTS for event in seen)
    tags = {event.session for event in seen} - {None}
    assert sid not in tags and new not in tags and all(len(tag) == 12 for tag in tags)
    counts = middleware.events.counts
    assert counts["created"] == names.count("created") and counts["destroyed"] == 1


def test_one_sessions_events_share_a_tag():
    events = Events()
    assert events.tag("abc") == events.tag("abc") != events.tag("abd")
    assert Events().tag("abc") != events.tag("abc")  # salted per middleware


def test_a_failing_hook_is_logged_and_the_request_still_succeeds(caplog):
    middleware = SessionMiddleware(app, secret=SECRET, store=MemoryStore())

    def broken(event: Event) -> None:
        raise RuntimeError("metrics backend down")

    middleware.events.subscribe(broken)
    with caplog.at_level(logging.ERROR, logger="wsgisession"):
        assert TestApp(middleware).get("/count").json == 1
    assert "event hook failed" in caplog.text


def test_counts_are_kept_without_hooks_or_logging():
    middleware = SessionMiddleware(app, secret=SECRET, store=MemoryStore())
    client = TestApp(middleware)
    for _ in range(3):
        client.get("/count")
    assert middleware.events.counts["loaded"] == 2 and middleware.events.counts["created"] == 1
    assert middleware.stats.merged == 0 and "merged=0" in repr(middleware.stats)


def test_a_regeneration_names_the_old_and_the_new_session():
    middleware = SessionMiddleware(app, secret=SECRET, store=MemoryStore())
    seen: list[Event] = []
    middleware.events.subscribe(seen.append)
    client = TestApp(middleware)
    client.get("/count")
    client.get("/regenerate")
    first = next(event.session for event in seen if event.name == "created")
    regenerated = next(event for event in seen if event.name == "regenerated")
    assert regenerated.previous == first and regenerated.session not in (None, first)


def test_unsent_counts_only_a_change_whose_cookie_can_never_be_sent():
    def late(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"headers are out"
        if environ["PATH_INFO"] == "/late-write":
            environ["wsgisession.session"]["late"] = True  # a new session, created too late
        else:
            environ["wsgisession.session"].get("late")  # only read: nothing was lost

    middleware = SessionMiddleware(late, secret=SECRET, store=MemoryStore())
    client = TestApp(middleware)
    client.get("/late-read")
    assert middleware.events.counts["unsent"] == 0
    reader = SessionMiddleware(app, secret=SECRET, store=MemoryStore())
    TestApp(reader).get("/read")  # no cookie, read only: a fresh session that needs no cookie
    assert reader.events.counts["unsent"] == 0 and reader.events.counts["loaded"] == 0
    client.get("/late-write")
    assert middleware.events.counts["unsent"] == 1 and middleware.store.length() == 0
