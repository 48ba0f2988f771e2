"""A Flask app (wsgisession.flask, with Flask-Login) shares its sessions with the real express-session 1.19 +
connect-mongo 6 (one collection of the test MongoDB server), connect-redis 9 or connect-pg-simple 10:
one store, one secret, one browser-like cookie jar.

The Express peer is server.js, started by tests/interop/harness.py's Cluster; the Flask twin
(tests/interop/flask_twin.py) is started here, under the same environment contract.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from .interop.checks import signed
from .interop.harness import HERE, SECRET, START_TIMEOUT, App, Cluster, Jar
from .interop.peers import open_peer
from .mongo_fixtures import MONGO_SERVERS
from .postgres_fixtures import postgres_server  # noqa: F401  (fixture)


class FlaskTwin(App):
    """tests/interop/flask_twin.py as a subprocess: harness.App's life cycle and HTTP helpers."""

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, str(HERE / "flask_twin.py")], cwd=HERE, env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def start_flask(cluster: Cluster, options: dict[str, Any] | None = None) -> App:
    """Start a Flask twin on the cluster's collection, configured as Cluster.start configures its twins."""
    options = options or {}
    env = {**cluster.store_env(),
           "SECRETS": json.dumps(options.get("secrets", [SECRET])), "COOKIE": json.dumps(options.get("cookie", {})),
           "PROXY": "false", "TOUCH_AFTER": "0", "AUTO_REMOVE": "interval"}
    app = FlaskTwin("flask", f"flask{len(cluster.apps)}", env, cluster.workdir)
    cluster.apps.append(app)  # stopped (and its log shown on failure) by cluster.close()
    app.start()
    app.wait_ready(time.monotonic() + START_TIMEOUT)
    return app


@pytest.fixture(params=[*MONGO_SERVERS, "redis", "postgres"])
def cluster(request, tmp_path):
    """The twins' store: connect-mongo's collection (on each MongoDB server), connect-redis's keys,
    connect-pg-simple's table."""
    made = Cluster(open_peer(request, request.param), tmp_path)
    yield made
    made.close()


@pytest.fixture
def pair(cluster) -> tuple[App, App]:
    """(flask, node), with the same defaults: one secret, express's default cookie."""
    [node] = cluster.start(("node", {}))
    return start_flask(cluster), node


@pytest.mark.parametrize("first", ["flask", "node"])
def test_a_visit_counter_alternates_exactly_between_flask_and_express(pair, cluster, first):
    flask, node = pair
    sides = (flask, node) if first == "flask" else (node, flask)
    jar = Jar()
    sid = None
    for n in range(1, 11):
        side = sides[(n - 1) % 2]
        reply = side.get("/inc", jar)
        sid = sid or reply.body["id"]
        assert reply.body == {"cuenta": n, "id": sid}, f"request {n} on {side}"
        assert (reply.set_cookie is not None) == (n == 1)  # both follow express's Set-Cookie rules
    assert jar.value == signed(sid)
    assert cluster.peer.sids() == {sid}  # (not the tombstones a login or logout may leave)
    assert json.loads(cluster.peer.stored(sid).text)["cuenta"] == 10


def test_a_flask_login_login_and_logout_hold_for_express(pair, cluster):
    flask, node = pair
    jar = Jar()
    anonymous = node.get("/inc", jar).body["id"]
    login = flask.get("/login?user=alice", jar).body
    assert login["user"] == login["user_id"] == "alice" and login["id"] != anonymous
    assert jar.value == signed(login["id"])  # the login's new id reached the browser
    assert cluster.peer.stored(anonymous) is None  # the old id is dead, for Node too
    stale = node.get("/inc", Jar(signed(anonymous))).body
    assert stale["cuenta"] == 1 and stale["id"] not in (anonymous, login["id"])
    seen = node.get("/session", jar).body  # Express follows the logged-in session, data and all
    assert seen["id"] == login["id"] and seen["data"]["cuenta"] == 1 and seen["data"]["_user_id"] == "alice"
    assert node.get("/inc", jar).body == {"cuenta": 2, "id": login["id"]}  # a save by the Express store...
    if cluster.peer.kind == "mongo":  # ...keeps wsgisession's binding (connect-mongo: the userId field)
        assert cluster.document(login["id"])["userId"] == "alice"
    me = flask.get("/me", jar).body
    assert me["user"] == me["user_id"] == "alice" and me["data"]["cuenta"] == 2
    flask.get("/logout", jar)
    assert cluster.peer.stored(login["id"]) is None and jar.value is None
    fresh = node.get("/inc", Jar(signed(login["id"]))).body  # a browser that kept the cookie starts afresh
    assert fresh["cuenta"] == 1 and fresh["id"] != login["id"]
