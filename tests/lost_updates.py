"""Lost updates, measured on real servers: N concurrent requests on ONE session, each adding its own key.

    .venv/bin/python -m tests.lost_updates                 # N = 2, 8, 32; 5 runs each; a markdown table
    .venv/bin/python -m tests.lost_updates --server mongo-java-server
    .venv/bin/python -m tests.lost_updates --sizes 4,16 --runs 3 --no-node

Every request is a real HTTP request on its own connection, all released together by a
``threading.Barrier``: to our WSGI app under waitress (in this process; SQLiteStore on a file, or
MongoStore on the MongoDB-protocol server of ``--server``, which this command starts itself), for the
Node rows to the Express app of tests/interop (express-session + connect-mongo, a Node process) on the
same collection, and for the two-process rows to its Python twin (our middleware in another process).
Afterwards the stored record is read raw (sqlite3, pymongo) and the keys are counted. A key is
*lost* when its request was answered 200 but the key is not stored; a request refused with a 503
is counted apart (the client was told).

tests/test_lost_updates.py asserts what is guaranteed; tests/test_faults.py reuses ``LocalServer``,
``make_app`` and the HTTP helpers.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import logging
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import waitress
from waitress import wasyncore

from wsgisession import MongoStore, SessionMiddleware, SQLiteStore, get_session
from wsgisession.cookies import decode_uri_component
from wsgisession.lifecycle import MAX_SAVE_ATTEMPTS
from wsgisession.signing import unsign

from .interop.harness import SECRET, Cluster

HTTP_TIMEOUT = 15.0  # seconds; every client socket and every join is bounded by it
HOLD_TIMEOUT = 15.0  # longest a /hold request waits for the test to release it
SIZES = (2, 8, 32)
MAX_THREADS = max(SIZES)
WsgiApp = Callable[[dict[str, Any], Any], Any]


# -- the app ------------------------------------------------------------------------------------------


class Gate:
    """Lets a test stop requests at a known point, with bounded waits.

    ``/hold/...`` requests load the session, ``arrive()``, wait for ``release``, ``arrive()`` again
    and go on; ``/enter/...``
    requests ``arrive()`` before loading it; ``/sync/...`` requests load it, then meet at ``barrier``
    (so all of them have loaded the same record before any of them saves: the worst case).
    """

    def __init__(self) -> None:
        self.release = threading.Event()
        self.barrier: threading.Barrier | None = None
        self._arrived = 0
        self._condition = threading.Condition()

    def arrive(self) -> None:
        with self._condition:
            self._arrived += 1
            self._condition.notify_all()

    def wait_for_arrivals(self, count: int, timeout: float = HTTP_TIMEOUT) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: self._arrived >= count, timeout)

    def hold(self) -> None:
        if not self.release.wait(HOLD_TIMEOUT):
            raise RuntimeError("the test never released a held request")

    def meet(self) -> None:
        assert self.barrier is not None, "set gate.barrier before sending /sync/ requests"
        self.barrier.wait(HOLD_TIMEOUT)


def make_app(gate: Gate | None = None) -> WsgiApp:
    """The WSGI app under test; JSON replies.

    ``/set?k=1&j="x"`` adds keys (JSON values); ``/count`` increments ``n``; ``/read`` shows the data;
    ``/destroy`` logs out; ``/plain`` never touches the session. A ``/hold``, ``/enter`` or ``/sync``
    prefix stops the request at the gate first (see Gate).
    """
    gate = gate if gate is not None else Gate()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        stage, _, action = environ["PATH_INFO"][1:].rpartition("/")
        reply: Any = "not found"
        if action == "plain" and not stage:
            reply = "plain"
        elif stage in ("", "hold", "enter", "sync"):
            if stage == "enter":
                gate.arrive()
            session = get_session(environ)
            if stage == "hold":
                session.get("n")  # loaded before the wait
                gate.arrive()
                gate.hold()
                gate.arrive()  # released: about to modify and save
            elif stage == "sync":
                session.get("n")
                gate.meet()
            if action == "set":
                for key, value in parse_qsl(environ.get("QUERY_STRING", "")):
                    session[key] = json.loads(value)
                reply = "ok"
            elif action == "count":
                session["n"] = session.get("n", 0) + 1
                reply = session["n"]
            elif action == "read":
                reply = {"data": dict(session), "is_new": session.is_new}
            elif action == "destroy":
                session.destroy()
                reply = "bye"
        body = json.dumps(reply).encode()
        start_response("404 Not Found" if reply == "not found" else "200 OK",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def route(apps: dict[str, WsgiApp]) -> WsgiApp:
    """``/<name>/rest`` goes to ``apps[name]`` with PATH_INFO ``/rest`` (one server, several middlewares)."""

    def router(environ: dict[str, Any], start_response: Any) -> Any:
        name, _, rest = environ.get("PATH_INFO", "")[1:].partition("/")
        app = apps.get(name)
        if app is None:
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
            return []
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/" + name
        environ["PATH_INFO"] = "/" + rest
        return app(environ, start_response)

    return router


# -- a real server in this process ------------------------------------------------------------------


class LocalServer:
    """A WSGI app under a real waitress server, in a thread of this process, on a free 127.0.0.1 port.

    The thread runs waitress's own event loop (poll-based), one 50 ms step at a time, so that
    ``close()`` stops it with a flag and a bounded join, then closes every socket from here.
    """

    def __init__(self, app: WsgiApp, threads: int) -> None:
        self._server: Any = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads,
                                                   channel_timeout=HTTP_TIMEOUT)
        self.port: int = self._server.effective_port
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"waitress-loop-{self.port}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        sockets = self._server._map
        while sockets and not self._stop.is_set():
            wasyncore.loop(timeout=0.05, map=sockets, use_poll=True, count=1)

    def close(self) -> None:
        """Stop the loop, close the listening socket and every connection, then the worker threads."""
        self._stop.set()
        self._thread.join(HTTP_TIMEOUT)
        assert not self._thread.is_alive(), "waitress's loop did not stop"
        wasyncore.close_all(self._server._map, ignore_all=True)
        self._server.task_dispatcher.shutdown(timeout=HTTP_TIMEOUT)


# -- HTTP -----------------------------------------------------------------------------------------------


@dataclass
class Request:
    port: int
    path: str
    cookie: str | None = None  # "connect.sid=..." (the Cookie header)
    method: str = "GET"
    json_body: Any = None


@dataclass
class Reply:
    status: int
    body: Any
    set_cookie: str | None  # "connect.sid=..." (the pair only), if the reply set one
    seconds: float  # from sending the request to the end of the body


def send(connection: http.client.HTTPConnection, request: Request) -> Reply:
    headers = {"Cookie": request.cookie} if request.cookie else {}
    data = None
    if request.json_body is not None:
        data = json.dumps(request.json_body).encode()
        headers["Content-Type"] = "application/json"
    started = time.monotonic()
    connection.request(request.method, request.path, body=data, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    seconds = time.monotonic() - started
    cookies = [line.split(";", 1)[0] for line in response.msg.get_all("Set-Cookie") or []
               if line.startswith("connect.sid=")]
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    return Reply(response.status, body, cookies[0] if cookies else None, seconds)


def fetch(request: Request, timeout: float = HTTP_TIMEOUT) -> Reply:
    """One request on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", request.port, timeout=timeout)
    try:
        return send(connection, request)
    finally:
        connection.close()


