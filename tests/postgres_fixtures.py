"""The PostgreSQL fixtures: one private server (tests/postgres_server.py) for the whole pytest session.

``postgres_server`` starts it on first use and stops it at the end; a server that cannot start
fails the test with its log (never a skip). ``postgres_url`` is a fresh, empty database on it for
one test, dropped afterwards. Tests that stop or restart the server start their own
(``postgres_server.started()``), so they never disturb the shared one.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from .postgres_server import PostgresServer, ServerMissing, started

__all__ = ["fresh_database", "postgres_server", "postgres_url"]

_names = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = started()
    except ServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.close()


def fresh_database(server: PostgresServer) -> str:
    """Create an empty database on ``server``; return its URL."""
    import psycopg

    name = f"test_{next(_names)}"
    with psycopg.connect(server.url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name}")
        connection.execute(f"CREATE DATABASE {name}")
    return server.database_url(name)


def drop_database(server: PostgresServer, url: str) -> None:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {url.rpartition('/')[2]} WITH (FORCE)")


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for this test (dropped afterwards)."""
    url = fresh_database(postgres_server)
    yield url
    drop_database(postgres_server, url)
