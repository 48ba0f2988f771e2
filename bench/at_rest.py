"""At-rest benchmark: µs per request in-process with each codec (and hashed ids) against none.

    python bench/at_rest.py            # full run (about two minutes)
    python bench/at_rest.py --quick    # a few seconds: tiny counts, same tables

The visit counter through SessionMiddleware on MemoryStore and SQLiteStore, each store plain,
with ``transform_id`` (sha256 of the id), with ``crypto=WebCryptoAdapter``, with
``crypto=KrupteinCrypto``, and with a kruptein codec that caches nothing (kruptein's own way: one
PBKDF2 per read and per write; what the cache saves). Scenarios: a returning browser's read-only
request, and a modified one (counter +1). Each repetition times every (store, variant, scenario)
back to back, in rotating order; ratios to the plain store are taken within a repetition, then
summarised (min / median). PBKDF2 derivations per request are counted over the timed requests.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common
from common import Missing, fmt, median, table
from inprocess import environ, login, time_requests

SCENARIOS = {"read-only": "/read", "modified": "/inc"}
UNCACHED = "kruptein, no cache"
VARIANTS = ("plain", "hashed ids", "WebCrypto", "kruptein", UNCACHED)
DERIVATIONS = [0]  # PBKDF2 calls made by wsgisession.crypto, counted


def hashed(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def counting_pbkdf2() -> None:
    """Count the PBKDF2 derivations of wsgisession.crypto (it calls hashlib.pbkdf2_hmac)."""
    import wsgisession.crypto as crypto

    real = hashlib.pbkdf2_hmac

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(hashlib, name)

        @staticmethod
        def pbkdf2_hmac(*args: Any) -> bytes:
            DERIVATIONS[0] += 1
            return real(*args)

    crypto.hashlib = Counting()  # type: ignore[assignment]


def codecs() -> dict[str, Any]:
    from wsgisession.crypto import KrupteinCrypto, WebCryptoAdapter

    class Uncached(KrupteinCrypto):
        """kruptein as Node runs it: a new salt, so a new key, for every write, and a derivation per read."""

        WRITES_PER_SALT = 1

        def __init__(self, secret: str) -> None:
            super().__init__(secret)
            self._derived = self._derive  # type: ignore[method-assign]

    return {"plain": {}, "hashed ids": {"transform_id": hashed},
            "WebCrypto": {"crypto": WebCryptoAdapter("bench at-rest secret")},
            "kruptein": {"crypto": KrupteinCrypto("bench at-rest secret")},
            UNCACHED: {"crypto": Uncached("bench at-rest secret")}}


def subjects(directory: Path) -> dict[tuple[str, str], Any]:
    from apps import wsgisession_app
    from wsgisession import MemoryStore, SQLiteStore

    stores: dict[str, Callable[..., Any]] = {
        "MemoryStore": lambda **o: MemoryStore(**o),
        "SQLiteStore": lambda name, **o: SQLiteStore(directory / f"{name}.sqlite3", **o),
    }
    apps = {}
    for variant, options in codecs().items():
        apps["MemoryStore", variant] = wsgisession_app(stores["MemoryStore"](**options))
        apps["SQLiteStore", variant] = wsgisession_app(stores["SQLiteStore"](variant.replace(" ", "_").replace(",", ""),
                                                                            **options))
    return apps


def once_costs() -> list[list[str]]:
    """What the caches avoid per request: one PBKDF2 of each format."""
    rows = []
    for name, args in (("WebCrypto key (PBKDF2-SHA256, 310,000 rounds)", ("sha256", b"s", b"salt", 310_000, 32)),
                       ("kruptein key (PBKDF2-SHA512, 15,000 rounds)", ("sha512", b"s", b"salt" * 32, 15_000, 32))):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            hashlib.pbkdf2_hmac(*args)  # type: ignore[arg-type]
            times.append((time.perf_counter() - start) * 1000)
        rows.append([name, fmt(median(times))])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    timing = common.Timing(parser, 3000, 100)
    args = parser.parse_args(argv)
    n, repeat, out = timing.counts(args)
    try:
        common.require_module("cryptography", "pip install -e '.[test]' (or '.[crypto]')")
    except Missing as exc:
        common.die_missing(exc)
    counting_pbkdf2()
    with tempfile.TemporaryDirectory(prefix="bench-at-rest-") as tmp:
        apps = subjects(Path(tmp))
        cookies = {key: login(app) for key, app in apps.items()}
        envs = {(key, sc): environ(path, cookies[key]) for key in apps for sc, path in SCENARIOS.items()}
        for (key, sc), env in envs.items():  # warm-up: keys derived, caches filled
            time_requests(apps[key], env, max(20, n // 20))
        times: dict[tuple[Any, str], list[float]] = {k: [] for k in envs}
        derived: dict[tuple[Any, str], int] = {k: 0 for k in envs}
        order = list(envs)
        # (a request that derives a key takes ~10 ms: the uncached codec gets fewer)
        requests = {variant: max(10, n // 100) if variant == UNCACHED else n for variant in VARIANTS}
        for r in range(repeat):
            for k in common.rotated(order, r):
                before = DERIVATIONS[0]
                times[k].append(time_requests(apps[k[0]], envs[k], requests[k[0][1]]))
                derived[k] += DERIVATIONS[0] - before
        for app in apps.values():
            app.store.close()
    rows = []
    for (store, variant), sc in envs:
        mine, plain = times[(store, variant), sc], times[(store, "plain"), sc]
        ratios = [a / b for a, b in zip(mine, plain)]
        rows.append([store, variant, sc, fmt(min(mine)), fmt(median(mine)), f"{min(ratios):.2f}×",
                     f"{median(ratios):.2f}×", f"{derived[(store, variant), sc] / (requests[variant] * repeat):.3g}"])
    report = common.header("At rest: µs per request with each codec, in-process", sys.argv,
                           [f"{n} requests per timing, {repeat} repetitions, interleaved"])
    report += "\n## µs per request (min, median) and ratio to the plain store (min, median)\n\n"
    report += table(["store", "variant", "scenario", "µs min", "µs median", "ratio min", "ratio median",
                     "PBKDF2 per request"], rows)
    report += "\n\n## One key derivation, ms (what the caches save per request)\n\n"
    report += table(["derivation", "ms (median of 3)"], once_costs())
    print(report)
    path = common.write_report(out, "at_rest", report)
    print(f"\nwritten: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
