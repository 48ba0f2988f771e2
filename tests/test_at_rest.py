"""Sessions at rest, through the middleware, on every store: hashed ids and encrypted data.

``transform_id`` makes every stored key (a hash here: the raw id is never written) and ``crypto``
encrypts the session's JSON; both are applied by AtRestStore (stores/at_rest.py), a wrapper around
any store, so load, save, the compare-and-set, refresh, destroy and the per-user index all go
through them, and the store it wraps sees keys and opaque text only.
Rotation: a session sealed under a retired secret is read, sealed again with the first secret at
the end of the request, and is unreadable (a fresh session, one warning) once that secret goes.
(The codecs' formats are tests/test_crypto.py's; Express reading ours, tests/test_interop_at_rest.py's.)
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from typing import Any

import pytest
from webtest import TestApp

from wsgisession import ConfigurationError, MemoryStore, MongoStore, SessionMiddleware, SQLiteStore, get_session
from wsgisession.crypto import KrupteinCrypto, WebCryptoAdapter
from wsgisession.serialization import loads
from wsgisession.stores.at_rest import AtRestStore
from wsgisession.stores.base import COMPARE_AND_SET, MAINTENANCE, TOMBSTONES, USER_INDEX

from .conftest import codec
from .helpers import DictStore
from .mongo_fixtures import MONGO_SERVERS, database_on
from .mongo_helpers import (SCENARIOS, SESSION_DOCUMENTS, SID, assert_same_document, at, expected_operations, from_vector,
                            session_written_by)

SECRET = "at-rest test secret, long enough to be safe"


def hashed(sid: str) -> str:
    """The README's hashed-id transform (Express: sid => createHash('sha256').update(sid).digest('hex'))."""
    return hashlib.sha256(sid.encode()).hexdigest()


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    session = get_session(environ)
    route = environ["PATH_INFO"]
    if route == "/inc":
        session["cuenta"] = session.get("cuenta", 0) + 1
    elif route == "/login":
        session.login(environ["QUERY_STRING"])
    elif route == "/logout":
        session.logout()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{session.get('cuenta')} {session.user_id}".encode()]


class Place:
    """Where a store keeps its records; ``make`` opens a store on it (again, with other options)."""

    def __init__(self, name: str, request: pytest.FixtureRequest, clock: Any, path: Any) -> None:
        self.name, self.clock, self.path, self.made = name, clock, path, []
        self.collection = None if name in ("memory", "sqlite") else database_on(request, name)["sessions"]

    def make(self, **at_rest: Any) -> Any:
        if self.name == "memory":
            store = MemoryStore(clock=self.clock, **at_rest)
        elif self.name == "sqlite":
            store = SQLiteStore(self.path, clock=self.clock, **at_rest)
        else:
            store = MongoStore(self.collection, clock=self.clock, auto_remove="disabled", **at_rest)
        self.made.append(store)
        return store

    def raw(self) -> dict[str, str]:
        """Every stored record: its key and its ``session`` as stored, read around the store."""
        if self.name == "memory":
            (store,) = self.made
            return {key: entry[0] for key, entry in store._records.items()}
        if self.name == "sqlite":
            with sqlite3.connect(self.path) as db:
                return dict(db.execute("SELECT sid, session FROM sessions"))
        return {doc["_id"]: doc["session"] for doc in self.collection.find(SESSION_DOCUMENTS)}


@pytest.fixture(params=["memory", "sqlite", *MONGO_SERVERS])
def place(request, clock, tmp_path):
    made = Place(request.param, request, clock, tmp_path / "sessions.sqlite3")
    yield made
    for store in made.made:
        store.close()


@pytest.fixture(params=[name for name in ("sqlite", *MONGO_SERVERS)])
def shared(request, clock, tmp_path):
    """A place whose records outlive a store (memory's do not): for restarts with new options."""
    made = Place(request.param, request, clock, tmp_path / "sessions.sqlite3")
    yield made
    for store in made.made:
        store.close()


def browser(store: Any, clock: Any, **options: Any) -> TestApp:
    return TestApp(SessionMiddleware(app, secret=SECRET, store=store, clock=clock, **options))


