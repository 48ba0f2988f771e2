"""In-process benchmark: µs per request through the WSGI stack, no server, no sockets.

    python bench/inprocess.py            # full run (about a minute and a half)
    python bench/inprocess.py --quick    # a few seconds: tiny counts, same tables

Systems: the bare app, wsgisession + MemoryStore, Beaker SessionMiddleware with type="memory"
(configured as in bench/apps.py). Scenarios: a route that never touches the session; a read-only
request of a returning user; a modified request (counter +1); a new session (no cookie, counter
set, session saved). Each repetition times every (scenario, system) pair back to back, in
rotating order, so ratios compare measurements taken side by side; tables give the min and the
median over repetitions. Store calls per request are counted in a separate, untimed pass.
"""

from __future__ import annotations

import argparse
import gc
import io
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import common
from common import INSTALL, Missing, fmt, median, table

SCENARIOS = {  # name -> (path, sends the returning user's cookie)
    "untouched": ("/static", True),
    "read-only": ("/read", True),
    "modified": ("/inc", True),
    "new session": ("/inc", False),
}
Reader = Callable[[], "Counter[str]"]  # the store calls made since the last read
SYSTEMS = ("bare", "wsgisession+MemoryStore", "Beaker memory", "Beaker memory (json)")
BEAKERS = ("Beaker memory", "Beaker memory (json)")


def _write(data: bytes) -> None:
    pass


def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
    start_response.headers = headers  # type: ignore[attr-defined]
    return _write


def environ(path: str, cookie: str | None) -> dict[str, Any]:
    env: dict[str, Any] = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8080", "HTTP_USER_AGENT": "bench",
        "HTTP_ACCEPT": "*/*", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr, "wsgi.version": (1, 0), "wsgi.multithread": True,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    if cookie:
        env["HTTP_COOKIE"] = cookie
    return env


def call(app: Any, env: dict[str, Any]) -> list[tuple[str, str]]:
    result = app(dict(env), start_response)
    try:
        for _ in result:
            pass
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return start_response.headers  # type: ignore[attr-defined,no-any-return]


def login(app: Any) -> str:
    """The Cookie header a browser sends back after its first visit to /inc."""
    for name, value in call(app, environ("/inc", None)):
        if name.lower() == "set-cookie":
            return value.split(";", 1)[0]
    raise RuntimeError("the first visit got no Set-Cookie")


def time_requests(app: Any, env: dict[str, Any], n: int) -> float:
    """µs per request over n requests (fresh environ each, body iterated and closed as a server does)."""
    sr = start_response
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(n):
            result = app(env.copy(), sr)
            for _chunk in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return elapsed / n * 1e6


class System:
    """One system under test: its app, a returning user's cookie, and a way to count store calls."""

    def __init__(self, name: str, make: Callable[[], Any], make_counting: Callable[[], tuple[Any, Reader]]) -> None:
        self.name = name
        self.app = make()
        self.cookie = login(self.app) if name != "bare" else None
        self.make_counting = make_counting


def systems() -> list[System]:
    common.require_module("beaker", INSTALL)
    from apps import bare_app, beaker_app, beaker_spy_namespace, wsgisession_app
    from tests.helpers import SpyStore
    from wsgisession import MemoryStore

    def counting_ws() -> tuple[Any, Reader]:
        spy = SpyStore(MemoryStore())

        def read() -> Counter[str]:
            counts = spy.count()
            spy.calls.clear()
            return counts
        return wsgisession_app(spy), read

    def counting_beaker(**extra: Any) -> Callable[[], tuple[Any, Reader]]:
        def make() -> tuple[Any, Reader]:
            namespace, calls = beaker_spy_namespace()

            def read() -> Counter[str]:
                counts = Counter(calls)
                calls.clear()
                return counts
            return beaker_app(**{"session.namespace_class": namespace}, **extra), read
        return make

    json = {"session.data_serializer": "json"}

    result = [
        System("bare", bare_app, lambda: (bare_app(), Counter)),
        System("wsgisession+MemoryStore", lambda: wsgisession_app(MemoryStore()), counting_ws),
        System("Beaker memory", beaker_app, counting_beaker()),
        System("Beaker memory (json)", lambda: beaker_app(**json), counting_beaker(**json)),
    ]
    bare = result[0]
    bare.cookie = result[1].cookie  # the bare app gets the same Cookie header, and ignores it
    return result


