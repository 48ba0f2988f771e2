"""MongoStore against a real server: connect-mongo 6's documents and operations, TTL, errors, outages.

The contract shared with every store lives in test_store_contract.py; this file checks what is
MongoDB-specific, against tests/vectors/connect-mongo-6.0.json (recorded from the real npm package).
"""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pytest
from pymongo import WriteConcern
from pymongo.errors import PyMongoError
from webtest import TestApp

from wsgisession import ConfigurationError, CookieOptions, SessionMiddleware, StoreUnavailable
from wsgisession.serialization import format_iso
from wsgisession.stores.base import to_record
from wsgisession.stores.mongo import MongoStore

from .mongo_helpers import (EXAMPLES, SCENARIOS, SECRET, SID, assert_same_document, at, aware,
                            expected_operations, from_vector, record, rolled, session_written_by,
                            uri_with_database)
from .mongo_server import free_port

# -- documents and operations, step by step as the vectors recorded them --------------------------

def test_scenario_a_stringify_touch_after_timestamps(commands, mongo_database, clock):
    collection, sent = commands
    raw = mongo_database["sessions"]
    steps = SCENARIOS["A_stringify_touchAfter_timestamps"]["steps"]
    store = MongoStore(collection, touch_after=3600, timestamps=True, auto_remove="disabled", clock=clock)

    at(clock, steps[0]["at"])  # 1: a new session is inserted
    store.set(SID, session_written_by(steps[0]))
    assert sent.as_operations() == expected_operations(steps[0])
    assert_same_document(raw.find_one(SID), EXAMPLES["A step 1"]["document"])

    at(clock, steps[1]["at"])  # 2: modified; lastModified comes back from get() and is not stored in the JSON
    loaded = store.get(SID)
    assert loaded is not None and loaded["lastModified"] == from_vector({"$date": "2026-01-15T12:00:00.000Z"})
    assert loaded["lastModified"].tzinfo is not None
    store.set(SID, {**rolled(loaded, clock), "cuenta": 2})
    assert sent.as_operations() == expected_operations(steps[1])
    assert_same_document(raw.find_one(SID), EXAMPLES["A step 2"]["document"])

    at(clock, steps[2]["at"])  # 3: unmodified within touchAfter: no write at all
    store.touch(SID, rolled(store.get(SID), clock))
    assert sent.as_operations() == expected_operations(steps[2])
    assert_same_document(raw.find_one(SID), EXAMPLES["A step 2"]["document"])

    at(clock, steps[3]["at"])  # 4: unmodified after touchAfter: expires and lastModified move
    store.touch(SID, rolled(store.get(SID), clock))
    assert sent.as_operations() == expected_operations(steps[3])
    assert_same_document(raw.find_one(SID), EXAMPLES["A step 4"]["document"])

    at(clock, steps[4]["at"])  # 5
    store.set(SID, {**rolled(store.get(SID), clock), "cuenta": 3})
    assert sent.as_operations() == expected_operations(steps[4])
    assert_same_document(raw.find_one(SID), EXAMPLES["A step 5"]["document"])

    assert store.length() == 1  # 6 (connect-mongo counts with no filter; we count live ones)
    sent.as_operations()
    assert store.all() == {SID: session_written_by(steps[4])}  # 7: no lastModified in all()
    assert sent.as_operations() == expected_operations(steps[6])

    at(clock, steps[7]["at"])  # 8: regenerate = destroy the old id, save the new one
    loaded = store.get(SID)
    store.destroy(SID)
    store.set("Mn8bV2cX4zL6kJ0hG9fD3sA5pO7iU1yT", session_written_by(steps[7]))
    assert sent.as_operations() == expected_operations(steps[7])

    at(clock, steps[8]["at"])  # 9, 10: destroy, clear
    store.get("Mn8bV2cX4zL6kJ0hG9fD3sA5pO7iU1yT")
    store.destroy("Mn8bV2cX4zL6kJ0hG9fD3sA5pO7iU1yT")
    store.clear()
    assert sent.as_operations() == expected_operations(steps[8]) + expected_operations(steps[9])
    assert raw.count_documents({}) == 0