def counts(client: TestApp, path: str = "/inc") -> str:
    return client.get(path).text.split()[0]


# -- hashed ids ------------------------------------------------------------------------------


def test_hashed_ids_never_store_the_raw_id(place, clock):
    client = browser(place.make(transform_id=hashed), clock)
    client.get("/inc")
    sid = session_id_of(client)
    assert [counts(client) for _ in range(2)] == ["2", "3"]
    assert list(place.raw()) == [hashed(sid)]  # load, save, refresh: all by the key
    client.get("/logout")
    assert place.raw() == {}


def test_hashed_ids_keep_the_compare_and_set_and_the_store_api(place, clock):
    store = place.make(transform_id=hashed)
    text = '{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"n":1}'
    from wsgisession.stores.base import Record

    version = store.save("the-id", Record(text, None), None)
    assert store.save("the-id", Record(text, None), None) is None  # a live record: creating conflicts
    assert store.save("the-id", Record(text.replace("1", "2"), None), version) is not None
    assert store.save("the-id", Record(text, None), version) is None  # stale version
    assert store.get("the-id")["n"] == 2 and list(store.all()) == [hashed("the-id")]
    store.touch("the-id", store.get("the-id"))
    assert store.key("the-id") == hashed("the-id") and store.destroy("the-id") is True
    assert store.get("the-id") is None and place.raw() == {}


def test_hashed_ids_keep_accounts(place, clock):
    store = place.make(transform_id=hashed)
    middleware = SessionMiddleware(app, secret=SECRET, store=store, clock=clock)
    mine, other = TestApp(middleware), TestApp(middleware)
    for client in (mine, other):
        client.get("/login", "alice")
    assert all(key != sid for key in place.raw() for sid in (session_id_of(mine), session_id_of(other)))
    session = store_session(middleware, mine)
    infos = middleware.sessions_of("alice", current=session)
    assert sorted(info.current for info in infos) == [False, True]
    assert middleware.revoke_all("alice", keep=session) == 1
    assert other.get("/").text == "None None" and mine.get("/").text == "None alice"
    (info,) = middleware.sessions_of("alice")
    assert middleware.revoke("alice", info.handle) and place.raw() == {}


def session_id_of(client: TestApp) -> str:
    from urllib.parse import unquote

    return unquote(client.cookies["connect.sid"])[2:].rsplit(".", 1)[0]


def store_session(middleware: SessionMiddleware, client: TestApp) -> Any:
    """The session of ``client``'s cookie, opened on the middleware's core (as a request would)."""
    return middleware.core.open(f"connect.sid={client.cookies['connect.sid']}", False, None)


def test_migrating_to_hashed_ids_logs_everyone_out_once(shared, clock):
    before = browser(shared.make(), clock)
    counts(before)
    after = browser(shared.make(transform_id=hashed), clock)
    after.cookiejar = before.cookiejar
    assert counts(after) == "1"  # the clear-id record is not found: a new session, a new cookie
    assert counts(after) == "2"


# -- encrypted data --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["webcrypto", "kruptein"])
def test_the_session_is_stored_encrypted_and_read_back(place, clock, kind):
    client = browser(place.make(crypto=codec(kind), transform_id=hashed), clock)
    assert [counts(client) for _ in range(3)] == ["1", "2", "3"]
    ((key, stored),) = place.raw().items()
    assert "cuenta" not in stored and not stored.startswith("{")
    assert '"cuenta":3' in codec(kind).decrypt(stored) and key == hashed(session_id_of(client))


def test_mongo_encrypts_the_embedded_format_as_connect_mongo_does(mongo_database, clock):
    store = MongoStore(mongo_database["sessions"], clock=clock, auto_remove="disabled", stringify=False,
                       crypto=codec("kruptein"))
    client = browser(store, clock)
    assert [counts(client) for _ in range(2)] == ["1", "2"]
    (doc,) = mongo_database["sessions"].find()  # connect-mongo encrypts the JSON: a string, not a document
    assert isinstance(doc["session"], str) and '"cuenta":2' in codec("kruptein").decrypt(doc["session"])


