"""MongoStore against a real server: connect-mongo 6's documents and operations, TTL, errors, outages.

The contract shared with every store lives in test_store_contract.py; this file checks what is
MongoDB-specific, against tests/vectors/connect-mongo-6.0.json (recorded from the real npm package).
"""

from __future__ import annotations

import copy
import socket
import threading
import time
import warnings
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from bson.int64 import Int64
from pymongo import MongoClient, WriteConcern, monitoring
from pymongo.collection import Collection
from pymongo.errors import OperationFailure, PyMongoError
from webtest import TestApp

from wsgisession import ConfigurationError, CookieOptions, SessionMiddleware, StoreUnavailable
from wsgisession.serialization import format_iso, loads, parse_iso
from wsgisession.stores.base import to_record
from wsgisession.stores.mongo import MongoStore, TTLIndexWarning

from .mongo_server import free_port
from .vectorfiles import load

VECTORS = load("connect-mongo-6.0.json")
SCENARIOS = VECTORS["scenarios"]
EXAMPLES = {doc["label"].split(":")[0]: doc for doc in VECTORS["example_documents"]}
SID = "Xq3v9Zk0cYbW4TnR8sLmP2aE7uJfH1gD"
SECRET = "a test secret that is long enough to be safe"


# -- helpers -------------------------------------------------------------------------------------

