"""Sessions are shared both ways with the real express-session 1.19 and each of its stores: connect-mongo 6
(issue 4), connect-redis 9 on node-redis 5 (issue 24) and connect-pg-simple 10 on pg 8 (issue 25).

Each test runs server.js (the npm packages) and python_app.py over real HTTP on one store, and drives
them with one browser-like cookie jar. The scenarios run against every peer (test ids ``ferretdb`` and
``mongo-java-server`` for connect-mongo with MongoStore, ``redis`` for connect-redis with RedisStore,
``postgres`` for connect-pg-simple with PostgresStore), reading what the twins stored through
tests/interop/peers.py; the format of each store is checked raw at the end of this file.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from wsgisession.serialization import datetime_to_ms, parse_iso

from .interop.checks import (DAY_MS, FIDELITY, HOUR_MS, NEW, OLD, SLACK_MS, TTL_MS, expires_attribute, now_ms,
                             ordered, signed, typed)
from .interop.harness import Cluster, Jar
from .interop.peers import open_peer
from .mongo_fixtures import MONGO_SERVERS
from .mongo_helpers import SESSION_DOCUMENTS
from .postgres_fixtures import postgres_server  # noqa: F401  (fixture)

PEERS = [*MONGO_SERVERS, "redis", "postgres"]


@pytest.fixture(params=PEERS)
def cluster(request, tmp_path):
    """Twins on each peer store in turn."""
    made = Cluster(open_peer(request, request.param), tmp_path)
    yield made
    made.close()


@pytest.fixture
def mongo_cluster(mongo_uri, tmp_path):
    """Twins on connect-mongo's collection only (what the other stores have no counterpart of)."""
    made = Cluster(mongo_uri, tmp_path)
    yield made
    made.close()


@pytest.fixture
def pair(cluster):
    """(python, node) with the same defaults: one secret, express's default cookie."""
    return cluster.pair()


@pytest.mark.parametrize("first", ["python", "node"])
def test_a_session_continues_on_the_other_side_and_back(pair, cluster, first):
    jar = Jar()
    sides = ordered(pair, first)
    sid = None
    for n in range(1, 11):
        reply = sides[(n - 1) % 2].get("/inc", jar)
        sid = sid or reply.body["id"]
        assert reply.body == {"cuenta": n, "id": sid}, f"request {n} on {sides[(n - 1) % 2]}"
        # Only the first answer sets the cookie: both follow express's Set-Cookie rules.
        assert (reply.set_cookie is not None) == (n == 1)
    assert jar.value == signed(sid)
    assert cluster.peer.sids() == {sid}
    assert json.loads(cluster.peer.stored(sid).text)["cuenta"] == 10


