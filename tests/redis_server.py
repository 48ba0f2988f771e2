"""A private redis-server for the tests: Debian's binary on a free loopback port, no persistence.

One class, ``RedisServer``, that starts ``redis-server`` (``$WSGISESSION_REDIS_SERVER``, else
``/usr/bin/redis-server``, else PATH) in its own temporary directory, waits (bounded) until it
answers PING, and stops, kills, pauses or restarts it on the same port for the outage tests (the
process handling is tests/server_process.py's ``ServerProcess``, shared with the other launchers). It
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
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

from .server_process import ServerProcess, free_port

__all__ = ["RedisServer", "find_redis_server", "free_port", "resp_command"]


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


class RedisServer(ServerProcess):
    """One redis-server on 127.0.0.1:``port`` with its own directory and log, and no persistence.

    ``stop()``/``kill()`` then ``start()`` restarts it on the same port (empty: nothing is saved);
    ``pause()``/``resume()`` freeze it (it accepts connections but never answers). ``extra_args``
    are appended to the command line (``["--cluster-enabled", "yes", ...]``); ``config`` is written
    to a ``redis.conf`` given first (Sentinel needs a writable config file: ``sentinel=True``
    starts ``redis-server <conf> --sentinel``). The process handling is tests/server_process.py's.
    """

    ready_what = "answer PING"
    start_timeout = 20.0

    def __init__(self, *, port: int | None = None, extra_args: Sequence[str] = (), config: str = "",
                 sentinel: bool = False, binary: str | None = None, name: str = "redis") -> None:
        self.binary = binary or find_redis_server()
        self.name = name
        self.label = f"redis-server ({name})"
        super().__init__(port)
        self.extra_args = list(extra_args)
        self.config = config
        self.sentinel = sentinel

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def output_path(self) -> Path:
        """redis-server writes its log to ``--logfile`` (server.log); its stdout, to a file of its own."""
        return self.dir / "stdout.log"

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

    def probe(self) -> str | None:
        try:
            reply = resp_command(self.port, "PING", timeout=0.5)
        except OSError as error:
            return str(error)
        return None if reply == b"+PONG" else reply.decode(errors="replace")  # -LOADING ...: not ready yet

    def flushall(self) -> None:
        reply = resp_command(self.port, "FLUSHALL")
        if reply != b"+OK":
            raise RuntimeError(f"FLUSHALL on {self.name} answered {reply!r}")

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
