"""Accounts benchmark: a user's sessions listed and ended among 10^5 stored sessions, and the
in-process cost of a request on a logged-in session.

    python bench/accounts.py                  # 10^5 sessions of 10^4 users: SQLiteStore, MongoStore on FerretDB
    python bench/accounts.py --quick          # 10^3 sessions of 10^2 users: seconds
    python bench/accounts.py --server mongo-java-server   # MongoStore on the second test server

Part 1, per user: ``SessionMiddleware.sessions_of(user)`` and ``revoke_all(user)``, and the store's
per-user query alone (the SELECT or find by the driver, no wsgisession), as latency per call
(median, p90) over ``--calls`` calls on random users, the stores interleaved call by call;
``revoke_all`` on a fresh user each call, since it destroys. Each store holds ``--sessions``
sessions, ``--sessions / --users`` per user, loaded in bulk exactly as the store writes them: one
record written by the store itself with its account, then copied under new ids and users (SQLite
``executemany`` in one transaction; MongoDB ``insert_many`` in batches of 10,000). The query
plans of the per-user query are printed: SQLite's ``EXPLAIN QUERY PLAN`` and the MongoDB server's
``explain``. Part 2, in-process: the same requests through SessionMiddleware on an anonymous and
on a logged-in session (same data), read-only and modified, MemoryStore and SQLiteStore, timed
side by side in each repetition; the ratio logged-in / anonymous is taken within a repetition.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common
from common import SECRET, Missing, fmt, median, table

RECORD_TEXT = '{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"cuenta":1}'
TEXTS = (RECORD_TEXT, RECORD_TEXT.replace('"cuenta":1', '"cuenta":2'))  # a modified record, and back
AGENT = "bench"
BATCH = 10_000
DEFAULT_TIMEOUT = 3.0  # MongoStore.from_url's server_selection_timeout: a slower operation is a 503
TARGET_RATIO = 1.10  # a logged-in request costs at most 10% more than an anonymous one
MONGOD_PLAN = ("A real `mongod` (not measured here) answers the same find with the `userId_1` index that "
               "MongoStore creates: winning plan `FETCH` (filter: the `$or` on `expires`) over `IXSCAN "
               '{userId: 1}` with bounds `["user1", "user1"]`, examining only that user\'s documents. '
               "`BENCH_MONGODB_URI=mongodb://...` runs this script, and prints that plan, against one.")


def user_name(i: int) -> str:
    return f"user{i}"


def nothing(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("204 No Content", [])
    return []


def first_record(store: Any, sid: str) -> None:
    """The template every loaded session copies: one record the store writes itself, with its account."""
    from wsgisession.stores.base import Account, Record

    now = int(time.time() * 1000)
    store.write(sid, Record(RECORD_TEXT, None, None, Account(user_name(0), now, now, AGENT)))


# -- part 1: the stores, loaded ------------------------------------------------------------------

class SQLiteTarget:
    label = "SQLiteStore"

    def __init__(self, directory: Path) -> None:
        from wsgisession import SessionMiddleware, SQLiteStore

        self.path = directory / "accounts.sqlite3"
        self.store = SQLiteStore(str(self.path))
        self.middleware = SessionMiddleware(nothing, secret=SECRET, store=self.store)
        self.db: sqlite3.Connection | None = None

    def load(self, ids: list[str], users: int) -> float:
        started = time.perf_counter()
        first_record(self.store, ids[0])
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            cursor = db.execute(f'SELECT * FROM "{self.store.table}" WHERE sid = ?', (ids[0],))
            names = [d[0] for d in cursor.description]
            template = list(cursor.fetchone())
            at_sid, at_user = names.index("sid"), names.index("user_id")

            def rows() -> Any:
                for i in range(1, len(ids)):
                    template[at_sid], template[at_user] = ids[i], user_name(i % users)
                    yield tuple(template)

            columns, marks = ", ".join(f'"{n}"' for n in names), ", ".join("?" for _ in names)
            db.execute("BEGIN")
            db.executemany(f'INSERT INTO "{self.store.table}" ({columns}) VALUES ({marks})', rows())
            db.execute("COMMIT")  # no ANALYZE: the planner sees what a live store has
        finally:
            db.close()
        self.db = sqlite3.connect(self.path, isolation_level=None)
        return time.perf_counter() - started

    def query(self, user: str) -> int:
        """The store's per-user SELECT by sqlite3 alone."""
        assert self.db is not None
        return len(self.db.execute(self.store._sql["bound"], (user, int(time.time() * 1000))).fetchall())

    def plans(self) -> list[tuple[str, str]]:
        assert self.db is not None
        sql = self.store._sql["bound"]
        rows = self.db.execute("EXPLAIN QUERY PLAN " + sql, (user_name(1), int(time.time() * 1000))).fetchall()
        plan = "\n".join(f"id={r[0]} parent={r[1]} notused={r[2]} detail={r[3]}" for r in rows)
        return [("SQLiteStore: `EXPLAIN QUERY PLAN` of the per-user SELECT (`SQLiteStore._sql[\"bound\"]`)",
                 f"{sql}\n-- parameters: ({user_name(1)!r}, now)\n{plan}")]

    def uses_index(self) -> bool:
        return any(f'{self.store.table}_user' in text for _, text in self.plans())

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        self.store.close()


