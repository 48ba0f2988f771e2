"""CPU per request of the ASGI adapter, in-process (no server, no sockets): a fake receive/send drive
bench/asgi_apps.py's Starlette counter under ``wsgisession.asgi.SessionMiddleware`` + MemoryStore.

    python bench/asgi_cpu.py [-n 3000] [--repeat 5] [--profile ROW]
    python bench/asgi_cpu.py --instructions [BEFORE_TREE] [--rows bare,modified]   # callgrind: load-independent

Rows: the bare app on each route (its own cost), then the middleware on ``/static`` (untouched), ``/read``
(read-only), ``/inc`` (modified), each with the cookie of a first request, and ``/inc`` without a
cookie (a new session each time). CPU (time.process_time), the best of ``--repeat`` runs: what the adapter adds
is the row minus the bare app's, whatever else the machine is doing. ``--profile ROW`` prints
cProfile's top functions for one row. ``--instructions`` counts CPU instructions per request
under callgrind instead (as instructions.py: 300, then 1,300 requests after the same warm-up, the
difference over 1,000), for this tree and, given one, a ``BEFORE_TREE`` (a ``git worktree add``
of an older commit, with this file copied into its bench/): a minute or two per row and tree.

    python bench/asgi_cpu.py --uvicorn [BEFORE_TREE] [--systems bare,ws-memory]

counts the instructions of a whole uvicorn process (bench/asgi_apps.py, as bench/asgi.py serves it)
per request instead: one keep-alive client sends ``/`` with the cookie it was given, 250 then 1,250
requests, under callgrind. Its ratio of the bare app's count to wsgisession's predicted the req/s
ratio bench/asgi.py measured (0.79 for 0.77-0.79 on 2026-12-05): what the server (h11) spends on
the Cookie and Vary headers is in it, which the in-process rows miss.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
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


CHILD = """
import asyncio, sys
sys.path.insert(0, "bench")
import asgi_cpu
asyncio.run(asgi_cpu.measure(sys.argv[1], int(sys.argv[2]), False))
"""


def instructions(tree: Path, row: str) -> float:
    """CPU instructions of one request of ``row`` in ``tree``, counted by callgrind."""
    totals = []
    for n in (300, 1300):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "callgrind.out")
            subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", CHILD,
                            row, str(n)], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"},
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            found = re.search(r"^(?:summary|totals): (\d+)", Path(out).read_text(), re.M)
            assert found is not None, "no total in callgrind's output"
            totals.append(int(found.group(1)))
    return (totals[1] - totals[0]) / 1000


UVICORN_CLIENT_REQUESTS = (250, 1250)


def uvicorn_instructions(tree: Path, system: str) -> float:
    """CPU instructions per request of a uvicorn process serving ``system`` from ``tree``, counted by callgrind."""
    totals = []
    for n in UVICORN_CLIENT_REQUESTS:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "callgrind.out")
            port = common.free_port()
            server = subprocess.Popen(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "bench/asgi_apps.py",
                 system, "--port", str(port)], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree), "PYTHONHASHSEED": "0"},
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                common.wait_port(port, server, 300, f"{system} under callgrind")
                with socket.create_connection(("127.0.0.1", port)) as connection:
                    cookie = b""
                    for _ in range(n):
                        cookie = _get(connection, cookie)
            finally:
                server.send_signal(signal.SIGINT)  # uvicorn's graceful exit: callgrind writes its counts
                server.wait(120)
            found = re.search(r"^(?:summary|totals): (\d+)", Path(out).read_text(), re.M)
            assert found is not None, "no total in callgrind's output"
            totals.append(int(found.group(1)))
    return (totals[1] - totals[0]) / (UVICORN_CLIENT_REQUESTS[1] - UVICORN_CLIENT_REQUESTS[0])


def _get(connection: socket.socket, cookie: bytes) -> bytes:
    """One ``GET /`` on a keep-alive connection; the cookie to send next (the one a Set-Cookie gave, or ``cookie``)."""
    connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (b"Cookie: " + cookie + b"\r\n" if cookie else b"")
                       + b"\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    assert length is not None, head
    while len(body) < int(length.group(1)):
        body += connection.recv(65536)
    given = re.search(rb"(?i)\r\nset-cookie: *([^;\r]+)", head)
    return given.group(1) if given else cookie


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", choices=ROWS)
    parser.add_argument("--instructions", nargs="?", const="", metavar="BEFORE_TREE")
    parser.add_argument("--rows", default="bare,read-only,modified")
    parser.add_argument("--uvicorn", nargs="?", const="", metavar="BEFORE_TREE")
    parser.add_argument("--systems", default="bare,ws-memory", help="with --uvicorn: bench/asgi_apps.py systems")
    args = parser.parse_args()
    if args.uvicorn is not None:
        trees = [Path(args.uvicorn)] if args.uvicorn else []
        trees.append(Path(__file__).resolve().parent.parent)
        counts: dict[tuple[Path, str], float] = {}
        for system in args.systems.split(","):
            for tree in trees:
                counts[tree, system] = uvicorn_instructions(tree, system)
            print(f"{system:18s} " + "  ".join(f"{counts[tree, system]:10,.0f}" for tree in trees)
                  + " instructions/request under uvicorn", flush=True)
        for tree in trees:
            bare = counts.get((tree, "bare"))
            ratios = [f"{system} {bare / counts[tree, system]:.3f}" for system in args.systems.split(",")
                      if bare and system != "bare"]
            if ratios:
                print(f"bare/system (the predicted req/s ratio), {tree}: " + ", ".join(ratios))
        return
    if args.instructions is not None:
        trees = [Path(args.instructions)] if args.instructions else []
        trees.append(Path(__file__).resolve().parent.parent)
        for row in args.rows.split(","):
            counts = [instructions(tree, row) for tree in trees]
            ratio = f"   after/before {counts[1] / counts[0]:.3f}" if len(counts) == 2 else ""
            print(f"{row:11s} " + "  ".join(f"{count:10,.0f}" for count in counts) + f" instructions/request{ratio}",
                  flush=True)
        return
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