def burst(jobs: Sequence[Sequence[Request]], timeout: float = HTTP_TIMEOUT) -> list[list[Reply | BaseException]]:
    """Run each job in its own thread on its own connection (a job's requests one after another).

    Every thread connects first, then all start together at a Barrier. Joins are bounded; a
    thread still alive afterwards is a hang, reported as a failure, never ignored.
    """
    barrier = threading.Barrier(len(jobs))
    results: list[list[Reply | BaseException]] = [[] for _ in jobs]

    def run(index: int, job: Sequence[Request]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", job[0].port, timeout=timeout)
        try:
            connection.connect()
            barrier.wait(timeout)
            for request in job:
                results[index].append(send(connection, request))
        except BaseException as exc:  # recorded: the caller sees it in place of a Reply
            results[index].append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job), name=f"client-{i}", daemon=True)
               for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout * (1 + max(len(job) for job in jobs))
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    hung = [thread.name for thread in threads if thread.is_alive()]
    if hung:
        raise AssertionError(f"client threads still running after their timeout: {hung}")
    return results


def session_id(cookie: str) -> str:
    """The id in a ``connect.sid=s%3A...`` pair, verified with the shared secret."""
    value = decode_uri_component(cookie.split("=", 1)[1])
    sid = unsign(value[2:], SECRET) if value.startswith("s:") else None
    assert sid, f"not a session cookie signed by us: {cookie!r}"
    return sid