class MongoTarget:
    label = "MongoStore"

    def __init__(self, mongo: Any, timeout: float) -> None:
        from pymongo import MongoClient

        from wsgisession import MongoStore, SessionMiddleware

        self.server = mongo.describe()
        self.label = f"MongoStore ({mongo.server.label if mongo.server else 'external'})"
        self.store = MongoStore.from_url(f"{mongo.uri}/bench_accounts", collection="sessions",
                                         auto_remove="disabled", server_selection_timeout=timeout)
        self.middleware = SessionMiddleware(nothing, secret=SECRET, store=self.store)
        self.client: Any = MongoClient(mongo.uri, tz_aware=True, timeoutMS=int(timeout * 1000))
        self.database = self.client["bench_accounts"]
        self.collection = self.database["sessions"]

    def load(self, ids: list[str], users: int) -> float:
        self.collection.drop()
        started = time.perf_counter()
        first_record(self.store, ids[0])  # also creates the userId_1 index, as the first login does
        template = self.collection.find_one({"_id": ids[0]})
        assert template is not None and template["userId"] == user_name(0), template
        for start in range(1, len(ids), BATCH):
            self.collection.insert_many([{**template, "_id": ids[i], "userId": user_name(i % users)}
                                         for i in range(start, min(start + BATCH, len(ids)))], ordered=False)
        return time.perf_counter() - started

    def _filter(self, user: str) -> dict[str, Any]:
        from wsgisession.stores.mongo.documents import live

        return {"userId": user, **live(int(time.time() * 1000))}  # MongoStore.iter_bound's filter

    def query(self, user: str) -> int:
        """The store's per-user find by pymongo alone."""
        return len(list(self.collection.find(self._filter(user))))

    def plans(self) -> list[tuple[str, str]]:
        from bson import json_util

        out = []
        for what, query in (("the store's per-user find (`MongoStore.iter_bound`)", self._filter(user_name(1))),
                            ("a bare equality on userId", {"userId": user_name(1)})):
            command = {"find": self.collection.name, "filter": query}
            try:
                text = json_util.dumps(self.database.command("explain", command), indent=1,
                                       json_options=json_util.RELAXED_JSON_OPTIONS)
            except Exception as exc:  # noqa: BLE001 - the server's answer is the result
                text = f"explain failed: {type(exc).__name__}: {exc}"
            out.append((f"{self.label}: `explain` of {what}", text))
        return out

    def close(self) -> None:
        self.client.drop_database("bench_accounts")
        self.client.close()
        self.store.close()


def p90(values: list[float]) -> float:
    """The nearest-rank 90th percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


class Series:
    """The timings of one (store, operation): seconds per call, and what went wrong."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.spent = 0.0
        self.errors: list[str] = []


Operation = Callable[[Any, str], int]  # (target, user) -> how many sessions it found or ended


def time_calls(targets: list[Any], operations: dict[str, Operation], expected: int, users: list[str],
               time_limit: float) -> dict[str, dict[str, Series]]:
    """For each user in turn, one call of every (operation, target), in an order rotated per user;
    an (operation, target) stops once it has spent ``time_limit`` seconds or failed 3 times. A
    wrong count is a failed benchmark, not a timing."""
    series = {name: {t.label: Series() for t in targets} for name in operations}
    pairs = [(name, target) for target in targets for name in operations]
    for i, user in enumerate(users):
        for name, target in common.rotated(pairs, i):
            s = series[name][target.label]
            if s.spent > time_limit or len(s.errors) >= 3:
                continue
            started = time.perf_counter()
            try:
                got = operations[name](target, user)
            except Exception as exc:  # noqa: BLE001 - reported in the table (e.g. StoreUnavailable)
                s.spent += time.perf_counter() - started
                s.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            elapsed = time.perf_counter() - started
            s.spent += elapsed
            s.seconds.append(elapsed)
            if got != expected:
                raise SystemExit(f"bench: {name} on {target.label} found {got} sessions of {user}, not {expected}")
    return series