def test_a_record_no_secret_opens_is_a_fresh_session_and_one_warning(shared, clock, caplog):
    old = browser(shared.make(crypto=KrupteinCrypto("a secret since removed")), clock)
    counts(old)
    (before,) = shared.raw().items()
    new = browser(shared.make(crypto=KrupteinCrypto("the only secret")), clock)
    new.cookiejar = old.cookiejar
    with caplog.at_level(logging.WARNING, logger="wsgisession"):
        assert counts(new) == "1"
    assert [r.getMessage() for r in caplog.records].count(caplog.records[0].getMessage()) == 1
    assert "decrypt" in caplog.records[0].getMessage() and len(caplog.records) == 1
    assert before in shared.raw().items()  # not overwritten: the new session has a new id


def test_rotation_reads_old_records_and_seals_them_again_at_their_next_request(shared, clock):
    clients = [browser(shared.make(crypto=WebCryptoAdapter("old", iterations=1000)), clock) for _ in range(2)]
    for client in clients:
        counts(client)
    rotated = shared.make(crypto=WebCryptoAdapter(["new", "old"], iterations=1000))
    active, idle = browser(rotated, clock), browser(rotated, clock)
    active.cookiejar, idle.cookiejar = clients[0].cookiejar, clients[1].cookiejar
    response = active.get("/")  # a read-only request: no Set-Cookie, but sealed anew under "new"
    assert response.text.startswith("1 ") and "Set-Cookie" not in response.headers
    only_new = WebCryptoAdapter("new", iterations=1000)
    stored = shared.raw()
    assert only_new.decrypt(stored[session_id_of(active)]).endswith('"cuenta":1}')
    after = browser(shared.make(crypto=only_new), clock)
    after.cookiejar = active.cookiejar
    assert counts(after) == "2"  # kept through the removal of "old"
    after.cookiejar = idle.cookiejar
    assert counts(after) == "1"  # never used while both secrets were known: unreadable now


# -- configuration -----------------------------------------------------------------------------


@pytest.mark.parametrize("options, words", [
    ({"crypto": "a secret"}, "crypto must have encrypt"),
    ({"crypto": object()}, "crypto must have encrypt"),
    ({"transform_id": "sha256"}, "transform_id must be a callable"),
    ({"transform_id": lambda sid: sid.encode()}, "transform_id returned bytes"),
    ({"transform_id": lambda sid: ""}, "transform_id returned an empty str"),
])
def test_bad_at_rest_options_are_configuration_errors(place, options, words):
    with pytest.raises(ConfigurationError, match=words):
        place.make(**options)


def test_from_url_takes_crypto_and_transform_id(mongo_uri, mongo_database, clock):
    url = f"{mongo_uri.rstrip('/')}/{mongo_database.name}"
    store = MongoStore.from_url(url, crypto=codec("webcrypto"), transform_id=hashed, clock=clock,
                                auto_remove="disabled")
    try:
        client = browser(store, clock)
        assert [counts(client) for _ in range(2)] == ["1", "2"]
        (doc,) = mongo_database["sessions"].find()
        assert doc["_id"] == hashed(session_id_of(client)) and "cuenta" not in doc["session"]
    finally:
        store.close()
    with pytest.raises(ConfigurationError, match="transform_id"):
        MongoStore.from_url(url, transform_id=42)


# -- connect-mongo's own documents: scenarios D, E and F of the vectors ---------------------------


def test_scenario_d_transform_id_writes_and_reads_connect_mongos_documents(commands, mongo_database, clock):
    collection, sent = commands
    step = SCENARIOS["D_transformId_interval"]["steps"][0]
    store = MongoStore(collection, transform_id=lambda sid: "sess:" + sid, auto_remove="disabled", clock=clock)
    at(clock, step["at"])
    store.set(SID, session_written_by(step))
    assert sent.as_operations() == expected_operations(step)  # connect-mongo's exact upsert, `_id: "sess:" + sid`
    assert_same_document(mongo_database["sessions"].find_one(), step["docs_after"][0])
    assert store.get(SID) == session_written_by(step)


