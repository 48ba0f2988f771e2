"""ASGI benchmark: the visit counter as a Starlette app under uvicorn, under each session middleware, side by side.

    python bench/asgi.py                 # 6 systems x 3 repetitions x 5 s (about 2 minutes)
    python bench/asgi.py --quick         # 1 repetition x 1 s each: the same table, not a measurement
    python bench/asgi.py --duration 10 --repeat 5 --systems bare,ws-memory

Systems (bench/asgi_apps.py): the bare Starlette app; the same app sent a session cookie it ignores
(``bare-cookie``: what the server's parsing of that header costs); wsgisession.asgi.SessionMiddleware on
MemoryStore and on RedisStore; starsessions on its RedisStore (redis.asyncio); Starlette's own
cookie SessionMiddleware (the session in a signed cookie, nothing server-side). Each in its own
uvicorn process (one worker, h11), all up for the whole run; the Redis-backed ones share one
private redis-server (a logical database each). The load and its checks are e2e.py's: wrk with one
connection per thread and one cookie jar per connection (bench/counter.lua), every k-th response of
a connection must say k visits; every repetition gives every system its seconds in 1 s runs
interleaved with the others' (``--slice``), and every ratio is taken within a repetition. Server CPU is utime+stime of the uvicorn process, DB CPU the
redis-server's.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import common
import e2e
from common import BENCH, INSTALL, ROOT, SECRET, Missing, fmt, median, table
from e2e import Server, Spec
from wsgisession.cookies import encode_uri_component
from wsgisession.signing import sign

# A Cookie header as wsgisession's clients send it (express's signed id, percent-encoded): the same
# bytes for the server to parse as the ws-memory client sends, for a bare app that ignores them.
SENT_COOKIE = "connect.sid=" + encode_uri_component("s:" + sign(secrets.token_urlsafe(24), SECRET))

SPECS = [
    Spec("bare", "bare Starlette app", check=False),
    Spec("bare-cookie", "bare Starlette app, sent a session cookie", check=False, sends=SENT_COOKIE),
    Spec("ws-memory", "wsgisession.asgi + MemoryStore"),
    Spec("ws-redis", "wsgisession.asgi + RedisStore", db="redis"),
    Spec("starsessions-redis", "starsessions + its RedisStore", cookie="session", db="redis"),
    Spec("starlette-cookie", "Starlette SessionMiddleware (cookie)", cookie="session"),
]
REDIS_DBS = {"ws-redis": 1, "starsessions-redis": 2}


def start_server(spec: Spec, dbs: e2e.Databases, workdir: Path, pinning: common.Pinning) -> Server:
    port = common.free_port()
    log = workdir / f"{spec.key}.log"
    cmd = [sys.executable, str(BENCH / "asgi_apps.py"), spec.key, "--port", str(port)]
    if spec.db == "redis":
        assert dbs.redis is not None
        cmd += ["--redis-url", dbs.redis.url(REDIS_DBS[spec.key])]
    with open(log, "ab") as handle:
        process = subprocess.Popen(cmd, env=dict(os.environ), stdin=subprocess.DEVNULL, stdout=handle,
                                   stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=pinning.for_server())
    server = Server(spec, process, port, log)
    try:
        common.wait_port(port, process, 30, spec.label, log)
    except RuntimeError:
        common.stop(process)
        raise
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", "--ci", action="store_true", help="1 repetition of 1 s per system")
    parser.add_argument("--duration", type=int, help="whole seconds per system per repetition (default 5, quick 1)")
    parser.add_argument("--repeat", type=int, help="repetitions (default 3, quick 1)")
    e2e.add_slice_argument(parser)
    parser.add_argument("--connections", type=int, default=4, help="wrk connections = wrk threads (default 4)")
    parser.add_argument("--systems", default=",".join(s.key for s in SPECS),
                        help="comma-separated subset of " + ",".join(s.key for s in SPECS))
    parser.add_argument("--out", help="results directory (default bench/results)")
    common.add_pin_argument(parser)
    args = parser.parse_args(argv)
    pinning = common.Pinning(args.pin)
    common.require_charts()
    duration = args.duration or (1.0 if args.quick else 5.0)
    repeat = args.repeat or (1 if args.quick else 3)
    wanted = args.systems.split(",")
    unknown = set(wanted) - {s.key for s in SPECS}
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}")
    if "bare" not in wanted:
        parser.error("the bare app is the baseline: keep 'bare' in --systems")
    specs = [s for s in SPECS if s.key in wanted]
    out = common.out_dir(args.out, args.quick)
    try:
        common.require_binary("wrk", e2e.WRK_HINT)
        for module in ("uvicorn", "starlette"):
            common.require_module(module, INSTALL)
        if any(s.key.startswith("starsessions") for s in specs):
            common.require_module("starsessions", INSTALL)
    except Missing as exc:
        common.die_missing(exc)

    skipped: dict[str, str] = {}
    missing: set[str] = set()  # skipped for a missing tool (the table says which), not for a failure
    dbs = e2e.Databases()
    workdir = Path(tempfile.mkdtemp(prefix="wsgisession-bench-asgi-"))
    servers: list[Server] = []
    try:
        if any(s.db == "redis" for s in specs):
            try:
                dbs.start("redis", "")
            except Missing as exc:
                skipped.update({s.key: str(exc) for s in specs if s.db == "redis"})
                missing.update(skipped)
        e2e.start_servers(specs, lambda spec: start_server(spec, dbs, workdir, pinning), servers, skipped)
        runs, elapsed = e2e.measure(servers, dbs, args.connections, duration, repeat, 1.0,
                                    e2e.slices_of(args, duration), pinning)
        text = report(servers, runs, skipped, dbs, args, duration, repeat, elapsed)
    finally:
        for server in servers:
            common.stop(server.process)
        dbs.close()
    print(text)
    stem = "asgi" if args.pin else "asgi-unpinned"
    common.write_report(out, stem, text)
    e2e.chart(servers, runs, out / f"{stem}.png", duration, repeat, args.connections)
    print(f"wrote {out / (stem + '.md')} and {out / (stem + '.png')}")
    failed = [k for k, rs in runs.items() if not all(r.ok for r in rs)]
    # a wsgisession system that did not start or did not count is a failure, not a skip
    broken = [k for k in skipped if k.startswith("ws-") and k not in missing]
    if broken:
        print(f"bench: FAILED: {', '.join(broken)} did not run (see Skipped above)", file=sys.stderr)
    return 1 if failed or broken else 0


def report(servers: list[Server], runs: dict[str, list[e2e.Run]], skipped: dict[str, str], dbs: e2e.Databases,
           args: Any, duration: float, repeat: int, elapsed: float) -> str:
    import uvicorn

    server_note = f"uvicorn {uvicorn.__version__}: one worker per system, h11, asyncio loop, no access log"
    parts = [common.header("ASGI benchmark: visit counter under uvicorn", sys.argv,
                           e2e.run_notes(args, dbs, duration, repeat, elapsed, server=server_note))]
    if args.quick:
        parts.append("_quick mode: runs too short for conclusions_\n")
    parts.append(table(e2e.COLUMNS, e2e.system_rows(servers, runs)))
    if skipped:
        parts += ["", "Skipped:", ""] + [f"- {key}: {e2e.one_line(reason)}" for key, reason in skipped.items()]
    checks = []
    if "ws-memory" in runs:
        r = [a.rps / b.rps for a, b in zip(runs["ws-memory"], runs["bare"])]
        checks.append(["wsgisession.asgi + MemoryStore ≥ 0.85× the bare app's req/s",
                       f"median {fmt(median(r))}×, min {fmt(min(r))}×",
                       "met" if median(r) >= 0.85 else f"missed by {fmt(0.85 - median(r))}×"])
    elif "ws-memory" in skipped:
        checks.append(["wsgisession.asgi + MemoryStore ≥ 0.85× the bare app's req/s", "not measured",
                       "skipped: " + e2e.one_line(skipped["ws-memory"])])
    if "ws-memory" in runs and "bare-cookie" in runs:
        r = [a.rps / b.rps for a, b in zip(runs["ws-memory"], runs["bare-cookie"])]
        checks.append(["wsgisession.asgi + MemoryStore against the bare app sent the same Cookie header (reported)",
                       f"{fmt(median(r))}× its req/s (min {fmt(min(r))}×)", "measured"])
    what = "wsgisession.asgi + RedisStore ahead of starsessions on Redis on every repetition"
    if "ws-redis" in runs and "starsessions-redis" in runs:
        checks.append([what, *e2e.ahead(runs["ws-redis"], runs["starsessions-redis"])])
    elif "ws-redis" in skipped or "starsessions-redis" in skipped:
        checks.append([what, "not measured", "skipped: "
                       + e2e.one_line(skipped.get("ws-redis", skipped.get("starsessions-redis", "")))])
    if "ws-memory" in runs and "starlette-cookie" in runs:
        r = [a.rps / b.rps for a, b in zip(runs["ws-memory"], runs["starlette-cookie"])]
        checks.append(["wsgisession.asgi + MemoryStore against Starlette's cookie sessions (reported)",
                       f"{fmt(median(r))}× its req/s (min {fmt(min(r))}×)", "measured"])
    parts += ["", "## Targets", "", table(["target", "measured", "verdict"], checks), ""]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
