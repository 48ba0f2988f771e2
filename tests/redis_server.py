"""A private redis-server for the tests: Debian's binary on a free loopback port, no persistence.

One class, ``RedisServer``, that starts ``redis-server`` (``$WSGISESSION_REDIS_SERVER``, else
``/usr/bin/redis-server``, else PATH) in its own temporary directory, waits (bounded) until it
answers PING, and stops, kills, pauses or restarts it on the same port for the outage tests. It
speaks to the server over a raw socket (RESP), so it imports neither redis-py nor, unless pytest is
there, pytest: ``bench/`` and the Cluster and Sentinel topologies (``tests/redis_topologies.py``,
which pass ``extra_args`` such as ``--cluster-enabled yes`` or ``--sentinel``) start servers with the
same code. A server that cannot start raises with its log: the tests that need it fail, never skip.

The pytest fixtures at the bottom: ``redis_server`` (one per run) and ``redis_url`` (that server,
emptied by FLUSHALL before each test).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["RedisServer", "find_redis_server", "free_port", "resp_command"]


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_redis_server() -> str:
    """The redis-server binary, or a RuntimeError that says how to get one."""
    explicit = os.environ.get("WSGISESSION_REDIS_SERVER")
    for candidate in (explicit, "/usr/bin/redis-server", shutil.which("redis-server")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("redis-server is not installed: `apt-get install redis-server` (scripts/test does it "
                       "when run as root), or set WSGISESSION_REDIS_SERVER to a redis-server binary")


def _encode(*args: str | bytes | int) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def resp_command(port: int, *args: str | bytes | int, host: str = "127.0.0.1", timeout: float = 2.0) -> bytes:
    """Send one command, return the first line of the reply (``b"+PONG"``, ``b"-ERR ..."``, ``b":3"``).

    Enough for PING, FLUSHALL, SHUTDOWN and the like without redis-py; raises OSError if nothing answers."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(_encode(*args))
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        return reply.split(b"\r\n", 1)[0]


class RedisServer:
    """One redis-server on 127.0.0.1:``port`` with its own directory and log, and no persistence.

    ``stop()``/``kill()`` then ``start()`` restarts it on the same port (empty: nothing is saved);
    ``pause()``/``resume()`` freeze it (it accepts connections but never answers). ``extra_args``
    are appended to the command line (``["--cluster-enabled", "yes", ...]``); ``config`` is written
    to a ``redis.conf`` given first (Sentinel needs a writable config file: ``sentinel=True``
    starts ``redis-server <conf> --sentinel``).
    """

    def __init__(self, *, port: int | None = None, extra_args: Sequence[str] = (), config: str = "",
                 sentinel: bool = False, binary: str | None = None, name: str = "redis") -> None:
        self.binary = binary or find_redis_server()
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"wsgisession-{name}-"))
        self.port = free_port() if port is None else port
        self.extra_args = list(extra_args)
        self.config = config
        self.sentinel = sentinel
        self.log_path = self.dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def command(self) -> list[str]:
        conf = self.dir / "redis.conf"
        conf.write_text(self.config)
        command = [self.binary, str(conf)]
        if self.sentinel:
            command.append("--sentinel")
        command += ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                    "--logfile", str(self.log_path), "--daemonize", "no"]
        if not self.sentinel:
            command += ["--save", "", "--appendonly", "no"]
        return command + self.extra_args

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and wait (bounded) until it answers PING; raise with its log if it does not."""
        assert self.process is None, f"{self.name} on port {self.port} is already running"
        with open(self.dir / "stdout.log", "ab") as out:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"redis-server ({self.name}) exited with code {code}:\n{self.log_tail()}")
            try:
                reply = resp_command(self.port, "PING", timeout=0.5)
                if reply == b"+PONG":
                    return
                last = reply.decode(errors="replace")  # -LOADING ...: not ready yet
            except OSError as error:
                last = str(error)
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"redis-server ({self.name}) did not answer PING within {timeout} s "
                           f"(last: {last}):\n{self.log_tail()}")

    def stop(self) -> None:
        """Terminate gracefully (SIGTERM), killing it if it lingers."""
        if self.process is None:
            return
        self.resume()  # a stopped process cannot handle SIGTERM
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the crash case."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: the server keeps its socket (connections are accepted by the kernel) but answers nothing."""
        assert self.process is not None, f"{self.name} is not running"
        self.process.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 5
        stat = Path(f"/proc/{self.process.pid}/stat")
        while time.monotonic() < deadline:  # the signal is asynchronous: wait until it took effect
            try:
                if stat.read_text().rsplit(")", 1)[1].split()[0] in "tT":
                    return
            except OSError:
                return
            time.sleep(0.01)
        raise RuntimeError(f"{self.name} did not stop after SIGSTOP")

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def flushall(self) -> None:
        reply = resp_command(self.port, "FLUSHALL")
        if reply != b"+OK":
            raise RuntimeError(f"FLUSHALL on {self.name} answered {reply!r}")

    def close(self) -> None:
        """Stop the server and delete its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        texts = []
        for path in (self.log_path, self.dir / "stdout.log"):
            try:
                texts += path.read_text(errors="replace").splitlines()
            except OSError:
                pass
        return "\n".join(texts[-lines:]) or "(no log)"

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


try:
    import pytest
except ImportError:  # bench/ without pytest: the class above is all it needs
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture(scope="session")
    def redis_server() -> Iterator[RedisServer]:
        """One private redis-server for the whole run (fails the tests that use it if it cannot start)."""
        server = RedisServer()
        try:
            server.start()
            yield server
        finally:
            server.close()

    @pytest.fixture
    def redis_url(redis_server: RedisServer) -> str:
        """The run's redis-server, emptied before the test: ``redis://127.0.0.1:<port>/0``."""
        redis_server.flushall()
        return redis_server.url
