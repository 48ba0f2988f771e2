"""The MongoDB-protocol servers the tests and benchmarks run, each a private process on a free loopback port.

Two independent implementations of the protocol, so that a test that passes by one server's luck
fails on the other: FerretDB 1.24.2 (Go, on SQLite; applies a filtered update in two steps) and
mongo-java-server 1.46.0 (Java, in memory; applies it atomically). Both are built once into
``$WSGISESSION_CACHE`` (default ``~/.cache/wsgisession``) by ``scripts/install-ferretdb`` and
``scripts/install-mongo-java-server``. The pytest fixtures are in ``mongo_fixtures.py``; this module
imports neither pytest nor (until a server starts) pymongo, so ``bench/`` and ``python -m
tests.lost_updates`` start the same servers with the same code.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["SERVERS", "FerretDB", "MongoJavaServer", "ServerMissing", "ServerProcess", "find_ferretdb",
           "find_mongo_java_server", "free_port", "launcher", "started"]

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _version(script: str) -> str:
    """The VERSION=... that an install script builds: the one place each server's version is written."""
    for line in (SCRIPTS / script).read_text().splitlines():
        if line.startswith("VERSION="):
            return line.partition("=")[2].strip().strip("\"'")
    raise RuntimeError(f"scripts/{script} has no VERSION= line")


FERRETDB_VERSION = _version("install-ferretdb")  # v1.24.2
MONGO_JAVA_SERVER_VERSION = _version("install-mongo-java-server")  # 1.46.0
SERVERS = ("ferretdb", "mongo-java-server")  # the names (and test ids) of the servers we can run


class ServerMissing(RuntimeError):
    """A server is not built (or its runtime is missing); the message says how to get it."""


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cache_dir() -> Path:
    """Where the install scripts put what they build (they read the same variable)."""
    return Path(os.environ.get("WSGISESSION_CACHE") or Path.home() / ".cache" / "wsgisession")


def find_ferretdb() -> str | None:
    """The FerretDB binary: $WSGISESSION_FERRETDB, then the install-ferretdb cache, then PATH."""
    explicit = os.environ.get("WSGISESSION_FERRETDB")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    cached = cache_dir() / f"ferretdb-{FERRETDB_VERSION}" / "ferretdb"
    if os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which("ferretdb")


def find_mongo_java_server() -> Path | None:
    """The install-mongo-java-server cache directory (``classes/`` and ``lib/``), if it is built."""
    home = cache_dir() / f"mongo-java-server-{MONGO_JAVA_SERVER_VERSION}"
    return home if (home / "classes" / f"{MongoJavaServer.main_class}.class").is_file() else None


class ServerProcess:
    """One server process on a free 127.0.0.1 port, with its own working directory and log.

    ``stop()``/``kill()`` then ``start()`` restarts it on the same port (outage tests);
    ``pause()``/``resume()`` freeze it (a server that accepts connections but never answers).
    Subclasses give ``command()``, ``name`` and ``label``.
    """

    name = ""  # the id used by --server options and test ids
    label = ""  # for people: name and version
    backend = ""  # where it keeps the data

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"wsgisession-{self.name}-"))
        self.port = free_port()
        self.log_path = self.dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait (bounded) until it answers ``ping``."""
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        assert self.process is None, f"{self.label} is already running"
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"{self.label} exited with code {code}:\n{self.log_tail()}")
            client: MongoClient[dict[str, object]] = MongoClient(self.uri, serverSelectionTimeoutMS=250,
                                                                  connectTimeoutMS=250)
            try:
                client.admin.command("ping")
                return
            except PyMongoError:
                time.sleep(0.05)
            finally:
                client.close()
        self.kill()
        raise RuntimeError(f"{self.label} did not answer ping within {timeout} s:\n{self.log_tail()}")

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
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class FerretDB(ServerProcess):
    """FerretDB on its SQLite backend; the data stays in the server's directory across stop/kill and start."""

    name = "ferretdb"
    label = "FerretDB 1.24"
    backend = "SQLite backend"

    def __init__(self, binary: str) -> None:
        super().__init__()
        self.binary = binary

    def command(self) -> list[str]:
        data = self.dir / "data"
        data.mkdir(exist_ok=True)
        return [self.binary, "--handler=sqlite", f"--sqlite-url=file:{data}/", f"--listen-addr=127.0.0.1:{self.port}",
                "--debug-addr=-", "--state-dir=-", "--telemetry=disable", "--log-level=warn"]


class MongoJavaServer(ServerProcess):
    """mongo-java-server with its in-memory backend (tests/mongo_java_server/): the data dies with the process."""

    name = "mongo-java-server"
    label = "mongo-java-server 1.46"
    backend = "in-memory backend"
    main_class = "WsgisessionMongoServer"

    def __init__(self, home: Path, java: str) -> None:
        super().__init__()
        self.home = home
        self.java = java

    def command(self) -> list[str]:
        classpath = os.pathsep.join([str(self.home / "classes"), str(self.home / "lib" / "*")])
        return [self.java, "-cp", classpath, self.main_class, "127.0.0.1", str(self.port)]


def launcher(name: str) -> ServerProcess:
    """The (not yet started) server called ``name``, one of SERVERS; ServerMissing if it is not built."""
    if name == FerretDB.name:
        binary = find_ferretdb()
        if binary is None:
            raise ServerMissing("no FerretDB binary: run scripts/install-ferretdb (needs Go; builds it into the "
                                "cache once), or point WSGISESSION_FERRETDB at a ferretdb binary")
        return FerretDB(binary)
    if name == MongoJavaServer.name:
        home = find_mongo_java_server()
        java = str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if os.environ.get("JAVA_HOME") else shutil.which("java")
        if home is None or java is None or not os.access(java, os.X_OK):
            raise ServerMissing("mongo-java-server is not built (or java is missing): run "
                                "scripts/install-mongo-java-server (needs a JDK >= 17 and Maven)")
        return MongoJavaServer(home, java)
    raise ValueError(f"unknown server {name!r}: one of {', '.join(SERVERS)}")


def started(name: str) -> ServerProcess:
    """``launcher(name)``, started; its directory is deleted if it cannot start."""
    server = launcher(name)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server