# -- the experiment -------------------------------------------------------------------------------------


TWINS = {"node": "node", "python-process": "python"}  # writer kind -> tests/interop twin (its own process)


@dataclass(frozen=True)
class Writer:
    """Where a request adding one key goes: ``python``, our app in this process (GET <prefix>/set?key=1), or
    a twin of tests/interop in its own process (POST /set): ``node`` (express-session + connect-mongo) or
    ``python-process`` (python_app.py: our middleware on its own MongoStore, as another server would run it)."""

    kind: str
    backend: str  # "sqlite" or "mongo": where the session is stored
    port: int
    prefix: str = ""

    def request(self, key: str, cookie: str | None, sync: bool = False) -> Request:
        if self.kind in TWINS:
            assert not sync, f"the {self.kind} twin has no /sync route"
            return Request(self.port, "/set", cookie, "POST", {key: 1})
        return Request(self.port, f"{self.prefix}{'/sync' if sync else ''}/set?{key}=1", cookie)


@dataclass
class Outcome:
    """One run: for every key, which kind of writer sent it and the HTTP status; what was stored."""

    sent: dict[str, tuple[str, int | str]] = field(default_factory=dict)  # key -> (writer kind, status)
    stored: set[str] = field(default_factory=set)

    def lost(self, kind: str | None = None) -> list[str]:
        """Keys whose request was answered 200 but that are not stored."""
        return [key for key, (who, status) in self.sent.items()
                if kind in (None, who) and status == 200 and key not in self.stored]

    def refused(self, kind: str | None = None) -> list[str]:
        """Keys whose request was not answered 200 (503: the client was told)."""
        return [key for key, (who, status) in self.sent.items() if kind in (None, who) and status != 200]