def test_scenario_b_defaults(commands, mongo_database, clock):
    collection, sent = commands
    steps = SCENARIOS["B_defaults_no_maxAge"]["steps"]
    store = MongoStore(collection, auto_remove="disabled", clock=clock)
    at(clock, steps[0]["at"])
    store.set(SID, session_written_by(steps[0]))
    at(clock, steps[1]["at"])  # touch_after 0: every touch writes expires = now + ttl
    store.touch(SID, store.get(SID))
    at(clock, steps[2]["at"])
    store.set(SID, {**store.get(SID), "cuenta": 2})
    assert sent.as_operations() == [op for step in steps for op in expected_operations(step)]
    assert_same_document(mongo_database["sessions"].find_one(SID), EXAMPLES["B"]["document"])


# -- touch_after ------------------------------------------------------------------------------------

def test_touch_after_skips_the_write_inside_the_window(commands, clock):
    collection, sent = commands
    store = MongoStore(collection, touch_after=3600, auto_remove="disabled", clock=clock)
    store.set(SID, record(clock, 86_400_000, cuenta=1))
    written = collection.find_one(SID)
    for _ in range(3):
        clock.advance(60)
        store.touch(SID, rolled(store.get(SID), clock))
    assert sent.count("update") == 1  # the set only
    assert collection.find_one(SID) == written
    clock.advance(3600)
    store.touch(SID, rolled(store.get(SID), clock))
    assert sent.count("update") == 2
    doc = collection.find_one(SID)
    assert aware(doc["lastModified"]) == from_vector({"$date": format_iso(int(clock() * 1000))})
    assert aware(doc["expires"]) == from_vector({"$date": format_iso(int(clock() * 1000) + 86_400_000)})
    assert doc["session"] == written["session"]


def test_touch_after_without_last_modified_touches_every_time(commands, clock):
    collection, sent = commands
    MongoStore(collection, auto_remove="disabled", clock=clock).set(SID, record(clock, cuenta=1))  # no lastModified
    store = MongoStore(collection, touch_after=3600, auto_remove="disabled", clock=clock)
    for _ in range(2):
        clock.advance(60)
        loaded = store.get(SID)
        assert "lastModified" not in loaded
        store.touch(SID, loaded)
    assert sent.count("update") == 3
    assert "lastModified" not in collection.find_one(SID)  # connect-mongo's rule: touch never adds it


def test_touch_after_through_the_middleware(commands, clock):
    collection, sent = commands

    def app(environ, start_response):
        session = environ["wsgisession.session"]
        if environ["PATH_INFO"] == "/count":
            session["n"] = session.get("n", 0) + 1
        body = str(session.get("n")).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    store = MongoStore(collection, touch_after=3600, auto_remove="disabled", clock=clock)
    web = TestApp(SessionMiddleware(app, secret=SECRET, store=store, clock=clock,
                                    cookie=CookieOptions(max_age=86400)))
    assert web.get("/count").text == "1"
    clock.advance(60)
    assert web.get("/read").text == "1"
    assert sent.count("update") == 1  # the unmodified request read but did not write
    clock.advance(7200)
    assert web.get("/read").text == "1"
    assert sent.count("update") == 2
    assert web.get("/count").text == "2"


def test_last_modified_is_aware_utc_on_tz_aware_clients_too(mongo_uri, mongo_database, clock):
    store = MongoStore.from_url(uri_with_database(mongo_uri, mongo_database.name), touch_after=60,
                                auto_remove="disabled", clock=clock)
    try:
        store.set(SID, record(clock, cuenta=1))
        modified = store.get(SID)["lastModified"]
        assert modified.utcoffset() == timedelta(0)
        assert modified == from_vector({"$date": format_iso(int(clock() * 1000))})
    finally:
        store.close()


# -- construction -----------------------------------------------------------------------------------

def test_from_url_takes_the_database_from_the_url(mongo_uri, mongo_database, clock):
    store = MongoStore.from_url(uri_with_database(mongo_uri, mongo_database.name), auto_remove="disabled",
                                clock=clock)
    try:
        assert (store.collection.database.name, store.collection.name) == (mongo_database.name, "sessions")
        store.set(SID, record(clock, cuenta=1))
        assert mongo_database["sessions"].find_one(SID)["_id"] == SID
        client = store.collection.database.client
        assert client.options.server_selection_timeout == 3.0
        assert client.options.pool_options.connect_timeout == 3.0
        assert client.options.pool_options.socket_timeout == 3.0
        assert client.codec_options.tz_aware is True
    finally:
        store.close()