def per_user(args: argparse.Namespace, workdir: Path) -> tuple[list[list[str]], list[tuple[str, str]], dict[str, Any]]:
    """Part 1: the latency table, the query plans, and facts for the targets."""
    ids = [secrets.token_urlsafe(24) for _ in range(args.sessions)]
    each = args.sessions // args.users
    targets: list[Any] = []
    mongo = None
    try:
        targets.append(SQLiteTarget(workdir))
        if not args.no_mongo:
            mongo = common.MongoServer(args.server).start()
            targets.append(MongoTarget(mongo, args.mongo_timeout))
        loads = {}
        for target in targets:
            loads[target.label] = target.load(ids, args.users)
            print(f"  loaded {target.label}: {len(ids):,} sessions of {args.users:,} users in "
                  f"{loads[target.label]:.1f} s", file=sys.stderr)
        rng = random.Random(7)
        order = rng.sample(range(args.users), args.users)
        warm, lookups = order[:2], [user_name(rng.randrange(args.users)) for _ in range(args.calls)]
        fresh = [user_name(i) for i in order[2:2 + args.calls]]  # revoke_all: a user whose sessions are all live
        lookups_by: dict[str, Operation] = {
            "the query alone (driver)": lambda t, user: t.query(user),
            "sessions_of(user)": lambda t, user: len(t.middleware.sessions_of(user)),
        }
        time_calls(targets, lookups_by, each, [user_name(i) for i in warm], args.time_limit)  # warm-up
        results = time_calls(targets, lookups_by, each, lookups, args.time_limit)
        results.update(time_calls(targets, {"revoke_all(user)": lambda t, user: t.middleware.revoke_all(user)},
                                  each, fresh, args.time_limit))
        rows = []
        for target in targets:
            for name, by_target in results.items():
                s = by_target[target.label]
                ms = [x * 1000 for x in s.seconds]
                slow = sum(x > DEFAULT_TIMEOUT for x in s.seconds) if isinstance(target, MongoTarget) else None
                rows.append([target.label, name, f"{len(ids):,} ({each} per user)", str(len(ms)),
                             fmt(median(ms)), fmt(p90(ms)), fmt(min(ms) if ms else None), fmt(max(ms) if ms else None),
                             "–" if slow is None else str(slow), "; ".join(sorted(set(s.errors))) or ""])
        plans = [plan for target in targets for plan in target.plans()]
        facts = {"sqlite_index": targets[0].uses_index(), "loads": loads,
                 "server": mongo.describe() if mongo else "none (--no-mongo)",
                 "results": results, "labels": [t.label for t in targets]}
        return rows, plans, facts
    finally:
        for target in targets:
            target.close()
        if mongo is not None:
            mongo.close()


# -- part 2: in-process, anonymous vs logged in ----------------------------------------------------

SCENARIOS = {"read-only": "/read", "modified": "/inc"}
KINDS = ("anonymous", "logged in")


def accounts_app() -> Any:
    """bench/apps.py's counter, plus GET /login: the counter set to 1, then session.login("alice")."""
    from apps import BODY_HEADERS, counter_app

    from wsgisession import get_session

    counter = counter_app(get_session)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO") != "/login":
            return counter(environ, start_response)
        session = get_session(environ)
        session["cuenta"] = 1  # the same data as an anonymous visitor's first /inc
        session.login("alice")
        start_response("200 OK", BODY_HEADERS + [("Content-Length", "0")])
        return []

    return app


def cookie_from(headers: list[tuple[str, str]]) -> str:
    for name, value in headers:
        if name.lower() == "set-cookie":
            return value.split(";", 1)[0]
    raise RuntimeError("no Set-Cookie")


