"""Where the in-process time goes: component timings (no profiler) and cProfile of each scenario.

    python bench/hotpath.py            # writes bench/results/hotpath.md
    python bench/hotpath.py --quick

Part 1 times the pieces of a returning user's request in isolation with timeit (best of 7): cookie
parsing and percent-decoding, signature check, JSON, the store calls. Part 2 runs cProfile over
each scenario of bench/inprocess.py (wsgisession + MemoryStore, and Beaker for the modified
request) and lists the top functions by cumulative time, per request. cProfile inflates every
Python call by roughly the same amount, so read its columns as shares, and part 1 as absolutes.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common
from common import fmt, table


def best_us(fn: Callable[[], Any], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def components(number: int) -> list[list[str]]:
    import inprocess
    from apps import bare_app, wsgisession_app
    from wsgisession import MemoryStore
    from wsgisession import cookies, serialization, signing

    store = MemoryStore()
    app = wsgisession_app(store)
    cookie_header = inprocess.login(app)          # "connect.sid=s%3A<id>.<mac>"
    name, raw = cookie_header.split("=", 1)
    value = cookies.cookie_values(cookie_header, name)[0]
    signer = signing.Signer([common.SECRET])
    sid = signer.unsign(value[2:])
    assert sid, "could not unsign the bench cookie"
    record = store.get(sid)
    text = serialization.dumps(record)
    rows: list[list[str]] = []

    def add(what: str, fn: Callable[[], Any], note: str = "") -> None:
        try:
            rows.append([what, fmt(best_us(fn, number)), note])
        except Exception as exc:  # noqa: BLE001 - the library moves; report what no longer applies
            rows.append([what, "–", f"not measurable here: {type(exc).__name__}: {exc}"[:120]])

    env_static = inprocess.environ("/static", cookie_header)
    env_mod = inprocess.environ("/inc", cookie_header)
    bare = bare_app()
    add("bare app, /static (whole request)", lambda: inprocess.call(bare, env_static))
    add("wsgisession, /static (whole request)", lambda: inprocess.call(app, env_static), "never touches the session")
    add("wsgisession, /inc modified (whole request)", lambda: inprocess.call(app, env_mod))
    add("cookies.cookie_values(header, name)", lambda: cookies.cookie_values(cookie_header, name),
        "split + percent-decode (the MAC's '/' and '+' arrive as %2F, %2B)")
    add("cookies.decode_uri_component(raw value)", lambda: cookies.decode_uri_component(raw))
    add("Signer.unsign(value)", lambda: signer.unsign(value[2:]), "HMAC-SHA256 copy+update+digest, b64, compare")
    add("Signer.sign(sid)", lambda: signer.sign(sid), "only when a cookie is set")
    add("serialization.dumps(record)", lambda: serialization.dumps(record), f"{len(text)} bytes")
    add("serialization.loads(text)", lambda: serialization.loads(text))
    from wsgisession import record as record_format
    from wsgisession.lifecycle import SessionState, run
    from wsgisession.session_cookie import SessionCookie
    from wsgisession.stores.base import Record

    core = app.core
    plain = core.life.plain_cookie_json[False]
    add("record.split(text) (cookie recognized)", lambda: record_format.split(text, plain),
        "the data parsed once; its JSON sliced, not serialized")
    add("record.split(text) (cookie parsed)", lambda: record_format.split(text))
    cookie = SessionCookie(core.config.cookie, False, core.clock)
    add("SessionCookie.json()", cookie.json, "the options' part rendered once per options")
    loaded = store.load(sid)
    add("MemoryStore.load(sid)", lambda: store.load(sid))
    to_write = Record(text, None)
    add("MemoryStore.save(sid, record, version)", lambda: store.save(sid, to_write, store.load(sid).version),
        "with the load that gives the version")
    add("MemoryStore.refresh(sid, expires_ms, version)", lambda: store.refresh(sid, None, loaded.version))
    add("SessionState(...).open() (verify, load, parse)",
        lambda: run(SessionState(core.life, cookie_header, False, None).open(), store),
        "what the first use of a session costs")
    return rows


def profile_rows(app: Any, env: dict[str, Any], n: int, top: int) -> tuple[list[list[str]], float]:
    import inprocess

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        inprocess.call(app, env)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    entries = []
    for (filename, line, func), (cc, nc, tt, ct, _callers) in stats.items():
        if func == "<module>" or "inprocess.py" in filename and func == "call":
            continue
        where = Path(filename).name if filename != "~" else ""
        short = f"{where}:{line} {func}" if where else func
        for prefix in (str(common.ROOT) + "/",):
            short = short.replace(prefix, "")
        entries.append((ct, tt, nc, short))
    total = max((ct for ct, _, _, name in entries if name.endswith("(call)")), default=0.0)
    entries.sort(reverse=True)
    rows = [[name, f"{nc / n:g}", fmt(tt / n * 1e6), fmt(ct / n * 1e6)] for ct, tt, nc, name in entries[:top]]
    return rows, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", "--ci", action="store_true")
    parser.add_argument("--top", type=int, default=22, help="functions listed per profile")
    parser.add_argument("--out", help="results directory (default bench/results)")
    args = parser.parse_args(argv)
    number = 200 if args.quick else 5000
    n = 300 if args.quick else 5000
    out = common.out_dir(args.out, args.quick)
    import inprocess
    from apps import beaker_app, wsgisession_app
    from wsgisession import MemoryStore

    parts = [common.header("Hot path: where wsgisession's in-process time goes", sys.argv,
                           ["part 1: timeit, best of 7, no profiler; part 2: cProfile, per request "
                            f"({n} requests each), inflated by the profiler: read as shares"])]
    parts += ["## 1. Components (µs per call)", "",
              table(["piece", "µs", "note"], components(number)), ""]
    ws = wsgisession_app(MemoryStore())
    ws_cookie = inprocess.login(ws)
    bk = beaker_app()
    bk_cookie = inprocess.login(bk)
    cases = [("wsgisession, untouched (/static)", ws, inprocess.environ("/static", ws_cookie)),
             ("wsgisession, read-only (/read)", ws, inprocess.environ("/read", ws_cookie)),
             ("wsgisession, modified (/inc)", ws, inprocess.environ("/inc", ws_cookie)),
             ("wsgisession, new session (/inc, no cookie)", ws, inprocess.environ("/inc", None)),
             ("Beaker memory, modified (/inc)", bk, inprocess.environ("/inc", bk_cookie))]
    parts.append("## 2. cProfile, top functions by cumulative time (µs per request, profiled)")
    for title, app, env in cases:
        for _ in range(50):
            inprocess.call(app, env)
        rows, _ = profile_rows(app, env, n, args.top)
        parts += ["", f"### {title}", "", table(["function", "calls/req", "own µs", "cumulative µs"], rows)]
    text = "\n".join(parts) + "\n"
    print(text)
    stem = "hotpath"
    common.write_report(out, stem, text)
    print(f"wrote {out / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
