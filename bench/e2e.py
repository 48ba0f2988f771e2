"""End-to-end benchmark: the visit counter over HTTP, wrk with one cookie jar per connection.

    python bench/e2e.py                  # 7 systems x 3 repetitions x 5 s (about 2.5 minutes)
    python bench/e2e.py --quick          # 1 repetition x 1 s each: the same table, not a measurement
    python bench/e2e.py --duration 10 --repeat 5 --systems bare,ws-memory
    python bench/e2e.py --server mongo-java-server   # the MongoDB-backed systems on the second test server
    python bench/e2e.py --systems redis      # the Redis group: RedisStore, Flask-Session, Beaker, connect-redis
    python bench/e2e.py --systems postgres   # the PostgreSQL group: PostgresStore, Flask-Session, connect-pg-simple

Each system runs in its own server process (waitress with 4 threads for the Python ones; node for
express-session + connect-mongo), all started before the first run and kept up. Every repetition
gives every system the same seconds of load, in 1 s wrk runs interleaved with the other systems'
(``--slice``; order rotated each round), so each ratio to the bare app compares systems measured
over the same stretch of time. wrk runs with as many threads as connections (one connection, one cookie jar
per thread; bench/counter.lua): it captures the session cookie and sends it back, and checks that
the k-th response of each connection says k visits. Server CPU is utime+stime of the server
process (and of the MongoDB server, for MongoDB-backed systems) from /proc/<pid>/stat around each run.
The MongoDB-backed systems share one server: FerretDB, or mongo-java-server with ``--server``; the
Redis-backed ones one redis-server (a logical database each), the PostgreSQL-backed ones one
PostgreSQL 15 (a database each), both started here (bench/dbservers.py). The Flask systems serve one
Flask app (bench/apps.py), under Flask-Session or wsgisession.flask, beside a bare Flask app.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import common
import dbservers
from common import BENCH, CLOCK_TICK, INSTALL, ROOT, SECRET, Missing, fmt, median, table

WRK_HINT = "apt-get install wrk  (Debian/Ubuntu package 'wrk')"
SERVER_JS = ROOT / "tests" / "interop" / "server.js"
EXPRESS_JS = BENCH / "express_counting.js"  # express-session on connect-redis / connect-pg-simple


@dataclass
class Spec:
    key: str
    label: str
    cookie: str = "connect.sid"
    path: str = "/"
    db: str | None = None  # "mongo", "redis" or "postgres": the shared database server it uses
    check: bool = True
    node: str | None = None  # express_counting.js's STORE, for the Node systems other than "express"
    sends: str = ""  # a Cookie header the client sends from its first request (a bare app's, which ignores it)

    @property
    def mongo(self) -> bool:
        return self.db == "mongo"


SPECS = [
    Spec("bare", "bare app", check=False),
    Spec("ws-memory", "wsgisession + MemoryStore"),
    Spec("ws-sqlite", "wsgisession + SQLiteStore"),
    Spec("ws-mongo", "wsgisession + MongoStore", db="mongo"),
    Spec("beaker-memory", "Beaker memory", cookie="beaker.session.id"),
    Spec("beaker-mongo", "Beaker ext:mongodb", cookie="beaker.session.id", db="mongo"),
    Spec("express", "express-session + connect-mongo", path="/inc", db="mongo"),
    Spec("flask-bare", "bare Flask app", check=False),
    Spec("ws-redis", "wsgisession + RedisStore", db="redis"),
    Spec("ws-flask-redis", "Flask + wsgisession + RedisStore", db="redis"),
    Spec("flask-session-redis", "Flask + Flask-Session (Redis)", cookie="session", db="redis"),
    Spec("beaker-redis", "Beaker ext:redis", cookie="beaker.session.id", db="redis"),
    Spec("express-redis", "express-session + connect-redis", path="/inc", db="redis", node="redis"),
    Spec("ws-postgres", "wsgisession + PostgresStore", db="postgres"),
    Spec("ws-flask-postgres", "Flask + wsgisession + PostgresStore", db="postgres"),
    Spec("flask-session-postgres", "Flask + Flask-Session (SQLAlchemy)", cookie="session", db="postgres"),
    Spec("express-postgres", "express-session + connect-pg-simple", path="/inc", db="postgres", node="postgres"),
]
# --systems accepts these names for their lists (the default is "mongo", this script's original set)
GROUPS = {
    "mongo": "bare,ws-memory,ws-sqlite,ws-mongo,beaker-memory,beaker-mongo,express",
    "redis": "bare,flask-bare,ws-redis,ws-flask-redis,flask-session-redis,beaker-redis,express-redis",
    "postgres": "bare,flask-bare,ws-postgres,ws-flask-postgres,flask-session-postgres,express-postgres",
}
REDIS_DBS = {"ws-redis": 1, "ws-flask-redis": 2, "flask-session-redis": 3, "beaker-redis": 4, "express-redis": 5}


@dataclass
class Server:
    spec: Spec
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.spec.path}"

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float
    db_cpu_us: float | None
    requests: int
    ok: bool
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0  # wrk's own measured duration
    switches: float = 0.0  # the server's context switches per request (common.context_switches)

    @staticmethod
    def join(parts: list[Run]) -> Run:
        """Slices of one repetition as one run: requests and CPU summed over the slices' time; the
        latency percentiles are the median of the slices' (percentiles of slices cannot be merged)."""
        if len(parts) == 1:
            return parts[0]
        requests = sum(r.requests for r in parts)
        weight = max(1, requests)
        db = [r for r in parts if r.db_cpu_us is not None]
        return Run(rps=requests / sum(r.seconds for r in parts),
                   p50_ms=median([r.p50_ms for r in parts]), p99_ms=median([r.p99_ms for r in parts]),
                   cpu_us=sum(r.cpu_us * max(1, r.requests) for r in parts) / weight,
                   db_cpu_us=sum(r.db_cpu_us * max(1, r.requests) for r in db) / weight if db else None,
                   requests=requests, ok=all(r.ok for r in parts), problems=[p for r in parts for p in r.problems],
                   seconds=sum(r.seconds for r in parts),
                   switches=sum(r.switches * max(1, r.requests) for r in parts) / weight)


