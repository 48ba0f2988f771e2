"""``python -m wsgisession``, run as a process against SQLite files and the MongoDB-protocol servers.

Stores are filled in this process; the command line runs in another one, on the real clock, so
what should be expired is written already expired, and what should be live expires in hours.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from webtest import TestApp

from wsgisession import SessionMiddleware, SQLiteStore, Store, get_session
from wsgisession.serialization import format_iso
from wsgisession.stores.base import Account, Record

from .mongo_fixtures import MONGO_SERVERS, database_on
from .mongo_helpers import uri_with_database
from .mongo_server import free_port
from .postgres_fixtures import postgres_server  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
HOUR = 3_600_000  # ms
NOW = int(time.time()) * 1000  # whole seconds, so that the printed times are exact
SIDS = {"alice-laptop": "Zk3pQ9w2Lr7vN1xT5bY8cH4mJ6sD0fGa", "alice-phone": "Qm8zR2tY6uI1oP4aS7dF0gH3jK5lL9xC",
        "bob": "Vb6nM1qW4eR7tY0uI3oP5aS8dF2gH9jK", "anonymous": "Xc5vB8nM2qW6eR9tY1uI4oP7aS0dF3gH"}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "wsgisession", *args]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The command line with ``args``, stdin not a terminal; never a traceback, never a session id."""
    result = subprocess.run(command(*args), capture_output=True, text=True, cwd=cwd, env=ENV,
                            stdin=subprocess.DEVNULL, timeout=120)
    assert "Traceback" not in result.stderr
    assert not any(sid in result.stdout + result.stderr for sid in SIDS.values())
    return result