@pytest.mark.parametrize("first", ["python", "node"])
def test_data_round_trips_unchanged(pair, cluster, first):
    writer, other = ordered(pair, first)
    jar = Jar()
    written = writer.post("/set", jar, FIDELITY).body
    sid = written["id"]
    assert typed(written["data"]) == typed(FIDELITY)
    read = other.get("/session", jar).body
    assert read["id"] == sid and typed(read["data"]) == typed(FIDELITY)
    # The other side rewrites the whole session (one more key), and the first reads it back.
    assert typed(other.post("/set", jar, {"hop": 1}).body["data"]) == typed({**FIDELITY, "hop": 1})
    back = writer.get("/session", jar).body
    assert back["id"] == sid and typed(back["data"]) == typed({**FIDELITY, "hop": 1})
    stored = json.loads(cluster.peer.stored(sid).text)
    cookie = stored.pop("cookie")
    assert not cookie.pop("secure", False)  # Python writes secure:false where express omits it
    assert cookie == {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"}
    assert typed(stored) == typed({**FIDELITY, "hop": 1})


def test_secret_rotation(cluster):
    node_old, python_both, node_both, python_new, node_new = cluster.start(
        ("node", {"secrets": [OLD]}), ("python", {"secrets": [NEW, OLD]}), ("node", {"secrets": [NEW, OLD]}),
        ("python", {"secrets": [NEW]}), ("node", {"secrets": [NEW]}))
    jar = Jar()
    sid = node_old.get("/inc", jar).body["id"]
    assert jar.value == signed(sid, OLD)
    for side in (python_new, node_new):  # only the new secret: an old-signed cookie is a stranger
        fresh = side.get("/inc", jar.copy()).body
        assert fresh["cuenta"] == 1 and fresh["id"] != sid, side
    reply = python_both.get("/inc", jar)
    assert reply.body == {"cuenta": 2, "id": sid}
    assert reply.set_cookie is None  # accepted, and (as in express) not re-signed for nothing
    reply = python_both.get(f"/max-age?ms={HOUR_MS}", jar)  # an expiring cookie is resent...
    assert reply.set_cookie is not None and jar.value == signed(sid, NEW)  # ...signed with the new secret
    assert node_both.get("/inc", jar).body == {"cuenta": 3, "id": sid}
    assert node_new.get("/inc", jar).body == {"cuenta": 4, "id": sid}
    assert python_new.get("/inc", jar).body == {"cuenta": 5, "id": sid}
    stale = node_old.get("/inc", jar.copy()).body  # the old-only side no longer knows the cookie
    assert stale["cuenta"] == 1 and stale["id"] != sid

    # The other way to re-sign: regenerate (new id, new secret), accepted by Node [new, old].
    jar = Jar()
    old_id = node_old.get("/inc", jar).body["id"]
    new_id = python_both.get("/regenerate", jar).body["id"]
    assert new_id != old_id and jar.value == signed(new_id, NEW)
    assert node_both.get("/inc", jar).body == {"cuenta": 2, "id": new_id}
    assert node_new.get("/inc", jar).body == {"cuenta": 3, "id": new_id}


@pytest.mark.parametrize("ender", ["python", "node"])
def test_logout_on_one_side_is_logout_on_the_other(pair, cluster, ender):
    ending, other = ordered(pair, ender)
    jar = Jar()
    sid = other.get("/inc", jar).body["id"]
    assert ending.get("/inc", jar).body == {"cuenta": 2, "id": sid}
    stale = jar.copy()
    assert ending.get("/destroy", jar).body == {"destroyed": sid}
    assert cluster.peer.stored(sid) is None
    for side in (other, ending):  # even a browser that kept the cookie starts afresh on both sides
        fresh = side.get("/inc", stale.copy()).body
        assert fresh["cuenta"] == 1 and fresh["id"] != sid, side
    # Python also expires the cookie (Max-Age=0); express leaves it in the browser (documented).
    assert jar.value == (None if ender == "python" else stale.value)
    fresh = other.get("/inc", jar).body
    assert fresh["cuenta"] == 1 and fresh["id"] != sid


@pytest.mark.parametrize("side", ["python", "node"])
def test_regenerate_kills_the_old_id_on_both_sides(pair, cluster, side):
    regenerating, other = ordered(pair, side)
    jar = Jar()
    old = other.get("/inc", jar).body["id"]
    regenerating.get("/inc", jar)
    stale = jar.copy()
    reply = regenerating.get("/regenerate", jar)
    new = reply.body["id"]
    assert new != old and reply.body["data"] == {"cuenta": 2}
    assert reply.set_cookie is not None and jar.value == signed(new)
    assert cluster.peer.stored(old) is None and cluster.peer.stored(new) is not None
    for app in pair:
        view = app.get("/session", stale.copy()).body
        assert view["id"] not in (old, new) and view["data"] == {}, app
    assert other.get("/inc", jar).body == {"cuenta": 3, "id": new}
    assert regenerating.get("/inc", jar).body == {"cuenta": 4, "id": new}


@pytest.mark.parametrize("setter", ["python", "node"])
def test_expiry_set_on_one_side_is_honoured_by_the_other(pair, cluster, setter):
    first, second = ordered(pair, setter)
    peer = cluster.peer
    slack = peer.resolution_ms  # how far after the cookie's expiry the store's may lie
    ttl = peer.default_ttl_ms  # the Python store must agree with its peer
    jar = Jar()
    before = now_ms()
    sid = second.get("/inc", jar).body["id"]
    stored = peer.stored(sid)  # a browser-session cookie: the record lives for the store's ttl
    assert before + ttl <= stored.expires_ms <= now_ms() + ttl + slack

    before = now_ms()
    reply = first.get(f"/max-age?ms={2 * HOUR_MS}", jar)
    after = now_ms()
    stored = peer.stored(sid)
    cookie = json.loads(stored.text)["cookie"]
    cookie_expires = parse_iso(cookie["expires"])
    assert cookie_expires <= stored.expires_ms <= cookie_expires + slack  # the store's expiry is the cookie's
    assert before + 2 * HOUR_MS - SLACK_MS <= cookie_expires <= after + 2 * HOUR_MS
    assert 2 * HOUR_MS - 5 <= cookie["originalMaxAge"] <= 2 * HOUR_MS  # express may lose a ms or two
    assert expires_attribute(reply.set_cookie) == cookie_expires - cookie_expires % 1000

    view = second.get("/session", jar).body  # the other side reads the same expiry...
    assert view["cookie"] == {"originalMaxAge": cookie["originalMaxAge"], "expires": cookie["expires"]}
    before = now_ms()
    reply = second.get("/inc", jar)  # ...and rolls it forward with the stored max age
    after = now_ms()
    assert reply.body == {"cuenta": 2, "id": sid}
    stored = peer.stored(sid)
    rolled = parse_iso(json.loads(stored.text)["cookie"]["expires"])
    assert before + cookie["originalMaxAge"] <= rolled <= after + cookie["originalMaxAge"]
    assert rolled <= stored.expires_ms <= rolled + slack
    assert expires_attribute(reply.set_cookie) == rolled - rolled % 1000


def test_an_expired_record_is_invisible_to_both(pair, cluster):
    python, node = pair
    peer = cluster.peer
    jar = Jar()
    sid = python.get("/inc", jar).body["id"]
    node.get(f"/max-age?ms={DAY_MS}", jar)  # the cookie itself still says "valid for a day"
    peer.set_expiry(sid, now_ms() - 1000)
    stored = peer.stored(sid)
    assert (stored is not None) == peer.expired_records_stay  # (Redis deletes an expired key itself)
    for app in pair:
        view = app.get("/session", jar.copy()).body
        assert view["id"] != sid and view["data"] == {}, app
        fresh = app.get("/inc", jar.copy()).body
        assert fresh["cuenta"] == 1 and fresh["id"] != sid, app
    assert peer.stored(sid) == stored  # nobody revived or touched it


def test_touch_after_is_shared_and_documents_stay_well_typed(mongo_cluster):
    cluster = mongo_cluster
    python, node = cluster.pair(touch_after=3600, cookie={"maxAge": DAY_MS})
    jar = Jar()
    before = now_ms()
    sid = python.get("/inc", jar).body["id"]
    assert before <= datetime_to_ms(cluster.document(sid)["lastModified"]) <= now_ms()
    node.get("/inc", jar)  # a change: written (with a new lastModified) by Node
    snapshot = cluster.document(sid)
    assert "lastModified" not in json.loads(snapshot["session"])
    for app in (python, node, python, node):  # unchanged and recently written: no side writes
        assert app.get("/session", jar).body["data"] == {"cuenta": 2}
    assert cluster.document(sid) == snapshot
    for app in (python, node):  # once lastModified is older than touchAfter, each side touches
        old = datetime.now(timezone.utc) - timedelta(hours=2)
        cluster.collection.update_one({"_id": sid}, {"$set": {"lastModified": old}})
        before = now_ms()
        app.get("/session", jar)
        after = now_ms()
        doc = cluster.document(sid)
        assert before <= datetime_to_ms(doc["lastModified"]) <= after, app
        assert before + DAY_MS - SLACK_MS <= datetime_to_ms(doc["expires"]) <= after + DAY_MS, app
        assert doc["session"] == snapshot["session"], app  # a touch never rewrites the data

    # Mixed traffic on several sessions, then every document has connect-mongo's shape and types.
    for first in (python, node):
        other = node if first is python else python
        browser = Jar()
        first.post("/set", browser, {"user": {"name": "Zoë", "roles": ["a", "b"]}})
        other.get("/inc", browser)
        other.get(f"/max-age?ms={HOUR_MS}", browser)
        first.get("/regenerate", browser)
        other.get("/inc", browser)
        first.get("/session", browser)
    docs = list(cluster.collection.find(SESSION_DOCUMENTS))  # (regenerate() left tombstones beside them)
    assert len(docs) == 3
    for doc in docs:
        assert set(doc) == {"_id", "session", "expires", "lastModified"}, doc
        assert isinstance(doc["_id"], str) and isinstance(doc["session"], str), doc
        assert isinstance(doc["expires"], datetime) and isinstance(doc["lastModified"], datetime), doc
        session = json.loads(doc["session"])
        assert isinstance(session["cookie"]["originalMaxAge"], int) and "lastModified" not in session, doc
        # A touch moves the document's expiry past the one in the (not rewritten) session JSON.
        assert datetime_to_ms(doc["expires"]) >= parse_iso(session["cookie"]["expires"]), doc


@pytest.fixture(params=["redis", "postgres"])
def kv_cluster(request, tmp_path):
    """Twins on connect-redis's keys, then on connect-pg-simple's table (stores with no touchAfter)."""
    made = Cluster(open_peer(request, request.param), tmp_path)
    yield made
    made.close()


def test_a_read_refreshes_the_expiry_on_either_side_and_never_rewrites_the_data(kv_cluster):
    """connect-redis and connect-pg-simple touch an unmodified session at every request that loads it
    (EXPIRE of the key; UPDATE of expire alone): the Python store does the same, and neither side
    rewrites the session JSON to do it."""
    python, node = kv_cluster.pair(cookie={"maxAge": DAY_MS})
    peer = kv_cluster.peer
    jar = Jar()
    sid = python.get("/inc", jar).body["id"]
    node.get("/inc", jar)
    snapshot = peer.stored(sid).text
    for app in (python, node, python, node):
        peer.set_expiry(sid, now_ms() + HOUR_MS)  # as if the last request were 23 hours ago
        before = now_ms()
        assert app.get("/session", jar).body["data"] == {"cuenta": 2}, app
        after = now_ms()
        stored = peer.stored(sid)
        assert before + DAY_MS - SLACK_MS <= stored.expires_ms <= after + DAY_MS + peer.resolution_ms, app
        assert stored.text == snapshot, app  # a touch never rewrites the data


@pytest.mark.parametrize("first", ["python", "node"])
def test_secure_auto_cookie_behind_a_trusted_proxy(cluster, first):
    sides = ordered(cluster.pair(cookie={"secure": "auto", "maxAge": HOUR_MS}, proxy=True), first)
    https = {"X-Forwarded-Proto": "https"}
    jar = Jar()
    reply = sides[0].get("/inc", jar, headers=https)
    sid = reply.body["id"]
    assert "; Secure" in reply.set_cookie
    assert json.loads(cluster.peer.stored(sid).text)["cookie"]["secure"] is True
    for n, side in enumerate((sides[1], sides[0], sides[1]), start=2):
        reply = side.get("/inc", jar, headers=https)
        assert reply.body == {"cuenta": n, "id": sid}, side
        assert "; Secure" in reply.set_cookie and jar.value == signed(sid), side
    for n, side in enumerate(sides, start=5):  # plain http: the session works, the Secure cookie is not sent
        reply = side.get("/inc", jar)
        assert reply.body == {"cuenta": n, "id": sid} and reply.set_cookie is None, side


def test_a_lone_surrogate_written_by_node_survives_python(pair):
    python, node = pair
    jar = Jar()
    node.post("/set", jar, {"text": "cut emoji \ud83c"})  # JavaScript strings may hold lone surrogates
    assert python.get("/session", jar).body["data"] == {"text": "cut emoji \ud83c"}
    assert python.get("/inc", jar).body["cuenta"] == 1  # dumps escapes it as JSON.stringify does
    assert node.get("/session", jar).body["data"] == {"text": "cut emoji \ud83c", "cuenta": 1}


# The stores' own formats, read raw: what each Express store writes is what the Python store writes.

@pytest.fixture
def redis_cluster(request, tmp_path):
    made = Cluster(open_peer(request, "redis"), tmp_path)
    yield made
    made.close()


@pytest.fixture
def postgres_cluster(request, tmp_path):
    made = Cluster(open_peer(request, "postgres"), tmp_path)
    yield made
    made.close()


def session_json(text):
    """A stored session's JSON, less the ``secure: false`` Python writes where express omits it."""
    stored = json.loads(text)
    assert not stored["cookie"].pop("secure", False)
    return stored


@pytest.mark.parametrize("writer", ["python", "node"])
def test_connect_redis_keys_the_session_json_with_a_ttl(redis_cluster, writer):
    """connect-redis: a string key ``sess:<sid>`` holding the session JSON (cookie first), its TTL the
    cookie's expiry rounded up to the second, else connect-redis's ttl of one day."""
    peer = redis_cluster.peer
    writing, reading = ordered(redis_cluster.pair(), writer)
    jar = Jar()
    before = now_ms()
    sid = writing.get("/inc", jar).body["id"]
    after = now_ms()
    assert peer.client.type("sess:" + sid) == "string"
    stored = peer.stored(sid)
    assert list(json.loads(stored.text)) == ["cookie", "cuenta"]
    assert session_json(stored.text) == {
        "cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"}, "cuenta": 1}
    assert before + DAY_MS <= stored.expires_ms <= after + DAY_MS + 1000
    assert reading.get("/session", jar).body["data"] == {"cuenta": 1}

    writing.get(f"/max-age?ms={HOUR_MS}", jar)
    stored = peer.stored(sid)
    expires = parse_iso(json.loads(stored.text)["cookie"]["expires"])
    assert expires <= stored.expires_ms <= expires + 1000
    assert reading.get("/inc", jar).body == {"cuenta": 2, "id": sid}
    assert node_lists(redis_cluster) == [sid]


