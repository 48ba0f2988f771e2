"""Fixtures shared by the whole suite."""

from __future__ import annotations

import functools
import os

import pytest
from hypothesis import HealthCheck, settings

pytest.register_assert_rewrite("wsgisession.testing")  # (before anything imports it: the kit's failures explained)

from wsgisession import MemoryStore, SQLiteStore

from .helpers import FakeClock
from .mongo_fixtures import MONGO_SERVERS, database_on
from .mongo_helpers import commands  # noqa: F401  (fixture)
from .mongo_fixtures import ferretdb, mongo_database, mongo_server, mongo_servers, mongo_uri  # noqa: F401  (fixtures)
from .redis_server import redis_server, redis_url  # noqa: F401  (fixtures)

STORES = ["memory", "sqlite", *MONGO_SERVERS]  # MongoStore once on each MongoDB-protocol server
# Each store again with its session JSON encrypted (crypto=), in one format or the other: the
# whole contract holds at rest too.
SEALED = {"memory": "kruptein", "sqlite": "webcrypto", **{server: "webcrypto" if i % 2 == 0 else "kruptein"
                                                          for i, server in enumerate(MONGO_SERVERS)}}

# No wall-clock checks: a busy 2-core machine must not fail a property that holds. On CI the
# examples are also derandomized, so a failure there reproduces exactly.
_UNTIMED = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", **_UNTIMED)
settings.register_profile("ci", derandomize=True, print_blob=True, **_UNTIMED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@functools.cache
def codec(kind: str):
    """One codec of each kind for the whole run (a WebCrypto key takes 0.1 s to derive)."""
    from wsgisession.crypto import KrupteinCrypto, WebCryptoAdapter

    return WebCryptoAdapter("contract secret") if kind == "webcrypto" else KrupteinCrypto("contract secret")


def open_store(kind: str, clock, request):
    """A fresh, empty store of ``kind`` (one of STORES, or ``name+codec`` for it with ``crypto``) on ``clock``;
    ``request`` gives it a temporary directory or database, removed afterwards."""
    name, _, sealed = kind.partition("+")
    crypto = codec(sealed) if sealed else None
    if name == "memory":
        return MemoryStore(clock=clock, crypto=crypto)
    if name == "sqlite":
        return SQLiteStore(request.getfixturevalue("tmp_path") / "sessions.sqlite3", clock=clock, crypto=crypto)
    from wsgisession import MongoStore

    database = database_on(request, name)
    # interval: FerretDB has no TTL indexes; timestamps: createdAt, so it knows creation times
    return MongoStore(database["sessions"], clock=clock, auto_remove="interval", timestamps=True, crypto=crypto)


@pytest.fixture(params=[*STORES, *(f"{name}+{kind}" for name, kind in SEALED.items())])
def store(request, clock):
    """Every store, fresh and empty, on the injected clock; and each again with ``crypto``."""
    made = open_store(request.param, clock, request)
    yield made
    made.clear()
    made.close()


def pytest_terminal_summary(terminalreporter) -> None:
    """Print what tests measured but must not pass or fail by (``record_property("measured", text)``): a
    count that depends on who wins a server's race (tests/test_lost_updates.py on FerretDB)."""
    lines = [f"{report.nodeid}: {value}" for report in terminalreporter.stats.get("passed", [])
             for name, value in report.user_properties if name == "measured"]
    if lines:
        terminalreporter.write_sep("-", "measured, not asserted")
        for line in lines:
            terminalreporter.write_line(line)
