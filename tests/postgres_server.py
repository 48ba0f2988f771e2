"""A private PostgreSQL 15 for the tests and benchmarks: initdb into a temporary directory, a free loopback port.

Debian's binaries (``/usr/lib/postgresql/15/bin``, or ``$WSGISESSION_PG_BIN``). initdb and postgres
refuse to run as root, so as root the server runs as an unprivileged user (``nobody``, or
``$WSGISESSION_PG_USER``) that owns the temporary directory; otherwise as the current user. The
server listens on 127.0.0.1 and on a unix socket inside its directory, trusts local connections
(user ``postgres``, database ``postgres``), and runs with ``fsync=off``: it is disposable.

``stop()`` then ``start()`` restarts it on the same port with its data (the outage tests);
``close()`` stops it and deletes the directory. This module imports neither pytest nor (until
``start`` waits for the server) psycopg, so ``bench/`` and the interop tests start the same server
with the same code. The server dies with the thread that started it (a killed test run leaves no
server behind): start it from a thread that outlives its use::

    from tests.postgres_server import started
    server = started()          # a running server, or RuntimeError with its log
    server.url                  # postgresql://postgres@127.0.0.1:PORT/postgres
    server.close()
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from .server_process import ServerProcess, free_port

__all__ = ["PG_BIN", "PostgresServer", "ServerMissing", "free_port", "started"]

PG_BIN = Path(os.environ.get("WSGISESSION_PG_BIN") or "/usr/lib/postgresql/15/bin")
STOPPED = "tTZX"  # /proc states of a process that answers nothing: stopped, traced, zombie, dead
RUN_AS = os.environ.get("WSGISESSION_PG_USER") or "nobody"  # (when we are root)


class ServerMissing(RuntimeError):
    """PostgreSQL's binaries are not installed; the message says how to get them."""


def _die_with_parent() -> None:
    """In the server's process, before exec: SIGQUIT (PostgreSQL's immediate shutdown) when the thread
    that started it dies, so a test run that is killed leaves no server behind. (Linux; runs after
    the switch to the unprivileged user, which would otherwise clear it.)"""
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGQUIT))  # PR_SET_PDEATHSIG


def _prctl() -> object:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


_PRCTL: Any = _prctl()  # (looked up here: the child between fork and exec only calls it)


class PostgresServer(ServerProcess):
    """One PostgreSQL server process, its data and socket in a temporary directory it owns.

    The process handling is tests/server_process.py's, except where PostgreSQL differs: it runs as
    another user when we are root, in a session of its own that dies with the thread that started
    it; it stops on SIGINT, is killed with SIGQUIT (then the whole group with SIGKILL), and pauses
    backend by backend.
    """

    name = "postgres"
    label = "PostgreSQL 15"
    ready_what = "accept a query"
    start_timeout = 60.0
    stop_signal = signal.SIGINT  # fast shutdown: clients are disconnected, committed data is kept
    stop_timeout = 30.0

    def __init__(self, port: int | None = None, settings: dict[str, str] | None = None) -> None:
        for binary in ("initdb", "postgres"):
            if not os.access(PG_BIN / binary, os.X_OK):
                raise ServerMissing(f"no {PG_BIN / binary}: apt-get install postgresql-15 (scripts/test does it "
                                    "as root), or point WSGISESSION_PG_BIN at PostgreSQL 15's bin directory")
        super().__init__(port)
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "socket"
        self.settings = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                         "max_connections": "100", "shared_buffers": "32MB", **(settings or {})}
        self._user: dict[str, object] = {}
        if os.geteuid() == 0:  # initdb refuses root: the directory is handed to an unprivileged user
            entry = pwd.getpwnam(RUN_AS)
            self._user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        self.socket_dir.mkdir()
        if self._user:
            os.chown(self.socket_dir, self._user["user"], self._user["group"])  # type: ignore[arg-type]
        self._initdb()

    @property
    def url(self) -> str:
        """The server's URL, database ``postgres`` (``database_url`` for another)."""
        return self.database_url("postgres")

    def database_url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=3"

    def _run(self, command: list[str], timeout: float) -> None:
        with open(self.log_path, "ab") as log:
            done = subprocess.run(  # type: ignore[call-overload]
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                timeout=timeout, env=self._env(), **self._user)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} exited with code {done.returncode}:\n{self.log_tail()}")

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C", "TZ": "UTC"}

    def _initdb(self) -> None:
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                   "--no-locale", "--no-sync"], timeout=120)

    def command(self) -> list[str]:
        command = [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
                   "-k", str(self.socket_dir)]
        for name, value in self.settings.items():
            command += ["-c", f"{name}={value}"]
        return command

    def popen_options(self) -> dict[str, Any]:
        return {"env": self._env(), "start_new_session": True, "preexec_fn": _die_with_parent, **self._user}

    def probe(self) -> str | None:
        import psycopg

        try:
            with psycopg.connect(self.conninfo.replace("connect_timeout=3", "connect_timeout=2")) as connection:
                connection.execute("SELECT 1")
            return None
        except psycopg.OperationalError as error:
            return str(error)

    def kill(self) -> None:
        """Immediate shutdown (SIGQUIT: no checkpoint; recovery replays the WAL at the next start)."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def pause(self, timeout: float = 10.0) -> None:
        """SIGSTOP the postmaster, then each of its processes (every backend is a session of its own:
        a group signal misses them), and wait until all are stopped: a server that keeps its
        connections open and never answers. A backend that has exited but that the postmaster has not
        reaped yet (a zombie, e.g. the start's probe connection) counts as stopped: it runs nothing."""
        assert self.process is not None, f"{self.label} is not running"
        self.process.send_signal(signal.SIGSTOP)  # first: it forks no new backend while stopped
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self._states()
            for pid, state in states.items():
                if state not in STOPPED:
                    try:
                        os.kill(pid, signal.SIGSTOP)
                    except ProcessLookupError:
                        pass
            if all(state in STOPPED for state in states.values()):
                return
            time.sleep(0.01)
        raise RuntimeError(f"{self.label} did not stop after SIGSTOP")

    def resume(self) -> None:
        if self.process is not None:
            for pid in self._states():
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass

    def _states(self) -> dict[int, str]:
        """The scheduler state of the postmaster and of each process it forked, by pid."""
        assert self.process is not None
        states = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:  # it exited while we looked
                    continue
                if int(entry.name) == self.process.pid or int(fields[1]) == self.process.pid:  # (ppid)
                    states[int(entry.name)] = fields[0]
        return states

    def restart(self) -> None:
        self.stop()
        self.start()


def started(**options: object) -> PostgresServer:
    """A new server, started; its directory is deleted if it cannot start."""
    return PostgresServer(**options).started()  # type: ignore[arg-type]


if __name__ == "__main__":  # python -m tests.postgres_server: a server to try things on, until Ctrl-C
    server = started()
    print(server.url, flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
