"""Database round trips per request: MongoDB, Redis or PostgreSQL commands per request, by scenario.

    python bench/roundtrips.py           # 50 requests per scenario, MongoDB
    python bench/roundtrips.py --quick   # 5 requests per scenario
    python bench/roundtrips.py --server mongo-java-server   # on the second test server
    python bench/roundtrips.py --db redis      # RedisStore, Flask-Session, Beaker ext:redis, connect-redis
    python bench/roundtrips.py --db postgres   # PostgresStore, Flask-Session (SQLAlchemy), connect-pg-simple

wsgisession + MongoStore: a pymongo ``CommandListener`` on the store's client, requests made
in-process through SessionMiddleware. express-session + connect-mongo: bench/express_counting.js
(the Node driver's ``monitorCommands`` + a ``commandStarted`` listener), requests over HTTP.
Beaker ext:mongodb: the same pymongo listener on the client handed to Beaker. All on one server:
FerretDB, or mongo-java-server with ``--server mongo-java-server``.
Each scenario starts from a fresh login (GET /inc without a cookie), so a ``touch_after`` window
opened by that write is still open during the measured requests.

``--db redis`` and ``--db postgres`` count at the server instead, the same way for every system:
Redis's MONITOR (a client's commands apart from those its Lua scripts run), PostgreSQL's ``log_statement=all`` (one
line per statement, BEGIN and COMMIT included), on a private server started here
(bench/dbservers.py); one system runs at a time. The Python systems run in-process (Flask-Session
in the bench's Flask app), express-session over HTTP (bench/express_counting.js).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import common
import dbservers
from common import BENCH, INSTALL, ROOT, SECRET, Missing, table

SCENARIOS = {  # name -> (path, with the returning user's cookie, target round trips for wsgisession)
    "untouched": ("/static", True, "0"),
    "read-only": ("/read", True, "1 (no write inside touch_after)"),
    "modified": ("/inc", True, "2"),
    "new but unused": ("/read", False, "0"),
    "new, saved": ("/inc", False, "1 (not a target)"),
}
TARGET = {"untouched": 0, "read-only": 1, "modified": 2, "new but unused": 0}


def cell(counts: Counter[str], n: int) -> str:
    """Round trips per request, by name; Redis's commands run inside a script ("script: get") shown apart, not counted."""
    sent = {name: count for name, count in counts.items() if not name.startswith("script: ")}
    inner = {name[len("script: "):]: count for name, count in counts.items() if name.startswith("script: ")}
    detail = ", ".join(f"{name} {count / n:g}" for name, count in sorted(sent.items()))
    if inner:
        detail += "; inside the scripts: " + ", ".join(f"{name} {count / n:g}" for name, count in sorted(inner.items()))
    return f"{sum(sent.values()) / n:g}" + (f" ({detail})" if detail else "")


def make_listener() -> Any:
    """A pymongo CommandListener counting started commands by name (in ``.counts``)."""
    from pymongo import monitoring

    class Listener(monitoring.CommandListener):
        def __init__(self) -> None:
            self.counts: Counter[str] = Counter()

        def started(self, event: Any) -> None:
            self.counts[event.command_name] += 1

        def succeeded(self, event: Any) -> None:
            pass

        def failed(self, event: Any) -> None:
            pass

    return Listener()


def python_counts(app: Any, listener: Any, n: int) -> dict[str, Counter[str]]:
    import inprocess

    out = {}
    for name, (path, with_cookie, _) in SCENARIOS.items():
        cookie = inprocess.login(app) if with_cookie else None
        listener.counts.clear()
        env = inprocess.environ(path, cookie)
        for _ in range(n):
            inprocess.call(app, env)
        out[name] = Counter(listener.counts)
    return out


