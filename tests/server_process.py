"""What every server the tests and benchmarks launch has in common: a private process on a loopback port.

``ServerProcess`` owns one server process in a temporary directory of its own: it starts it with its
output in a log file, waits (bounded) until the server answers, and stops (the server's graceful
signal, then SIGKILL), kills, pauses (SIGSTOP) and resumes (SIGCONT) it, on the same port each
time, for the outage tests. A subclass says what to run (``command``), how to ask whether it is
ready (``probe``), and where it differs (tests/postgres_server.py signals a process group and runs
as another user). The launchers are tests/mongo_server.py (FerretDB, mongo-java-server),
tests/redis_server.py (with tests/redis_topologies.py on top) and tests/postgres_server.py.

Stdlib only: ``bench/`` starts the same servers with the same code, without pytest; each
subclass imports its database driver only when it waits for the server.
"""

from __future__ import annotations

import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ServerProcess", "free_port"]

S = TypeVar("S", bound="ServerProcess")


# Ports handed to test servers come from below the kernel's ephemeral range (and 10000 below it, for
# a Redis Cluster's bus at port + 10000): a port from bind(0) is an ephemeral one, which an outgoing
# connection (a client of another test server) can take between the probe and the server's bind.
# CI saw that once ("Address already in use").
_LOW, _HIGH = 10000, 22768


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback TCP port nothing listens on right now, outside the ephemeral range when there is room."""
    high = min(_HIGH, _ephemeral_low() - 10000)
    for _ in range(100 if high > _LOW else 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", random.randrange(_LOW, high)))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """One server process on 127.0.0.1:``port``, with its own temporary directory and log.

    ``stop()``/``kill()`` then ``start()`` restarts it on the same port (outage tests);
    ``pause()``/``resume()`` freeze it (a server that accepts connections but never answers);
    ``close()`` stops it and deletes the directory. Subclasses give ``name`` (before calling
    ``__init__``: it names the directory), ``label``, ``command()`` and ``probe()``.
    """

    name = ""  # the id used by --server options, test ids and the directory's name
    label = ""  # for people, in messages
    ready_what = "answer"  # what start() waits for, in its timeout message ("did not <ready_what> within")
    start_timeout = 30.0  # seconds start() waits by default
    stop_signal = signal.SIGTERM  # the server's graceful shutdown
    stop_timeout = 10.0  # seconds stop() gives it before SIGKILL

    def __init__(self, port: int | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"wsgisession-{self.name}-"))
        self.port = free_port() if port is None else port
        self.log_path = self.dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def probe(self) -> str | None:
        """Ask the server once (short timeouts): None if it answers, else what went wrong (kept for the
        timeout message). Errors that mean "not yet" are returned; any other propagates."""
        raise NotImplementedError

    @property
    def output_path(self) -> Path:
        """Where the process's stdout and stderr go (the server's log, unless it writes its own)."""
        return self.log_path

    def popen_options(self) -> dict[str, Any]:
        """Extra ``subprocess.Popen`` arguments (environment, user, session)."""
        return {}

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self, timeout: float | None = None) -> None:
        """Start the server and wait (bounded) until it answers; raise with its log if it exits or does not."""
        assert self.process is None, f"{self.label} is already running"
        with open(self.output_path, "ab") as out:
            self.process = subprocess.Popen(  # type: ignore[call-overload]
                self.command(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=self.dir,
                **self.popen_options())
        try:
            self._wait(self.start_timeout if timeout is None else timeout)
        except BaseException:
            self.kill()  # a wait that failed (or was interrupted) leaves no process behind
            raise

    def started(self: S) -> S:
        """``start()``, then this server; if it cannot start, ``close()`` (its directory is deleted) and raise."""
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: str | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"{self.label} exited with code {code}:\n{self.log_tail()}")
            last = self.probe()
            if last is None:
                return
            time.sleep(0.05)
        cause = f" (last: {last})" if last else ""
        raise RuntimeError(f"{self.label} did not {self.ready_what} within {timeout} s{cause}:\n{self.log_tail()}")

    def stop(self, timeout: float | None = None) -> None:
        """Graceful shutdown (``stop_signal``), killed if it lingers."""
        if self.process is None:
            return
        self.resume()  # a stopped process cannot handle the signal
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout=self.stop_timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the crash case (it also ends a paused process: the kernel wakes it to die)."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def pause(self, timeout: float = 5.0) -> None:
        """SIGSTOP, and wait until every thread is stopped: the signal is asynchronous, and a
        request sent before it takes effect would still be answered."""
        assert self.process is not None, f"{self.label} is not running"
        self.process.send_signal(signal.SIGSTOP)
        tasks = Path(f"/proc/{self.process.pid}/task")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                states = [(task / "stat").read_text().rsplit(")", 1)[1].split()[0] for task in tasks.iterdir()]
            except OSError:  # a thread exited while we looked
                continue
            if all(state in "tT" for state in states):
                return
            time.sleep(0.01)
        raise RuntimeError(f"{self.label} did not stop after SIGSTOP")

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop the server and delete its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's log (then of its output, when that is another file)."""
        texts: list[str] = []
        for path in dict.fromkeys((self.log_path, self.output_path)):
            try:
                texts += path.read_text(errors="replace").splitlines()
            except OSError:
                pass
        return "\n".join(texts[-lines:]) or "(no log)"
