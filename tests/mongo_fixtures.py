"""The MongoDB fixtures: every Mongo-backed test runs once on each server of mongo_server.SERVERS.

``mongo_server`` is a session-scoped fixture parametrized over the servers (test ids ``ferretdb``
and ``mongo-java-server``); ``mongo_uri`` and ``mongo_database`` build on it, so a test that uses
either runs on both. Each server is started on first use and kept until the end of the session.
``WSGISESSION_TEST_MONGODB_URI`` replaces both with one server that is already running (a real
mongod, say; test id ``external``). There is no fake: a server that is not built fails the test
and says how to build it; one that cannot start fails it with its log.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from .mongo_server import SERVERS, FerretDB, ServerMissing, ServerProcess, started

__all__ = ["MONGO_SERVERS", "database_on", "ferretdb", "fresh_database", "mongo_database", "mongo_server",
           "mongo_servers", "mongo_uri"]

EXTERNAL_URI = os.environ.get("WSGISESSION_TEST_MONGODB_URI")
MONGO_SERVERS = ["external"] if EXTERNAL_URI else list(SERVERS)  # the test ids of the Mongo-backed tests


def _started(name: str, why: str = "") -> ServerProcess:
    try:
        return started(name)
    except ServerMissing as exc:
        pytest.fail(f"{exc}{why}; or set WSGISESSION_TEST_MONGODB_URI=mongodb://host:port to use a running "
                    "MongoDB.", pytrace=False)


class Servers:
    """The servers of one pytest session, each started on first use and closed at the end."""

    def __init__(self) -> None:
        self._running: dict[str, ServerProcess] = {}

    def uri(self, name: str) -> str:
        if name == "external":
            assert EXTERNAL_URI
            return EXTERNAL_URI
        if name not in self._running:
            self._running[name] = _started(name)
        return self._running[name].uri

    def close(self) -> None:
        for server in self._running.values():
            server.close()


@pytest.fixture(scope="session")
def mongo_servers() -> Iterator[Servers]:
    servers = Servers()
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture(scope="session", params=MONGO_SERVERS)
def mongo_server(request: pytest.FixtureRequest) -> str:
    """The name of the server the test runs on (one of MONGO_SERVERS)."""
    return str(request.param)


@pytest.fixture(scope="session")
def mongo_uri(mongo_server: str, mongo_servers: Servers) -> str:
    """URI (no database) of the server the test runs on."""
    return mongo_servers.uri(mongo_server)


@contextmanager
def fresh_database(uri: str) -> Iterator[Database[dict[str, object]]]:
    """A uniquely named database on the server at ``uri``, dropped afterwards.

    Its client is deliberately *not* tz_aware (pymongo's default), so the stores built on it
    see naive dates; ``MongoStore.from_url`` covers the tz_aware case.
    """
    client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=5000)
    name = f"wsgisession_test_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]
    finally:
        try:
            client.drop_database(name)
        finally:
            client.close()


@pytest.fixture
def mongo_database(mongo_uri: str) -> Iterator[Database[dict[str, object]]]:
    """A fresh database on the server the test runs on (see fresh_database)."""
    with fresh_database(mongo_uri) as database:
        yield database


def database_on(request: pytest.FixtureRequest, server: str) -> Database[dict[str, object]]:
    """A fresh database on the named server (one of MONGO_SERVERS), dropped when ``request``'s fixture or
    test is torn down: for a fixture parametrized over stores rather than over ``mongo_server``."""
    context = fresh_database(request.getfixturevalue("mongo_servers").uri(server))
    database = context.__enter__()
    request.addfinalizer(lambda: context.__exit__(None, None, None))
    return database


@pytest.fixture
def ferretdb() -> Iterator[ServerProcess]:
    """A private FerretDB the test may stop, kill, pause and restart (even with an external URI).

    FerretDB only: these outage tests are about the client side (timeouts, 503s, no hang, no thread
    left), which does not depend on the server's implementation, and they restart the server on its
    data, which mongo-java-server's in-memory backend loses.
    """
    server = _started(FerretDB.name, " (the outage tests need their own FerretDB even when "
                                     "WSGISESSION_TEST_MONGODB_URI is set)")
    try:
        yield server
    finally:
        server.close()