class Subject:
    """One store behind SessionMiddleware, with an anonymous visitor's cookie and a logged-in one's."""

    def __init__(self, label: str, store: Any) -> None:
        import inprocess
        from apps import wsgisession_app

        self.label = label
        self.store = store
        self.app = wsgisession_app(store, accounts_app())
        self.cookies = {"anonymous": cookie_from(inprocess.call(self.app, inprocess.environ("/inc", None))),
                        "logged in": cookie_from(inprocess.call(self.app, inprocess.environ("/login", None)))}
        listed = self.app.sessions_of("alice")
        if len(listed) != 1:
            raise SystemExit(f"bench: {label}: the logged-in session is not bound ({listed})")


def spy_of(inner: Any) -> Any:
    """tests/helpers.py's SpyStore, which also passes iter_bound through (a login needs it)."""
    from tests.helpers import SpyStore

    class AccountSpy(SpyStore):
        def iter_bound(self, user_id: str | None = None) -> Any:
            self._record("iter_bound")
            return self.inner.iter_bound(user_id)

    return AccountSpy(inner)


def store_calls(make: Callable[[], Any], n: int) -> dict[tuple[str, str], str]:
    """Store calls per request for each (scenario, kind), in a separate, untimed app."""
    import inprocess

    out = {}
    for scenario, path in SCENARIOS.items():
        for kind in KINDS:
            spy = spy_of(make())
            subject = Subject("spy", spy)
            spy.calls.clear()
            env = inprocess.environ(path, subject.cookies[kind])
            for _ in range(n):
                inprocess.call(subject.app, env)
            counts = Counter(spy.ops())
            out[scenario, kind] = ", ".join(f"{op} {c / n:g}" for op, c in sorted(counts.items())) or "0"
            spy.inner.close()
    return out


def store_alone(makers: dict[str, Callable[[], Any]], n: int, repeat: int) -> list[list[str]]:
    """A request's store calls alone, on an unbound and on a bound record (the account a login
    leaves), timed side by side: where a logged-in request's extra cost comes from."""
    from wsgisession.stores.base import Account, Record

    calls: dict[str, Callable[[Any, str, int], None]] = {
        "load": load_loop, "refresh (read-only request)": refresh_loop, "save (modified request)": save_loop}
    rows = []
    for label, make in makers.items():
        store = make()
        now = int(time.time() * 1000)
        accounts = {"anonymous": None, "logged in": Account("alice", now, now, AGENT)}
        for kind, account in accounts.items():
            store.write(kind, Record(TEXTS[0], None, None, account))
        times: dict[tuple[str, str], list[float]] = {(c, k): [] for c in calls for k in accounts}
        for rep in range(repeat + 1):  # the first is a warm-up
            for name, run in calls.items():
                for kind in (KINDS if rep % 2 == 0 else KINDS[::-1]):
                    gc.collect()
                    gc.disable()
                    try:
                        started = time.perf_counter()
                        run(store, kind, n)
                        elapsed = time.perf_counter() - started
                    finally:
                        gc.enable()
                    if rep:
                        times[name, kind].append(elapsed / n * 1e6)
        for name in calls:
            anon, logged = times[name, "anonymous"], times[name, "logged in"]
            ratios = [b / a for a, b in zip(anon, logged)]
            rows.append([label, name, fmt(median(anon)), fmt(median(logged)),
                         f"{median(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f})"])
        store.close()
    return rows


def load_loop(store: Any, sid: str, k: int) -> None:
    for _ in range(k):
        store.load(sid)


def refresh_loop(store: Any, sid: str, k: int) -> None:
    """``k`` expiry refreshes, as a read-only request does."""
    for _ in range(k):
        store.refresh(sid, None, None)


def save_loop(store: Any, sid: str, k: int) -> None:
    """``k`` compare-and-set saves of a changed record without an account, as a modified request
    of a session already logged in does (the account is written only by a login)."""
    from wsgisession.stores.base import Record

    loaded = store.load(sid)
    version, at = loaded.version, TEXTS.index(loaded.text)
    for i in range(1, k + 1):
        version = store.save(sid, Record(TEXTS[(at + i) % 2], None), version)
        if version is None:
            raise SystemExit(f"bench: a save of {sid!r} conflicted with nobody")