class Databases:
    """The database servers this run started (each shared by the systems of its kind), and their CPU."""

    def __init__(self) -> None:
        self.mongo: Any = None
        self.redis: dbservers.RedisServer | None = None
        self.postgres: dbservers.PostgresServer | None = None

    def start(self, kind: str, server_name: str) -> None:
        if kind == "mongo" and self.mongo is None:
            self.mongo = common.MongoServer(server_name).start()
        elif kind == "redis" and self.redis is None:
            self.redis = dbservers.RedisServer().start()
        elif kind == "postgres" and self.postgres is None:
            self.postgres = dbservers.PostgresServer().start()

    def running(self, kind: str | None) -> bool:
        return {"mongo": self.mongo, "redis": self.redis, "postgres": self.postgres}.get(kind or "") is not None

    def cpu_ticks(self, kind: str | None) -> int | None:
        """utime+stime of the server ``kind`` (PostgreSQL: the postmaster and its backends), None if not ours."""
        if kind == "mongo" and self.mongo is not None and self.mongo.pid:
            return common.cpu_ticks(self.mongo.pid)
        if kind == "redis" and self.redis is not None and self.redis.pid:
            return common.cpu_ticks(self.redis.pid)
        if kind == "postgres" and self.postgres is not None and self.postgres.pid:
            return dbservers.tree_cpu_ticks(self.postgres.pid)
        return None

    def describe(self) -> list[str]:
        out = []
        if self.mongo is not None:
            out.append("every MongoDB-backed system uses the same server: " + self.mongo.describe())
        if self.redis is not None:
            out.append("every Redis-backed system uses the same server (a logical database each): "
                       + self.redis.describe())
        if self.postgres is not None:
            out.append("every PostgreSQL-backed system uses the same server (a database each): "
                       + self.postgres.describe())
        return out

    def close(self) -> None:
        for server in (self.mongo, self.redis, self.postgres):
            if server is not None:
                server.close()


