"""Faults on real Redis servers: a Sentinel master killed under load, what its failover loses, a Cluster
master killed under load, a single server killed under requests in flight, and min-replicas-to-write.

Our app runs under waitress in this process (tests/lost_updates.py's ``LocalServer`` and ``make_app``),
RedisStore on a redis-py client with 1 s socket timeouts and no retries, so that a dead server is a
``StoreUnavailable`` at once and every request finishes. The assertions are invariants that hold
whoever wins a race (every answer is a 200 or a 503 with Retry-After; nothing hangs; a request that
cannot reach a live master is a 503; once the Sentinel has promoted the replica, or the Cluster is
whole again, requests succeed; every write the replica had acknowledged survives the failover, and
every survivor is intact; a node that stayed up loses nothing); the counts that depend on timing
(how many 503s, how many writes the failover lost, how long it took) are printed under "measured,
not asserted".
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from wsgisession import RedisStore, SessionMiddleware
from wsgisession.stores.base import Record

from .lost_updates import SECRET, Gate, LocalServer, make_app, session_id
from .redis_server import RedisServer
from .redis_topologies import MASTER_NAME, RedisSentinel, wait_for
from .redis_topologies import fresh_redis_cluster, fresh_redis_sentinel  # noqa: F401  (fixtures)

TIMEOUT = 1.0  # every socket timeout of the store's client (connect and read), in seconds
HTTP_TIMEOUT = 15.0  # the test's own HTTP client: a request that takes longer has hung
SETTLE = 60.0  # longest bounded wait for a condition (a failover, recovery) on a busy 2-core machine
CLIENTS = 4  # browsers sending requests in a loop while the master dies
MAX_REQUESTS = 5000  # per browser: the loops are bounded even if a wait below were not
WRITES = 2000  # the failover-loss measurement: records written before the kill


def client_options() -> dict[str, Any]:
    """What the store's clients are given: short timeouts, no retry (a retry would hide an outage, and
    could resend a compare-and-set whose answer was lost)."""
    return {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT, "retry": Retry(NoBackoff(), 0)}


@contextmanager
def sentinel_store(topology: RedisSentinel, **options: Any) -> Iterator[RedisStore]:
    """RedisStore on the master the Sentinel names (``Sentinel.master_for``): after a failover the
    client's next connection goes to the promoted replica."""
    sentinel = Sentinel(topology.sentinels, sentinel_kwargs={"socket_timeout": TIMEOUT,
                                                             "socket_connect_timeout": TIMEOUT},
                        **{key: value for key, value in client_options().items() if key != "retry"})
    store = RedisStore(sentinel.master_for(MASTER_NAME, **client_options()), **options)
    try:
        yield store
    finally:
        store.close()
        store.client.close()  # (RedisStore leaves a client it was given open)
        for client in sentinel.sentinels:
            client.close()


# -- HTTP with the headers a 503 carries ------------------------------------------------------------


@dataclass
class Answer:
    status: int
    retry_after: str | None
    body: Any
    set_cookie: str | None  # the connect.sid=... pair, if the reply set one
    finished: float = 0.0  # time.monotonic() when the body was read (for the measured lines only)


