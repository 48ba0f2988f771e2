"""Shared plumbing for the benchmarks: dependency checks, statistics, tables, charts, FerretDB.

Nothing here is timed. Every script prints markdown tables and writes them (and PNG charts) to
``bench/results/`` (``--out`` to change); ``--quick`` makes everything tiny.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
SECRET = "bench secret: long enough not to warn, never used outside the benchmark"
FERRETDB_VERSION = "v1.24.2"

# Run from anywhere: the library and demo.py are imported from this checkout; BENCH_SRC=DIR puts
# another copy of the wsgisession package first (to measure a patch before it is committed).
SRC = os.environ.get("BENCH_SRC")
for _path in [str(ROOT)] + ([str(Path(SRC).resolve())] if SRC else []):
    if _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)

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


def die_missing(exc: Missing) -> None:
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

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


# -- FerretDB ----------------------------------------------------------------------------------------

FERRETDB_HINT = ("build it with scripts/install-ferretdb (needs Go; cached in ~/.cache/wsgisession), point "
                 "WSGISESSION_FERRETDB at a ferretdb binary, or set BENCH_MONGODB_URI=mongodb://127.0.0.1:PORT "
                 "to use a running MongoDB-protocol server")


def find_ferretdb() -> str | None:
    """$WSGISESSION_FERRETDB, the install-ferretdb cache, /tmp/ferret-build, then PATH (as the tests look)."""
    explicit = os.environ.get("WSGISESSION_FERRETDB")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    cache = Path(os.environ.get("WSGISESSION_CACHE") or Path.home() / ".cache" / "wsgisession")
    for candidate in (cache / f"ferretdb-{FERRETDB_VERSION}" / "ferretdb", Path("/tmp/ferret-build/ferretdb")):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("ferretdb")


class MongoServer:
    """BENCH_MONGODB_URI if set, else a private FerretDB (SQLite backend) on a free loopback port."""

    def __init__(self) -> None:
        self.external = os.environ.get("BENCH_MONGODB_URI")
        self.process: subprocess.Popen[bytes] | None = None
        self.dir: Path | None = None
        self.port = 0
        self.binary = ""

    @property
    def uri(self) -> str:
        return self.external.rstrip("/") if self.external else f"mongodb://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def describe(self) -> str:
        if self.external:
            label = os.environ.get("BENCH_MONGODB_LABEL", "external server")
            return f"{label} at {self.external} (BENCH_MONGODB_URI)"
        return f"FerretDB {FERRETDB_VERSION} (SQLite backend, {self.binary}) on 127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> MongoServer:
        require_module("pymongo", INSTALL)
        if self.external:
            return self
        binary = find_ferretdb()
        if binary is None:
            raise Missing(f"no FerretDB binary found: {FERRETDB_HINT}")
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="wsgisession-bench-ferretdb-"))
        (self.dir / "data").mkdir()
        self.port = free_port()
        log = self.dir / "ferretdb.log"
        with open(log, "ab") as handle:
            self.process = subprocess.Popen(
                [binary, "--handler=sqlite", f"--sqlite-url=file:{self.dir / 'data'}/",
                 f"--listen-addr=127.0.0.1:{self.port}", "--debug-addr=-", "--state-dir=-",
                 "--telemetry=disable", "--log-level=warn"],
                stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, cwd=self.dir)
        wait_port(self.port, self.process, timeout, "FerretDB", log)
        from pymongo import MongoClient

        deadline = time.monotonic() + timeout
        while True:
            client: Any = MongoClient(self.uri, serverSelectionTimeoutMS=500)
            try:
                client.admin.command("ping")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
            finally:
                client.close()
        return self

    def close(self) -> None:
        stop(self.process)
        self.process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

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
