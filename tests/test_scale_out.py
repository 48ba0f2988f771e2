"""Scale-out: several demo processes (waitress) behind one cookie, sharing one MongoDB database.

A client that goes round the processes sees one exact counter; killing a process loses no
session; a process started later picks the sessions up. Plus what a ``replicaSet=`` URI does on
the test server.
"""

from __future__ import annotations

import time
import uuid

import pytest
from pymongo import MongoClient
from webtest import TestApp

from wsgisession import MongoStore, SessionMiddleware, StoreUnavailable

from .test_demo import Demo

SECRET = "scale-out secret shared by every process, long enough"


def expected(count: int) -> str:
    return f"Hola has visto esta página {count}"


def test_processes_share_sessions_and_survive_a_kill(tmp_path, mongo_uri):
    base = mongo_uri.rstrip("/") + "/scale_out_" + uuid.uuid4().hex[:12]
    uris = [base, base, base + "?directConnection=true"]  # URI options reach pymongo unchanged
    demos = []
    for index, uri in enumerate(uris):
        workdir = tmp_path / f"demo{index}"
        workdir.mkdir()
        demos.append(Demo(workdir, MONGODB_URI=uri, SESSION_SECRET=SECRET))
    try:
        for demo in demos:
            demo.start()
        first, cookie = demos[0].get()
        assert first == expected(1) and cookie
        other_body, other = demos[1].get()  # a second browser, interleaved
        assert other_body == expected(1) and other and other != cookie
        mine = theirs = 1
        for turn in range(1, 7):  # round the three processes, one cookie each
            mine += 1
            assert demos[turn % 3].get(cookie) == (expected(mine), None)
            theirs += 1
            assert demos[(turn + 1) % 3].get(other) == (expected(theirs), None)

        demos[1].process.kill()  # SIGKILL: no clean shutdown
        demos[1].process.wait(timeout=10)
        for turn in range(4):  # the two others go on with every session
            mine += 1
            assert demos[(0, 2)[turn % 2]].get(cookie) == (expected(mine), None)
            theirs += 1
            assert demos[(2, 0)[turn % 2]].get(other) == (expected(theirs), None)

        demos[1].start()  # a new process on the same port picks them up
        mine += 1
        assert demos[1].get(cookie) == (expected(mine), None)
        theirs += 1
        assert demos[1].get(other) == (expected(theirs), None)
    finally:
        for demo in demos:
            if demo.process is not None and demo.process.poll() is None:
                demo.stop()
        client: MongoClient = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
        try:
            client.drop_database(base.rsplit("/", 1)[1])
        finally:
            client.close()
    assert all("MongoStore" in demo.log.read_text() for demo in demos)


def test_a_replica_set_uri_on_the_test_server(mongo_uri):
    """Neither test server is a replica-set member (their handshake reply has no ``setName``): a
    ``replicaSet=`` URI then finds no member and every session request answers 503 within the timeout,
    never hangs; ``directConnection=true`` is the URI that works. On a member, the set's name works.
    """
    client: MongoClient = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000, directConnection=True)
    try:
        client.admin.command("ping")  # the set name comes from the driver's handshake (mongo-java-server has no `hello`)
        (server,) = client.topology_description.server_descriptions().values()
        set_name = server.replica_set_name
    finally:
        client.close()
    database = "replica_set_" + uuid.uuid4().hex[:12]
    base = mongo_uri.rstrip("/") + "/" + database
    separator = "&" if "?" in base else "?"

    def counter(environ, start_response):
        session = environ["wsgisession.session"]
        session["n"] = session.get("n", 0) + 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(session["n"]).encode()]

    def app_for(uri: str):
        store = MongoStore.from_url(uri, server_selection_timeout=0.5, auto_remove="interval")
        return store, TestApp(SessionMiddleware(counter, secret=SECRET, store=store))

    store, app = app_for(base + separator + f"replicaSet={set_name or 'rs0'}")
    try:
        if set_name:
            assert [app.get("/").text for _ in range(2)] == ["1", "2"]
        else:
            started = time.monotonic()
            down = app.get("/", status=503)
            assert time.monotonic() - started < 2 and "Set-Cookie" not in down.headers
            with pytest.raises(StoreUnavailable) as caught:
                store.get("any")
            assert "ServerSelectionTimeoutError" in str(caught.value)
            assert "replica set" in str(caught.value.__cause__)  # pymongo: no member of set 'rs0'
    finally:
        store.close()
    store, app = app_for(base + separator + "directConnection=true")
    try:
        assert [app.get("/").text for _ in range(2)] == ["1", "2"]
    finally:
        store.clear()
        store.close()
