"""What the MongoDB test files share: connect-mongo's vectors, a command recorder, document checks."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from bson.int64 import Int64
from pymongo import MongoClient, monitoring
from pymongo.collection import Collection
from pymongo.errors import OperationFailure

from wsgisession.serialization import format_iso, loads, parse_iso

from .vectorfiles import load

VECTORS = load("connect-mongo-6.0.json")
SCENARIOS = VECTORS["scenarios"]
EXAMPLES = {doc["label"].split(":")[0]: doc for doc in VECTORS["example_documents"]}
SID = "Xq3v9Zk0cYbW4TnR8sLmP2aE7uJfH1gD"
SECRET = "a test secret that is long enough to be safe"
# The sessions of a collection, not its tombstones (the ids a login or logout just ended: stores/mongo/tombstones.py).
SESSION_DOCUMENTS = {"tombstoneUntil": {"$exists": False}}


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