def test_from_url_db_name_and_collection_override_the_url(mongo_uri, mongo_database, clock):
    store = MongoStore.from_url(uri_with_database(mongo_uri, "not_this_one"), db_name=mongo_database.name,
                                collection="web_sessions", server_selection_timeout=1.5, clock=clock)
    try:
        assert (store.collection.database.name, store.collection.name) == (mongo_database.name, "web_sessions")
        assert store.collection.database.client.options.server_selection_timeout == 1.5
    finally:
        store.close()


def test_from_url_without_a_database_says_what_to_do(mongo_uri):
    with pytest.raises(ConfigurationError, match="db_name"):
        MongoStore.from_url(mongo_uri)


def test_close_closes_its_own_client_only(mongo_uri, mongo_database, clock):
    own = MongoStore.from_url(uri_with_database(mongo_uri, mongo_database.name), auto_remove="disabled", clock=clock)
    own.set(SID, record(clock, cuenta=1))
    own.close()
    with pytest.raises(StoreUnavailable):
        own.get(SID)
    borrowed = MongoStore(mongo_database["sessions"], auto_remove="disabled", clock=clock)
    borrowed.close()
    assert borrowed.get(SID) is not None  # the caller's client still works


def test_constructors_do_no_io(clock):
    with socket.create_server(("127.0.0.1", 0)) as listener:  # would see any connection attempt
        listener.setblocking(False)
        port = listener.getsockname()[1]
        store = MongoStore.from_url(f"mongodb://127.0.0.1:{port}/db", server_selection_timeout=5, clock=clock)
        store.close()
        with pytest.raises(BlockingIOError):
            listener.accept()


@pytest.mark.parametrize("options", [
    pytest.param({"ttl": 0}, id="ttl"),
    pytest.param({"auto_remove": "sometimes"}, id="auto_remove"),
    pytest.param({"auto_remove_interval": 0}, id="auto_remove_interval"),
    pytest.param({"touch_after": -1}, id="touch_after"),
    pytest.param({"touch_after": True}, id="touch_after-bool"),
    pytest.param({"stringify": "yes"}, id="stringify"),
    pytest.param({"timestamps": 1}, id="timestamps"),
    pytest.param({"write_concern": {"w": 0}}, id="write_concern"),
    pytest.param({"clock": 12}, id="clock"),
    pytest.param({"server_selection_timeout": 0}, id="timeout"),
    pytest.param({"collection": ""}, id="collection"),
])
def test_bad_options_are_configuration_errors(options):
    with pytest.raises(ConfigurationError):
        MongoStore.from_url("mongodb://127.0.0.1:1/db", **options)


def test_from_url_takes_the_constructors_options_by_name():
    with pytest.raises(TypeError, match="touchAfter"):  # a misspelt (connect-mongo style) name
        MongoStore.from_url("mongodb://127.0.0.1:1/db", touchAfter=60)


@pytest.mark.parametrize("url", ["", "http://localhost/db", "mongodb://", 42, "mongodb://127.0.0.1:99999999/db"])
def test_bad_urls_are_configuration_errors(url):
    with pytest.raises(ConfigurationError):
        MongoStore.from_url(url)


def test_collection_must_be_a_collection(mongo_database):
    for wrong in ("mongodb://localhost/db", mongo_database):
        with pytest.raises(ConfigurationError, match="from_url"):
            MongoStore(wrong)


def test_write_concern_applies_to_the_store(mongo_database, clock):
    store = MongoStore(mongo_database["sessions"], write_concern=WriteConcern(w=1, wtimeout=2000),
                       auto_remove="disabled", clock=clock)
    assert store.collection.write_concern == WriteConcern(w=1, wtimeout=2000)
    store.set(SID, record(clock, cuenta=1))
    assert store.get(SID)["cuenta"] == 1