def start_server(spec: Spec, dbs: Databases, workdir: Path, threads: int, ws_options: list[str],
                 pinning: common.Pinning) -> Server:
    port = common.free_port()
    log = workdir / f"{spec.key}.log"
    env = dict(os.environ)
    db_name = f"bench_{spec.key.replace('-', '_')}"
    if spec.key == "express":
        cmd = ["node", str(SERVER_JS)]
        env.update(PORT=str(port), MONGODB_URL=f"{dbs.mongo.uri}/bench_express", SECRETS=json.dumps([SECRET]),
                   AUTO_REMOVE="interval", COLLECTION="sessions")
    elif spec.node:
        cmd = ["node", str(EXPRESS_JS)]
        env.update(PORT=str(port), SECRET=SECRET, STORE=spec.node)
        if spec.db == "redis":
            assert dbs.redis is not None
            env["REDIS_URL"] = dbs.redis.url(REDIS_DBS[spec.key])
        else:
            assert dbs.postgres is not None
            env["DATABASE_URL"] = dbs.postgres.database(db_name)
    else:
        cmd = [sys.executable, str(BENCH / "serve.py"), spec.key, "--port", str(port), "--threads", str(threads),
               "--db", db_name]
        if spec.db == "mongo":
            cmd += ["--mongo-uri", dbs.mongo.uri]
        elif spec.db == "redis":
            assert dbs.redis is not None
            cmd += ["--redis-url", dbs.redis.url(REDIS_DBS[spec.key])]
        elif spec.db == "postgres":
            assert dbs.postgres is not None
            cmd += ["--postgres-url", dbs.postgres.database(db_name)]
        if spec.key.startswith("ws-"):
            for option in ws_options:
                cmd += ["--option", option]
    with open(log, "ab") as handle:
        process = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                                   cwd=ROOT, preexec_fn=pinning.for_server())
    server = Server(spec, process, port, log)
    try:
        common.wait_port(port, process, 30, spec.label, log)
    except RuntimeError:
        common.stop(process)
        raise
    return server


def start_servers(specs: list[Any], start: Callable[[Any], Any], servers: list[Any], skipped: dict[str, str]) -> None:
    """Start and probe each system's server (``start(spec)``), appended to ``servers`` (which the
    caller stops, whatever happens); one that fails goes into ``skipped`` with the reason, and a
    run without the bare app, which every ratio divides by, stops here."""
    for spec in specs:
        if spec.key in skipped:
            continue
        try:
            server = start(spec)
        except RuntimeError as exc:
            skipped[spec.key] = f"server did not start: {exc}"  # a failure, unlike a missing tool
            continue
        reason = probe(server)
        if reason:
            skipped[spec.key] = reason
            common.stop(server.process)
            continue
        servers.append(server)
    for key, reason in skipped.items():
        print(f"bench: skipping {key}: {reason}", file=sys.stderr)
    if not servers or servers[0].spec.key != "bare":
        raise SystemExit("bench: the bare app did not start; see the messages above")


def probe(server: Server) -> str | None:
    """Two visits with a cookie jar: None if they count 1 then 2, else why not."""
    cookie = None
    for expected in (1, 2):
        request = urllib.request.Request(server.url, headers={"Cookie": cookie} if cookie else {})
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                body = response.read().decode("utf-8", "replace")
                for value in response.headers.get_all("Set-Cookie") or []:
                    if value.startswith(server.spec.cookie + "="):
                        cookie = value.split(";", 1)[0]
        except Exception as exc:  # noqa: BLE001 - the reason is printed and the system skipped
            return f"request failed ({exc}); server log: {server.log_tail(800).strip()}"
        match = re.search(r"\d+", body)
        if server.spec.check and (match is None or int(match.group()) != expected):
            return f"visit {expected} answered {body[:120]!r}"
    return None