def from_vector(value: Any) -> Any:
    """Vector JSON to Python as the driver sees it: {"$date"} -> aware datetime, JS undefined -> None."""
    if isinstance(value, dict):
        if set(value) == {"$date"}:
            return datetime.fromtimestamp(parse_iso(value["$date"]) / 1000, tz=timezone.utc)
        if set(value) == {"$undefined"}:
            return None
        return {key: from_vector(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_vector(item) for item in value]
    return value


def at(clock, iso: str) -> None:
    clock.now = parse_iso(iso) / 1000


def rolled(record: dict[str, Any], clock) -> dict[str, Any]:
    """What express-session hands to touch()/set(): cookie.expires = now + originalMaxAge."""
    record = copy.deepcopy(record)
    oma = record["cookie"]["originalMaxAge"]
    record["cookie"]["expires"] = None if oma is None else format_iso(int(clock() * 1000) + oma)
    return record


def record(clock, max_age_ms: int | None = None, **data: Any) -> dict[str, Any]:
    expires = None if max_age_ms is None else format_iso(int(clock() * 1000) + max_age_ms)
    return {"cookie": {"originalMaxAge": max_age_ms, "expires": expires, "httpOnly": True, "path": "/"}, **data}


def session_written_by(step: dict[str, Any]) -> dict[str, Any]:
    """The session connect-mongo serialized in a step's (first) upsert: the input to replay."""
    update = next(call for call in step["db_calls"] if call["op"] == "updateOne")
    return loads(update["args"][1]["$set"]["session"])


def bson_type(value: Any) -> str:
    for kind, name in ((type(None), "null"), (bool, "bool"), (Int64, "long"), (int, "int"), (float, "double"),
                       (str, "string"), (datetime, "date"), (dict, "object"), (list, "array")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def assert_same_document(raw: dict[str, Any] | None, expected: Any) -> None:
    """Field by field and type by type; ``updatedAt`` is the server's clock, so only recent."""
    assert raw is not None
    assert set(raw) == set(expected)
    for key, want in expected.items():
        got = raw[key]
        if key == "updatedAt":
            assert isinstance(got, datetime)
            assert abs(aware(got) - datetime.now(timezone.utc)) < timedelta(minutes=10)
        elif isinstance(want, dict) and set(want) == {"$date"}:
            assert isinstance(got, datetime) and aware(got) == from_vector(want), key
        elif isinstance(want, dict):
            assert_same_document(got, want)
        else:
            assert got == want and bson_type(got) == bson_type(want), key


class Commands(monitoring.CommandListener):
    """Records the commands a client sends, in connect-mongo's vocabulary."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, copy.deepcopy(dict(event.command))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def count(self, name: str) -> int:
        return sum(1 for sent, _ in self.sent if sent == name)

    def as_operations(self) -> list[tuple[str, list[Any]]]:
        ops: list[tuple[str, list[Any]]] = []
        for name, command in self.sent:
            if name == "find":
                ops.append(("findOne" if command.get("limit") == 1 else "find", [command["filter"]]))
            elif name == "update":
                (update,) = command["updates"]
                ops.append(("updateOne", [update["q"], update["u"], {"upsert": True} if update.get("upsert") else {}]))
            elif name == "delete":
                (delete,) = command["deletes"]
                ops.append(("deleteOne" if delete["limit"] == 1 else "deleteMany", [delete["q"], {}]))
        self.sent.clear()
        return ops


def expected_operations(step: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    ops = []
    for call in step["db_calls"]:
        args = from_vector(call["args"])
        if call["op"] in ("updateOne", "deleteOne", "deleteMany"):
            args[-1] = {key: value for key, value in args[-1].items() if value is not None}  # writeConcern: undefined
        ops.append((call["op"], args))
    return ops


@pytest.fixture
def commands(mongo_uri, mongo_database):
    """(the test database's `sessions` collection on a client that records commands, the recorder)."""
    listener = Commands()
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, event_listeners=[listener],
                                                      serverSelectionTimeoutMS=5000)
    yield client[mongo_database.name]["sessions"], listener
    client.close()


def server_supports_ttl(database) -> bool:
    try:
        database["ttl_probe"].create_index([("expires", 1)], expireAfterSeconds=0)
        return True
    except OperationFailure as exc:
        assert exc.code in (115, 238), exc
        return False


class RecordingCollection(Collection):
    """The real collection, remembering what create_index was asked (to check the exact index spec)."""

    def __init__(self, database, name: str) -> None:
        super().__init__(database, name)
        self.index_calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def create_index(self, *args: Any, **kwargs: Any) -> str:
        self.index_calls.append((args, kwargs))
        return super().create_index(*args, **kwargs)


def uri_with_database(uri: str, name: str) -> str:
    base, _, query = uri.partition("?")
    return f"{base.rstrip('/')}/{name}" + (f"?{query}" if query else "")


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


def test_scenario_c_stringify_false_stores_an_embedded_document(commands, mongo_database, clock):
    collection, sent = commands
    scenario = SCENARIOS["C_stringify_false"]
    steps = scenario["steps"]
    store = MongoStore(collection, stringify=False, auto_remove="disabled", clock=clock)
    first = {"cookie": {"originalMaxAge": 3600000, "expires": "2026-03-03T10:00:00.000Z", "httpOnly": True,
                        "path": "/", "sameSite": "lax"}, "cuenta": 1}  # what our Session writes
    at(clock, steps[0]["at"])
    store.set(SID, first)
    at(clock, steps[1]["at"])
    loaded = store.get(SID)
    assert loaded == first  # BSON date back to ISO text, Node's nulls dropped: JSON-ready again
    store.set(SID, {**rolled(loaded, clock), "cuenta": 2})
    assert sent.as_operations() == [op for step in steps for op in expected_operations(step)]

    doc = mongo_database["sessions"].find_one(SID)
    assert_same_document(doc, EXAMPLES["C"]["document"])
    assert {k: bson_type(v) for k, v in doc.items()} == scenario["bson_types_top"]
    assert {k: bson_type(v) for k, v in doc["session"].items()} == scenario["bson_types_session"]
    assert {k: bson_type(v) for k, v in doc["session"]["cookie"].items()} == scenario["bson_types_session_cookie"]
    assert list(doc["session"]["cookie"]) == list(EXAMPLES["C"]["document"]["session"]["cookie"])


def test_stringify_false_reads_dates_anywhere_in_a_node_document(mongo_database, clock):
    login = datetime(2026, 3, 3, 9, 0, 0, 250000, tzinfo=timezone.utc)
    mongo_database["sessions"].insert_one({"_id": SID, "session": {
        "cookie": {"originalMaxAge": None, "expires": None, "secure": None, "httpOnly": True, "path": "/"},
        "user": {"loginAt": login}}})
    store = MongoStore(mongo_database["sessions"], stringify=False, auto_remove="disabled", clock=clock)
    assert store.get(SID) == {"cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"},
                              "user": {"loginAt": "2026-03-03T09:00:00.250Z"}}


# -- foreign and malformed documents (scenario G) ----------------------------------------------------

G_VISIBLE = {  # what connect-mongo's get() returns for each document of scenario G
    "sidNoCookie0000000000000000000000": {"cuenta": 3},  # express 500s here; our Session fills in a cookie
    "sidNoExpires000000000000000000000": "parsed",
    "sidMinimalCookie00000000000000000": {"cookie": {}, "cuenta": 3},
    "sidExpiresNoOrigMaxAge00000000000": "parsed",
}
G_INVISIBLE = ["sidNullExpires0000000000000000000", "sidExpired0000000000000000000000x",
               "sidStringExpires00000000000000000"]


def test_foreign_documents_read_as_connect_mongo_reads_them(mongo_database, clock, caplog):
    scenario = SCENARIOS["G_foreign_documents"]
    docs = from_vector(scenario["steps"][0]["docs_after"])
    mongo_database["sessions"].insert_many(docs)
    at(clock, scenario["steps"][0]["at"])
    store = MongoStore(mongo_database["sessions"], auto_remove="disabled", clock=clock)
    by_id = {doc["_id"]: doc for doc in docs}
    for sid, want in G_VISIBLE.items():
        assert store.get(sid) == (loads(by_id[sid]["session"]) if want == "parsed" else want), sid
    for sid in G_INVISIBLE:  # expires null, in the past, or a string: $gt <date> never matches
        assert store.get(sid) is None, sid
    # an embedded session while stringify=True: connect-mongo 500s; we read it as missing, and say so
    caplog.clear()
    assert store.get("sidObjectSess00000000000000000000") is None
    assert "not a JSON object" in caplog.text and "sidObjectSess" not in caplog.text
    assert sorted(store.all()) == sorted(G_VISIBLE)
    assert store.length() == len(G_VISIBLE) + 1  # a live document, though unreadable

    lenient = MongoStore(mongo_database["sessions"], stringify=False, auto_remove="disabled", clock=clock)
    assert lenient.get("sidObjectSess00000000000000000000") == {
        "cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"}, "cuenta": 3}
    no_expires = "sidNoExpires000000000000000000000"
    assert lenient.get(no_expires) == loads(by_id[no_expires]["session"])


