"""Shared plumbing for the benchmarks: dependency checks, statistics, tables, charts, the MongoDB server.

Nothing here is timed. Every script prints markdown tables and writes them (and PNG charts) to
``bench/results/`` (``--out`` to change); ``--quick`` makes everything tiny.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
SECRET = "bench secret: long enough not to warn, never used outside the benchmark"

# Run from anywhere: the library and demo.py are imported from this checkout; BENCH_SRC=DIR puts
# another copy of the wsgisession package first (to measure a patch before it is committed).
SRC = os.environ.get("BENCH_SRC")
for _path in [str(ROOT)] + ([str(Path(SRC).resolve())] if SRC else []):
    if _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)

from tests.mongo_server import SERVERS, free_port  # noqa: E402,F401  (the tests' launchers, stdlib only; free_port re-exported)

INSTALL = "bench/install  (or: pip install -e '.[test]' -r bench/requirements.txt)"


class Missing(RuntimeError):
    """A tool or package the benchmark needs is not installed; the message says how to get it."""


def require_module(name: str, hint: str) -> Any:
    """Import ``name`` or raise Missing with the install hint."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise Missing(f"Python package {name!r} is missing ({exc}); install it: {hint}") from None


def require_binary(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Missing(f"the {name!r} command is missing; install it: {hint}")
    return path


def die_missing(exc: Missing) -> NoReturn:
    """Say what is missing and how to install it; exit with status 3."""
    print(f"\nbench: cannot run: {exc}\n", file=sys.stderr)
    raise SystemExit(3)


# -- statistics and tables -------------------------------------------------------------------------

def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    rows = [[str(cell) for cell in row] for row in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
        mem = f"{int(mem) / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        mem = "?"
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), {mem} RAM, "
            f"Python {platform.python_version()}")


def revision() -> str:
    """The library's git commit, and whether wsgisession/ has uncommitted changes (read-only git calls)."""
    if SRC:
        return f"wsgisession from BENCH_SRC={SRC} (not this checkout's)"
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "wsgisession"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    if not head:
        return "unknown (not a git checkout)"
    return head + (" + uncommitted changes in wsgisession/" if dirty else "")


def header(title: str, argv: Sequence[str], notes: Sequence[str] = ()) -> str:
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {title}", "", f"- date: {when}", f"- machine: {machine()}", f"- library: {revision()}",
             f"- command: `{' '.join(['python'] + [Path(argv[0]).as_posix()] + list(argv[1:]))}`"]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def rotated(items: Sequence[Any], turn: int) -> list[Any]:
    """``items`` starting at position ``turn`` (modulo their number), wrapping around: the order of a
    repetition, rotated from one to the next so that no system always runs first."""
    shift = turn % len(items)
    return [*items[shift:], *items[:shift]]


class Timing:
    """The in-process timing scripts' common options: ``--quick``, ``-n`` (requests per timing),
    ``--repeat``, ``--out``; ``counts`` resolves them (quick: tiny counts, 3 repetitions; else 9)."""

    def __init__(self, parser: Any, n: int, quick_n: int) -> None:
        self.n, self.quick_n = n, quick_n
        parser.add_argument("--quick", "--ci", action="store_true", help="tiny counts: a few seconds")
        parser.add_argument("-n", type=int, help=f"requests per timing (default {n}, quick {quick_n})")
        parser.add_argument("--repeat", type=int, help="repetitions (default 9, quick 3)")
        parser.add_argument("--out", help="results directory (default bench/results)")

    def counts(self, args: Any) -> tuple[int, int, Path]:
        """Requests per timing, repetitions, and the results directory."""
        n = args.n or (self.quick_n if args.quick else self.n)
        return n, args.repeat or (3 if args.quick else 9), out_dir(args.out, args.quick)


def out_dir(path: str | None, quick: bool = False) -> Path:
    """--out, else bench/results (quick runs: bench/results/quick, git-ignored)."""
    directory = Path(path) if path else RESULTS / "quick" if quick else RESULTS
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def write_report(directory: Path, stem: str, text: str) -> Path:
    path = directory / f"{stem}.md"
    path.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
    return path


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    matplotlib = require_module("matplotlib", INSTALL)
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


# -- processes -------------------------------------------------------------------------------------