def node_session(scenario: str) -> dict[str, Any]:
    """The session Node encrypted in a scenario, as its recorded independent decryption found it."""
    recorded = SCENARIOS[scenario].get("decoded_envelope") or SCENARIOS[scenario]["decoded"]
    plaintext = loads(recorded["independent_plaintext"])
    return loads(plaintext) if isinstance(plaintext, str) else plaintext  # (kruptein's: encoded twice)


@pytest.mark.parametrize("scenario, crypto", [("E_crypto_kruptein", KrupteinCrypto("squirrel")),
                                              ("F_crypto_webcrypto", WebCryptoAdapter("squirrel"))])
def test_scenarios_e_f_node_encrypted_documents_read_and_written(commands, mongo_database, clock, scenario, crypto):
    collection, sent = commands
    steps = SCENARIOS[scenario]["steps"]
    mongo_database["sessions"].insert_one(from_vector(steps[0]["docs_after"][0]))  # as Node wrote it
    store = MongoStore(collection, crypto=crypto, auto_remove="disabled", clock=clock)
    at(clock, steps[1]["at"])
    session = store.get(SID)
    assert session == node_session(scenario) and session["cuenta"] == steps[1]["body"]["cuenta"]
    assert sent.as_operations()[0] == expected_operations(steps[1])[0]  # connect-mongo's findOne
    at(clock, steps[0]["at"])
    store.set(SID, session)  # ours: the same upsert, but for the ciphertext (a fresh IV, and salt)
    ((op, (query, update, options)),) = sent.as_operations()
    ((_, (node_query, node_update, node_options)),) = expected_operations(steps[0])
    ours = update["$set"].pop("session")
    node_update["$set"].pop("session")
    assert (op, query, update, options) == ("updateOne", node_query, node_update, node_options)
    assert mongo_database["sessions"].find_one()["session"] == ours
    assert loads(crypto.decrypt(ours)) == node_session(scenario)


def test_a_bound_record_no_secret_opens_is_still_listed_and_ended(shared, clock):
    # (mid-rotation, say: a peer already wrote it under a secret this app does not have yet)
    old = SessionMiddleware(app, secret=SECRET, store=shared.make(crypto=KrupteinCrypto("old")), clock=clock)
    TestApp(old).get("/login", "alice")
    new = SessionMiddleware(app, secret=SECRET, store=shared.make(crypto=KrupteinCrypto("new")), clock=clock)
    (info,) = new.sessions_of("alice")
    assert info.user_id == "alice" and info.last_seen is None  # unreadable: no last-seen time
    assert new.revoke_all("alice") == 1 and shared.raw() == {}


def test_events_of_one_session_share_their_tag_with_hashed_ids(place, clock):
    middleware = SessionMiddleware(app, secret=SECRET, store=place.make(transform_id=hashed), clock=clock)
    seen = []
    middleware.events.subscribe(seen.append)
    TestApp(middleware).get("/login", "alice")
    assert middleware.revoke_all("alice") == 1
    tags = {event.name: event.session for event in seen}
    assert tags["revoked"] == tags["login"] == tags["created"]  # revoked by its key, tagged as by its id


# -- any store: AtRestStore around a third party's --------------------------------------------------


def test_at_rest_store_wraps_a_third_partys_store_which_sees_only_keys_and_ciphertext(clock):
    inner = DictStore()
    store = AtRestStore(inner, crypto=codec("webcrypto"), transform_id=hashed)
    client = browser(store, clock)
    assert [counts(client) for _ in range(3)] == ["1", "2", "3"]
    ((key, (stored, expires)),) = inner.records.items()
    assert key == hashed(session_id_of(client)) and expires is None
    assert "cuenta" not in stored and '"cuenta":3' in codec("webcrypto").decrypt(stored)
    assert store.get(session_id_of(client))["cuenta"] == 3 and store.key("x") == hashed("x")
    client.get("/logout")  # destroyed by its key (no tombstones: the inner store keeps none)
    assert inner.records == {}


