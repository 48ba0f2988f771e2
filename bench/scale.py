"""Scale benchmark: read-only lookups per second with 10^3, 10^5 and 10^6 stored sessions.

    python bench/scale.py                          # SQLiteStore and MongoStore, 10^3 / 10^5 / 10^6
    python bench/scale.py --quick                  # 10^2 / 10^3: seconds, same tables
    python bench/scale.py --sizes 1000,100000 --stores sqlite

Each size gets its own table (SQLite file) or collection, loaded in bulk with connect-mongo-shaped
records (executemany in one transaction; insert_many in batches of 10,000). Lookups are
``store.get(sid)`` of ids drawn at random from the loaded ones, the same count at every size;
each repetition measures every (store, size) pair in rotated order, so the ratio of a size to the
smallest compares measurements taken side by side. "SQLiteStore, 1,000 active" draws its ids from
1,000 sessions only (``--active``): as many stored, but a constant working set, as when most
stored sessions are idle. "mongo-raw" is pymongo's ``find_one({"_id": sid})``
on the same collections: what the server costs without MongoStore's expiry filter.
A MongoDB load still running after ``--load-budget`` seconds stops at the size it reached (bigger
sizes are skipped), and the report says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import common
from common import Missing, fmt, median, table

RECORD = {"cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"}, "cuenta": 1}
BATCH = 10_000


def new_ids(n: int) -> list[str]:
    return [secrets.token_urlsafe(24) for _ in range(n)]


class SQLiteSize:
    label = "SQLiteStore"

    def __init__(self, directory: Path, size: int) -> None:
        from wsgisession import SQLiteStore

        self.size = size
        self.path = directory / f"sessions-{size}.sqlite3"
        self.store = SQLiteStore(str(self.path))
        self.note = ""

    def load(self, budget: float) -> tuple[list[str], float]:
        """One record written by the store itself, then copied in bulk under new ids (any schema)."""
        table_name = getattr(self.store, "table", "sessions")
        ids = new_ids(self.size)
        started = time.perf_counter()
        self.store.set(ids[0], RECORD)
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            info = list(db.execute(f'PRAGMA table_info("{table_name}")'))
            key = next(row[1] for row in info if row[5])  # the primary key column (the session id)
            cursor = db.execute(f'SELECT * FROM "{table_name}" WHERE "{key}" = ?', (ids[0],))
            names = [d[0] for d in cursor.description]
            template = list(cursor.fetchone())
            at = names.index(key)
            columns = ", ".join(f'"{n}"' for n in names)
            marks = ", ".join("?" for _ in names)

            def rows() -> Any:
                for sid in ids[1:]:
                    template[at] = sid
                    yield tuple(template)

            db.execute("BEGIN")
            db.executemany(f'INSERT INTO "{table_name}" ({columns}) VALUES ({marks})', rows())
            db.execute("COMMIT")
        finally:
            db.close()
        return ids, time.perf_counter() - started

    def get(self, sid: str) -> Any:
        return self.store.get(sid)

    def close(self) -> None:
        self.store.close()


class MongoSize:
    label = "MongoStore"

    def __init__(self, uri: str, size: int) -> None:
        from pymongo import MongoClient

        from wsgisession import MongoStore

        self.size = size
        self.name = f"sessions_{size}"
        self.store = MongoStore.from_url(f"{uri}/bench_scale", collection=self.name, auto_remove="interval")
        self.client: Any = MongoClient(uri, tz_aware=True, timeoutMS=30000)  # bounded, as every loop here
        self.collection = self.client["bench_scale"][self.name]
        self.note = ""

    def load(self, budget: float) -> tuple[list[str], float]:
        self.collection.drop()
        text = json.dumps(RECORD, separators=(",", ":"))
        expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=14)
        ids: list[str] = []
        started = time.perf_counter()
        while len(ids) < self.size:
            batch = new_ids(min(BATCH, self.size - len(ids)))
            self.collection.insert_many([{"_id": sid, "expires": expires, "session": text} for sid in batch],
                                        ordered=False)
            ids += batch
            elapsed = time.perf_counter() - started
            if elapsed > budget and len(ids) < self.size:
                self.note = (f"load stopped at {len(ids):,} of {self.size:,} documents after {elapsed:.0f} s "
                             f"(--load-budget {budget:g} s)")
                self.size = len(ids)
                break
        return ids, time.perf_counter() - started

    def get(self, sid: str) -> Any:
        return self.store.get(sid)

    def close(self) -> None:
        self.store.close()
        self.client.close()


class MongoRaw:
    """pymongo find_one by _id on a MongoSize's collection (no MongoStore, no expiry filter)."""

    label = "mongo-raw find_one({_id})"

    def __init__(self, of: MongoSize) -> None:
        self.of = of
        self.size = of.size
        self.note = ""

    def get(self, sid: str) -> Any:
        return self.of.collection.find_one({"_id": sid})

    def close(self) -> None:
        pass