def get(port: int, path: str, cookie: str | None) -> Answer:
    """One GET on a fresh connection, bounded by HTTP_TIMEOUT."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        raw = response.read()
        cookies = [line.split(";", 1)[0] for line in response.msg.get_all("Set-Cookie") or []
                   if line.startswith("connect.sid=")]
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        return Answer(response.status, response.getheader("Retry-After"), body, cookies[0] if cookies else None,
                      time.monotonic())
    finally:
        connection.close()


def well_formed(answer: Answer | BaseException) -> bool:
    """The only two answers a store outage may give: a 200, or a 503 that says when to retry."""
    return isinstance(answer, Answer) and (answer.status == 200 or (
        answer.status == 503 and answer.retry_after is not None and answer.retry_after.isdigit()))


@dataclass
class Browser:
    """A client counting in a loop (``/count``), keeping whatever cookie it is given, until told to stop."""

    port: int
    cookie: str | None = None
    answers: list[Answer | BaseException] = field(default_factory=list)
    thread: threading.Thread | None = None

    def count_until(self, stop: threading.Event) -> None:
        def run() -> None:
            while not stop.is_set() and len(self.answers) < MAX_REQUESTS:
                try:
                    answer = get(self.port, "/count", self.cookie)
                except BaseException as exc:  # recorded: an exception is a failed invariant, not a crash
                    self.answers.append(exc)
                    return
                self.answers.append(answer)
                if answer.set_cookie:  # a session the failover lost comes back as a new one
                    self.cookie = answer.set_cookie
                stop.wait(0.005)  # a breath between requests, for the 2 cores

        self.thread = threading.Thread(target=run, name=f"browser-{self.port}", daemon=True)
        self.thread.start()

    def successes_since(self, index: int) -> int:
        return sum(1 for answer in self.answers[index:] if isinstance(answer, Answer) and answer.status == 200)


def served_again_after(answers: list[Answer | BaseException], killed_at: float) -> float:
    """Seconds from the kill to this browser's first 200 after its first 503 (0 if it never saw a 503)."""
    refused = False
    for answer in answers:
        if isinstance(answer, Answer) and answer.status == 503:
            refused = True
        elif refused and isinstance(answer, Answer) and answer.status == 200:
            return answer.finished - killed_at
    return 0.0


def went_back_in(answers: list[Answer | BaseException]) -> int:
    """How many times a session's counter went back: its next 200 under the same cookie counted from
    an older value than its last 200 (an acknowledged increment lost). A jump forward is no loss: a
    save answered 503 after a timeout may still have been applied."""
    lost, last = 0, None
    for answer in answers:
        if not isinstance(answer, Answer) or answer.status != 200:
            continue
        if answer.set_cookie is None and last is not None and answer.body <= last:
            lost += 1
        last = answer.body
    return lost


# -- a Sentinel master killed under load ---------------------------------------------------------------


def test_master_killed_under_load_gives_503s_then_recovers_after_promotion(fresh_redis_sentinel, record_property):
    """SIGKILL of the master while CLIENTS browsers count in a loop through waitress.

    Every answer, before, during and after the failover, is a 200 or a 503 with Retry-After (never
    a 500, never an exception, never a hang: every browser's loop ends and its thread is joined);
    once the Sentinel names the promoted replica, every browser gets 200s again, from the same app
    and the same client (redis-py asks the Sentinel again on its next connection).

    One request is certain to meet the outage: the Sentinel is frozen (SIGSTOP) from just before
    the kill until that request is answered, so no promotion can happen in between, and its answer
    must be the 503 (the dead master refuses the connection, or the frozen Sentinel times out).
    Its session, replicated before the kill (``WAIT``), counts on after the promotion.
    """
    topology = fresh_redis_sentinel
    stop = threading.Event()
    with sentinel_store(topology) as store:
        middleware = SessionMiddleware(make_app(), secret=SECRET, store=store)
        server = LocalServer(middleware, threads=CLIENTS * 2)
        browsers = [Browser(server.port) for _ in range(CLIENTS)]
        try:
            for browser in browsers:
                browser.count_until(stop)
            probe = get(server.port, "/count", None)
            assert (probe.status, probe.body) == (200, 1) and probe.set_cookie
            wait_for(lambda: all(browser.successes_since(0) >= 5 for browser in browsers), SETTLE,
                     "every browser counting before the kill")
            topology.replicated()  # the probe's session is on the replica
            killed = [len(browser.answers) for browser in browsers]
            topology.sentinel.pause()
            try:
                topology.master.kill()
                killed_at = time.monotonic()
                down = get(server.port, "/count", probe.set_cookie)
            finally:
                topology.sentinel.resume()
            assert well_formed(down) and down.status == 503 and down.set_cookie is None, down
            topology.wait_for_failover(SETTLE)
            failover_seconds = time.monotonic() - killed_at
            promoted = [len(browser.answers) for browser in browsers]
            wait_for(lambda: all(browser.successes_since(index) >= 3 for browser, index in zip(browsers, promoted)),
                     SETTLE, "every browser counting again after the promotion")
            again = get(server.port, "/count", probe.set_cookie)
            assert (again.status, again.body, again.set_cookie) == (200, 2, None), again
        finally:
            stop.set()
            for browser in browsers:
                if browser.thread is not None:
                    browser.thread.join(HTTP_TIMEOUT + 2 * TIMEOUT)
            server.close()
        hung = [browser.thread.name for browser in browsers if browser.thread and browser.thread.is_alive()]
        assert not hung, f"requests still running after their timeout: {hung}"
        for browser in browsers:
            bad = [answer for answer in browser.answers if not well_formed(answer)]
            assert not bad, f"answers that are neither 200 nor 503 with Retry-After: {bad[:3]}"
        refused = sum(1 for browser in browsers for answer in browser.answers if isinstance(answer, Answer)
                      and answer.status == 503)
        during = sum(len(browser.answers) - index for browser, index in zip(browsers, killed))
        restarted = sum(1 for browser, index in zip(browsers, killed) for answer in browser.answers[index:]
                        if isinstance(answer, Answer) and answer.status == 200 and answer.set_cookie)
        went_back = sum(went_back_in(browser.answers) for browser in browsers)
        served_again = max(served_again_after(browser.answers, killed_at) for browser in browsers)
        text = (f"{CLIENTS} browsers, master SIGKILLed: every browser served again {served_again:.1f} s after the "
                f"kill (the Sentinel's switch seen after {failover_seconds:.1f} s): "
                f"{refused} answers 503 with Retry-After, "
                f"{during - refused} 200 from the kill until {CLIENTS}x3 successes after the promotion; "
                f"{restarted} sessions came back as new ones, {went_back} counters went back (acknowledged "
                f"increments the failover lost)")
        record_property("measured", text)
        print(text)
        assert store.load("no-such-session") is None  # the store object itself carries on