class Lab:
    """Our app under one waitress server, as middlewares on SQLite (and, given a ``mongo_uri``, on MongoDB)
    x merge/overwrite, plus the twins of tests/interop on the same MongoDB collection (started on first use)."""

    def __init__(self, mongo_uri: str | None, workdir: Path) -> None:
        self.cluster = Cluster(mongo_uri, workdir) if mongo_uri else None
        self.sqlite_path = workdir / "lost-updates.sqlite3"
        self._stores: dict[str, Any] = {}
        self.middleware: dict[str, SessionMiddleware] = {}
        self._server: LocalServer | None = None
        self._twin_ports: dict[str, int] = {}
        self.gate = Gate()
        try:
            self._stores["sqlite"] = SQLiteStore(self.sqlite_path)
            if self.cluster is not None:
                self._stores["mongo"] = MongoStore.from_url(self.cluster.url, auto_remove="interval")
            for backend, store in self._stores.items():
                for mode in ("merge", "overwrite"):
                    self.middleware[f"{backend}-{mode}"] = SessionMiddleware(
                        make_app(self.gate), secret=SECRET, store=store, concurrency=mode)  # type: ignore[arg-type]
            self._server = LocalServer(route(dict(self.middleware)), threads=MAX_THREADS)
        except BaseException:
            self.close()
            raise

    @property
    def collection(self) -> Any:
        """The MongoDB collection every Mongo-backed writer shares."""
        assert self.cluster is not None, "this Lab has no MongoDB server"
        return self.cluster.collection

    def writer(self, name: str) -> Writer:
        """A twin (``node``, ``python-process``), or ``<backend>-<mode>`` (e.g. ``mongo-merge``)."""
        if name in TWINS:
            if name not in self._twin_ports:
                assert self.cluster is not None, "the twins need a MongoDB server"
                self._twin_ports[name] = self.cluster.start((TWINS[name], {}))[0].port
            return Writer(name, "mongo", self._twin_ports[name])
        assert self._server is not None and name in self.middleware, name
        return Writer("python", name.split("-")[0], self._server.port, "/" + name)

    def stored(self, backend: str, sid: str) -> dict[str, Any]:
        """The stored session data, read raw (not through the library); {} if there is none."""
        if backend == "mongo":
            document = self.collection.find_one({"_id": sid})
            return json.loads(document["session"]) if document else {}
        with contextlib.closing(sqlite3.connect(self.sqlite_path, timeout=HTTP_TIMEOUT)) as db:
            row = db.execute("SELECT session FROM sessions WHERE sid = ?", (sid,)).fetchone()
        return json.loads(row[0]) if row else {}

    def run(self, names: Sequence[str], n: int, sequential: str | None = None, worst_case: bool = False) -> Outcome:
        """Create one session, then add ``k0``..``k<n-1>`` concurrently, key i through writer i % len.

        ``sequential``: writers of that kind (``node``) send their requests one after another on one
        connection, concurrently with everyone else, so they cannot overwrite each other.
        ``worst_case``: every request loads the session, then waits until all have loaded it
        before any saves (our app only).
        """
        writers = [self.writer(name) for name in names]
        assert len({w.backend for w in writers}) == 1, "the writers of one run share one store"
        self.gate.barrier = threading.Barrier(n) if worst_case else None
        first = fetch(writers[0].request("init", None))
        assert first.status == 200 and first.set_cookie, f"could not create the session: {first}"
        cookie = first.set_cookie
        singles: list[tuple[str, Request]] = []
        serial: list[tuple[str, Request]] = []
        kinds: dict[str, str] = {}
        for i in range(n):
            writer = writers[i % len(writers)]
            key = f"k{i}"
            kinds[key] = writer.kind
            request = writer.request(key, cookie, worst_case)
            (serial if writer.kind == sequential else singles).append((key, request))
        jobs = [[request] for _, request in singles] + ([[request for _, request in serial]] if serial else [])
        keys = [[key] for key, _ in singles] + ([[key for key, _ in serial]] if serial else [])
        outcome = Outcome()
        for job_keys, replies in zip(keys, burst(jobs)):
            for index, key in enumerate(job_keys):
                reply = replies[index] if index < len(replies) else None
                status = reply.status if isinstance(reply, Reply) else repr(reply)
                outcome.sent[key] = (kinds[key], status)
        outcome.stored = set(self.stored(writers[0].backend, session_id(cookie)))
        return outcome

    def close(self) -> None:
        try:
            if self._server is not None:
                self._server.close()
            for store in self._stores.values():
                store.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


@contextmanager
def lab(mongo_uri: str | None, workdir: Path) -> Iterator[Lab]:
    made = Lab(mongo_uri, workdir)
    try:
        yield made
    finally:
        made.close()


# -- the server's own compare-and-set ------------------------------------------------------------------


def is_ferretdb(collection: Any) -> bool:
    return "ferretdbVersion" in collection.database.client.admin.command("buildInfo")


