"""Redis topologies the tests run for real: a three-master Redis Cluster, and a master with a replica and a Sentinel.

Every server is Debian's ``redis-server`` (7.0) started by tests/redis_server.py's ``RedisServer``:
a private process in its own temporary directory on a free 127.0.0.1 port, with no persistence.
Every wait is a bounded poll of a condition the servers report (``PING``, ``CLUSTER INFO``, a write
seen on the replica, what the Sentinel knows); a topology that cannot start raises with the logs of its processes, and the
fixtures turn that into a failed test, never a skip.

- ``RedisCluster``: three masters (``--cluster-enabled yes``) joined by ``redis-cli --cluster create
  --cluster-replicas 0``, ready once every node says ``cluster_state:ok``. Each node also needs its
  cluster bus port (its port + 10000) free.
- ``RedisSentinel``: a master, one replica (``--replicaof``), and ONE Sentinel (``redis-server
  sentinel.conf --sentinel``) with quorum 1: it alone decides that the master is down (after
  ``down-after-milliseconds``, 1 s here) and promotes the replica. Enough to exercise a failover
  from the client's side; a production deployment runs three Sentinels or more, with a quorum of
  two, so that one Sentinel's view of the network cannot fail a healthy master over. Ready once
  a write on the master reaches the replica (not merely at link up: see ``started``).

The pytest fixtures (``redis_cluster``, ``redis_sentinel`` for a module; ``fresh_redis_cluster``,
``fresh_redis_sentinel`` for a test that kills a node) are at the bottom; the classes do not use pytest.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from . import server_process
from .redis_server import RedisServer

__all__ = ["MASTER_NAME", "RedisCluster", "RedisSentinel", "TopologyFailed", "fresh_redis_cluster",
           "fresh_redis_sentinel", "redis_cluster", "redis_sentinel", "wait_for"]

REDIS_CLI = "/usr/bin/redis-cli"
MASTER_NAME = "mymaster"  # the name the Sentinel monitors the master under
START_TIMEOUT = 30.0  # seconds a process, or a topology, gets to become ready on a busy 2-core machine
POLL = 0.05
CLUSTER_BUS_OFFSET = 10000  # Redis Cluster's bus listens on port + 10000
DOWN_AFTER_MS = 1000  # the Sentinel's down-after-milliseconds: how long a silent master stays "up"
FAILOVER_TIMEOUT_MS = 10000


class TopologyFailed(RuntimeError):
    """A server or a topology did not become ready in time; the message carries the logs."""


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(with_bus: bool = False) -> int:
    """A loopback TCP port nothing listens on right now (and, ``with_bus``, nor on port + 10000)."""
    for _ in range(200):
        port = server_process.free_port()
        if not with_bus or (port + CLUSTER_BUS_OFFSET < 65536 and _port_free(port + CLUSTER_BUS_OFFSET)):
            return port
    raise TopologyFailed("no free loopback port (with a free port + 10000 for the cluster bus) in 200 tries")


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, logs: Callable[[], str] = lambda: "") -> None:
    """Poll ``predicate`` (bounded, 50 ms steps; an exception counts as "not yet") until it holds."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            if predicate():
                return
            last = None
        except Exception as exc:  # a server still starting refuses or resets connections
            last = exc
        if time.monotonic() > deadline:
            cause = f" (last error: {type(last).__name__}: {last})" if last is not None else ""
            raise TopologyFailed(f"{what}: not within {timeout} s{cause}\n{logs()}")
        time.sleep(POLL)


