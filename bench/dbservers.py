"""The Redis and PostgreSQL servers the benchmarks start, and how each counts the commands it is sent.

Both are private processes on free loopback ports, started and stopped by the script that needs
them, like the MongoDB-protocol servers of ``common.MongoServer``:

- ``RedisServer``: Debian's ``redis-server`` through the tests' own launcher
  (``tests/redis_server.py``: no persistence, a bounded wait for PING, a loud failure).
  ``BENCH_REDIS_URL`` points the scripts at a running server instead.
- ``PostgresServer``: PostgreSQL 15 through the tests' own launcher (``tests/postgres_server.py``:
  ``initdb`` into a temporary directory as an unprivileged user, 127.0.0.1 only, trust
  authentication), with PostgreSQL's default settings but ``synchronous_commit=off``, so that a
  commit does not wait for this shared VM's disk (the same for every system measured).
  ``BENCH_POSTGRES_URL`` points the scripts at a running server instead.

Counting, for ``roundtrips.py``: Redis's MONITOR (server-wide: one system runs at a time), which
tells a client's commands, the round trips, from those its Lua scripts run; PostgreSQL's
``log_statement=all`` (``PostgresServer(log_statements=True)``), one log line per statement a
client sends (``BEGIN``, ``COMMIT`` included: with psycopg and node-postgres alike each is a round
trip of its own).
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

import common
from common import INSTALL, Missing



def tree_cpu_ticks(pid: int) -> int:
    """CPU of a process and all its children, live or exited (PostgreSQL runs one backend per connection).

    utime+stime of the process, plus cutime+cstime (its exited children's, once reaped: a backend
    whose connection a pool closed mid-run keeps counting), plus utime+stime of its live children."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    total = sum(int(value) for value in fields[11:15])
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total


# -- Redis ----------------------------------------------------------------------------------------