def test_failover_loses_at_most_what_the_replica_had_not_received(fresh_redis_sentinel, record_property):
    """WRITES records acknowledged by the master, then SIGKILL at once, then the Sentinel's promotion.

    Redis replicates asynchronously: the master acknowledges a write before any replica has it, so
    a failover can lose acknowledged writes. Halfway, ``WAIT 1`` (topology.replicated) makes sure
    the replica has every write acknowledged so far: those all survive. Every survivor is intact;
    how many of the others were lost is measured, not asserted.
    """
    topology = fresh_redis_sentinel
    texts = {f"w{thread}-{i}": json.dumps({"cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True,
                                                       "path": "/"}, "writer": thread, "i": i}, separators=(",", ":"))
             for thread in range(4) for i in range(WRITES)}
    acknowledged: list[str] = []
    attempted: list[str] = []
    lock = threading.Lock()
    halfway, reached = threading.Event(), threading.Event()

    with sentinel_store(topology) as store:
        def write(thread: int) -> None:
            for i in range(WRITES):
                sid = f"w{thread}-{i}"
                with lock:
                    attempted.append(sid)
                try:
                    store.write(sid, Record(texts[sid], None))
                except Exception:  # the master died under this write: unacknowledged
                    return
                with lock:
                    acknowledged.append(sid)
                    if len(acknowledged) >= WRITES // 2:
                        halfway.set()
                    if len(acknowledged) >= WRITES:
                        reached.set()

        writers = [threading.Thread(target=write, args=(thread,), daemon=True) for thread in range(4)]
        for writer in writers:
            writer.start()
        assert halfway.wait(SETTLE), "the writers never reached WRITES / 2 acknowledged writes"
        with lock:
            replicated = set(acknowledged)
        topology.replicated()  # the replica has acknowledged all of `replicated` (and more)
        assert reached.wait(SETTLE), "the writers never reached WRITES acknowledged writes"
        topology.master.kill()  # while the other writers are still writing
        for writer in writers:
            writer.join(HTTP_TIMEOUT)
        assert not any(writer.is_alive() for writer in writers), "a write hung on the dead master"
        topology.wait_for_failover(SETTLE)
        wait_for(lambda: store.load("no-such-session") is None, SETTLE, "the store reaching the promoted replica")
        found = {sid: loaded.text for sid in attempted if (loaded := store.load(sid)) is not None}
    assert all(text == texts[sid] for sid, text in found.items()), "a record survived the failover damaged"
    assert replicated <= found.keys(), "a write the replica had acknowledged was lost"
    acked = set(acknowledged)
    survivors = acked & found.keys()
    unacknowledged = found.keys() - acked
    text = (f"failover after SIGKILL: {len(acked) - len(survivors)} of {len(acked)} acknowledged writes lost "
            f"({len(survivors)} survived on the promoted replica; {len(unacknowledged)} unacknowledged ones "
            f"survived too), 4 writer threads, loopback, 2-core VM")
    record_property("measured", text)
    print(text)


