"""Encryption at rest and hashed ids, shared both ways with the real express-session 1.19 + connect-mongo 6.

Three configurations of the Express twin (server.js), each with its Python twin (python_app.py)
on the same collection, set from the same environment variables (AT_REST_CRYPTO, AT_REST_TRANSFORM):

* ``webcrypto``: ``cryptoAdapter: createWebCryptoAdapter({secret})``, Python ``crypto=WebCryptoAdapter(secret)``;
* ``kruptein``: the legacy ``crypto: {secret}``, Python ``crypto=KrupteinCrypto(secret)``;
* ``sha256-ids``: ``transformId`` = hex SHA-256 of the id, Python ``transform_id`` = the same.

In each, one browser alternates between the twins and the counter is exact whichever side wrote
last (so Python reads what Node wrote, and Node reads what Python wrote), a logout on one side is
a logout on the other, and the raw documents are what the configuration promises: an encrypted
``session`` field (``_id`` and ``expires`` in clear), or an ``_id`` that is the hash, never the id.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import pytest

from wsgisession.serialization import datetime_to_ms

from .interop.checks import SLACK_MS, TTL_MS, now_ms, ordered, signed
from .interop.harness import Cluster, Jar
from .mongo_helpers import SESSION_DOCUMENTS

AT_REST_SECRET = "the at-rest interop secret, not the cookie secret"
CONFIGS = {
    "webcrypto": {"at_rest_crypto": {"kind": "webcrypto", "secret": AT_REST_SECRET}},
    "kruptein": {"at_rest_crypto": {"kind": "kruptein", "secret": AT_REST_SECRET}},
    "sha256-ids": {"at_rest_transform": "sha256"},
}


@pytest.fixture(params=list(CONFIGS))
def config(request):
    """The name of the at-rest configuration both twins run with (a key of CONFIGS)."""
    return request.param


@pytest.fixture
def peers(mongo_uri, tmp_path, config):
    """(python, node, cluster): the twins with the same at-rest configuration on one collection."""
    cluster = Cluster(mongo_uri, tmp_path)
    try:
        yield (*cluster.pair(**CONFIGS[config]), cluster)
    finally:
        cluster.close()


def storage_id(config, sid):
    """The ``_id`` under which the configuration stores the session ``sid``."""
    return hashlib.sha256(sid.encode()).hexdigest() if config == "sha256-ids" else sid


def session_json(config, ciphertext):
    """The session's JSON in an encrypted ``session`` field, opened with the Python codec of ``config``."""
    from wsgisession.crypto import KrupteinCrypto, WebCryptoAdapter

    codec = WebCryptoAdapter if config == "webcrypto" else KrupteinCrypto
    return json.loads(codec(AT_REST_SECRET).decrypt(ciphertext))


def stored_session(cluster, config, sid):
    """The session data of ``sid`` as stored, after checking the raw document is what ``config`` promises."""
    doc = cluster.collection.find_one({"_id": storage_id(config, sid)})
    assert doc is not None, f"no document under {storage_id(config, sid)!r} for sid {sid!r}"
    assert isinstance(doc["expires"], datetime)  # in clear, so still queryable (and expirable)
    assert abs(datetime_to_ms(doc["expires"]) - (now_ms() + TTL_MS)) < SLACK_MS
    if config == "sha256-ids":
        assert doc["_id"] != sid and cluster.collection.count_documents({"_id": sid}) == 0
        return json.loads(doc["session"])  # only the id is transformed: the data is in clear
    ciphertext = doc["session"]
    assert doc["_id"] == sid and isinstance(ciphertext, str)
    assert "cuenta" not in ciphertext and not ciphertext.lstrip().startswith("{")
    with pytest.raises(ValueError):
        json.loads(ciphertext)
    return session_json(config, ciphertext)


@pytest.mark.parametrize("first", ["python", "node"])
def test_the_counter_is_exact_both_ways(peers, config, first):
    python, node, cluster = peers
    sides = ordered((python, node), first)
    jar = Jar()
    sid = None
    for n in range(1, 7):  # each side reads what the other one wrote, three times over
        side = sides[(n - 1) % 2]
        reply = side.get("/inc", jar).body
        sid = sid or reply["id"]
        assert reply == {"cuenta": n, "id": sid}, f"request {n} on {side}"
        data = stored_session(cluster, config, sid)
        assert data["cuenta"] == n, f"the document after request {n} on {side}"
        assert set(data) == {"cookie", "cuenta"}
    assert jar.value == signed(sid)  # the browser carries the id itself, whatever is stored
    assert cluster.collection.count_documents(SESSION_DOCUMENTS) == 1


@pytest.mark.parametrize("destroyer", ["python", "node"])
def test_a_logout_on_one_side_is_a_logout_on_the_other(peers, config, destroyer):
    python, node, cluster = peers
    ender, other = ordered((python, node), destroyer)
    jar = Jar()
    sid = other.get("/inc", jar).body["id"]  # written by the side that did not end it...
    assert ender.get("/inc", jar).body == {"cuenta": 2, "id": sid}  # ...read and rewritten by the other
    assert stored_session(cluster, config, sid)["cuenta"] == 2
    old = jar.copy()

    assert ender.get("/destroy", jar).body == {"destroyed": sid}
    assert cluster.collection.count_documents(SESSION_DOCUMENTS) == 0
    # Python leaves a tombstone for the ended id, which Node never reads: the next request still works
    assert cluster.collection.count_documents({}) == (1 if destroyer == "python" else 0)

    fresh = other.get("/inc", old).body  # the old cookie, on the side that did not log out
    assert fresh["cuenta"] == 1 and fresh["id"] != sid
    assert old.value == signed(fresh["id"])
    assert stored_session(cluster, config, fresh["id"])["cuenta"] == 1
    assert cluster.collection.count_documents(SESSION_DOCUMENTS) == 1
    # and the side that logged out continues the new session, as any session from the other side
    assert ender.get("/inc", old).body == {"cuenta": 2, "id": fresh["id"]}