class RedisServer:
    """BENCH_REDIS_URL if set, else a private redis-server (tests/redis_server.py) on a free port."""

    def __init__(self) -> None:
        self.external = os.environ.get("BENCH_REDIS_URL")
        self.server: Any = None

    def start(self) -> RedisServer:
        common.require_module("redis", INSTALL)
        if self.external:
            return self
        from tests.redis_server import RedisServer as Launcher

        try:
            self.server = Launcher(name="bench-redis")
        except RuntimeError as exc:
            raise Missing(f"{exc}; or set BENCH_REDIS_URL=redis://127.0.0.1:PORT") from None
        self.server.start()
        return self

    def url(self, db: int = 0) -> str:
        """The server's URL on logical database ``db`` (each benchmarked system gets its own)."""
        base = self.external.rstrip("/") if self.external else f"redis://127.0.0.1:{self.server.port}"
        base = re.sub(r"/\d+$", "", base)
        return f"{base}/{db}"

    @property
    def pid(self) -> int | None:
        return None if self.server is None else self.server.pid

    def describe(self) -> str:
        if self.external:
            return f"external server at {self.external} (BENCH_REDIS_URL)"
        version = subprocess.run([self.server.binary, "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.split()
        v = next((w[2:] for w in version if w.startswith("v=")), "?")
        return f"redis-server {v} on 127.0.0.1:{self.server.port} (no persistence)"

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


class RedisCommands:
    """Commands clients sent between ``snapshot()`` and ``since()``, by name, seen through MONITOR.

    MONITOR tells a client's command from one a Lua script runs (``[0 lua]``): the round trips are
    the former; the latter are kept under ``"script: <name>"`` keys (``cell`` in roundtrips.py shows
    them apart and leaves them out of the total). A marker (``ECHO``) sent after the requests and
    seen come back through MONITOR closes each window, so nothing in flight is missed."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=10)
        self._monitor_client = redis.Redis.from_url(url)  # no timeout: it waits for the next command
        self._monitor = self._monitor_client.monitor()
        self._monitor.__enter__()
        self._lock = threading.Lock()
        self._seen: list[tuple[str, str]] = []  # (client_type, command line)
        self._markers: set[str] = set()
        self._serial = 0
        self._thread = threading.Thread(target=self._read, name="redis-monitor", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self._monitor.listen():
                command = str(event.get("command", ""))
                with self._lock:
                    if command.startswith("ECHO bench-marker-"):
                        self._markers.add(command.split()[-1])
                    else:
                        self._seen.append((str(event.get("client_type", "")), command))
        except Exception:  # noqa: BLE001 - the connection closed: the counter is done
            return

    def _mark(self) -> int:
        """Send a marker and wait (bounded) until MONITOR shows it: everything sent before it was seen."""
        self._serial += 1
        marker = f"bench-marker-{self._serial}"
        self.client.echo(marker)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self._lock:
                if marker in self._markers:
                    return len(self._seen)
            time.sleep(0.005)
        raise RuntimeError("MONITOR did not show the marker within 10 s")

    def snapshot(self) -> int:
        return self._mark()

    def since(self, before: int) -> Counter[str]:
        end = self._mark()
        with self._lock:
            window = self._seen[before:end]
        counts: Counter[str] = Counter()
        for client_type, command in window:
            name = command.split(" ", 1)[0].lower()
            if name in ("info", "echo", "monitor"):
                continue
            counts[f"script: {name}" if client_type == "lua" else name] += 1
        return counts

    def close(self) -> None:
        try:
            self._monitor.__exit__(None, None, None)
        except Exception:  # noqa: BLE001 - closing a connection the reader may be blocked on
            pass
        self._monitor_client.close()
        self.client.close()


# -- PostgreSQL -----------------------------------------------------------------------------------

class PostgresServer:
    """BENCH_POSTGRES_URL if set, else a private PostgreSQL 15 from the tests' launcher (tests/postgres_server.py).

    The launcher's disposable settings (fsync off) are put back to PostgreSQL's defaults but for
    ``synchronous_commit=off``; ``database(name)`` creates a database (once) and returns its URL;
    ``log_statements=True`` logs every statement to ``self.log`` for ``PostgresStatements``."""

    SETTINGS = {"fsync": "on", "full_page_writes": "on", "shared_buffers": "128MB", "synchronous_commit": "off",
                "log_line_prefix": "%m [%p] "}

    def __init__(self, log_statements: bool = False) -> None:
        self.external = os.environ.get("BENCH_POSTGRES_URL")
        self.log_statements = log_statements
        self.server: Any = None
        self.created: set[str] = set()

    def start(self) -> PostgresServer:
        common.require_module("psycopg", INSTALL)
        if self.external:
            if self.log_statements:
                raise Missing("counting statements needs the server's log: unset BENCH_POSTGRES_URL")
            return self
        from tests.postgres_server import ServerMissing, started

        settings = dict(self.SETTINGS, **({"log_statement": "all"} if self.log_statements else {}))
        try:
            self.server = started(settings=settings)
        except ServerMissing as exc:
            raise Missing(f"{exc}; or set BENCH_POSTGRES_URL=postgresql://USER@127.0.0.1:PORT/postgres") from None
        return self

    @property
    def log(self) -> Path | None:
        return None if self.server is None else Path(self.server.log_path)

    def url(self, database: str) -> str:
        if self.external:
            parts = urllib.parse.urlsplit(self.external)
            return urllib.parse.urlunsplit(parts._replace(path=f"/{database}"))
        return str(self.server.database_url(database))

    def database(self, name: str) -> str:
        """Create database ``name`` if this run has not yet (dropping a leftover one first); its URL."""
        import psycopg

        if name not in self.created:
            with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
            self.created.add(name)
        return self.url(name)

    @property
    def pid(self) -> int | None:
        return None if self.server is None or self.server.process is None else int(self.server.process.pid)

    def describe(self) -> str:
        if self.external:
            return f"external server at {self.external} (BENCH_POSTGRES_URL)"
        from tests.postgres_server import PG_BIN

        version = subprocess.run([str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True,
                                 timeout=10).stdout.strip()
        return f"{version} on 127.0.0.1:{self.server.port} (synchronous_commit=off, otherwise the defaults)"

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


_STATEMENT = re.compile(r"LOG:  (?:statement|execute [^:]*): \s*(\S+)(?:\s+(\S+))?")


class PostgresStatements:
    """Statements clients sent between two ``snapshot()`` calls, by their first word, from the server's log.

    An UPDATE ... / INSERT ... ON CONFLICT counts by its first keyword; a ``WITH`` statement by the
    word after its CTE's name is not parsed: it counts as WITH."""

    def __init__(self, server: PostgresServer) -> None:
        assert server.log is not None and server.log_statements
        self.log = server.log

    def snapshot(self) -> int:
        time.sleep(0.1)  # the server writes its log line as it starts the statement; let it land
        return self.log.stat().st_size

    def since(self, offset: int) -> Counter[str]:
        time.sleep(0.1)
        with open(self.log, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
        counts: Counter[str] = Counter()
        for match in _STATEMENT.finditer(text):
            counts[match.group(1).upper().rstrip(";")] += 1
        return counts