def node_lists(cluster):
    """The ids connect-redis's own all() finds under its prefix (each value parsed as a session)."""
    node = next(app for app in cluster.apps if app.kind == "node")
    return node.get("/store-all", Jar()).body


def test_everything_under_the_prefix_is_a_session_connect_redis_can_list(redis_cluster):
    """connect-redis's all(), length() and clear() scan ``sess:*`` and parse every value as a session:
    whatever else RedisStore keeps (accounts, tombstones) must live outside the prefix."""
    python, node = redis_cluster.pair()
    peer = redis_cluster.peer
    live = set()
    alice = Jar()
    python.get("/inc", alice)
    python.get("/login?user=alice", alice)  # a login: a new id, the old one ended (and buried)
    python.get("/regenerate", alice)
    live.add(node.get("/inc", alice).body["id"])
    gone = Jar()
    python.get("/inc", gone)
    python.get("/destroy", gone)
    bob = Jar()
    node.get("/inc", bob)
    live.add(node.get("/login?user=bob", bob).body["id"])  # a Node login: regenerate, save
    carol = Jar()
    live.add(python.get("/login?user=carol", carol).body["id"])
    assert peer.sids() == live
    assert node_lists(redis_cluster) == sorted(live)
    for sid in live:
        assert "cookie" in json.loads(peer.stored(sid).text)
    others = sorted(key for key in peer.keys() if not key.startswith(peer.prefix))
    print("RedisStore's keys outside the prefix:", others)