def wsgisession_counts(uri: str, touch_after: float, n: int) -> dict[str, Counter[str]]:
    from pymongo import MongoClient

    from apps import wsgisession_app
    from wsgisession import MongoStore

    listener = make_listener()
    client: Any = MongoClient(uri, tz_aware=True, event_listeners=[listener])
    try:
        store = MongoStore(client[f"bench_rt_ws_{int(touch_after)}"]["sessions"], touch_after=touch_after,
                           auto_remove="interval")
        return python_counts(wsgisession_app(store), listener, n)
    finally:
        client.close()


def beaker_counts(uri: str, n: int) -> dict[str, Counter[str]]:
    from pymongo import MongoClient

    from apps import beaker_app

    listener = make_listener()
    client: Any = MongoClient(f"{uri}/bench_rt_beaker", event_listeners=[listener])
    try:
        app = beaker_app(**{"session.type": "ext:mongodb", "session.url": client})
        return python_counts(app, listener, n)
    finally:
        client.close()


def server_counts(app: Any, counter: Any, n: int) -> dict[str, Counter[str]]:
    """Per scenario, what ``counter`` (a dbservers.RedisCommands or PostgresStatements) saw for n in-process requests."""
    import inprocess

    out = {}
    for name, (path, with_cookie, _) in SCENARIOS.items():
        cookie = inprocess.login(app) if with_cookie else None
        env = inprocess.environ(path, cookie)
        inprocess.call(app, env)  # a first request of the kind, not counted (a pool's first connection, say)
        before = counter.snapshot()
        for _ in range(n):
            inprocess.call(app, env)
        out[name] = counter.since(before)
    return out