def test_at_rest_store_has_the_capabilities_of_the_store_it_wraps(tmp_path, clock):
    store = AtRestStore(DictStore(), transform_id=hashed)
    assert [store.supports(c) for c in (COMPARE_AND_SET, USER_INDEX, TOMBSTONES, MAINTENANCE)] == [
        True, False, False, False]
    assert (store.compares_and_sets, store.keeps_accounts, store.keeps_tombstones) == (True, False, False)
    with pytest.raises(NotImplementedError, match="'user index'"):
        list(store.iter_bound("alice"))
    with pytest.raises(ConfigurationError, match="'user index'"):
        SessionMiddleware(app, secret=SECRET, store=store, max_sessions_per_user=2)
    full = AtRestStore(SQLiteStore(tmp_path / "s.sqlite3", ttl=60, touch_after=30, clock=clock), crypto=codec("kruptein"))
    assert all(full.supports(c) for c in (COMPARE_AND_SET, USER_INDEX, TOMBSTONES, MAINTENANCE))
    assert (full.ttl, full.touch_after, full.tracks_creation) == (60, 30, True)
    assert full.table == "sessions" and full.path.endswith("s.sqlite3")  # other attributes: the inner store's


def test_the_constructors_return_an_at_rest_store_around_the_plain_store(tmp_path, mongo_database, clock):
    made = [MemoryStore(transform_id=hashed), SQLiteStore(tmp_path / "s.sqlite3", crypto=codec("kruptein")),
            MongoStore(mongo_database["sessions"], crypto=codec("webcrypto"), stringify=False)]
    assert [type(store.inner).__name__ for store in made] == ["MemoryStore", "SQLiteStore", "MongoStore"]
    assert all(isinstance(store, AtRestStore) for store in made)
    assert made[2].inner.stringify is True  # a ciphertext is a string, as connect-mongo writes it
    assert type(MemoryStore()) is MemoryStore  # neither option: the plain store


