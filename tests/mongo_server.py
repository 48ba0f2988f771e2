"""A real MongoDB-protocol server for the tests: FerretDB 1.24.2 on SQLite, started per session.

``WSGISESSION_TEST_MONGODB_URI`` points the suite at another server (a real mongod, say);
otherwise FerretDB runs from ``$WSGISESSION_FERRETDB``, the cache ``scripts/install-ferretdb``
fills, or PATH. There is no fake: without a server the Mongo tests fail and say what to do.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError

__all__ = ["FerretDB", "ferretdb", "find_ferretdb", "free_port", "mongo_database", "mongo_uri"]

FERRETDB_VERSION = "v1.24.2"
INSTALL_HINT = ("run scripts/install-ferretdb (needs Go; builds FerretDB into the cache once), "
                "or set WSGISESSION_TEST_MONGODB_URI=mongodb://host:port to use a running MongoDB")


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_ferretdb() -> str | None:
    """The FerretDB binary: $WSGISESSION_FERRETDB, then the install-ferretdb cache, then PATH."""
    explicit = os.environ.get("WSGISESSION_FERRETDB")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    cache = Path(os.environ.get("WSGISESSION_CACHE") or Path.home() / ".cache" / "wsgisession")
    cached = cache / f"ferretdb-{FERRETDB_VERSION}" / "ferretdb"
    if os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which("ferretdb")


class FerretDB:
    """One FerretDB process on a free loopback port, with its own data dir and log.

    ``stop()``/``kill()`` then ``start()`` restarts it on the same port and data (outage tests);
    ``pause()``/``resume()`` freeze it (a server that accepts connections but never answers).
    """

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="wsgisession-ferretdb-"))
        self.port = free_port()
        self.log_path = self.dir / "ferretdb.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and wait until it answers ``ping``."""
        assert self.process is None, "FerretDB is already running"
        data = self.dir / "data"
        data.mkdir(exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "--handler=sqlite", f"--sqlite-url=file:{data}/",
                 f"--listen-addr=127.0.0.1:{self.port}", "--debug-addr=-", "--state-dir=-", "--telemetry=disable"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"FerretDB exited with code {self.process.returncode}:\n{self.log_tail()}")
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
        raise RuntimeError(f"FerretDB did not answer ping within {timeout} s:\n{self.log_tail()}")

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
        assert self.process is not None, "FerretDB is not running"
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
        raise RuntimeError("FerretDB did not stop after SIGSTOP")

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop the server and delete its data."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _started_ferretdb(why: str) -> FerretDB:
    binary = find_ferretdb()
    if binary is None:
        pytest.fail(f"no FerretDB binary found{why}: {INSTALL_HINT}.", pytrace=False)
    server = FerretDB(binary)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    """URI (no database) of the server the Mongo tests use."""
    external = os.environ.get("WSGISESSION_TEST_MONGODB_URI")
    if external:
        yield external
        return
    server = _started_ferretdb("")
    try:
        yield server.uri
    finally:
        server.close()


@pytest.fixture
def mongo_database(mongo_uri: str) -> Iterator[Database[dict[str, object]]]:
    """A fresh, uniquely named database, dropped afterwards.

    Its client is deliberately *not* tz_aware (pymongo's default), so the stores built on it
    see naive dates; ``MongoStore.from_url`` covers the tz_aware case.
    """
    client: MongoClient[dict[str, object]] = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    name = f"wsgisession_test_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name]
    finally:
        try:
            client.drop_database(name)
        finally:
            client.close()


@pytest.fixture
def ferretdb() -> Iterator[FerretDB]:
    """A private FerretDB the test may stop, kill, pause and restart (even with an external URI)."""
    server = _started_ferretdb(" (outage tests need their own FerretDB even when WSGISESSION_TEST_MONGODB_URI is set)")
    try:
        yield server
    finally:
        server.close()