def table_shape(peer):
    """connect-pg-simple's table as PostgreSQL describes it: columns, primary key, indexed columns."""
    columns = {name: (kind, nullable, precision) for name, kind, nullable, precision in peer.query(
        "SELECT column_name, data_type, is_nullable, datetime_precision FROM information_schema.columns"
        " WHERE table_name = %s", peer.table)}
    key = peer.query("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                     " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
                     f'"{peer.table}"')
    indexed = peer.query("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
                         " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND NOT i.indisprimary",
                         f'"{peer.table}"')
    return columns, [row[0] for row in key], {row[0] for row in indexed}


@pytest.mark.parametrize("creator", ["node", "python", "all-at-once"])
def test_connect_pg_simple_table_whoever_creates_it(postgres_cluster, creator):
    """The table connect-pg-simple creates (createTableIfMissing) and the one PostgresStore creates are
    the same to both: sid varchar primary key, sess json, expire timestamp(6) without time zone, an
    index on expire; created by either side first, or by three twins starting at once on an empty
    database. ``expire`` is the session's expiry in the database's zone (+05:45 here), to the second."""
    cluster, peer = postgres_cluster, postgres_cluster.peer
    if creator == "all-at-once":
        first, second, third = cluster.start(("python", {}), ("node", {}), ("python", {}))
        sides = [first, second, third]
    else:
        (first,) = cluster.start((creator, {}))
        warmup = Jar()  # connect-pg-simple creates its table at its first query: a save
        first.get("/inc", warmup)
        first.get("/destroy", warmup)
        (second,) = cluster.start(("python" if creator == "node" else "node", {}))
        sides = [first, second]
    jar = Jar()
    for n in range(1, 7):
        side = sides[(n - 1) % len(sides)]
        before = now_ms()
        reply = side.get("/inc", jar)
        after = now_ms()
        sid = reply.body["id"] if n == 1 else sid
        assert reply.body == {"cuenta": n, "id": sid}, side
        stored = peer.stored(sid)
        assert session_json(stored.text) == {
            "cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"}, "cuenta": n}, side
        assert before + DAY_MS - 1000 <= stored.expires_ms <= after + DAY_MS + 1000, side
    columns, key, indexed = table_shape(peer)
    assert {name: columns[name] for name in ("sid", "sess", "expire")} == {
        "sid": ("character varying", "NO", None), "sess": ("json", "NO", None),
        "expire": ("timestamp without time zone", "NO", 6)}
    assert key == ["sid"] and "expire" in indexed
    assert peer.sids() == {sid}
