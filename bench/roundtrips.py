"""MongoDB round trips per request: commands counted by the drivers' own command monitoring.

    python bench/roundtrips.py           # 50 requests per scenario
    python bench/roundtrips.py --quick   # 5 requests per scenario
    python bench/roundtrips.py --server mongo-java-server   # on the second test server

wsgisession + MongoStore: a pymongo ``CommandListener`` on the store's client, requests made
in-process through SessionMiddleware. express-session + connect-mongo: bench/express_counting.js
(the Node driver's ``monitorCommands`` + a ``commandStarted`` listener), requests over HTTP.
Beaker ext:mongodb: the same pymongo listener on the client handed to Beaker. All on one server:
FerretDB, or mongo-java-server with ``--server mongo-java-server``.
Each scenario starts from a fresh login (GET /inc without a cookie), so a ``touch_after`` window
opened by that write is still open during the measured requests.
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
    total = sum(counts.values())
    detail = ", ".join(f"{name} {count / n:g}" for name, count in sorted(counts.items()))
    return f"{total / n:g}" + (f" ({detail})" if detail else "")


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", "--ci", action="store_true", help="5 requests per scenario")
    parser.add_argument("-n", type=int, help="requests per scenario (default 50)")
    parser.add_argument("--touch-after", type=float, default=3600, help="the touch_after/touchAfter window (s)")
    parser.add_argument("--out", help="results directory (default bench/results)")
    common.add_server_argument(parser)
    args = parser.parse_args(argv)
    common.require_charts()
    n = args.n or (5 if args.quick else 50)
    out = common.out_dir(args.out, args.quick)
    ta = args.touch_after
    columns: dict[str, dict[str, Counter[str]]] = {}
    skipped: dict[str, str] = {}
    workdir = Path(tempfile.mkdtemp(prefix="wsgisession-bench-rt-"))
    try:
        mongo = common.MongoServer(args.server).start()
    except Missing as exc:
        common.die_missing(exc)
        return 3
    try:
        columns[f"wsgisession MongoStore touch_after={ta:g}"] = wsgisession_counts(mongo.uri, ta, n)
        columns["wsgisession MongoStore touch_after=0"] = wsgisession_counts(mongo.uri, 0, n)
        node_modules = ROOT / "tests" / "interop" / "node_modules"
        try:
            common.require_binary("node", "apt-get install nodejs (Node >= 20)")
            if not (node_modules / "connect-mongo").is_dir():
                raise Missing("tests/interop/node_modules is not installed: run (cd tests/interop && npm ci)")
            columns[f"connect-mongo touchAfter={ta:g}"] = express_counts(mongo.uri, ta, n, workdir)
            columns["connect-mongo touchAfter=0"] = express_counts(mongo.uri, 0, n, workdir)
        except (Missing, RuntimeError) as exc:
            skipped["express-session + connect-mongo"] = str(exc)
        try:
            common.require_module("beaker", INSTALL)
            columns["Beaker ext:mongodb"] = beaker_counts(mongo.uri, n)
        except Exception as exc:  # noqa: BLE001 - printed as the reason
            skipped["Beaker ext:mongodb"] = f"{type(exc).__name__}: {exc}"
        described = mongo.describe()
    finally:
        mongo.close()

    names = list(columns)
    rows = [[scenario, target] + [cell(columns[c][scenario], n) for c in names]
            for scenario, (_, _, target) in SCENARIOS.items()]
    notes = [f"{n} requests per scenario, each scenario after a fresh login; server: {described}",
             "cells: commands per request (by command name); 'find' is a read, 'update'/'delete' are writes",
             "express-session loads the session on every request that carries a cookie, whatever the route",
             "Beaker ext:mongodb runs a delete_many of expired entries ($regex on _id) before each read and each write"]
    parts = [common.header("MongoDB round trips per request", sys.argv, notes)]
    if args.quick:
        parts.append("_quick mode: few requests_\n")
    parts.append(table(["scenario", "target (wsgisession)"] + names, rows))
    for name, reason in skipped.items():
        parts.append(f"\nSkipped {name}: {reason}")
        print(f"bench: skipping {name}: {reason}", file=sys.stderr)
    ws = columns[names[0]]
    checks = []
    for scenario, want in TARGET.items():
        got = sum(ws[scenario].values()) / n
        writes = sum(v for k, v in ws[scenario].items() if k != "find") / n
        ok = got == want and (scenario != "read-only" or writes == 0)
        checks.append([f"{scenario}: {want}" + (" (no write)" if scenario == "read-only" else ""),
                       cell(ws[scenario], n), "met" if ok else f"missed ({got:g} instead of {want})"])
    parts += ["", f"## Targets (wsgisession MongoStore, touch_after={ta:g})", "",
              table(["target", "measured", "verdict"], checks), ""]
    text = "\n".join(parts)
    print(text)
    stem = common.server_stem("roundtrips", args.server)
    common.write_report(out, stem, text)
    chart(columns, n, out / f"{stem}.png")
    print(f"wrote {out / (stem + '.md')} and {out / (stem + '.png')}")
    return 0


def chart(columns: dict[str, dict[str, Counter[str]]], n: int, path: Path) -> None:
    plt = common.pyplot()
    names = list(columns)
    fig, ax = plt.subplots(figsize=(11, 4.8))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(SCENARIOS))]
        values = [sum(columns[name][sc].values()) / n for sc in SCENARIOS]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, labels=[f"{v:g}" for v in values], fontsize=7, padding=1)
    ax.set_xticks(range(len(SCENARIOS)), list(SCENARIOS))
    ax.set_ylabel("MongoDB commands per request")
    ax.set_title("Round trips per request (driver command monitoring)")
    ax.legend(fontsize=8)
    common.save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())