def express_server_counts(env: dict[str, str], counter: Any, n: int, workdir: Path, label: str) -> dict[str, Counter[str]]:
    """Per scenario, what ``counter`` saw for n requests to bench/express_counting.js (STORE and its URL in env)."""
    port = common.free_port()
    log = workdir / f"express-{label}.log"
    with open(log, "ab") as handle:
        process = subprocess.Popen(["node", str(BENCH / "express_counting.js")], env=dict(os.environ, PORT=str(port),
                                   SECRET=SECRET, **env), stdout=handle, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        common.wait_port(port, process, 30, "express_counting.js", log)
        out = {}
        for name, (path, with_cookie, _) in SCENARIOS.items():
            cookie = http(base + "/inc")[1] if with_cookie else None
            http(base + path, cookie)  # not counted, as in server_counts
            time.sleep(0.05)
            before = counter.snapshot()
            for _ in range(n):
                http(base + path, cookie)
            time.sleep(0.05)  # let any write that outlives its response be counted too
            out[name] = counter.since(before)
        return out
    finally:
        common.stop(process)


def node_ready(package: str) -> None:
    common.require_binary("node", "apt-get install nodejs (Node >= 20)")
    if not (ROOT / "tests" / "interop" / "node_modules" / package).is_dir():
        raise Missing(f"{package} is not in tests/interop/node_modules: run (cd tests/interop && npm ci)")


def redis_columns(n: int, touch_after: float, workdir: Path, columns: dict[str, dict[str, Counter[str]]], skipped: dict[str, str]) -> str:
    """RedisStore, Flask-Session (Redis), Beaker ext:redis and connect-redis on one redis-server; its description."""
    import apps

    server = dbservers.RedisServer().start()
    counter = dbservers.RedisCommands(server.url(0))
    try:
        def run(label: str, make: Any) -> None:
            try:
                columns[label] = make()
            except Exception as exc:  # noqa: BLE001 - a system that cannot run is reported with the reason
                skipped[label] = f"{type(exc).__name__}: {exc}"

        def ours(ta: float) -> Any:
            def count() -> dict[str, Counter[str]]:
                from wsgisession import RedisStore

                store = RedisStore.from_url(server.url(1), touch_after=ta)
                try:
                    return server_counts(apps.wsgisession_app(store), counter, n)
                finally:
                    store.close()
            return count

        def flask_session() -> dict[str, Counter[str]]:
            import redis

            common.require_module("flask_session", INSTALL)
            client = redis.Redis.from_url(server.url(3))
            return server_counts(apps.flask_session_app(SESSION_TYPE="redis", SESSION_REDIS=client), counter, n)

        def beaker() -> dict[str, Counter[str]]:
            common.require_module("beaker", INSTALL)
            app = apps.beaker_app(**{"session.type": "ext:redis", "session.url": server.url(4)})
            return server_counts(app, counter, n)

        def express() -> dict[str, Counter[str]]:
            node_ready("connect-redis")
            return express_server_counts({"STORE": "redis", "REDIS_URL": server.url(5)}, counter, n, workdir, "redis")

        run(f"wsgisession RedisStore touch_after={touch_after:g}", ours(touch_after))
        run("wsgisession RedisStore touch_after=0 (default)", ours(0))
        run("Flask-Session (Redis)", flask_session)
        run("Beaker ext:redis", beaker)
        run("connect-redis", express)
        return server.describe()
    finally:
        counter.close()
        server.close()


def postgres_columns(n: int, touch_after: float, workdir: Path, columns: dict[str, dict[str, Counter[str]]], skipped: dict[str, str]) -> str:
    """PostgresStore, Flask-Session (SQLAlchemy) and connect-pg-simple on one PostgreSQL; its description."""
    import apps
    from serve import sqlalchemy_url

    server = dbservers.PostgresServer(log_statements=True).start()
    counter = dbservers.PostgresStatements(server)
    try:
        def run(label: str, make: Any) -> None:
            try:
                columns[label] = make()
            except Exception as exc:  # noqa: BLE001 - a system that cannot run is reported with the reason
                skipped[label] = f"{type(exc).__name__}: {exc}"

        def ours(ta: float) -> Any:
            def count() -> dict[str, Counter[str]]:
                from wsgisession import PostgresStore

                store = PostgresStore.from_url(server.database("bench_rt_ws"), touch_after=ta)
                try:
                    return server_counts(apps.wsgisession_app(store), counter, n)
                finally:
                    store.close()
            return count

        def flask_session() -> dict[str, Counter[str]]:
            common.require_module("flask_session", INSTALL)
            url = sqlalchemy_url(server.database("bench_rt_flask_session"))
            return server_counts(apps.flask_session_app(SESSION_TYPE="sqlalchemy", SQLALCHEMY_DATABASE_URI=url),
                                 counter, n)

        def express() -> dict[str, Counter[str]]:
            node_ready("connect-pg-simple")
            env = {"STORE": "postgres", "DATABASE_URL": server.database("bench_rt_express")}
            return express_server_counts(env, counter, n, workdir, "postgres")

        run(f"wsgisession PostgresStore touch_after={touch_after:g}", ours(touch_after))
        run("wsgisession PostgresStore touch_after=0 (default)", ours(0))
        run("Flask-Session (SQLAlchemy)", flask_session)
        run("connect-pg-simple", express)
        return server.describe()
    finally:
        server.close()


def http(url: str, cookie: str | None = None) -> tuple[str, str | None]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=15) as response:
        body = response.read().decode("utf-8", "replace")
        for value in response.headers.get_all("Set-Cookie") or []:
            if value.startswith("connect.sid="):
                return body, value.split(";", 1)[0]
    return body, None