def wait_port(port: int, process: subprocess.Popen[bytes] | None, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with code {process.returncode} before listening:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of a process's live threads (/proc/<pid>/task/*/status):
    how often its threads gave up or lost the CPU (a thread waiting for the GIL or a socket gives it up)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:  # (a thread that ended meanwhile)
            continue
        for line in text.splitlines():
            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                total += int(line.split()[1])
    return total


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Terminate one process we started (by its own pid), killing it if it lingers."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class Pinning:
    """Where the server under test and the load generator run (``--pin``, the default; ``--no-pin``).

    Pinned, the server process (all its threads: they inherit it) gets the last CPU this script may
    use and wrk the others. Unpinned on this project's 2-core VM, a waitress server's threads pass
    the GIL to each other across the two CPUs, each time at the price of waking a sleeping CPU, and
    compete with wrk for them: in six 2 s runs alternating with pinned ones, the bare app served 350
    to 1,290 requests a second with 37 to 152 context switches per request; pinned, 4,490 to 4,810
    with 4 (2026-12-06, bench/README.md). The database servers are not pinned.
    """

    def __init__(self, pin: bool) -> None:
        # (not Linux: no affinity to set; one CPU: nothing to separate)
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        pin = pin and len(cpus) >= 2
        self.server = {cpus[-1]} if pin else None
        self.load = set(cpus[:-1]) if pin else None
        self.cpus = len(cpus)

    @staticmethod
    def _preexec(cpus: set[int] | None) -> Callable[[], None] | None:
        if cpus is None:
            return None
        return lambda: os.sched_setaffinity(0, cpus)

    def for_server(self) -> Callable[[], None] | None:
        """A ``preexec_fn`` for the server's ``Popen`` (None: not pinned)."""
        return self._preexec(self.server)

    def for_load(self) -> Callable[[], None] | None:
        """A ``preexec_fn`` for the load generator's ``subprocess.run``."""
        return self._preexec(self.load)

    def describe(self) -> str:
        if self.server is None:
            return ("not pinned: the kernel places the server's threads, wrk's and the databases'"
                    + (" (no second CPU to pin to)" if self.cpus < 2 else ""))
        return (f"pinned: the server under test on CPU {','.join(map(str, sorted(self.server)))}, wrk on CPU "
                f"{','.join(map(str, sorted(self.load or ())))}; the database servers not pinned")


def add_pin_argument(parser: Any) -> None:
    """``--pin`` (default) / ``--no-pin``: where the server under test and wrk run (``Pinning``)."""
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True,
                        help="the server under test on one CPU, wrk on the others (default); --no-pin leaves them "
                             "to the kernel (results then go to <name>-unpinned.md)")


# -- the MongoDB-protocol server -------------------------------------------------------------------

def add_server_argument(parser: Any) -> None:
    """``--server``: which of the tests' MongoDB-protocol servers the MongoDB-backed systems use."""
    parser.add_argument("--server", choices=SERVERS, default=SERVERS[0],
                        help=f"the MongoDB-protocol server to start: {' or '.join(SERVERS)} (default {SERVERS[0]}; "
                             "BENCH_MONGODB_URI overrides it)")


def server_stem(stem: str, server: str) -> str:
    """A results file name: ``stem`` for the default server, ``stem-<server>`` for another one."""
    return stem if server == SERVERS[0] else f"{stem}-{server}"


class MongoServer:
    """BENCH_MONGODB_URI if set, else a private server started by tests/mongo_server.py (the tests'
    launcher: FerretDB or mongo-java-server) on a free loopback port."""

    def __init__(self, name: str = SERVERS[0]) -> None:
        self.name = name
        self.external = os.environ.get("BENCH_MONGODB_URI")
        self.server: Any = None

    @property
    def uri(self) -> str:
        return self.external.rstrip("/") if self.external else self.server.uri

    @property
    def pid(self) -> int | None:
        return None if self.server is None else self.server.pid

    def describe(self) -> str:
        if self.external:
            label = os.environ.get("BENCH_MONGODB_LABEL", "external server")
            return f"{label} at {self.external} (BENCH_MONGODB_URI)"
        return f"{self.server.label} ({self.server.backend}) on 127.0.0.1:{self.server.port}"

    def start(self) -> MongoServer:
        require_module("pymongo", INSTALL)
        if self.external:
            return self
        from tests.mongo_server import ServerMissing, started

        try:
            self.server = started(self.name)
        except ServerMissing as exc:
            raise Missing(f"{exc}; or set BENCH_MONGODB_URI=mongodb://127.0.0.1:PORT to use a running "
                          "MongoDB-protocol server") from None
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def __enter__(self) -> MongoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def require_charts() -> None:
    """Fail now, not after a long run, if matplotlib (for the PNG charts) is missing."""
    try:
        require_module("matplotlib", INSTALL)
    except Missing as exc:
        die_missing(exc)


def save_figure(fig: Any, path: Any) -> None:
    """Lay out, save as PNG and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