def run_wrk(server: Server, duration: float, connections: int, dbs: Databases, pinning: common.Pinning) -> Run:
    env = dict(os.environ, BENCH_COOKIE=server.spec.cookie, BENCH_CHECK="1" if server.spec.check else "0",
               BENCH_SEND=server.spec.sends)
    cmd = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
           "-s", str(BENCH / "counter.lua"), server.url]
    before, switches = common.cpu_ticks(server.process.pid), common.context_switches(server.process.pid)
    db_before = dbs.cpu_ticks(server.spec.db)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 60,
                          preexec_fn=pinning.for_load())
    after, switches = common.cpu_ticks(server.process.pid), common.context_switches(server.process.pid) - switches
    db_after = dbs.cpu_ticks(server.spec.db)
    line = next((l for l in done.stdout.splitlines() if l.startswith("BENCHJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    data = json.loads(line[len("BENCHJSON "):])
    requests = max(1, data["requests"])
    problems = []
    errors = {k: v for k, v in data["errors"].items() if v}
    if errors:
        problems.append(f"wrk errors {errors}")
    for t in data["threads"]:
        if t["non200"]:
            problems.append(f"connection {t['id']}: {t['non200']} non-200 responses")
        if server.spec.check:
            if t["bad"] or t["last"] != t["seen"]:
                problems.append(f"connection {t['id']}: {t['bad']} wrong counters ({t['first_bad']}), "
                                f"last {t['last']} after {t['seen']} responses")
            if t["seen"] and t["cookies"] < 1:
                problems.append(f"connection {t['id']}: no session cookie received")
    ticks = after - before
    return Run(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["latency_us"]["p50"] / 1000,
        p99_ms=data["latency_us"]["p99"] / 1000,
        cpu_us=ticks / CLOCK_TICK * 1e6 / requests,
        db_cpu_us=(db_after - db_before) / CLOCK_TICK * 1e6 / requests if db_after is not None and db_before is not None
        else None,
        requests=data["requests"],
        ok=not problems,
        problems=problems,
        seconds=data["duration_us"] / 1e6,
        switches=switches / requests,
    )


def measure(servers: list[Server], dbs: Databases, connections: int, duration: float, repeat: int,
            warmup: float, slices: int, pinning: common.Pinning) -> tuple[dict[str, list[Run]], float]:
    """A warm-up of each server, then ``repeat`` repetitions; in each, every server serves ``duration``
    seconds in ``slices`` wrk runs of ``duration / slices`` s, interleaved: round after round, every
    server once per round, in an order rotated each round. A repetition's result for a server is its
    slices together (``Run.join``), so a pair compared within a repetition ran in alternation over the
    same stretch of time, not one after the other: on a shared VM whose speed drifts by 2x within
    seconds, one-run-after-the-other ratios measure the drift as much as the systems."""
    for server in servers:  # warm-up, not recorded
        run_wrk(server, warmup, connections, dbs, pinning)
    runs: dict[str, list[Run]] = {s.spec.key: [] for s in servers}
    started = time.monotonic()
    width = max((len(s.spec.label) for s in servers), default=0)
    for rep in range(repeat):
        parts: dict[str, list[Run]] = {s.spec.key: [] for s in servers}
        for round_ in range(slices):
            for server in common.rotated(servers, rep * slices + round_):
                parts[server.spec.key].append(run_wrk(server, duration / slices, connections, dbs, pinning))
        for server in servers:
            result = Run.join(parts[server.spec.key])
            runs[server.spec.key].append(result)
            print(f"  rep {rep + 1}/{repeat} {server.spec.label:{width}s} {result.rps:8.0f} req/s "
                  f"p50 {result.p50_ms:6.2f} ms p99 {result.p99_ms:7.2f} ms cpu {result.cpu_us:7.0f} µs/req "
                  f"{result.switches:5.0f} switches/req "
                  f"{'ok' if result.ok else 'CHECK FAILED: ' + '; '.join(result.problems)}", file=sys.stderr)
    return runs, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", "--ci", action="store_true", help="1 repetition of 1 s per system")
    parser.add_argument("--duration", type=int, help="whole seconds per system per repetition (default 5, quick 1)")
    parser.add_argument("--repeat", type=int, help="repetitions (default 3, quick 1)")
    add_slice_argument(parser)
    parser.add_argument("--connections", type=int, default=4, help="wrk connections = wrk threads (default 4)")
    parser.add_argument("--threads", type=int, default=4, help="waitress threads (default 4)")
    parser.add_argument("--systems", default="mongo",
                        help="comma-separated systems or groups (" + ", ".join(f"{k}: {v}" for k, v in GROUPS.items())
                        + "; default mongo); systems: " + ",".join(s.key for s in SPECS))
    parser.add_argument("--ws-option", action="append", default=[], metavar="KEY=VALUE",
                        help="SessionMiddleware option for the wsgisession systems, e.g. concurrency=overwrite")
    parser.add_argument("--out", help="results directory (default bench/results)")
    common.add_server_argument(parser)
    common.add_pin_argument(parser)
    args = parser.parse_args(argv)
    pinning = common.Pinning(args.pin)
    common.require_charts()
    duration = args.duration or (1.0 if args.quick else 5.0)
    repeat = args.repeat or (1 if args.quick else 3)
    warmup = 1.0
    wanted = [key for name in args.systems.split(",") for key in GROUPS.get(name, name).split(",")]
    unknown = set(wanted) - {s.key for s in SPECS}
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}")
    specs = [s for s in SPECS if s.key in wanted]
    if "bare" not in wanted:
        parser.error("the bare app is the baseline: keep 'bare' in --systems")
    out = common.out_dir(args.out, args.quick)
    skipped: dict[str, str] = {}
    missing: set[str] = set()  # skipped for a missing tool (the table says which), not for a failure
    try:
        common.require_binary("wrk", WRK_HINT)
        common.require_module("waitress", INSTALL)
        if any(s.key.startswith("beaker") for s in specs):
            common.require_module("beaker", INSTALL)
    except Missing as exc:
        common.die_missing(exc)
    node_packages = {"express": "connect-mongo", "express-redis": "connect-redis", "express-postgres": "connect-pg-simple"}
    for spec in specs:
        if spec.key in node_packages:
            node_modules = SERVER_JS.parent / "node_modules"
            package = node_packages[spec.key]
            if not SERVER_JS.exists():
                skipped[spec.key] = f"{SERVER_JS.relative_to(ROOT)} does not exist (yet)"
            elif not (node_modules / "express-session").is_dir() or not (node_modules / package).is_dir():
                skipped[spec.key] = (f"{package} is not in tests/interop/node_modules: run (cd tests/interop && npm ci)")
            else:
                try:
                    common.require_binary("node", "apt-get install nodejs (Node >= 20)")
                except Missing as exc:
                    skipped[spec.key] = str(exc)
    specs = [s for s in specs if s.key not in skipped]

    dbs = Databases()
    workdir = Path(tempfile.mkdtemp(prefix="wsgisession-bench-e2e-"))
    servers: list[Server] = []
    try:
        for kind in dict.fromkeys(s.db for s in specs if s.db):
            try:
                dbs.start(kind, args.server)
            except Missing as exc:
                for s in specs:
                    if s.db == kind:
                        skipped[s.key] = str(exc)
                        missing.add(s.key)
        specs = [s for s in specs if s.db is None or dbs.running(s.db)]
        start_servers(specs, lambda spec: start_server(spec, dbs, workdir, args.threads, args.ws_option, pinning),
                      servers, skipped)
        runs, elapsed = measure(servers, dbs, args.connections, duration, repeat, warmup, slices_of(args, duration),
                                pinning)
        text = report(servers, runs, skipped, dbs, args, duration, repeat, elapsed)
    finally:
        for server in servers:
            common.stop(server.process)
        dbs.close()
    print(text)
    stem = "e2e" if args.threads == 4 and args.connections == 4 else f"e2e-t{args.threads}-c{args.connections}"
    if args.systems in ("redis", "postgres"):
        stem = f"{stem}-{args.systems}"
    elif args.systems != "mongo" or any(s.spec.mongo for s in servers):
        stem = common.server_stem(stem, args.server)
    if not args.pin:
        stem += "-unpinned"
    common.write_report(out, stem, text)
    chart(servers, runs, out / f"{stem}.png", duration, repeat, args.connections)
    print(f"wrote {out / (stem + '.md')} and {out / (stem + '.png')}")
    failed = [k for k, rs in runs.items() if not all(r.ok for r in rs)]
    # a wsgisession system that did not start or did not count is a failure, not a skip
    broken = [k for k in skipped if k.startswith("ws-") and k not in missing]
    if broken:
        print(f"bench: FAILED: {', '.join(broken)} did not run (see Skipped above)", file=sys.stderr)
    return 1 if failed or broken else 0


def add_slice_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--slice", type=int, default=1, metavar="SECONDS",
                        help="each system's --duration is served in wrk runs of this many seconds, the systems "
                             "interleaved run by run (default 1; --slice equal to --duration: one run each)")


def slices_of(args: Any, duration: float) -> int:
    return max(1, round(duration / max(1, args.slice)))


def one_line(reason: str) -> str:
    """A skip reason for a table cell: its first line, and its last one (a traceback's error) if it has more."""
    lines = [line.strip() for line in reason.strip().splitlines() if line.strip()]
    if not lines:
        return "?"
    text = lines[0] if len(lines) == 1 else f"{lines[0]} … {lines[-1]}"
    return text.replace("|", "/")[:240]


def _ratio_cell(values: list[float]) -> str:
    return f"{fmt(median(values))} ({fmt(min(values))}–{fmt(max(values))})" if values else "–"


COLUMNS = ["system", "req/s", "× bare", "p50 ms", "× bare", "p99 ms", "× bare", "server CPU µs/req", "× bare",
           "server context switches/req", "DB CPU µs/req", "counter check"]


def system_rows(servers: list[Server], runs: dict[str, list[Run]]) -> list[list[str]]:
    """One row per system (COLUMNS): medians over repetitions, and ratios to runs["bare"] within each repetition."""
    bare = runs["bare"]
    rows = []
    for server in servers:
        rs = runs[server.spec.key]
        rps_r = [r.rps / b.rps for r, b in zip(rs, bare)]
        p50_r = [r.p50_ms / b.p50_ms for r, b in zip(rs, bare)]
        p99_r = [r.p99_ms / b.p99_ms for r, b in zip(rs, bare)]
        cpu_r = [r.cpu_us / b.cpu_us for r, b in zip(rs, bare)]
        db = [r.db_cpu_us for r in rs if r.db_cpu_us is not None]
        checked = sum(r.requests for r in rs)
        verdict = ("n/a (no session)" if not server.spec.check else
                   f"ok: {checked:,} counters exact" if all(r.ok for r in rs) else
                   "FAILED: " + "; ".join(p for r in rs for p in r.problems)[:300])
        rows.append([server.spec.label, fmt(median([r.rps for r in rs])), _ratio_cell(rps_r),
                     fmt(median([r.p50_ms for r in rs])), _ratio_cell(p50_r),
                     fmt(median([r.p99_ms for r in rs])), _ratio_cell(p99_r),
                     fmt(median([r.cpu_us for r in rs])), _ratio_cell(cpu_r),
                     fmt(median([r.switches for r in rs])), fmt(median(db)) if db else "–", verdict])
    return rows


def run_notes(args: Any, dbs: Databases, duration: float, repeat: int, elapsed: float, server: str = "waitress") -> list[str]:
    slices = slices_of(args, duration) if hasattr(args, "slice") else 1
    notes = [f"{repeat} repetitions x {duration:g} s per system, order rotated each repetition; {elapsed:.0f} s of load"
             if slices == 1 else
             f"{repeat} repetitions x {duration:g} s per system, each served in {slices} wrk runs of "
             f"{duration / slices:g} s interleaved with the other systems' (order rotated each round); "
             f"{elapsed:.0f} s of load",
             f"wrk {args.connections} threads x 1 connection each (one cookie jar per connection), "
             + (f"waitress {args.threads} threads; node: one process" if server == "waitress" else server),
             common.Pinning(args.pin).describe(),
             *dbs.describe(),
             "a 2-core VM shared with other work (see the machine above): compare only ratios taken within one run",
             "ratios: median (min–max) over repetitions of system/bare within the same repetition"]
    if getattr(args, "ws_option", None):
        notes.append("wsgisession options: " + ", ".join(args.ws_option))
    return notes


def ahead(ours: list[Run], other: list[Run]) -> tuple[str, str]:
    """(measured, verdict) of "ours serves more req/s than other on every repetition"."""
    r = [a.rps / b.rps for a, b in zip(ours, other)]
    return (f"{fmt(median(r))}× its req/s (min {fmt(min(r))}×, max {fmt(max(r))}×)",
            "met" if min(r) > 1 else "missed" if median(r) <= 1 else "met on median, not every repetition")


def report(servers: list[Server], runs: dict[str, list[Run]], skipped: dict[str, str], dbs: Databases,
           args: Any, duration: float, repeat: int, elapsed: float) -> str:
    parts = [common.header("End-to-end benchmark: visit counter over HTTP", sys.argv, run_notes(args, dbs, duration,
                                                                                              repeat, elapsed))]
    if args.quick:
        parts.append("_quick mode: runs too short for conclusions_\n")
    parts.append(table(COLUMNS, system_rows(servers, runs)))
    if skipped:
        parts += ["", "Skipped:", ""] + [f"- {key}: {one_line(reason)}" for key, reason in skipped.items()]
    bare = runs["bare"]
    checks = []
    for key, label, floor in (("ws-memory", "MemoryStore", 0.85), ("ws-sqlite", "SQLiteStore", 0.65)):
        if key in runs:
            r = [a.rps / b.rps for a, b in zip(runs[key], bare)]
            checks.append([f"wsgisession + {label} ≥ {floor:g}× bare req/s", f"median {fmt(median(r))}×, min {fmt(min(r))}×",
                           "met" if median(r) >= floor else f"missed by {fmt(floor - median(r))}×"])
    for ours, other, label in (
            ("ws-mongo", "beaker-mongo", "Beaker ext:mongodb"),
            ("ws-mongo", "express", "express-session + connect-mongo"),
            # like for like: Flask-Session is a Flask extension, so it is measured against
            # wsgisession.flask on the same Flask app; Beaker is WSGI middleware on the same plain
            # WSGI counter as wsgisession's (plain WSGI against a Flask app is only a reference)
            ("ws-flask-redis", "flask-session-redis", "Flask-Session (Redis), both under Flask"),
            ("ws-redis", "beaker-redis", "Beaker ext:redis, both plain WSGI"),
            ("ws-redis", "flask-session-redis", "Flask-Session (Redis) under Flask (reference: not like for like)"),
            ("ws-redis", "express-redis", "express-session + connect-redis (ratio reported)"),
            ("ws-flask-postgres", "flask-session-postgres", "Flask-Session (SQLAlchemy), both under Flask"),
            ("ws-postgres", "flask-session-postgres", "Flask-Session (SQLAlchemy)"),
            ("ws-postgres", "express-postgres", "express-session + connect-pg-simple (ratio reported)")):
        spec = next(s for s in SPECS if s.key == ours)
        what = f"{spec.label} ahead of {label}"
        if ours in runs and other in runs:
            checks.append([what, *ahead(runs[ours], runs[other])])
        elif other in skipped or ours in skipped:
            checks.append([what, "not measured", "skipped: " + one_line(skipped.get(ours, skipped.get(other, "")))])
    parts += ["", "## Targets", "", table(["target", "measured", "verdict"], checks), ""]
    return "\n".join(parts)


def chart(servers: list[Server], runs: dict[str, list[Run]], path: Path, duration: float, repeat: int,
          connections: int) -> None:
    plt = common.pyplot()
    labels = [s.spec.label.replace(" + ", "\n+ ") for s in servers]
    rps = [median([r.rps for r in runs[s.spec.key]]) for s in servers]
    cpu = [median([r.cpu_us for r in runs[s.spec.key]]) for s in servers]
    db = [median([r.db_cpu_us for r in runs[s.spec.key] if r.db_cpu_us is not None] or [0.0]) for s in servers]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
    bars = ax1.bar(range(len(servers)), rps, color="tab:blue")
    ax1.bar_label(bars, labels=[f"{fmt(v)}\n{fmt(v / rps[0])}×" for v in rps], fontsize=7, padding=2)
    ax1.set_xticks(range(len(servers)), labels, fontsize=7, rotation=30, ha="right")
    ax1.set_ylabel("requests per second (median)")
    ax1.set_title(f"Throughput ({repeat}×{duration:g} s, {connections} connections)")
    ax1.margins(y=0.15)
    ax2.bar(range(len(servers)), cpu, color="tab:orange", label="app server process")
    ax2.bar(range(len(servers)), db, bottom=cpu, color="tab:gray", label="database server process(es)")
    ax2.set_xticks(range(len(servers)), labels, fontsize=7, rotation=30, ha="right")
    ax2.set_ylabel("CPU µs per request (median)")
    ax2.set_title("Server CPU per request")
    ax2.legend(fontsize=8)
    common.save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())