def client(port: int, timeout: float = 1.0) -> Any:
    """A plain redis-py client on 127.0.0.1:port: short timeouts, no retries, str replies (for the harness)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=timeout, socket_connect_timeout=timeout,
                       retry=Retry(NoBackoff(), 0), decode_responses=True)


def ask(port: int, *command: str) -> Any:
    """One command on a fresh connection, closed afterwards."""
    connection = client(port)
    try:
        return connection.execute_command(*command)
    finally:
        connection.close()


class Topology:
    """Servers started together (tests/redis_server.py's ``RedisServer``, each in its own temporary
    directory); ``close()`` kills them all (no data to keep: the fastest way down) and deletes the directories."""

    def __init__(self) -> None:
        self.processes: list[RedisServer] = []

    def _start(self, server: RedisServer, timeout: float) -> RedisServer:
        self.processes.append(server)
        try:
            server.start(timeout)
        except RuntimeError as exc:
            raise TopologyFailed(f"{exc}\n{self.logs()}") from exc
        return server

    def started(self, timeout: float = START_TIMEOUT) -> Topology:
        """Start the servers and wait (bounded) until the topology is ready; return it."""
        raise NotImplementedError

    def logs(self) -> str:
        return "\n".join(f"--- {server.name} (port {server.port}, {server.dir}):\n{server.log_tail(20)}"
                         for server in self.processes)

    def close(self) -> None:
        for server in self.processes:
            try:
                server.kill()
            finally:
                server.close()

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _info(port: int, section: str) -> dict[str, str]:
    """``INFO section`` as a dict of strings (parsed here: redis-py would guess types)."""
    text = ask(port, "INFO", section)
    if isinstance(text, dict):  # redis-py parsed it
        return {str(key): str(value) for key, value in text.items()}
    return dict(line.split(":", 1) for line in str(text).splitlines() if ":" in line)


class RedisCluster(Topology):
    """Three masters, no replicas, all 16384 slots assigned: ``started()`` returns it ready.

    ``nodes`` are the three processes; ``startup_nodes`` the ``(host, port)`` pairs for a client.
    """

    size = 3

    def __init__(self, node_timeout_ms: int = 5000) -> None:
        super().__init__()
        self.node_timeout_ms = node_timeout_ms  # how long a silent node stays up in the others' eyes

    def started(self, timeout: float = START_TIMEOUT) -> RedisCluster:
        for i in range(self.size):
            self._start(RedisServer(name=f"cluster-node-{i + 1}", port=free_port(with_bus=True),
                                    extra_args=["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                                "--cluster-node-timeout", str(self.node_timeout_ms)]), timeout)
        addresses = [f"127.0.0.1:{node.port}" for node in self.processes]
        try:
            created = subprocess.run([REDIS_CLI, "--cluster", "create", *addresses, "--cluster-replicas", "0",
                                      "--cluster-yes"], stdin=subprocess.DEVNULL, capture_output=True,
                                     timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise TopologyFailed(f"redis-cli --cluster create did not finish within {timeout} s\n{self.logs()}") from exc
        if created.returncode != 0:
            raise TopologyFailed(f"redis-cli --cluster create failed ({created.returncode}):\n"
                                 f"{created.stdout.decode(errors='replace')}{created.stderr.decode(errors='replace')}"
                                 f"\n{self.logs()}")
        self.wait_until_ok(timeout)
        return self

    def wait_until_ok(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until every node says ``cluster_state:ok`` and knows the others (after a start, or a
        restart: a node restarted in its directory rejoins with its ``nodes.conf``)."""
        for node in self.processes:
            wait_for(lambda node=node: _cluster_ready(node.port, self.size), timeout,
                     f"{node.name}: cluster_state:ok with {self.size} known nodes", self.logs)

    def wait_until_failed(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until every running node says ``cluster_state:fail`` (a master is down and no replica
        can take its slots: the cluster refuses every command, CLUSTERDOWN)."""
        for node in self.processes:
            if node.process is not None:
                wait_for(lambda node=node: _cluster_state(node.port) == "fail", timeout,
                         f"{node.name}: cluster_state:fail", self.logs)

    @property
    def nodes(self) -> list[RedisServer]:
        return self.processes

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", node.port) for node in self.processes]

    def node_of_slot(self, slot: int) -> RedisServer:
        """The node that serves ``slot`` (from ``CLUSTER SLOTS``)."""
        for start, end, master, *_ in ask(self.processes[0].port, "CLUSTER", "SLOTS"):
            if int(start) <= slot <= int(end):
                return next(node for node in self.processes if node.port == int(master[1]))
        raise LookupError(f"no node serves slot {slot}")


def _cluster_info(port: int) -> dict[str, str]:
    text = ask(port, "CLUSTER", "INFO")
    return ({str(key): str(value) for key, value in text.items()} if isinstance(text, dict) else
            dict(line.strip().split(":", 1) for line in str(text).splitlines() if ":" in line))


def _cluster_state(port: int) -> str | None:
    return _cluster_info(port).get("cluster_state")


def _cluster_ready(port: int, size: int) -> bool:
    info = _cluster_info(port)
    return info.get("cluster_state") == "ok" and info.get("cluster_known_nodes") == str(size)


SENTINEL_CONF = """\
sentinel monitor {name} 127.0.0.1 {master} 1
sentinel down-after-milliseconds {name} {down_after}
sentinel failover-timeout {name} {failover_timeout}
sentinel parallel-syncs {name} 1
"""


class RedisSentinel(Topology):
    """A master, a replica of it, and one Sentinel monitoring it as ``MASTER_NAME`` with quorum 1.

    ``started()`` returns it once the master's writes reach the replica and the Sentinel knows both;
    ``replicated()`` waits until the replica has every write acknowledged so far; after a
    ``master.kill()``, ``wait_for_failover()`` waits until the Sentinel has made the replica master.
    """

    def started(self, timeout: float = START_TIMEOUT) -> RedisSentinel:
        # Diskless full sync with no delay (7.0 waits 5 s by default for more replicas to join).
        sync = ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        self.master = self._start(RedisServer(name="master", extra_args=sync), timeout)
        self.replica = self._start(RedisServer(name="replica", extra_args=[
            *sync, "--replicaof", "127.0.0.1", str(self.master.port)]), timeout)
        wait_for(lambda: _info(self.replica.port, "replication").get("master_link_status") == "up",
                 timeout, "the replica's link to the master", self.logs)
        # "up" is not yet "streaming": after a diskless full sync, Redis 7.0's master holds the
        # writes it acknowledges until the replica's first REPLCONF ACK (up to a second later); a
        # master killed in that window takes them all with it. Wait until a write gets through.
        probe = f"wsgisession-topology-probe:{self.replica.port}"
        ask(self.master.port, "SET", probe, "1")
        wait_for(lambda: ask(self.replica.port, "GET", probe) == "1", timeout,
                 "a write on the master reaching the replica", self.logs)
        ask(self.master.port, "DEL", probe)
        # Started last, so that its first INFO of the master already lists the replica (the next
        # one would be 10 s later).
        self.sentinel = self._start(RedisServer(name="sentinel", sentinel=True, config=SENTINEL_CONF.format(
            name=MASTER_NAME, master=self.master.port, down_after=DOWN_AFTER_MS,
            failover_timeout=FAILOVER_TIMEOUT_MS)), timeout)
        wait_for(self._sentinel_sees_both, timeout, "the Sentinel knowing the master and its replica", self.logs)
        return self

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        """The ``(host, port)`` pairs for ``redis.sentinel.Sentinel``."""
        return [("127.0.0.1", self.sentinel.port)]

    def master_address(self) -> tuple[str, int] | None:
        """Where the Sentinel says the master is now."""
        reply = ask(self.sentinel.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        return None if not reply else (str(reply[0]), int(reply[1]))

    def _replicas(self) -> list[dict[str, str]]:
        reply = ask(self.sentinel.port, "SENTINEL", "REPLICAS", MASTER_NAME)
        rows = []
        for row in reply:
            if isinstance(row, dict):
                rows.append({str(key): str(value) for key, value in row.items()})
            else:
                rows.append({str(row[i]): str(row[i + 1]) for i in range(0, len(row), 2)})
        return rows

    def _sentinel_sees_both(self) -> bool:
        if self.master_address() != ("127.0.0.1", self.master.port):
            return False
        return any(row.get("port") == str(self.replica.port) and row.get("flags") == "slave"
                   and row.get("master-link-status") == "ok" for row in self._replicas())

    def replicated(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until the replica has every write the master acknowledged so far: a write of our own,
        then ``WAIT 1`` on the same connection (the replication stream is ordered)."""
        connection = client(self.master.port, timeout=timeout + 5)
        try:
            connection.set("wsgisession-topology-probe", "1")
            acked = connection.execute_command("WAIT", 1, int(timeout * 1000))
        finally:
            connection.close()
        if acked != 1:
            raise TopologyFailed(f"the replica did not acknowledge the master's writes within {timeout} s\n{self.logs()}")

    def wait_for_failover(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until the Sentinel names the replica master and the replica says it is one; then make
        the Sentinel forget the dead master (``SENTINEL RESET``).

        Otherwise it would keep the old address as a replica to reconfigure, and send ``REPLICAOF``
        to whatever server another process starts on that freed port (wiping its data)."""
        wait_for(lambda: self._switched() and _info(self.replica.port, "replication").get("role") == "master",
                 timeout, "the Sentinel promoting the replica", self.logs)
        ask(self.sentinel.port, "SENTINEL", "RESET", MASTER_NAME)

    def _switched(self) -> bool:
        """The failover is over: the Sentinel monitors the replica as its master, flagged plain
        "master" (GET-MASTER-ADDR-BY-NAME names the replica earlier, while the failover still runs)."""
        state = ask(self.sentinel.port, "SENTINEL", "MASTER", MASTER_NAME)
        if not isinstance(state, dict):
            state = {str(state[i]): state[i + 1] for i in range(0, len(state), 2)}
        return str(state.get("port")) == str(self.replica.port) and str(state.get("flags")) == "master"


# -- pytest fixtures --------------------------------------------------------------------------------


T = TypeVar("T", bound=Topology)


def _running(topology: T) -> Iterator[T]:
    """The body of each fixture: ``topology`` started (one that cannot start fails the test, with its
    logs, never a skip), yielded, and closed after its tests."""
    try:
        topology.started()
    except TopologyFailed as exc:
        topology.close()
        pytest.fail(str(exc), pytrace=False)
    except BaseException:
        topology.close()
        raise
    try:
        yield topology
    finally:
        topology.close()


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisCluster]:
    """A three-master Redis Cluster for the module's tests (each test cleans up its own keys)."""
    yield from _running(RedisCluster())


@pytest.fixture
def fresh_redis_cluster() -> Iterator[RedisCluster]:
    """A three-master Redis Cluster of the test's own, quick to notice a dead node (2 s): it may kill one."""
    yield from _running(RedisCluster(node_timeout_ms=2000))


@pytest.fixture(scope="module")
def redis_sentinel() -> Iterator[RedisSentinel]:
    """A master + replica + Sentinel for the module's tests, none of which kills a process."""
    yield from _running(RedisSentinel())


@pytest.fixture
def fresh_redis_sentinel() -> Iterator[RedisSentinel]:
    """A master + replica + Sentinel of the test's own: it may kill the master."""
    yield from _running(RedisSentinel())
