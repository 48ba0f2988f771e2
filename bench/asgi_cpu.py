"""CPU per request of the ASGI adapter, in-process (no server, no sockets): a fake receive/send drive
bench/asgi_apps.py's Starlette counter under ``wsgisession.asgi.SessionMiddleware`` + MemoryStore.

    python bench/asgi_cpu.py [-n 3000] [--repeat 5] [--profile ROW]

Rows: the bare app on each route (its own cost), then the middleware on ``/static`` (untouched), ``/read``
(read-only), ``/inc`` (modified), each with the cookie of a first request, and ``/inc`` without a
cookie (a new session each time). CPU (time.process_time), the best of ``--repeat`` runs: what the adapter adds
is the row minus the bare app's, whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from typing import Any

import common  # noqa: F401  (puts the checkout on sys.path)
from asgi_apps import build, counter_app
from common import SECRET


def scope_of(path: str, cookie: bytes | None) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench/1.0"), (b"accept", b"*/*")]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "scheme": "http", "method": "GET",
            "root_path": "", "path": path, "raw_path": path.encode(), "query_string": b"", "headers": headers}


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


class Sink:
    def __init__(self) -> None:
        self.start: dict[str, Any] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.start = message


async def request(app: Any, path: str, cookie: bytes | None) -> Sink:
    sink = Sink()
    await app(scope_of(path, cookie), receive, sink.send)
    return sink


def cookie_of(sink: Sink) -> bytes:
    assert sink.start is not None
    for name, value in sink.start["headers"]:
        if name == b"set-cookie":
            return value.split(b";", 1)[0]
    raise SystemExit("no Set-Cookie on the first request")


ROWS = ("bare", "bare-read", "bare-static", "untouched", "read-only", "modified", "new")
PATHS = {"bare": "/inc", "bare-read": "/read", "bare-static": "/static", "untouched": "/static", "read-only": "/read",
         "modified": "/inc", "new": "/inc"}
BARE = {"untouched": "bare-static", "read-only": "bare-read", "modified": "bare", "new": "bare"}


async def measure(row: str, n: int, profile: bool) -> float:
    app = counter_app(sessions=False) if row.startswith("bare") else build("ws-memory")
    cookie = None
    if row in ("untouched", "read-only", "modified"):
        cookie = cookie_of(await request(app, "/inc", None))
    path = PATHS[row]
    for _ in range(200):  # warm up
        await request(app, path, cookie)
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    start = time.process_time()
    for _ in range(n):
        await request(app, path, cookie)
    cpu = time.process_time() - start
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(35)
    return cpu / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", choices=ROWS)
    args = parser.parse_args()
    if args.profile:
        asyncio.run(measure(args.profile, args.n, True))
        return
    results = {}
    for row in ROWS:
        results[row] = min(asyncio.run(measure(row, args.n, False)) for _ in range(args.repeat))
    for row in ROWS:
        extra = f"   +{results[row] - results[BARE[row]]:6.1f} µs over {BARE[row]}" if row in BARE else ""
        print(f"{row:11s} {PATHS[row]:8s} {results[row]:7.1f} µs CPU/request{extra}")


if __name__ == "__main__":
    sys.exit(main())