def count_calls(system: System, n: int) -> dict[str, str]:
    """Store calls per request for each scenario, in a separate untimed app with a spy store."""
    out = {}
    for scenario, (path, with_cookie) in SCENARIOS.items():
        app, read = system.make_counting()
        cookie = login(app) if with_cookie and system.name != "bare" else None
        read()
        env = environ(path, cookie)
        for _ in range(n):
            call(app, env)
        calls = read()
        total = sum(calls.values())
        detail = ", ".join(f"{op} {count / n:g}" for op, count in sorted(calls.items()))
        out[scenario] = f"{total / n:g}" + (f" ({detail})" if detail else "")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    timing = common.Timing(parser, 20000, 300)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="comma-separated subset of: " + ", ".join(SCENARIOS))
    args = parser.parse_args(argv)
    common.require_charts()
    chosen = [sc.strip() for sc in args.scenarios.split(",")]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}")
    for sc in list(SCENARIOS):
        if sc not in chosen:
            del SCENARIOS[sc]
    n, repeat, out = timing.counts(args)
    try:
        subjects = systems()
    except Missing as exc:
        common.die_missing(exc)
    envs = {(s.name, sc): environ(path, s.cookie if with_cookie else None)
            for s in subjects for sc, (path, with_cookie) in SCENARIOS.items()}
    for s in subjects:  # warm-up
        for sc in SCENARIOS:
            time_requests(s.app, envs[s.name, sc], max(50, n // 20))

    times: dict[tuple[str, str], list[float]] = {key: [] for key in envs}
    pairs = [(s, sc) for sc in SCENARIOS for s in subjects]
    started = time.monotonic()
    for rep in range(repeat):
        for s, sc in common.rotated(pairs, rep):
            times[s.name, sc].append(time_requests(s.app, envs[s.name, sc], n))
    elapsed = time.monotonic() - started

    calls = {s.name: count_calls(s, 50 if args.quick else 200) for s in subjects}

    rows = []
    for sc in SCENARIOS:
        for name in SYSTEMS:
            t = times[name, sc]
            bare = times["bare", sc]
            over = [a - b for a, b in zip(t, bare)]
            rows.append([sc, name, fmt(min(t)), fmt(median(t)),
                         "–" if name == "bare" else f"{fmt(min(over))} / {fmt(median(over))}",
                         calls[name][sc] if name != "bare" else "0"])
    report = [common.header(
        "In-process benchmark: µs per request", sys.argv,
        [f"{n} requests per timing, {repeat} repetitions, every (scenario, system) pair in each "
         f"repetition, order rotated; {elapsed:.0f} s of timing",
         "direct WSGI calls (fresh environ copy, body iterated and closed), gc disabled while timing",
         "Beaker: " + ", ".join(f"{k}={v!r}" for k, v in __import__("apps").beaker_options().items()
                                if k != "session.secret") + ", session.secret set, data_serializer its default "
         "(pickle); 'Beaker memory (json)' adds session.data_serializer='json'"]),
        table(["scenario", "system", "min µs", "median µs", "over bare: min / median µs",
               "store calls per request"], rows), ""]

    ratio_rows = []
    checks = []
    for beaker in BEAKERS:
        for sc in SCENARIOS:
            ws, bk = times["wsgisession+MemoryStore", sc], times[beaker, sc]
            ratios = [b / w for w, b in zip(ws, bk)]
            ratio_rows.append([beaker, sc, fmt(min(ratios)), fmt(median(ratios)), fmt(max(ratios))])
    report += ["## Beaker time / wsgisession+MemoryStore time (per repetition)", "",
               table(["Beaker", "scenario", "min", "median", "max"], ratio_rows), ""]
    # The core-redesign issue's targets: ratios to Beaker memory (pickle), within each repetition.
    for sc, factor in (("modified", 3.0), ("read-only", 3.5), ("new session", 2.0)):
        if sc in SCENARIOS:
            got = [b / w for w, b in zip(times["wsgisession+MemoryStore", sc], times["Beaker memory", sc])]
            checks.append([f"{sc}: wsgisession ≥ {factor:g}× faster than Beaker memory (pickle)",
                           f"median {fmt(median(got))}×, min {fmt(min(got))}×",
                           "met" if median(got) >= factor else f"missed by {fmt(factor - median(got))}×"])
    if "untouched" in SCENARIOS:
        untouched = [w - b for w, b in zip(times["wsgisession+MemoryStore", "untouched"], times["bare", "untouched"])]
        checks.append(["untouched route within 1.5 µs of the bare app",
                       f"median +{fmt(median(untouched))} µs, min +{fmt(min(untouched))} µs",
                       "met" if median(untouched) <= 1.5 else f"missed by {fmt(median(untouched) - 1.5)} µs"])
    report += ["## Targets", "", table(["target", "measured", "verdict"], checks), ""]
    if args.quick:
        report.insert(1, "_quick mode: counts too small for conclusions_\n")

    text = "\n".join(report)
    print(text)
    stem = "inprocess" if len(SCENARIOS) == 4 else "inprocess-" + "-".join(sc.replace(" ", "-") for sc in SCENARIOS)
    common.write_report(out, stem, text)
    chart(times, out / f"{stem}.png", n, repeat)
    print(f"wrote {out / (stem + '.md')} and {out / (stem + '.png')}")
    return 0


def chart(times: dict[tuple[str, str], list[float]], path: Any, n: int, repeat: int) -> None:
    plt = common.pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.8))
    width = 0.2
    for i, name in enumerate(SYSTEMS):
        xs = [j + (i - 1.5) * width for j in range(len(SCENARIOS))]
        meds = [median(times[name, sc]) for sc in SCENARIOS]
        lows = [m - min(times[name, sc]) for m, sc in zip(meds, SCENARIOS)]
        highs = [max(times[name, sc]) - m for m, sc in zip(meds, SCENARIOS)]
        bars = ax.bar(xs, meds, width, label=name, yerr=[lows, highs], capsize=3)
        ax.bar_label(bars, labels=[fmt(m, 1) for m in meds], fontsize=8, padding=2)
    ax.set_xticks(range(len(SCENARIOS)), list(SCENARIOS))
    ax.set_ylabel("µs per request (median; bars: min–max)")
    ax.set_title(f"In-process WSGI cost per request ({n} requests × {repeat} repetitions)")
    ax.legend()
    common.save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())