@pytest.mark.parametrize("document", [
    pytest.param({"session": "{not json"}, id="bad-json"),
    pytest.param({"session": "[1, 2]"}, id="json-array"),
    pytest.param({"session": "null"}, id="json-null"),
    pytest.param({"session": 42}, id="number"),
    pytest.param({"session": None}, id="null"),
    pytest.param({}, id="no-session"),
])
@pytest.mark.parametrize("stringify", [True, False])
def test_unreadable_documents_are_missing_not_errors(mongo_database, clock, caplog, document, stringify):
    mongo_database["sessions"].insert_one({"_id": SID, **document})
    store = MongoStore(mongo_database["sessions"], stringify=stringify, auto_remove="disabled", clock=clock)
    assert store.get(SID) is None
    assert store.all() == {}
    assert any(f"ignored a {what}" in caplog.text for what in ("session document", "stored session"))
    assert SID not in caplog.text


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


# -- expired-session removal ------------------------------------------------------------------------

def test_native_auto_remove_sends_connect_mongos_index_once(mongo_database, clock):
    supported = server_supports_ttl(mongo_database)
    collection = RecordingCollection(mongo_database, "sessions")
    store = MongoStore(collection, clock=clock)
    barrier = threading.Barrier(8)

    def first_use() -> None:
        barrier.wait()
        store.get(SID)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        threads = [threading.Thread(target=first_use) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        store.set(SID, record(clock, cuenta=1))
        store.length()
    keys, options = VECTORS["operations"]["constructor_native_autoRemove"]
    assert collection.index_calls == [((list(keys.items()),), options)]
    ttl_warnings = [w for w in caught if issubclass(w.category, TTLIndexWarning)]
    if supported:
        assert ttl_warnings == []
        index = mongo_database["sessions"].index_information()["expires_1"]
        assert index["key"] == [("expires", 1)] and index["expireAfterSeconds"] == 0
    else:
        assert len(ttl_warnings) == 1 and "auto_remove='interval'" in str(ttl_warnings[0].message)
        assert store.auto_remove == "interval"


def test_native_fallback_removes_expired_sessions_by_interval(mongo_database, clock):
    if server_supports_ttl(mongo_database):  # the server reaps them itself; nothing to fall back to
        assert MongoStore(mongo_database["sessions"], clock=clock).auto_remove == "native"
        return
    raw = mongo_database["sessions"]
    store = MongoStore(raw, auto_remove_interval=600, clock=clock)
    with pytest.warns(TTLIndexWarning) as caught:
        store.set("short", record(clock, 10_000, n=1))
        store.set("long", record(clock, 3_600_000, n=2))
        clock.advance(601)
        store.set("other", record(clock, n=3))
    assert len(caught) == 1
    assert sorted(doc["_id"] for doc in raw.find()) == ["long", "other"]


def test_interval_removal_runs_at_most_once_per_interval(commands, clock):
    collection, sent = commands
    store = MongoStore(collection, auto_remove="interval", auto_remove_interval=600, clock=clock)
    store.set("short", record(clock, 10_000, n=1))
    store.set("long", record(clock, 3_600_000, n=2))
    clock.advance(60)
    store.set("other", record(clock, n=3))
    assert store.get("short") is None and collection.find_one("short") is not None  # expired, not yet reaped
    assert sent.count("delete") == 0
    clock.advance(600)
    store.set("other", record(clock, n=4))
    assert sorted(doc["_id"] for doc in collection.find()) == ["long", "other"]
    (delete,) = [command["deletes"][0] for name, command in sent.sent if name == "delete"]
    tick_filter = from_vector(VECTORS["operations"]["autoRemove_interval_tick"][0])
    assert list(delete["q"]) == list(tick_filter) and list(delete["q"]["expires"]) == ["$lt"]
    assert aware(delete["q"]["expires"]["$lt"]) == from_vector({"$date": format_iso(int(clock() * 1000))})
    store.touch("long", record(clock, 3_600_000, n=2))
    assert sent.count("delete") == 1
    clock.advance(600)
    store.touch("long", record(clock, 3_600_000, n=2))  # touches piggy-back too
    assert sent.count("delete") == 2
    assert sent.count("createIndexes") == 0


def test_disabled_auto_remove_never_deletes_or_indexes(commands, clock):
    collection, sent = commands
    store = MongoStore(collection, auto_remove="disabled", auto_remove_interval=1, clock=clock)
    store.set("short", record(clock, 1_000, n=1))
    clock.advance(3600)
    store.set("other", record(clock, n=2))
    assert collection.count_documents({}) == 2
    assert sent.count("delete") == 0 and sent.count("createIndexes") == 0


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


@pytest.mark.parametrize("url", ["", "http://localhost/db", "mongodb://", 42])
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