def express_counts(uri: str, touch_after: float, n: int, workdir: Path) -> dict[str, Counter[str]]:
    port = common.free_port()
    log = workdir / f"express-{int(touch_after)}.log"
    env = dict(os.environ, PORT=str(port), MONGODB_URL=f"{uri}/bench_rt_express_{int(touch_after)}", SECRET=SECRET,
               TOUCH_AFTER=str(touch_after), BENCH_COUNT_COMMANDS="1")
    with open(log, "ab") as handle:
        process = subprocess.Popen(["node", str(BENCH / "express_counting.js")], env=env, stdout=handle,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        common.wait_port(port, process, 30, "express_counting.js", log)
        out = {}
        for name, (path, with_cookie, _) in SCENARIOS.items():
            cookie = http(base + "/inc")[1] if with_cookie else None
            time.sleep(0.05)
            http(base + "/__commands?reset=1")
            for _ in range(n):
                http(base + path, cookie)
            time.sleep(0.05)  # let any write that outlives its response be counted too
            out[name] = Counter(json.loads(http(base + "/__commands?reset=1")[0]))
        return out
    finally:
        common.stop(process)


TARGETS = {  # --db -> the wsgisession column's targets: scenario -> (at most, read-only must not write)
    "mongo": {"untouched": 0, "read-only": 1, "modified": 2, "new but unused": 0},
    "redis": {"untouched": 0, "read-only": 1, "modified": 2, "new but unused": 0},
    "postgres": {"untouched": 0, "read-only": 1, "modified": 2, "new but unused": 0},  # the other stores' bar
}
READS = {"find", "get", "SELECT"}  # what counts as a read in each database's names; anything else writes
UNITS = {"mongo": "MongoDB commands", "redis": "Redis commands", "postgres": "PostgreSQL statements"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", "--ci", action="store_true", help="5 requests per scenario")
    parser.add_argument("-n", type=int, help="requests per scenario (default 50)")
    parser.add_argument("--db", choices=("mongo", "redis", "postgres"), default="mongo",
                        help="which database's systems to count (default mongo)")
    parser.add_argument("--touch-after", type=float, default=3600, help="the stores' touch_after (connect-mongo's touchAfter) of the first columns (s)")
    parser.add_argument("--out", help="results directory (default bench/results)")
    common.add_server_argument(parser)
    args = parser.parse_args(argv)
    common.require_charts()
    n = args.n or (5 if args.quick else 50)
    out = common.out_dir(args.out, args.quick)
    columns: dict[str, dict[str, Counter[str]]] = {}
    skipped: dict[str, str] = {}
    workdir = Path(tempfile.mkdtemp(prefix="wsgisession-bench-rt-"))
    try:
        if args.db == "mongo":
            described = mongo_columns(args, n, workdir, columns, skipped)
        elif args.db == "redis":
            described = redis_columns(n, args.touch_after, workdir, columns, skipped)
        else:
            described = postgres_columns(n, args.touch_after, workdir, columns, skipped)
    except Missing as exc:
        common.die_missing(exc)
    unit = UNITS[args.db]
    names = list(columns)
    def target_text(scenario: str, mongo_text: str) -> str:
        if args.db == "mongo":
            return mongo_text
        want = TARGETS[args.db].get(scenario)
        return "–" if want is None else f"at most {want}"

    rows = [[scenario, target_text(scenario, target)] + [cell(columns[c][scenario], n) for c in names]
            for scenario, (_, _, target) in SCENARIOS.items()]
    notes = [f"{n} requests per scenario, each scenario after a fresh login; server: {described}",
             "express-session loads the session on every request that carries a cookie, whatever the route"]
    if args.db == "mongo":
        notes += ["cells: commands per request (by command name); 'find' is a read, 'update'/'delete' are writes",
                  "Beaker ext:mongodb runs a delete_many of expired entries ($regex on _id) before each read and each write"]
    elif args.db == "redis":
        notes += ["cells: commands per request (by command name) that clients sent, seen through MONITOR; "
                  "the commands a Lua script runs inside the server are listed after 'inside the scripts' and not counted",
                  "Flask-Session opens the session of every request that carries its cookie (Flask does), whatever the route"]
    else:
        notes += ["cells: statements per request (by first keyword), from the server's log_statement=all; "
                  "each is a round trip (psycopg and node-postgres send BEGIN and COMMIT on their own)",
                  "Flask-Session opens the session of every request that carries its cookie (Flask does), whatever the route"]
    parts = [common.header(f"{unit.split()[0]} round trips per request", sys.argv, notes)]
    if args.quick:
        parts.append("_quick mode: few requests_\n")
    parts.append(table(["scenario", "target (wsgisession)"] + names, rows))
    for name, reason in skipped.items():
        parts.append(f"\nSkipped {name}: {reason}")
        print(f"bench: skipping {name}: {reason}", file=sys.stderr)
    ours = names[0] if names and names[0].startswith("wsgisession") else None
    checks = []
    for scenario, want in TARGETS[args.db].items():
        if ours is None:
            checks.append([f"{scenario}: {want}", "not measured", "skipped: " + next(iter(skipped.values()), "?")])
            continue
        counts = columns[ours][scenario]
        got = sum(v for k, v in counts.items() if not k.startswith("script: ")) / n
        writes = sum(v for k, v in counts.items() if k not in READS and not k.startswith("script: ")) / n
        ok = got <= want and (scenario != "read-only" or args.db != "mongo" or writes == 0)
        exact = " (no write)" if scenario == "read-only" and args.db == "mongo" else ""
        checks.append([f"{scenario}: {'' if args.db == 'mongo' else 'at most '}{want}{exact}", cell(counts, n),
                       "met" if ok else f"missed ({got:g} instead of {want})"])
    title = f"wsgisession MongoStore, touch_after={args.touch_after:g}" if args.db == "mongo" else names[0] if ours else "wsgisession"
    if args.db == "redis":
        title += "; connect-redis has no touchAfter: it touches every read-only request, as touch_after=0 does"
    parts += ["", f"## Targets ({title})", "", table(["target", "measured", "verdict"], checks), ""]
    text = "\n".join(parts)
    print(text)
    stem = common.server_stem("roundtrips", args.server) if args.db == "mongo" else f"roundtrips-{args.db}"
    common.write_report(out, stem, text)
    chart(columns, n, out / f"{stem}.png", unit)
    print(f"wrote {out / (stem + '.md')} and {out / (stem + '.png')}")
    return 0 if ours is not None else 1


def mongo_columns(args: Any, n: int, workdir: Path, columns: dict[str, dict[str, Counter[str]]],
                  skipped: dict[str, str]) -> str:
    """MongoStore (touch_after and 0), connect-mongo (touchAfter and 0) and Beaker ext:mongodb; the server's description."""
    ta = args.touch_after
    mongo = common.MongoServer(args.server).start()
    try:
        columns[f"wsgisession MongoStore touch_after={ta:g}"] = wsgisession_counts(mongo.uri, ta, n)
        columns["wsgisession MongoStore touch_after=0"] = wsgisession_counts(mongo.uri, 0, n)
        try:
            node_ready("connect-mongo")
            columns[f"connect-mongo touchAfter={ta:g}"] = express_counts(mongo.uri, ta, n, workdir)
            columns["connect-mongo touchAfter=0"] = express_counts(mongo.uri, 0, n, workdir)
        except (Missing, RuntimeError) as exc:
            skipped["express-session + connect-mongo"] = str(exc)
        try:
            common.require_module("beaker", INSTALL)
            columns["Beaker ext:mongodb"] = beaker_counts(mongo.uri, n)
        except Exception as exc:  # noqa: BLE001 - printed as the reason
            skipped["Beaker ext:mongodb"] = f"{type(exc).__name__}: {exc}"
        return mongo.describe()
    finally:
        mongo.close()


def chart(columns: dict[str, dict[str, Counter[str]]], n: int, path: Path, unit: str) -> None:
    plt = common.pyplot()
    names = list(columns)
    fig, ax = plt.subplots(figsize=(11, 4.8))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(SCENARIOS))]
        values = [sum(v for k, v in columns[name][sc].items() if not k.startswith("script: ")) / n for sc in SCENARIOS]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, labels=[f"{v:g}" for v in values], fontsize=7, padding=1)
    ax.set_xticks(range(len(SCENARIOS)), list(SCENARIOS))
    ax.set_ylabel(f"{unit} per request")
    ax.set_title("Round trips per request")
    ax.legend(fontsize=8)
    common.save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())
