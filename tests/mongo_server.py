"""The MongoDB-protocol servers the tests and benchmarks run, each a private process on a free loopback port.

Two independent implementations of the protocol, so that a test that passes by one server's luck
fails on the other: FerretDB 1.24.2 (Go, on SQLite; applies a filtered update in two steps) and
mongo-java-server 1.46.0 (Java, in memory; applies it atomically). Both are built once into
``$WSGISESSION_CACHE`` (default ``~/.cache/wsgisession``) by ``scripts/install-ferretdb`` and
``scripts/install-mongo-java-server``. The pytest fixtures are in ``mongo_fixtures.py``; this module
imports neither pytest nor (until a server starts) pymongo, so ``bench/`` and ``python -m
tests.lost_updates`` start the same servers with the same code. The process itself (start, stop, kill,
pause, the log) is tests/server_process.py's ``ServerProcess``, shared with the Redis and PostgreSQL launchers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import server_process
from .server_process import free_port

__all__ = ["SERVERS", "FerretDB", "MongoJavaServer", "MongoServer", "ServerMissing", "ServerProcess", "find_ferretdb",
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


class MongoServer(server_process.ServerProcess):
    """A MongoDB-protocol server (tests/server_process.py runs the process), ready once it answers ``ping``."""

    backend = ""  # where it keeps the data
    ready_what = "answer ping"

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def probe(self) -> str | None:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        client: MongoClient[dict[str, object]] = MongoClient(self.uri, serverSelectionTimeoutMS=250,
                                                              connectTimeoutMS=250)
        try:
            client.admin.command("ping")
            return None
        except PyMongoError as error:
            return str(error)
        finally:
            client.close()


ServerProcess = MongoServer  # the name tests/mongo_fixtures.py imports it by


class FerretDB(MongoServer):
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


class MongoJavaServer(MongoServer):
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


def launcher(name: str) -> MongoServer:
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


def started(name: str) -> MongoServer:
    """``launcher(name)``, started; its directory is deleted if it cannot start."""
    return launcher(name).started()