def in_process(args: argparse.Namespace, workdir: Path) -> tuple[list[list[str]], list[list[str]], dict[str, Any]]:
    import inprocess

    from wsgisession import MemoryStore, SQLiteStore

    makers: dict[str, Callable[[], Any]] = {
        "MemoryStore": MemoryStore,
        "SQLiteStore": lambda: SQLiteStore(str(workdir / f"inprocess-{secrets.token_hex(4)}.sqlite3")),
    }
    subjects = [Subject(label, make()) for label, make in makers.items()]
    keys = [(s, sc, kind) for s in subjects for sc in SCENARIOS for kind in KINDS]
    envs = {(s.label, sc, kind): inprocess.environ(SCENARIOS[sc], s.cookies[kind]) for s, sc, kind in keys}
    for s, sc, kind in keys:  # warm-up
        inprocess.time_requests(s.app, envs[s.label, sc, kind], max(50, args.n // 20))
    times: dict[tuple[str, str, str], list[float]] = {key: [] for key in envs}
    pairs = [(s, sc) for s in subjects for sc in SCENARIOS]
    started = time.monotonic()
    for rep in range(args.repeat):
        kinds = KINDS if rep % 2 == 0 else KINDS[::-1]  # neither kind always runs first
        for s, sc in common.rotated(pairs, rep):
            for kind in kinds:
                times[s.label, sc, kind].append(inprocess.time_requests(s.app, envs[s.label, sc, kind], args.n))
    elapsed = time.monotonic() - started
    calls = {label: store_calls(make, 50) for label, make in makers.items()}
    for s in subjects:
        s.store.close()
    alone = store_alone(makers, max(100, args.n // 2), args.repeat)

    rows, checks = [], []
    for s in subjects:
        for sc in SCENARIOS:
            anon, logged = times[s.label, sc, "anonymous"], times[s.label, sc, "logged in"]
            ratios = [b / a for a, b in zip(anon, logged)]
            rows.append([s.label, sc, f"{fmt(min(anon))} / {fmt(median(anon))}",
                         f"{fmt(min(logged))} / {fmt(median(logged))}",
                         f"{median(ratios):.3f} ({min(ratios):.3f}–{max(ratios):.3f})",
                         calls[s.label][sc, "anonymous"], calls[s.label][sc, "logged in"]])
            checks.append([f"{s.label}, {sc}: logged-in request ≤ {TARGET_RATIO:.2f}× an anonymous one",
                           f"median {median(ratios):.3f}×, max {max(ratios):.3f}×",
                           "met" if median(ratios) <= TARGET_RATIO else
                           f"missed by {median(ratios) - TARGET_RATIO:.3f}×"])
    return rows, checks, {"times": times, "elapsed": elapsed, "labels": [s.label for s in subjects], "alone": alone}


# -- the report ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", "--ci", action="store_true", help="10^3 sessions of 10^2 users, tiny counts")
    parser.add_argument("--sessions", type=int, help="sessions stored (default 100000, quick 1000)")
    parser.add_argument("--users", type=int, help="users they belong to (default 10000, quick 100)")
    parser.add_argument("--calls", type=int, help="timed calls per operation and store (default 200, quick 20)")
    parser.add_argument("--time-limit", type=float, help="max seconds per operation and store (default 120, quick 10)")
    parser.add_argument("--mongo-timeout", type=float, default=60.0,
                        help="MongoStore's operation timeout here (default 60 s, so that slow calls are timed, "
                             f"not failed; the store's default is {DEFAULT_TIMEOUT:g} s)")
    parser.add_argument("--no-mongo", action="store_true", help="SQLiteStore only")
    parser.add_argument("-n", type=int, help="requests per in-process timing (default 20000, quick 300)")
    parser.add_argument("--repeat", type=int, help="in-process repetitions (default 9, quick 3)")
    parser.add_argument("--out", help="results directory (default bench/results)")
    common.add_server_argument(parser)
    args = parser.parse_args(argv)
    common.require_charts()
    args.sessions = args.sessions or (1000 if args.quick else 100_000)
    args.users = args.users or (100 if args.quick else 10_000)
    args.calls = args.calls or (20 if args.quick else 200)
    args.time_limit = args.time_limit or (10.0 if args.quick else 120.0)
    args.n = args.n or (300 if args.quick else 20000)
    args.repeat = args.repeat or (3 if args.quick else 9)
    if args.sessions % args.users or args.users < args.calls + 2:
        parser.error("--sessions must be a multiple of --users, and --users at least --calls + 2")
    out = common.out_dir(args.out, args.quick)
    workdir = Path(tempfile.mkdtemp(prefix="wsgisession-bench-accounts-"))
    started = time.monotonic()
    try:
        latency_rows, plans, facts = per_user(args, workdir)
    except Missing as exc:
        common.die_missing(exc)
    inproc_rows, checks, inproc = in_process(args, workdir)
    total = time.monotonic() - started

    each = args.sessions // args.users
    notes = [f"{args.sessions:,} sessions of {args.users:,} users ({each} each); MongoDB server: {facts['server']}",
             (f"per-user operations: up to {args.calls} calls each (random users; revoke_all: a fresh user each "
              f"call), every (operation, store) interleaved call by call, at most {args.time_limit:g} s per "
              f"operation and store; MongoStore with auto_remove='disabled' and a {args.mongo_timeout:g} s "
              "operation timeout"),
             "bulk load: " + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in facts["loads"].items()),
             (f"in-process: {args.n} requests per timing, {args.repeat} repetitions, both kinds of every "
              f"(store, scenario) in each, order rotated; {inproc['elapsed']:.0f} s of timing; {total:.0f} s in all")]
    report = [common.header("Accounts benchmark: per-user operations, and a logged-in request in-process",
                            sys.argv, notes)]
    if args.quick:
        report.append("_quick mode: sizes and counts too small for conclusions_\n")
    report += ["## sessions_of and revoke_all: latency per call", "",
               table(["store", "operation", "sessions stored", "calls", "median ms", "p90 ms", "min ms", "max ms",
                      f"calls > {DEFAULT_TIMEOUT:g} s (a 503 with the default timeout)", "errors"], latency_rows), "",
               "## Query plans of the per-user query", ""]
    for title, text in plans:
        report += [f"{title}:", "", "```", text, "```", ""]
    report += [MONGOD_PLAN, ""]
    report += ["## In-process: µs per request, anonymous vs logged-in session", "",
               table(["store", "scenario", "anonymous: min / median µs", "logged in: min / median µs",
                      "logged in / anonymous: median (min–max)", "store calls per request, anonymous",
                      "store calls, logged in"], inproc_rows), "",
               "(the ratio is taken within each repetition, the two kinds timed back to back)", "",
               (f"The store's calls alone, on a record without and with an account (µs per call, median over "
                f"the repetitions of {max(100, args.n // 2)} calls):"), "",
               table(["store", "call", "anonymous µs", "logged in µs", "logged in / anonymous: median (min–max)"],
                     inproc["alone"]), ""]
    checks.insert(0, ["SQLite: the per-user SELECT uses the sessions_user index",
                      "yes" if facts["sqlite_index"] else "no (a scan)", "met" if facts["sqlite_index"] else "missed"])
    report += ["## Targets", "", table(["target", "measured", "verdict"], checks), ""]
    text = "\n".join(report)
    print(text)
    stem = common.server_stem("accounts", args.server)
    common.write_report(out, stem, text)
    chart(facts, inproc, out / f"{stem}.png")
    print(f"wrote {out / (stem + '.md')} and {out / (stem + '.png')}")
    return 0


def chart(facts: dict[str, Any], inproc: dict[str, Any], path: Path) -> None:
    plt = common.pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    operations = list(facts["results"])
    width = 0.8 / max(1, len(facts["labels"]))
    for i, label in enumerate(facts["labels"]):
        meds = [median([x * 1000 for x in facts["results"][op][label].seconds]) for op in operations]
        xs = [j + (i - (len(facts["labels"]) - 1) / 2) * width for j in range(len(operations))]
        bars = left.bar(xs, meds, width, label=label)
        left.bar_label(bars, labels=[fmt(m) for m in meds], fontsize=8, padding=2)
    left.set_yscale("log")
    left.set_xticks(range(len(operations)), operations, fontsize=8)
    left.set_ylabel("ms per call (median, log scale)")
    left.set_title("Per-user operations")
    left.legend(fontsize=8)
    groups = [(label, sc) for label in inproc["labels"] for sc in SCENARIOS]
    for i, kind in enumerate(KINDS):
        meds = [median(inproc["times"][label, sc, kind]) for label, sc in groups]
        bars = right.bar([j + (i - 0.5) * 0.38 for j in range(len(groups))], meds, 0.38, label=kind)
        right.bar_label(bars, labels=[fmt(m, 1) for m in meds], fontsize=8, padding=2)
    right.set_xticks(range(len(groups)), [f"{label}\n{sc}" for label, sc in groups], fontsize=8)
    right.set_ylabel("µs per request (median)")
    right.set_title("In-process request: anonymous vs logged in")
    right.legend(fontsize=8)
    common.save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())