def test_an_at_rest_stores_repr_says_what_is_on_never_a_secret(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite3", crypto=WebCryptoAdapter("the secret itself", iterations=1000))
    assert repr(store) == f"AtRestStore(SQLiteStore({store.path!r}, table='sessions'), crypto=on, transform_id=off)"
    with pytest.raises(ConfigurationError, match="wraps a store"):
        AtRestStore(object())


class Reversed:
    """A custom adapter, shaped as connect-mongo's cryptoAdapter (and no cipher at all)."""

    def __init__(self, down: bool = False) -> None:
        self.down = down

    def encrypt(self, plaintext: str) -> str:
        return plaintext[::-1]

    def decrypt(self, ciphertext: str) -> str:
        if self.down:
            raise ConnectionError("the key service does not answer")
        return ciphertext[::-1]


def test_any_adapter_works_and_its_outage_is_a_503_not_a_logout(shared, clock):
    client = browser(shared.make(crypto=Reversed()), clock)
    assert [counts(client) for _ in range(2)] == ["1", "2"]
    assert list(shared.raw().values())[0].startswith("}")
    down = browser(shared.make(crypto=Reversed(down=True)), clock)
    down.cookiejar = client.cookiejar
    assert down.get("/inc", status=503).headers["Retry-After"]
    assert counts(client) == "3"  # nothing was lost or replaced meanwhile


# -- with crypto, the user binding is authenticated (Account.seal) ----------------------------------


def stored_account(place: Place, key: str) -> dict[str, Any]:
    """The account fields of the record stored under ``key``, read around the store (SQLite's columns,
    MongoDB's fields), by their SQLite names."""
    if place.name == "sqlite":
        with sqlite3.connect(place.path) as db:
            row = db.execute("SELECT user_id, logged_in, authenticated, account_seal FROM sessions WHERE sid = ?",
                             (key,)).fetchone()
        return dict(zip(("user_id", "logged_in", "authenticated", "account_seal"), row))
    doc = place.collection.find_one({"_id": key})
    return {"user_id": doc.get("userId"), "logged_in": doc.get("loggedInAt"), "authenticated": doc.get("authenticatedAt"),
            "account_seal": doc.get("accountSeal")}


def tamper(place: Place, key: str, **fields: Any) -> None:
    """Rewrite account fields of the record under ``key`` in the database itself, as whoever can write it would."""
    if place.name == "sqlite":
        with sqlite3.connect(place.path) as db:
            db.execute(f"UPDATE sessions SET {', '.join(f'{name} = ?' for name in fields)} WHERE sid = ?",
                       (*fields.values(), key))
        return
    names = {"user_id": "userId", "logged_in": "loggedInAt", "authenticated": "authenticatedAt",
             "account_seal": "accountSeal"}
    assert place.collection.update_one({"_id": key}, {"$set": {names[k]: v for k, v in fields.items()}}).matched_count


def whoami(client: TestApp) -> tuple[str, str]:
    """(the counter, the user the session is logged in as) as the app sees them."""
    cuenta, user = client.get("/").text.split()
    return cuenta, user


@pytest.mark.parametrize("kind", ["webcrypto", "kruptein"])
def test_a_session_rebound_to_another_user_in_the_database_does_not_log_in_as_them(shared, clock, kind):
    store = shared.make(crypto=codec(kind), transform_id=hashed)
    alice, mallory = browser(store, clock), browser(store, clock)
    alice.get("/login", "alice")
    mallory.get("/login", "mallory")
    mallory.get("/inc")
    alices, mallorys = hashed(session_id_of(alice)), hashed(session_id_of(mallory))
    assert stored_account(shared, mallorys)["account_seal"]  # sealed, beside connect-mongo's fields
    tamper(shared, mallorys, user_id="alice")  # mallory, who can write the database, rebinds her session
    assert whoami(mallory) == ("1", "None")  # her data still decrypts, but she is nobody: not alice
    tamper(shared, mallorys, **stored_account(shared, alices))  # alice's whole binding, seal included
    assert whoami(mallory) == ("1", "None")  # a seal names its record: it cannot be moved
    assert whoami(alice) == ("None", "alice")  # alice's own session is untouched


def test_an_authentication_time_pushed_forward_in_the_database_logs_the_session_out(shared, clock):
    store = shared.make(crypto=codec("webcrypto"))
    client = browser(store, clock)
    client.get("/login", "alice")
    key = session_id_of(client)
    later = stored_account(shared, key)["authenticated"]
    later = later + 3_600_000 if isinstance(later, int) else later.replace(year=later.year + 1)
    tamper(shared, key, authenticated=later)  # to pass authenticated_within() without the password
    assert whoami(client) == ("None", "None")


def test_without_crypto_the_binding_is_not_authenticated(shared, clock):
    """What the seal is for: without crypto, the same rewrite does rebind (as the README says)."""
    store = shared.make()
    mallory = browser(store, clock)
    mallory.get("/login", "mallory")
    tamper(shared, session_id_of(mallory), user_id="alice")
    assert whoami(mallory) == ("None", "alice")


def test_a_binding_sealed_under_a_retired_secret_is_sealed_anew(shared, clock):
    client = browser(shared.make(crypto=KrupteinCrypto("old")), clock)
    client.get("/login", "alice")
    key = session_id_of(client)
    old_seal = stored_account(shared, key)["account_seal"]
    clock.advance(60)
    rotating = browser(shared.make(crypto=KrupteinCrypto(["new", "old"])), clock)  # another app on the database
    rotating.set_cookie("connect.sid", client.cookies["connect.sid"])
    assert whoami(rotating) == ("None", "alice")  # a read-only request: sealed anew all the same
    assert stored_account(shared, key)["account_seal"] not in (None, old_seal)
    renewed = browser(shared.make(crypto=KrupteinCrypto("new")), clock)
    renewed.set_cookie("connect.sid", client.cookies["connect.sid"])
    assert whoami(renewed) == ("None", "alice")  # the old secret gone: still alice


def test_an_adapter_without_binding_keys_leaves_bindings_unsealed(clock):
    class Plain:  # a cryptoAdapter of your own: encrypt and decrypt only
        def encrypt(self, text: str) -> str:
            return text[::-1]

        def decrypt(self, text: str) -> str:
            return text[::-1]

    store = MemoryStore(clock=clock, crypto=Plain())
    client = browser(store, clock)
    client.get("/login", "alice")
    assert whoami(client) == ("None", "alice")
    (key,) = store.inner._records
    assert store.inner._records[key][2].seal is None