# -- a Cluster master killed under load ----------------------------------------------------------------------


def test_cluster_master_killed_under_load_gives_503s_then_recovers_after_restart(fresh_redis_cluster,
                                                                                record_property):
    """SIGKILL of one master of three (no replicas) while 6 browsers count; then the node is restarted.

    A session on the dead node can only get 503s (its slot has no other server), from the first
    request on; the others too once the cluster marks the node failed and refuses every command
    (CLUSTERDOWN, cluster-require-full-coverage); every answer throughout is a 200 or a 503 with
    Retry-After, and nothing hangs. Restarted in its directory (nodes.conf: same slots, but no data:
    no persistence), the node rejoins, ``cluster_state`` turns ok, and every browser counts again on
    the same client: those of the dead node in a new session, the others on, never going back
    (their node never lost a write).
    """
    from redis.cluster import ClusterNode, RedisCluster

    topology = fresh_redis_cluster
    client = RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in topology.startup_nodes],
                          **client_options())
    store = RedisStore(client)
    stop = threading.Event()
    server = LocalServer(SessionMiddleware(make_app(), secret=SECRET, store=store), threads=12)
    browsers = [Browser(server.port) for _ in range(6)]
    try:
        for browser in browsers:
            browser.count_until(stop)
        wait_for(lambda: all(browser.successes_since(0) >= 5 for browser in browsers), SETTLE,
                 "every browser counting before the kill")

        def node_of(browser: Browser) -> Any:
            sid = session_id(browser.cookie)
            return topology.node_of_slot(client.keyslot(store.keys.session(sid)))

        homes = [node_of(browser) for browser in browsers]
        victim = homes[0]
        killed = [len(browser.answers) for browser in browsers]
        victim.kill()
        down = get(server.port, "/count", browsers[0].cookie)
        assert well_formed(down) and down.status == 503 and down.set_cookie is None, down
        topology.wait_until_failed(SETTLE)
        everywhere = get(server.port, "/count", None)  # a new session, on whichever node: CLUSTERDOWN
        assert well_formed(everywhere) and everywhere.status == 503 and everywhere.set_cookie is None, everywhere
        victim.start()
        topology.wait_until_ok(SETTLE)
        back = [len(browser.answers) for browser in browsers]
        wait_for(lambda: all(browser.successes_since(index) >= 3 for browser, index in zip(browsers, back)),
                 SETTLE, "every browser counting again after the restart")
    finally:
        stop.set()
        for browser in browsers:
            if browser.thread is not None:
                browser.thread.join(HTTP_TIMEOUT + 2 * TIMEOUT)
        server.close()
        client.close()
    assert not [browser for browser in browsers if browser.thread and browser.thread.is_alive()], "a request hung"
    for browser in browsers:
        bad = [answer for answer in browser.answers if not well_formed(answer)]
        assert not bad, f"answers that are neither 200 nor 503 with Retry-After: {bad[:3]}"
    for browser, home, index in zip(browsers, homes, killed):
        renewed = [answer for answer in browser.answers[index:] if isinstance(answer, Answer) and answer.set_cookie]
        if home is victim:
            assert renewed, "a session of the restarted (emptied) node came back"
        else:
            assert not renewed and went_back_in(browser.answers) == 0, "a session on a live node lost a write"
    refused = sum(1 for browser in browsers for answer in browser.answers if isinstance(answer, Answer)
                  and answer.status == 503)
    on_victim = sum(1 for home in homes if home is victim)
    text = (f"Cluster of 3 masters, one SIGKILLed then restarted empty: {refused} answers 503 with Retry-After, "
            f"{on_victim} of 6 sessions (those on the dead node) came back as new ones, the others counted on")
    record_property("measured", text)
    print(text)