def conditional_update_race(collection: Any, threads: int = 8, rounds: int = 10,
                            timeout: float = 30.0) -> tuple[int, int]:
    """Increment one counter from many threads by compare-and-set (``update_one({v: old}, {$set: {v: old+1}})``).

    Return (updates the server reported as applied, final value). On a server that applies a
    filtered update atomically (MongoDB) the two are equal: that is what MongoStore.save relies on.
    """
    collection.delete_many({"_id": "counter"})
    collection.insert_one({"_id": "counter", "v": 0})
    applied = [0] * threads
    barrier = threading.Barrier(threads)
    deadline = time.monotonic() + timeout

    def run(index: int) -> None:
        barrier.wait(timeout)
        while applied[index] < rounds and time.monotonic() < deadline:
            value = collection.find_one({"_id": "counter"})["v"]
            if collection.update_one({"_id": "counter", "v": value}, {"$set": {"v": value + 1}}).modified_count:
                applied[index] += 1

    workers = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()) + 5)
    assert not any(worker.is_alive() for worker in workers), "the compare-and-set probe hung"
    final = collection.find_one({"_id": "counter"})["v"]
    collection.delete_many({"_id": "counter"})
    return sum(applied), final


def probe_compare_and_set(made: Lab, runs: int = 3) -> list[tuple[int, int]]:
    """``conditional_update_race`` on the Lab's server up to ``runs`` times, stopping at the first run that
    shows it non-atomic (it is a race: one run may miss it). Atomic means applied == final in every run."""
    collection = made.collection.database["cas_probe"]
    results = []
    for _ in range(runs):
        results.append(conditional_update_race(collection))
        if results[-1][0] != results[-1][1]:
            break
    return results


# -- the table (python -m tests.lost_updates) -----------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    scenario: str  # key of SCENARIOS
    kind: str | None = None  # whose keys the row counts (None: everyone's)


@dataclass(frozen=True)
class Scenario:
    writers: tuple[str, ...]
    sequential: str | None = None
    worst_case: bool = False


SCENARIOS = {
    "sqlite-merge": Scenario(("sqlite-merge",)),
    "sqlite-overwrite": Scenario(("sqlite-overwrite",)),
    "sqlite-merge-worst": Scenario(("sqlite-merge",), worst_case=True),
    "sqlite-overwrite-worst": Scenario(("sqlite-overwrite",), worst_case=True),
    "mongo-merge": Scenario(("mongo-merge",)),
    "mongo-overwrite": Scenario(("mongo-overwrite",)),
    "node": Scenario(("node",)),
    "mixed": Scenario(("mongo-merge", "node")),
    "mixed-seq": Scenario(("mongo-merge", "node"), sequential="node"),
    "processes": Scenario(("mongo-merge", "python-process")),
}
ROWS = (  # {server}: the MongoDB-protocol server's name and version
    Row("wsgisession + SQLiteStore, default (merge)", "sqlite-merge"),
    Row('wsgisession + SQLiteStore, `concurrency="overwrite"`', "sqlite-overwrite"),
    Row("same, worst case (all N loaded before any saved): merge", "sqlite-merge-worst"),
    Row('same, worst case: `concurrency="overwrite"`', "sqlite-overwrite-worst"),
    Row("{server}: wsgisession + MongoStore, default (merge)", "mongo-merge"),
    Row('{server}: wsgisession + MongoStore, `concurrency="overwrite"`', "mongo-overwrite"),
    Row("{server}: ½ Python (merge) here + ½ Python (merge) in another process, all concurrent", "processes"),
    Row("{server}: express-session + connect-mongo alone", "node"),
    Row("{server}: ½ Python (merge) + ½ Node, all concurrent: Python's keys (of N/2)", "mixed", "python"),
    Row("{server}: ½ Python (merge) + ½ Node, all concurrent: Node's keys (of N/2)", "mixed", "node"),
    Row("{server}: ½ Python (merge, concurrent) + ½ Node (one after another): Python's keys", "mixed-seq", "python"),
    Row("{server}: ½ Python (merge, concurrent) + ½ Node (one after another): Node's keys", "mixed-seq", "node"),
)


