"""A private PostgreSQL 15 for the tests and benchmarks: initdb into a temporary directory, a free loopback port.

Debian's binaries (``/usr/lib/postgresql/15/bin``, or ``$WSGISESSION_PG_BIN``). initdb and postgres
refuse to run as root, so as root the server runs as an unprivileged user (``nobody``, or
``$WSGISESSION_PG_USER``) that owns the temporary directory; otherwise as the current user. The
server listens on 127.0.0.1 and on a unix socket inside its directory, trusts local connections
(user ``postgres``, database ``postgres``), and runs with ``fsync=off``: it is disposable.

``stop()`` then ``start()`` restarts it on the same port with its data (the outage tests);
``close()`` stops it and deletes the directory. This module imports neither pytest nor (until
``start`` waits for the server) psycopg, so ``bench/`` and the interop tests start the same server
with the same code::

    from tests.postgres_server import started
    server = started()          # a running server, or RuntimeError with its log
    server.url                  # postgresql://postgres@127.0.0.1:PORT/postgres
    server.close()
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PG_BIN", "PostgresServer", "ServerMissing", "free_port", "started"]

PG_BIN = Path(os.environ.get("WSGISESSION_PG_BIN") or "/usr/lib/postgresql/15/bin")
RUN_AS = os.environ.get("WSGISESSION_PG_USER") or "nobody"  # (when we are root)


class ServerMissing(RuntimeError):
    """PostgreSQL's binaries are not installed; the message says how to get them."""


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One PostgreSQL server process, its data and socket in a temporary directory it owns."""

    label = "PostgreSQL 15"

    def __init__(self, port: int | None = None, settings: dict[str, str] | None = None) -> None:
        for binary in ("initdb", "postgres"):
            if not os.access(PG_BIN / binary, os.X_OK):
                raise ServerMissing(f"no {PG_BIN / binary}: apt-get install postgresql-15 (scripts/test does it "
                                    "as root), or point WSGISESSION_PG_BIN at PostgreSQL 15's bin directory")
        self.dir = Path(tempfile.mkdtemp(prefix="wsgisession-postgres-"))
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "socket"
        self.log_path = self.dir / "server.log"
        self.port = free_port() if port is None else port
        self.settings = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                         "max_connections": "100", "shared_buffers": "32MB", **(settings or {})}
        self.process: subprocess.Popen[bytes] | None = None
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
            done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                  cwd=self.dir, timeout=timeout, env=self._env(), **self._user)  # type: ignore[call-overload]
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} exited with code {done.returncode}:\n{self.log_tail()}")

    def _env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C", "LC_ALL": "C", "TZ": "UTC"}

    def _initdb(self) -> None:
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                   "--no-locale", "--no-sync"], timeout=120)

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait (bounded) until it accepts a query."""
        assert self.process is None, f"{self.label} is already running"
        command = [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
                   "-k", str(self.socket_dir)]
        for name, value in self.settings.items():
            command += ["-c", f"{name}={value}"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.dir, env=self._env(), start_new_session=True,
                                            **self._user)  # type: ignore[call-overload]
        self._wait(timeout)

    def _wait(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"{self.label} exited with code {code}:\n{self.log_tail()}")
            try:
                with psycopg.connect(self.conninfo.replace("connect_timeout=3", "connect_timeout=2")) as connection:
                    connection.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.label} did not accept a query within {timeout} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT: clients are disconnected, committed data is kept); killed if it lingers."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

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

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def started(**options: object) -> PostgresServer:
    """A new server, started; its directory is deleted if it cannot start."""
    server = PostgresServer(**options)  # type: ignore[arg-type]
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


if __name__ == "__main__":  # python -m tests.postgres_server: a server to try things on, until Ctrl-C
    server = started()
    print(server.url, flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