class ActiveView:
    """The same SQLite store, looked up among a fixed set of ``active`` sessions (a hot working set)."""

    def __init__(self, of: SQLiteSize, active: int) -> None:
        self.of = of
        self.size = of.size
        self.label = f"SQLiteStore, {active:,} active"
        self.note = ""

    def get(self, sid: str) -> Any:
        return self.of.get(sid)

    def close(self) -> None:
        pass


def time_lookups(target: Any, sample: list[str], limit: float) -> tuple[float, int, str]:
    """Lookups per second over the sample, stopping early after ``limit`` seconds or at the first error."""
    get = target.get
    done = 0
    error = ""
    started = time.perf_counter()
    deadline = started + limit
    for sid in sample:
        try:
            found = get(sid)
        except Exception as exc:  # noqa: BLE001 - a failing store is a result, reported as such
            error = f"{type(exc).__name__}: {exc}"[:200]
            break
        if found is None:
            raise RuntimeError(f"{target.label}: a stored session was not found (size {target.size})")
        done += 1
        if done % 16 == 0 and time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - started
    return (done / elapsed if done else 0.0), done, error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", "--ci", action="store_true", help="sizes 100 and 1000, few lookups")
    parser.add_argument("--sizes", help="comma-separated (default 1000,100000,1000000; the largest is configurable)")
    parser.add_argument("--stores", default="sqlite,mongo", help="sqlite,mongo (mongo includes mongo-raw)")
    parser.add_argument("--lookups", type=int, help="lookups per timing, SQLite (default 20000) — MongoDB uses 1/10")
    parser.add_argument("--repeat", type=int, help="repetitions (default 5, quick 2)")
    parser.add_argument("--active", type=int, default=1000,
                        help="also look SQLite ids up among this many 'active' sessions only (0: off)")
    parser.add_argument("--time-limit", type=float, default=10.0, help="max seconds per timing (default 10)")
    parser.add_argument("--load-budget", type=float, default=300.0, help="max seconds to load one MongoDB size")
    parser.add_argument("--out", help="results directory (default bench/results)")
    args = parser.parse_args(argv)
    common.require_charts()
    sizes = [int(s) for s in (args.sizes or ("100,1000" if args.quick else "1000,100000,1000000")).split(",")]
    sizes.sort()
    lookups = args.lookups or (500 if args.quick else 20000)
    repeat = args.repeat or (2 if args.quick else 5)
    stores = args.stores.split(",")
    out = common.out_dir(args.out, args.quick)
    warnings.simplefilter("ignore")
    workdir = Path(tempfile.mkdtemp(prefix="wsgisession-bench-scale-"))
    targets: list[Any] = []
    loads: dict[tuple[str, int], tuple[float, int, str]] = {}
    mongo = None
    try:
        try:
            if "mongo" in stores:
                mongo = common.MongoServer().start()
        except Missing as exc:
            common.die_missing(exc)
        for store in stores:
            for size in sizes:
                target = SQLiteSize(workdir, size) if store == "sqlite" else MongoSize(mongo.uri, size)
                requested = size
                ids, seconds = target.load(args.load_budget)
                print(f"  loaded {target.label} {target.size:,} records in {seconds:.1f} s "
                      f"({target.size / max(seconds, 1e-9):,.0f}/s) {target.note}", file=sys.stderr)
                loads[target.label, requested] = (seconds, target.size, target.note)
                rng = random.Random(size)
                count = lookups if store == "sqlite" else max(50, lookups // 10)
                target.sample = [ids[rng.randrange(len(ids))] for _ in range(count)]  # type: ignore[attr-defined]
                target.requested = requested  # type: ignore[attr-defined]
                targets.append(target)
                if store == "sqlite" and args.active:
                    hot = rng.sample(ids, min(args.active, len(ids)))
                    view = ActiveView(target, args.active)
                    view.sample = [hot[rng.randrange(len(hot))] for _ in range(count)]  # type: ignore[attr-defined]
                    view.requested = requested  # type: ignore[attr-defined]
                    targets.append(view)
                del ids
                if store == "mongo":
                    raw = MongoRaw(target)
                    raw.sample, raw.requested = target.sample, requested  # type: ignore[attr-defined]
                    targets.append(raw)
                if target.note and store == "mongo":
                    break  # a bigger size would not load within the budget either
        errors: dict[int, str] = {}
        for target in targets:  # warm-up (caches, connections)
            _, _, error = time_lookups(target, target.sample[: max(20, len(target.sample) // 20)], 2.0)
            if error:
                errors[id(target)] = error
        rates: dict[int, list[float]] = {id(t): [] for t in targets}
        counts: dict[int, list[int]] = {id(t): [] for t in targets}
        started = time.monotonic()
        for rep in range(repeat):
            for target in common.rotated(targets, rep):
                if id(target) in errors:  # a store that fails is not retried every repetition
                    rates[id(target)].append(0.0)
                    counts[id(target)].append(0)
                    continue
                rate, done, error = time_lookups(target, target.sample, args.time_limit)
                if error:
                    errors[id(target)] = error
                rates[id(target)].append(rate)
                counts[id(target)].append(done)
        elapsed = time.monotonic() - started
        described = mongo.describe() if mongo else "–"
    finally:
        for target in targets:
            target.close()
        if mongo is not None:
            mongo.close()
        shutil.rmtree(workdir, ignore_errors=True)

    rows, checks = [], []
    labels = list(dict.fromkeys(t.label for t in targets))
    series: dict[str, list[tuple[int, float]]] = {}
    failed: dict[str, list[int]] = {}
    for label in labels:
        group = [t for t in targets if t.label == label]
        base = group[0]
        for t in group:
            ratio = [a / b if b else 0.0 for a, b in zip(rates[id(t)], rates[id(base)])]
            load = loads.get((t.label, t.requested)) or loads.get(("MongoStore", t.requested))
            load_cell = f"{load[0]:.1f} s ({load[1] / max(load[0], 1e-9):,.0f}/s)" if load and t.label in ("SQLiteStore", "MongoStore") else "–"
            size_cell = f"{t.size:,}" + (f" (asked {t.requested:,})" if t.size != t.requested else "")
            rows.append([label, size_cell, fmt(median(rates[id(t)])),
                         f"{fmt(min(rates[id(t)]))}–{fmt(max(rates[id(t)]))}",
                         fmt(1e6 / median(rates[id(t)])) if median(rates[id(t)]) else "–",
                         f"{fmt(median(ratio))} ({fmt(min(ratio))}–{fmt(max(ratio))})",
                         f"{min(counts[id(t)]):,}", load_cell, errors.get(id(t), "")])
            if median(rates[id(t)]) > 0:
                series.setdefault(label, []).append((t.size, median(rates[id(t)])))
            else:
                failed.setdefault(label, []).append(t.size)
        top = group[-1]
        if top is not base:
            ratio = [a / b if b else 0.0 for a, b in zip(rates[id(top)], rates[id(base)])]
            verdict = "met" if median(ratio) >= 0.9 else f"missed by {fmt((0.9 - median(ratio)) * 100, 1)} points"
            if top.size < 1_000_000:
                verdict += f" (largest size measured: {top.size:,})"
            what = {"SQLiteStore": "", "MongoStore": ""}.get(label, " (not a target: for comparison)")
            checks.append([f"{label}: {top.size:,} sessions within 10% of {base.size:,}{what}",
                           f"{fmt(median(ratio))}× (min {fmt(min(ratio))}×)", verdict])
    notes = [f"{repeat} repetitions, each timing every (store, size) in rotated order; {elapsed:.0f} s of lookups",
             f"lookups per timing: SQLite {lookups:,}, MongoDB {max(50, lookups // 10):,} (a timing stops after "
             f"{args.time_limit:g} s; 'lookups' = fewest done in one timing)",
             f"MongoDB server: {described}"]
    notes += [f"{label} {size:,}: {note}" for (label, size), (_, _, note) in loads.items() if note]
    parts = [common.header("Scale benchmark: read-only lookups per second", sys.argv, notes)]
    if args.quick:
        parts.append("_quick mode: small sizes, no conclusions_\n")
    parts.append(table(["store", "sessions", "lookups/s (median)", "min–max", "µs/lookup", "× smallest size",
                        "lookups", "bulk load", "error"], rows))
    parts += ["", "## Targets", "", table(["target", "measured", "verdict"], checks), ""]
    text = "\n".join(parts)
    print(text)
    stem = "scale"
    common.write_report(out, stem, text)
    chart(series, failed, out / f"{stem}.png")
    print(f"wrote {out / (stem + '.md')} and {out / (stem + '.png')}")
    return 0


def chart(series: dict[str, list[tuple[int, float]]], failed: dict[str, list[int]], path: Path) -> None:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.8))
    floor = min((y for points in series.values() for _, y in points), default=1.0) / 3
    for i, label in enumerate(dict.fromkeys(list(series) + list(failed))):
        color = f"C{i}"
        points = series.get(label, [])
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o", label=label, color=color)
            for x, y in points:
                ax.annotate(fmt(y), (x, y), textcoords="offset points", xytext=(0, 6 if i % 2 == 0 else -13),
                            ha="center", fontsize=8, color=color)
        for x in failed.get(label, []):
            ax.plot([x], [floor], marker="x", markersize=9, color=color,
                    label=None if points else label)
            ax.annotate("error (timeout)", (x, floor), textcoords="offset points", xytext=(0, 7), ha="center",
                        fontsize=7, color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("stored sessions")
    ax.set_ylabel("lookups per second (median)")
    ax.set_title("Read-only lookups vs number of stored sessions (x: every lookup failed)")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    common.save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())