def _cell(outcomes: list[Outcome], kind: str | None) -> str:
    if not outcomes:
        return "n/a"
    lost = [len(o.lost(kind)) for o in outcomes]
    refused = [len(o.refused(kind)) for o in outcomes]
    text = f"{statistics.mean(lost):.1f} (max {max(lost)})" if len(lost) > 1 else str(lost[0])
    if any(refused):
        text += f"; 503: {statistics.mean(refused):.1f}"
    return text


def measure(mongo_uri: str, server: str, sizes: Sequence[int], runs: int, node: bool) -> str:
    """Run every scenario ``runs`` times for each N on the MongoDB server at ``mongo_uri`` (``server``
    names it in the rows); return the markdown report."""
    outcomes: dict[tuple[str, int], list[Outcome]] = {}
    with tempfile.TemporaryDirectory(prefix="lost-updates-") as workdir, \
            contextlib.redirect_stdout(io.StringIO()), lab(mongo_uri, Path(workdir)) as made:
        for n in sizes:
            for _ in range(runs):
                for name, scenario in SCENARIOS.items():
                    if node or "node" not in scenario.writers:
                        outcome = made.run(scenario.writers, n, scenario.sequential, scenario.worst_case)
                        outcomes.setdefault((name, n), []).append(outcome)
        probes = probe_compare_and_set(made)
        stats = {name: made.middleware[name].stats for name in ("sqlite-merge", "mongo-merge")}
    lines = ["| keys lost (answered 200, not stored) | " + " | ".join(f"N = {n}" for n in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for row in ROWS:
        lines.append(f"| {row.label.format(server=server)} | " + " | ".join(_cell(outcomes.get((row.scenario, n), []), row.kind)
                                                      for n in sizes) + " |")
    lines += [
        "",
        f"Mean over {runs} run(s) (max); \"503\": requests refused because the compare-and-set failed "
        f"{MAX_SAVE_ATTEMPTS} times (the client is told; the key is not stored).",
        f"Saves that merged a concurrent change: SQLite {stats['sqlite-merge'].merged}, "
        f"{server} {stats['mongo-merge'].merged} (same-key conflicts: "
        f"{stats['sqlite-merge'].same_key_conflicts + stats['mongo-merge'].same_key_conflicts}).",
        f"The MongoDB server's own compare-and-set (8 threads x 10 increments of one counter by filtered "
        f"update_one, up to 3 runs): " + ", ".join(f"{applied} reported applied, counter at {final}"
                                                   for applied, final in probes)
        + (" -- atomic." if all(applied == final for applied, final in probes) else " -- not atomic."),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from .interop.harness import require_node
    from .mongo_server import SERVERS, ServerMissing, started

    parser = argparse.ArgumentParser(prog="python -m tests.lost_updates", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated N (default 2,8,32)")
    parser.add_argument("--runs", type=int, default=5, help="runs per N and scenario (default 5)")
    parser.add_argument("--no-node", action="store_true", help="skip the rows with the Express app")
    parser.add_argument("--server", choices=SERVERS, default=SERVERS[0],
                        help=f"the MongoDB-protocol server to start (default {SERVERS[0]})")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    if not sizes or min(sizes) < 2 or max(sizes) > MAX_THREADS or args.runs < 1:
        parser.error(f"sizes must be in 2..{MAX_THREADS} and runs >= 1")
    node = not args.no_node
    if node:
        try:
            require_node()
        except BaseException as exc:  # pytest's Failed: no node, or `npm ci` not run
            print(f"(rows with Node skipped: {exc})", file=sys.stderr)
            node = False
    logging.getLogger("wsgisession").setLevel(logging.ERROR)  # the 503s are counted in the table
    try:
        server = started(args.server)
    except ServerMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        began = time.monotonic()
        print(measure(server.uri, server.label, sizes, args.runs, node), flush=True)
        print(f"({time.monotonic() - began:.1f} s; waitress with {MAX_THREADS} threads, one process)",
              file=sys.stderr)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
