"""connect-mongo's document formats (wsgisession/stores/mongo/documents.py): stringify=False's embedded
session, and foreign or malformed documents, read as connect-mongo reads them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from wsgisession.serialization import loads
from wsgisession.stores.mongo import MongoStore

from .mongo_helpers import (EXAMPLES, SCENARIOS, SID, assert_same_document, at, bson_type,
                            expected_operations, from_vector, rolled)


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