# -- a single server stopped and restarted ------------------------------------------------------------------


def in_background(port: int, path: str, cookie: str | None) -> tuple[threading.Thread, list[Answer | BaseException]]:
    """Send one GET from a thread; the list receives its Answer (or the exception)."""
    result: list[Answer | BaseException] = []

    def run() -> None:
        try:
            result.append(get(port, path, cookie))
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_single_server_killed_with_requests_in_flight_then_restarted():
    """SIGKILL of a lone redis-server while two requests hold a loaded session (tests/lost_updates.py's
    Gate), over real HTTP: both saves, and every later request that uses the session, get a 503 with
    Retry-After and no cookie; a request that does not touch the session gets 200; restarted on the
    same port (empty: no persistence), the same app serves again and the old cookie gets a fresh
    session. (tests/test_redis_store.py stops and freezes a server under WebTest, one request at a time.)"""
    import redis

    server = RedisServer(name="redis-fault")
    server.start()
    try:
        store = RedisStore(redis.Redis(host="127.0.0.1", port=server.port, **client_options()))
        gate = Gate()
        app = LocalServer(SessionMiddleware(make_app(gate), secret=SECRET, store=store), threads=4)
        try:
            first = get(app.port, "/count", None)
            assert (first.status, first.body) == (200, 1) and first.set_cookie
            cookie = first.set_cookie
            held = [in_background(app.port, "/hold/count", cookie) for _ in range(2)]
            assert gate.wait_for_arrivals(2), "the held requests never loaded their session"
            server.kill()
            gate.release.set()  # they modify the session and save it, to a dead server
            for thread, _ in held:
                thread.join(HTTP_TIMEOUT + 2 * TIMEOUT)
            assert not any(thread.is_alive() for thread, _ in held), "a request hung on the dead server"
            for _, (answer,) in held:
                assert well_formed(answer) and answer.status == 503 and answer.set_cookie is None, answer
            for sent in (cookie, None):
                down = get(app.port, "/count", sent)
                assert well_formed(down) and down.status == 503 and down.set_cookie is None, down
            assert get(app.port, "/plain", cookie).status == 200
            server.start()
            back = get(app.port, "/count", cookie)
            assert (back.status, back.body) == (200, 1) and back.set_cookie and back.set_cookie != cookie
            assert get(app.port, "/count", back.set_cookie).body == 2
        finally:
            gate.release.set()
            app.close()
            store.close()
            store.client.close()
    finally:
        server.close()


def test_min_replicas_to_write_turns_an_unreplicated_write_into_a_503():
    """README's advice to narrow the failover window: a master with ``min-replicas-to-write 1`` and no
    replica in reach refuses writes. A save, and the expiry refresh of a request that only reads its
    session, then fail as StoreUnavailable: a 503 with Retry-After and no cookie; with ``touch_after``
    the refresh is skipped, and such a request gets 200."""
    import redis
    from webtest import TestApp

    server = RedisServer(name="redis-min-replicas")
    server.start()
    try:
        client = redis.Redis(host="127.0.0.1", port=server.port, **client_options())
        touching = TestApp(SessionMiddleware(make_app(), secret=SECRET, store=RedisStore(client)))
        assert touching.get("/count").json == 1
        lazy = TestApp(SessionMiddleware(make_app(), secret=SECRET, store=RedisStore(client, touch_after=3600)),
                       cookiejar=touching.cookiejar)
        client.config_set("min-replicas-to-write", 1)  # (and the default min-replicas-max-lag, 10 s)
        for path in ("/count", "/read"):
            refused = touching.get(path, expect_errors=True)
            assert refused.status_int == 503 and refused.headers["Retry-After"].isdigit(), path
            assert "Set-Cookie" not in refused.headers
        assert lazy.get("/read").json == {"data": {"n": 1}, "is_new": False}
        assert lazy.get("/count", expect_errors=True).status_int == 503
        client.close()
    finally:
        server.close()
