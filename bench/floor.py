"""The untouched route's floor: what any session middleware costs a route that never uses its session.

    python bench/floor.py            # 9 repetitions x 50,000 requests (about a minute)
    python bench/floor.py --quick    # a few seconds: tiny counts, same table

bench/inprocess.py holds wsgisession to "an untouched route within 1.5 µs of the bare app", a
figure in µs, whose meaning depends on the machine. This script times, side by side in one run
(each repetition every system back to back, order rotated), what that route costs under:

- the bare app;
- a pass-through middleware (``return self.app(environ, start_response)``): one extra call;
- the floor: the least a middleware with a lazily loaded session can do. It puts an object in
  environ and, since the app may still use the session after ``start_response`` (and then needs a
  cookie), holds the headers until the app returns, then passes them on. No configuration, no
  cookie read, no check but "used yet?": a real middleware does all of this and more;
- wsgisession + MemoryStore; Beaker memory (for reference: it builds its session lazily too).

The request is inprocess.py's untouched one: ``/static`` with a returning user's cookie.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import common
from common import INSTALL, Missing, fmt, median, table
from inprocess import SCENARIOS, environ, login, time_requests

TARGET_US = 1.5  # bench/inprocess.py's untouched target, over the bare app
FLOOR = "floor (held headers, nothing else)"
OURS = "wsgisession+MemoryStore"


class PassThrough:
    """A middleware that does nothing: the cost of one more WSGI layer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


class _LazySession:
    __slots__ = ("start_response", "held", "used")

    def hold(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if self.used:  # (never, on this route: a real middleware would commit the session here)
            return self.start_response(status, headers, exc_info)
        self.held = (status, headers, exc_info)
        return None  # (a real middleware returns a write callable: the app here never calls it)


class Floor:
    """The least a lazily loaded session can do: an object in environ, the headers held while it is unused."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        session = _LazySession()
        session.start_response, session.held, session.used = start_response, None, False
        environ["session"] = session
        result = self.app(environ, session.hold)
        if session.held is not None:
            start_response(*session.held)
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    timing = common.Timing(parser, 50000, 300)
    args = parser.parse_args(argv)
    n, repeat, out = timing.counts(args)
    try:
        common.require_module("beaker", INSTALL)
    except Missing as exc:
        common.die_missing(exc)
    from apps import bare_app, beaker_app, wsgisession_app

    from wsgisession import MemoryStore

    path, _ = SCENARIOS["untouched"]
    ours = wsgisession_app(MemoryStore())
    beaker = beaker_app()
    apps = {
        "bare": bare_app(),
        "pass-through middleware": PassThrough(bare_app()),
        FLOOR: Floor(bare_app()),
        OURS: ours,
        "Beaker memory": beaker,
    }
    ours_cookie, beaker_cookie = login(ours), login(beaker)  # (the others ignore the cookie they get)
    envs = {name: environ(path, beaker_cookie if name == "Beaker memory" else ours_cookie) for name in apps}
    for name, app in apps.items():  # warm-up
        time_requests(app, envs[name], max(50, n // 20))
    times: dict[str, list[float]] = {name: [] for name in apps}
    names = list(apps)
    started = time.monotonic()
    for rep in range(repeat):
        for name in common.rotated(names, rep):
            times[name].append(time_requests(apps[name], envs[name], n))
    elapsed = time.monotonic() - started

    bare, floor = times["bare"], times[FLOOR]
    over = {name: median(t - b for t, b in zip(times[name], bare)) for name in names}  # per repetition
    rows = []
    for name in names:
        rows.append([name, fmt(min(times[name])), fmt(median(times[name])),
                     "–" if name == "bare" else f"+{fmt(over[name])}",
                     "–" if name == "bare" else fmt(median(t / b for t, b in zip(times[name], bare))),
                     f"{median(t - f for t, f in zip(times[name], floor)):+.2f}"])
    report = [common.header(
        "The untouched route's floor: µs per request", sys.argv,
        [f"{n} requests per timing, {repeat} repetitions, every system in each repetition, order rotated; "
         f"{elapsed:.0f} s of timing",
         "direct WSGI calls as bench/inprocess.py makes them (fresh environ copy, body iterated and closed), "
         "gc disabled while timing; the request: GET /static with a returning user's cookie"]),
        table(["system", "min µs", "median µs", "over bare, median µs", "× bare, median",
               "over the floor, median µs"], rows), "",
        "## The target on this machine", "",
        table(["", "median µs over the bare app"], [
            ["bench/inprocess.py's target", f"+{fmt(TARGET_US)}"],
            ["the floor (a session middleware does at least this)", f"+{fmt(over[FLOOR])}"],
            ["left for everything else a real middleware does (the target minus the floor)",
             f"{TARGET_US - over[FLOOR]:+.2f}"],
            [OURS, f"+{fmt(over[OURS])}"],
        ]), ""]
    if args.quick:
        report.insert(1, "_quick mode: counts too small for conclusions_\n")
    text = "\n".join(report)
    print(text)
    common.write_report(out, "floor", text)
    print(f"wrote {out / 'floor.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