# -- failures ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["get", "set", "touch", "destroy", "all", "length", "clear"])
def test_unreachable_server_is_store_unavailable_quickly(clock, call):
    store = MongoStore.from_url(f"mongodb://127.0.0.1:{free_port()}/db", server_selection_timeout=0.5, clock=clock)
    args = {"get": (SID,), "set": (SID, record(clock)), "touch": (SID, record(clock)), "destroy": (SID,)}
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable) as caught:
            getattr(store, call)(*args.get(call, ()))
    finally:
        store.close()
    assert time.monotonic() - started < 5
    assert isinstance(caught.value.__cause__, PyMongoError)
    assert SID not in str(caught.value)


def counter_app(environ, start_response):
    if environ["PATH_INFO"] == "/count":
        session = environ["wsgisession.session"]
        session["n"] = session.get("n", 0) + 1
        body = str(session["n"]).encode()
    else:
        body = b"plain"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def outage_app(ferretdb):
    store = MongoStore.from_url(ferretdb.uri + "/db", server_selection_timeout=1.0, auto_remove="interval")
    yield TestApp(SessionMiddleware(counter_app, secret=SECRET, store=store))
    store.close()


@pytest.mark.parametrize("outage", ["stop", "kill"])
def test_outage_answers_503_quickly_and_sessions_survive(ferretdb, outage_app, outage):
    assert [outage_app.get("/count").text for _ in range(2)] == ["1", "2"]
    getattr(ferretdb, outage)()
    started = time.monotonic()
    down = outage_app.get("/count", status=503)
    assert time.monotonic() - started < 3  # the timeout is 1 s
    assert down.headers["Retry-After"] and "Set-Cookie" not in down.headers
    assert outage_app.get("/plain").text == "plain"  # no session, no store, no problem
    ferretdb.start()
    assert outage_app.get("/count").text == "3"  # same cookie, same record, same app


def test_frozen_server_answers_503_within_the_timeout(ferretdb, outage_app):
    assert outage_app.get("/count").text == "1"
    ferretdb.pause()  # accepts connections, never answers: only the timeout ends the wait
    try:
        started = time.monotonic()
        outage_app.get("/count", status=503)
        assert time.monotonic() - started < 3
    finally:
        ferretdb.resume()
    assert outage_app.get("/count").text == "2"


def test_creation_time_is_known_only_with_timestamps(mongo_database, clock):
    plain = MongoStore(mongo_database["plain"], clock=clock, auto_remove="disabled")
    plain.set("sid", {"cookie": {}, "a": 1})
    assert not plain.tracks_creation and plain.load("sid").created_ms is None
    stamped = MongoStore(mongo_database["stamped"], clock=clock, auto_remove="disabled", timestamps=True)
    stamped.set("sid", {"cookie": {}, "a": 1})
    assert stamped.tracks_creation and stamped.load("sid").created_ms == int(clock() * 1000)


def test_save_compares_with_what_connect_mongo_wrote(mongo_database, clock):
    store = MongoStore(mongo_database["sessions"], clock=clock, auto_remove="disabled")
    store.set("sid", {"cookie": {}, "a": 1})
    version = store.load("sid").version
    # connect-mongo rewrites the session field (its JSON may differ from ours byte for byte)
    mongo_database["sessions"].update_one({"_id": "sid"}, {"$set": {"session": '{"cookie":{},"a":1,"b":2}'}})
    assert store.save("sid", to_record({"cookie": {}, "a": 5}), version) is None
    assert store.get("sid") == {"cookie": {}, "a": 1, "b": 2}


def test_absolute_timeout_needs_timestamps_on_mongo(mongo_database, clock):
    def app(environ, start_response):
        start_response("204 No Content", [])
        return []

    plain = MongoStore(mongo_database["sessions"], clock=clock, auto_remove="disabled")
    with pytest.raises(ConfigurationError, match="timestamps=True"):
        SessionMiddleware(app, secret="x" * 32, store=plain, absolute_timeout=3600)
    stamped = MongoStore(mongo_database["sessions"], clock=clock, auto_remove="disabled", timestamps=True)
    SessionMiddleware(app, secret="x" * 32, store=stamped, absolute_timeout=3600)