def assert_error(result: subprocess.CompletedProcess[str], status: int, says: str) -> None:
    assert result.returncode == status
    assert result.stdout == ""
    assert result.stderr.startswith("wsgisession: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert says in result.stderr


def logged_in(user: str, seen_ms: int, agent: str | None = "Mozilla/5.0", lifetime_ms: int = 2 * HOUR) -> Record:
    """A session of ``user``, logged in an hour before it was last seen, expiring ``lifetime_ms`` after."""
    expires = seen_ms + lifetime_ms
    text = json.dumps({"cookie": {"originalMaxAge": lifetime_ms, "expires": format_iso(expires), "httpOnly": True,
                                  "path": "/"}, "cart": [1, 2]})
    return Record(text, expires, None, Account(user, seen_ms - HOUR, seen_ms - HOUR, agent))


def anonymous(expires_ms: int) -> Record:
    return Record(json.dumps({"cookie": {"originalMaxAge": None, "expires": None, "path": "/"}}), expires_ms)


class Target(NamedTuple):
    store: Store  # in this process
    url: str  # for the command line


@pytest.fixture(params=["sqlite", *MONGO_SERVERS, "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """An empty store, and its URL: an SQLite file, a database on each MongoDB server, a PostgreSQL database."""
    if request.param == "postgres":
        from wsgisession import PostgresStore

        from .postgres_fixtures import drop_database, fresh_database

        server = request.getfixturevalue("postgres_server")
        url = fresh_database(server)
        request.addfinalizer(lambda: drop_database(server, url))
        store = PostgresStore(url)
        store.length()  # creates the table
    elif request.param == "sqlite":
        path = tmp_path / "sessions.sqlite3"
        store: Store = SQLiteStore(path)
        store.length()  # creates the file
        url = f"sqlite:///{path}"  # an absolute path: four slashes
    else:
        from wsgisession import MongoStore

        database = database_on(request, request.param)
        store = MongoStore(database["sessions"], auto_remove="disabled")
        url = uri_with_database(request.getfixturevalue("mongo_servers").uri(request.param), database.name)
    yield Target(store, url)
    store.close()


def fill(store: Store) -> None:
    """Alice on two devices, Bob on one, an anonymous session, two expired ones."""
    store.write(SIDS["alice-laptop"], logged_in("alice", NOW - 60_000, "Firefox\x1b[2J\nevil"))
    store.write(SIDS["alice-phone"], logged_in("alice", NOW - 5_000, None))
    store.write(SIDS["bob"], logged_in("bob", NOW - 30_000, "curl/8.5"))
    store.write(SIDS["anonymous"], anonymous(NOW + HOUR))
    for n in range(2):
        store.write(f"expired-{n}", anonymous(NOW - 1000 - n))  # (apart: MongoStore purges ties together)


@pytest.fixture
def filled(target: Target) -> Target:
    fill(target.store)
    return target


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Any:
    """A filled SQLite store and its URL (for what does not depend on the store)."""
    store = SQLiteStore(tmp_path / "sessions.sqlite3")
    fill(store)
    yield Target(store, f"sqlite:///{store.path}")
    store.close()


def iso(ms: int) -> str:
    return format_iso(ms)[:19] + "Z"


def test_count_prints_the_live_sessions_first(filled):
    result = run("--store", filled.url, "count")
    assert (result.returncode, result.stdout, result.stderr) == (0, "4 sessions (3 logged in)\n", "")


def test_list_shows_every_logged_in_session_and_never_an_id(filled):
    result = run("--store", filled.url, "list")
    assert result.returncode == 0 and result.stderr == ""
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["USER", "LOGGED", "IN", "LAST", "SEEN", "EXPIRES", "USER", "AGENT"]
    phone, laptop = NOW - 5_000, NOW - 60_000
    assert [row.split() for row in rows] == [
        ["alice", iso(phone - HOUR), iso(phone), iso(phone + 2 * HOUR), "-"],  # the most recently seen first
        ["alice", iso(laptop - HOUR), iso(laptop), iso(laptop + 2 * HOUR), r"Firefox\x1b[2J\nevil"],
        ["bob", iso(NOW - 30_000 - HOUR), iso(NOW - 30_000), iso(NOW - 30_000 + 2 * HOUR), "curl/8.5"],
    ]
    assert "\x1b" not in result.stdout  # stored text cannot drive the terminal


def test_list_one_user(filled):
    result = run("--store", filled.url, "list", "--user", "bob")
    assert result.returncode == 0
    assert [row.split()[0] for row in result.stdout.splitlines()] == ["USER", "bob"]
    nobody = run("--store", filled.url, "list", "--user", "carol")
    assert (nobody.returncode, nobody.stdout, nobody.stderr) == (0, "", "no sessions of carol\n")


def test_revoke_ends_every_session_of_the_user(filled):
    result = run("--store", filled.url, "revoke", "--user", "alice")
    assert (result.returncode, result.stdout, result.stderr) == (0, "revoked 2 sessions of alice\n", "")
    store = filled.store
    assert list(store.iter_bound("alice")) == []
    assert store.load(SIDS["alice-laptop"]) is None and store.load(SIDS["alice-phone"]) is None
    assert store.load(SIDS["bob"]) is not None and store.load(SIDS["anonymous"]) is not None
    again = run("--store", filled.url, "revoke", "--user", "alice")
    assert again.stdout == "revoked 0 sessions of alice\n"


def test_purge_deletes_the_expired_records_only(filled):
    assert filled.store.count_expired() == 2
    result = run("--store", filled.url, "purge", "--batch", "1")
    assert (result.returncode, result.stdout) == (0, "purged 2 expired sessions\n")
    assert result.stderr == "purging 1/2 (50%)\npurging 2/2 (100%)\n"  # more than one batch: progress
    assert filled.store.count_expired() == 0
    assert filled.store.length() == 4
    filled.store.write("expired-again", anonymous(NOW - 1000))
    again = run("--store", filled.url, "purge")
    assert (again.returncode, again.stdout, again.stderr) == (0, "purged 1 expired session\n", "")


def test_clear_with_yes_deletes_everything(filled):
    result = run("--store", filled.url, "clear", "--yes")
    assert (result.returncode, result.stdout, result.stderr) == (0, "deleted 4 sessions\n", "")
    assert filled.store.length() == 0 and filled.store.count_expired() == 0


def test_clear_without_yes_and_no_terminal_is_refused(filled):
    assert_error(run("--store", filled.url, "clear"), 1, "pass --yes")
    assert filled.store.length() == 4


def test_a_custom_table_or_collection(target):
    if isinstance(target.store, SQLiteStore):
        store: Store = SQLiteStore(target.store.path, table="web_sessions")
        option = ["--table", "web_sessions"]
    elif target.url.startswith("postgresql://"):
        store = type(target.store)(target.url, table="web_sessions")
        option = ["--table", "web_sessions"]
    else:
        store = type(target.store)(target.store.collection.database["web_sessions"], auto_remove="disabled")
        option = ["--collection", "web_sessions"]
    try:
        store.write(SIDS["bob"], logged_in("bob", NOW))
        assert run("--store", target.url, *option, "count").stdout == "1 session (1 logged in)\n"
        assert run("--store", target.url, "count").stdout == "0 sessions (0 logged in)\n"
    finally:
        store.close()
    wrong = ["--collection", "web_sessions"] if option[0] == "--table" else ["--table", "web_sessions"]
    assert_error(run("--store", target.url, *wrong, "count"), 2, "is for")


# -- failures: one line, the right status --------------------------------------------------------------

@pytest.mark.parametrize("url", [
    pytest.param("mysql://admin:hunter2@db/app", id="other-scheme"),
    pytest.param("sessions.sqlite3", id="a-bare-path"),
    pytest.param("sqlite://db/sessions.sqlite3", id="sqlite-host"),
    pytest.param("mongodb://admin:hunter2@127.0.0.1:27017", id="mongo-no-database"),
    pytest.param("mongodb://127.0.0.1:99999999/db", id="mongo-bad-port"),
])
def test_a_bad_url_is_a_usage_error(url):
    result = run("--store", url, "count")
    assert_error(result, 2, "")
    assert "hunter2" not in result.stderr


def test_bad_arguments_are_usage_errors(tmp_path):
    assert_error(run("--store", f"sqlite:///{tmp_path}/s.sqlite3", "revoke"), 2, "required: --user")
    assert_error(run("--store", f"sqlite:///{tmp_path}/s.sqlite3", "purge", "--batch", "0"), 2, "--batch")
    assert_error(run("--store", f"sqlite:///{tmp_path}/s.sqlite3", "--timeout", "-1", "count"), 2, "timeout")
    assert_error(run("--store", f"sqlite:///{tmp_path}/s.sqlite3"), 2, "python -m wsgisession --help")


@pytest.mark.parametrize("command", ["list", "revoke"])
def test_a_user_that_is_not_utf8_is_a_usage_error(sqlite_file, command):
    # bytes that are not UTF-8 reach sys.argv as lone surrogates (surrogateescape)
    before = run("--store", sqlite_file.url, "count").stdout
    result = run("--store", sqlite_file.url, command, "--user", os.fsdecode(b"ab\xff"))
    assert_error(result, 2, "argument --user: a user id must be encodable as UTF-8")
    assert run("--store", sqlite_file.url, "count").stdout == before


def test_an_unreachable_mongodb_fails_fast_in_one_line_that_says_what_to_check():
    port = free_port()  # nothing listens there
    started = time.monotonic()
    result = run("--store", f"mongodb://admin:hunter2@127.0.0.1:{port}/app", "--timeout", "0.5", "count")
    assert time.monotonic() - started < 15
    assert_error(result, 1, "no MongoDB server answered within --timeout 0.5 s: check that the server runs and "
                            "is reachable")
    assert "hunter2" not in result.stderr and str(port) not in result.stderr


def _mongo_failures() -> list[Any]:
    from pymongo.errors import AutoReconnect, ExecutionTimeout, NetworkTimeout, OperationFailure

    return [
        pytest.param(NetworkTimeout("db1:27017: timed out"), "stopped answering (--timeout 2 s)", id="network-timeout"),
        pytest.param(AutoReconnect("db1:27017: connection reset"), "stopped answering", id="reset"),
        pytest.param(OperationFailure("Authentication failed.", code=18), "check the user, password and authSource",
                     id="credentials"),
        pytest.param(ExecutionTimeout("operation exceeded time limit", code=50), "took longer than --timeout 2 s",
                     id="slow"),
        pytest.param(OperationFailure("not primary", code=10107), "length failed (OperationFailure, code 10107)",
                     id="other"),
    ]


@pytest.mark.parametrize(("cause", "says"), _mongo_failures())
def test_other_mongodb_failures_say_what_to_check_never_the_drivers_message(cause, says):
    from wsgisession.cli import _advice
    from wsgisession.errors import StoreUnavailable

    try:
        raise StoreUnavailable(f"MongoDB session store: length failed ({type(cause).__name__}"
                               + (f", code {cause.code}" if getattr(cause, "code", None) else "") + ").") from cause
    except StoreUnavailable as exc:
        advice = _advice(exc, 2.0)
    assert says in advice and "db1" not in advice


@pytest.mark.parametrize(("query", "says"), [
    pytest.param("tls=true&tlsCAFile=nowhere-ca.pem", "the MongoDB URL's tlsCAFile cannot be read", id="ca"),
    pytest.param("tls=true&tlsCertificateKeyFile=nowhere-key.pem", "tlsCertificateKeyFile cannot be read", id="key"),
])
def test_a_missing_tls_file_is_a_usage_error_in_one_line(tmp_path, query, says):
    result = run("--store", f"mongodb://admin:hunter2@127.0.0.1:{free_port()}/app?{query}", "count", cwd=tmp_path)
    assert_error(result, 2, says)
    assert f"check the path it gives (a relative one is from {tmp_path})" in result.stderr
    assert "hunter2" not in result.stderr and "nowhere" not in result.stderr


@pytest.mark.parametrize("hosts", ["[::1:27017", "::1:27017", "::1]:27017", "[::1]x:27017"])
def test_a_malformed_ipv6_host_is_a_usage_error_in_one_line(hosts):
    result = run("--store", f"mongodb://admin:hunter2@{hosts}/app", "count")
    assert_error(result, 2, "write an IPv6 host in brackets, the port after them, as in mongodb://[::1]:27017/db")
    assert "hunter2" not in result.stderr


def test_a_missing_sqlite_file_is_not_created(tmp_path):
    assert_error(run("--store", f"sqlite:///{tmp_path}/missing.sqlite3", "count"), 1, "no such database file")
    relative = run("--store", "sqlite:///missing.sqlite3", "purge", cwd=tmp_path)
    assert_error(relative, 1, f"relative to {tmp_path}")
    assert list(tmp_path.iterdir()) == []


def test_a_file_uri_in_a_sqlite_url_is_a_file_name(tmp_path):
    # SQLite reads a name starting with "file:" as a URI: sqlite:///file:X would open (and create) X
    store = SQLiteStore(tmp_path / "file:X")
    store.write("sid", anonymous(NOW + HOUR))
    store.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert run("--store", "sqlite:///file:X", "count", cwd=tmp_path).stdout == "1 session (0 logged in)\n"
    assert run("--store", "sqlite:///file:X", "purge", cwd=tmp_path).returncode == 0
    assert_error(run("--store", "sqlite:///file:Y", "count", cwd=tmp_path), 1, "no such database file: ./file:Y")
    assert sorted(p.name for p in tmp_path.iterdir()) == before == ["file:X"]


def test_sqlite_memory_is_refused_and_a_file_of_that_name_opens_with_dot_slash(tmp_path):
    store = SQLiteStore(tmp_path / ":memory:")
    store.write("sid", anonymous(NOW + HOUR))
    store.close()
    assert_error(run("--store", "sqlite:///:memory:", "count", cwd=tmp_path), 2, "sqlite:///./:memory:")
    assert run("--store", "sqlite:///./:memory:", "count", cwd=tmp_path).stdout == "1 session (0 logged in)\n"


def test_a_missing_postgres_table_is_not_created(postgres_server):  # noqa: F811
    import psycopg

    from .postgres_fixtures import drop_database, fresh_database

    url = fresh_database(postgres_server)
    try:
        assert_error(run("--store", url, "count"), 1, "no table 'session'")
        assert_error(run("--store", url, "--table", "web", "purge"), 1, "no table 'web'")
        with psycopg.connect(url) as connection:
            assert connection.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
        assert_error(run("--store", url, "--collection", "web", "count"), 2, "a PostgreSQL store has a --table")
    finally:
        drop_database(postgres_server, url)


def test_a_missing_sqlite_table_is_not_created(tmp_path):
    sqlite3.connect(tmp_path / "other.sqlite3").execute("CREATE TABLE t (x)").connection.close()
    assert_error(run("--store", f"sqlite:///{tmp_path}/other.sqlite3", "list"), 1, "no table 'sessions'")


def test_a_relative_sqlite_url_is_from_the_current_directory(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store.write("sid", anonymous(NOW + HOUR))
    store.close()
    assert run("--store", "sqlite:///s.sqlite3", "count", cwd=tmp_path).stdout == "1 session (0 logged in)\n"


def test_help_explains_the_url_forms():
    result = run("--help")
    assert result.returncode == 0
    assert "sqlite:///sessions.sqlite3" in result.stdout and "sqlite:////" in result.stdout
    assert "third slash" in result.stdout and "mongodb://" in result.stdout


# -- progress and the terminal ---------------------------------------------------------------------

def expired_rows(path: Path, n: int) -> None:
    """``n`` expired sessions written in one statement (the store made the table)."""
    store = SQLiteStore(path)
    store.length()
    store.close()
    with sqlite3.connect(path) as db:
        db.executemany("INSERT INTO sessions (sid, expires, session, created) VALUES (?, ?, ?, ?)",
                       ((f"old-{i}", NOW - HOUR, '{"cookie":{}}', NOW - 2 * HOUR) for i in range(n)))
    db.close()


def test_a_long_purge_reports_progress_on_stderr(tmp_path):
    expired_rows(tmp_path / "s.sqlite3", 20_000)
    result = run("--store", f"sqlite:///{tmp_path}/s.sqlite3", "purge", "--batch", "1000")
    assert (result.returncode, result.stdout) == (0, "purged 20000 expired sessions\n")
    assert result.stderr.splitlines() == [f"purging {k * 2000}/20000 ({k * 10}%)" for k in range(1, 11)]
    store = SQLiteStore(tmp_path / "s.sqlite3")
    assert store.count_expired() == 0
    store.close()


def on_terminal(*args: str, answer: bytes = b"", interrupt_after: bytes = b"") -> tuple[int, str, str]:
    """Run with stdin and stderr on a pseudo-terminal; type ``answer``, or press Ctrl-C once
    ``interrupt_after`` is shown. Return the status, stdout, and what the terminal showed."""
    master, slave = pty.openpty()
    process = subprocess.Popen(command(*args), stdin=slave, stderr=slave, stdout=subprocess.PIPE, env=ENV)
    os.close(slave)
    shown = b""
    try:
        os.write(master, answer)
        while select.select([master], [], [], 30)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            shown += chunk
            if interrupt_after and interrupt_after in shown:
                process.send_signal(signal.SIGINT)
                interrupt_after = b""
        stdout, _ = process.communicate(timeout=30)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return process.returncode, stdout.decode(), shown.decode()


@pytest.mark.parametrize(("answer", "status", "left"), [(b"y\n", 0, 0), (b"n\n", 1, 4), (b"\n", 1, 4)])
def test_clear_asks_on_a_terminal(sqlite_file, answer, status, left):
    code, stdout, shown = on_terminal("--store", sqlite_file.url, "clear", answer=answer)
    assert f"Delete all 4 sessions in {sqlite_file.store!r}? [y/N] " in shown
    assert code == status and sqlite_file.store.length() == left
    assert stdout == ("deleted 4 sessions\n" if status == 0 else "")
    assert status == 0 or "wsgisession: error: nothing deleted" in shown


def test_ctrl_c_exits_130_in_one_line(sqlite_file):
    code, stdout, shown = on_terminal("--store", sqlite_file.url, "clear", interrupt_after=b"[y/N]")
    assert code == 130 and stdout == ""
    assert shown.endswith("wsgisession: error: interrupted\r\n") and "Traceback" not in shown
    assert sqlite_file.store.length() == 4


def test_progress_on_a_terminal_is_one_line_redrawn(tmp_path):
    expired_rows(tmp_path / "s.sqlite3", 5000)
    code, stdout, shown = on_terminal("--store", f"sqlite:///{tmp_path}/s.sqlite3", "purge", "--batch", "1000")
    assert (code, stdout) == (0, "purged 5000 expired sessions\n")
    assert shown == "".join(f"\rpurging {k * 1000}/5000 ({k * 20}%)" for k in range(1, 6)) + "\r\n"


# -- with the middleware -----------------------------------------------------------------------------

def test_what_the_middleware_stores_is_listed_and_revoked(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite3")

    def app(environ, start_response):
        session = get_session(environ)
        if environ["PATH_INFO"] == "/login":
            session.login("alice")
        body = str(session.user_id).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    web = TestApp(SessionMiddleware(app, secret="a test secret, long enough to be safe", store=store))
    web.get("/login", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert web.get("/").text == "alice"
    sid = next(iter(store.all()))
    url = f"sqlite:///{tmp_path}/s.sqlite3"

    listed = run("--store", url, "list")
    assert listed.returncode == 0 and sid not in listed.stdout
    (row,) = listed.stdout.splitlines()[1:]
    assert row.startswith("alice  ") and row.endswith("Mozilla/5.0 (X11; Linux x86_64)")
    assert run("--store", url, "revoke", "--user", "alice").stdout == "revoked 1 session of alice\n"
    assert web.get("/").text == "None"
    store.close()
