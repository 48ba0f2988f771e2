"""The ops command line: ``python -m wsgisession --store URL COMMAND`` counts, lists, ends and purges sessions.

The answer goes to stdout, its first word a number where there is one (for scripts); progress,
prompts and errors go to stderr, an error as one line with a non-zero status. A session id is
never printed: sessions are named by their user, their times and their browser.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from datetime import datetime, timezone
from typing import NoReturn

from .accounts import Accounts, check_user_id
from .errors import ConfigurationError, SessionError, StoreUnavailable
from .events import Events
from .lifecycle import run
from .stores.base import Store
from .stores.sqlite import SQLiteStore
from .stores.url import open_store

__all__ = ["build_parser", "main"]

PROG = "wsgisession"
MIN_BATCH = 1000  # records per purge round at least; by default a twentieth of them (progress in 5% steps)
EPILOG = """\
store URLs (SQLite paths as in SQLAlchemy: the file name is everything after the third slash):
  sqlite:///sessions.sqlite3         relative to the current directory (three slashes)
  sqlite:////var/lib/app/s.sqlite3   absolute (four slashes); a path is a file name, even file:...
  mongodb://host:27017/db            a MongoDB database, mongodb+srv:// too; the URL is never printed
  mongodb://[::1]:27017/db           an IPv6 host, in brackets
  redis://host:6379/0                a Redis database, connect-redis's sess: keys; rediss:// (TLS),
                                     unix:///run/redis/redis.sock too; the URL is never printed

Session ids are never printed. Exit status: 0 done, 1 failed or refused, 2 bad arguments or URL,
130 interrupted.
"""


class Parser(argparse.ArgumentParser):
    """argparse's parser, but a usage error is one line on stderr (status 2), as every error here is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {' '.join(message.split())}; python -m {self.prog} --help shows the usage\n")


class Refused(Exception):
    """The command will not run (a missing file, no confirmation); the message says why."""


def _user(text: str) -> str:
    try:
        return check_user_id(text)
    except SessionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _batch(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m wsgisession``."""
    parser = Parser(
        prog=PROG, description="Inspect and maintain the sessions of a wsgisession (or connect-mongo) store.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True, metavar="URL",
                        help="sqlite:///relative/path.sqlite3, sqlite:////absolute/path.sqlite3, mongodb://host/db "
                        "or redis://host:6379/0")
    parser.add_argument("--collection", metavar="NAME", help="the MongoDB collection (default: sessions)")
    parser.add_argument("--table", metavar="NAME", help="the SQLite table (default: sessions)")
    parser.add_argument("--timeout", type=float, default=3.0, metavar="SECONDS",
                        help="bound on each MongoDB operation or Redis reply, wait for a busy SQLite file (default: 3); "
                        "raise it for slow operations on large stores")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("count", help="how many sessions are live, and how many logged in")
    listing = commands.add_parser("list", help="the logged-in sessions: user, logged in, last seen, expires, "
                                  "user agent (UTC)")
    listing.add_argument("--user", type=_user, metavar="USER", help="only this user's sessions")
    revoke = commands.add_parser("revoke", help="end every session of a user")
    revoke.add_argument("--user", type=_user, required=True, metavar="USER")
    purge = commands.add_parser("purge", help="delete the expired records now")
    purge.add_argument("--batch", type=_batch, metavar="N",
                       help=f"records deleted per round (default: a twentieth of them, at least {MIN_BATCH})")
    clear = commands.add_parser("clear", help="delete every session (asks first)")
    clear.add_argument("--yes", action="store_true", help="do not ask (needed when stdin is not a terminal)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    store: Store | None = None
    try:
        store = _open(args)
        status = COMMANDS[args.command](store, args)
        sys.stdout.flush()  # a closed pipe fails here, not at exit with a traceback
        return status
    except ConfigurationError as exc:
        return _fail(exc, 2)
    except StoreUnavailable as exc:
        return _fail(_advice(exc, args.timeout), 1)
    except (SessionError, Refused) as exc:
        return _fail(exc, 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:  # `... list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        if store is not None:
            store.close()


def _fail(reason: object, status: int) -> int:
    print(f"{PROG}: error: {' '.join(str(reason).split())}", file=sys.stderr)
    return status


def _advice(exc: StoreUnavailable, timeout: float) -> str:
    """What to do about a store that failed, where the driver's error says (MongoDB); else the store's message.
    Never the driver's own message: it names hosts, and the URL may hold a password."""
    cause = exc.__cause__
    if type(cause).__module__.startswith("redis."):
        from redis.exceptions import AuthenticationError, ConnectionError, TimeoutError

        if isinstance(cause, AuthenticationError):
            return f"{exc} The server refused the credentials: check the user and password in the URL."
        if isinstance(cause, (ConnectionError, TimeoutError)):
            return (f"no Redis server answered within --timeout {timeout:g} s: check that the server runs and is "
                    "reachable from here (the URL's host and port, rediss:// for TLS), and the --timeout")
        return str(exc)
    if not type(cause).__module__.startswith("pymongo."):
        return str(exc)
    from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError, ServerSelectionTimeoutError

    if isinstance(cause, ServerSelectionTimeoutError):
        return (f"no MongoDB server answered within --timeout {timeout:g} s: check that the server runs and is "
                "reachable from here (the URL's hosts and ports, its TLS options), and the --timeout")
    if isinstance(cause, ConnectionFailure):
        return (f"the MongoDB server stopped answering (--timeout {timeout:g} s): check that it runs and is "
                "reachable from here, or raise --timeout for slow operations on a large store")
    if isinstance(cause, OperationFailure) and cause.code == 18:
        return f"{exc} The server refused the credentials: check the user, password and authSource in the URL."
    if isinstance(cause, PyMongoError) and cause.timeout:
        return f"a MongoDB operation took longer than --timeout {timeout:g} s: raise --timeout for a large store"
    return str(exc)


def _open(args: argparse.Namespace) -> Store:
    """The store of ``--store``; an SQLite file and table must exist (never create an empty database)."""
    store = open_store(args.store, collection=args.collection or "sessions", table=args.table or "sessions",
                       timeout=args.timeout, auto_remove="disabled")  # no TTL index made: `purge` is explicit
    try:
        if isinstance(store, SQLiteStore):
            if args.collection:
                raise ConfigurationError("--collection is for MongoDB URLs; an SQLite store has a --table.")
            _check_sqlite(store, args.timeout)
        elif _is_redis(store):
            if args.table or args.collection:
                raise ConfigurationError("--table and --collection are for SQLite and MongoDB URLs; a Redis store "
                                         "keeps connect-redis's sess: keys.")
        elif args.table:
            raise ConfigurationError("--table is for SQLite URLs; a MongoDB store has a --collection.")
    except BaseException:
        store.close()
        raise
    return store


def _is_redis(store: Store) -> bool:
    return type(getattr(store, "inner", store)).__name__ == "RedisStore"  # (no import of redis-py for the others)


def _check_sqlite(store: SQLiteStore, timeout: float) -> None:
    path = store.path
    if path == ":memory:":  # (open_store keeps SQLAlchemy's meaning; ./:memory: is a file of that name)
        raise ConfigurationError("sqlite:///:memory: is SQLite's in-memory database, which holds no sessions to "
                                 "maintain: name the database file (sqlite:///./:memory: for a file named :memory:)")
    if not os.path.isfile(path):
        where = "" if os.path.isabs(path) else f" (sqlite:/// paths are relative to {os.getcwd()}; " \
                                               "sqlite://// starts an absolute one)"
        raise Refused(f"no such database file: {path}{where}")
    try:
        with closing(sqlite3.connect(path, timeout=timeout)) as db:
            found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (store.table,))
            if found.fetchone() is None:
                raise Refused(f"{path} has no table {store.table!r}: check --table")
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"SQLite file {path} cannot be read: {exc}") from exc


# -- the commands: each prints its answer and returns the exit status ---------------------------------

def count(store: Store, args: argparse.Namespace) -> int:
    total = store.length()
    bound = sum(1 for _ in store.iter_bound())
    print(f"{total} {_plural(total, 'session')} ({bound} logged in)")
    return 0


def list_sessions(store: Store, args: argparse.Namespace) -> int:
    accounts = Accounts(store, Events(), time.time, secret=b"cli")  # its handles are never printed
    # Described as sessions_of does (last_seen above all), every user's records from one query.
    infos = [accounts.describe(bound) for bound in store.iter_bound(args.user)]
    infos.sort(key=lambda info: (info.user_id, -(info.last_seen or 0)))
    if not infos:
        print("no logged-in sessions" if args.user is None else f"no sessions of {_printable(args.user)}",
              file=sys.stderr)
        return 0
    rows = [("USER", "LOGGED IN", "LAST SEEN", "EXPIRES", "USER AGENT")] + [
        (_printable(i.user_id), _utc(i.created), _utc(i.last_seen), _utc(i.expires), _printable(i.user_agent))
        for i in infos]
    width = max(len(row[0]) for row in rows)
    for user, *times, agent in rows:
        print("  ".join([user.ljust(width), *(t.ljust(20) for t in times), agent]).rstrip())
    return 0


def revoke(store: Store, args: argparse.Namespace) -> int:
    ended = run(Accounts(store, Events(), time.time, secret=b"cli").revoke_all(args.user), store)
    print(f"revoked {ended} {_plural(ended, 'session')} of {_printable(args.user)}")
    return 0


def purge(store: Store, args: argparse.Namespace) -> int:
    total = store.count_expired()
    batch = args.batch or max(MIN_BATCH, -(-total // 20))
    progress = Progress("purging", total) if total > batch else None
    done = 0
    try:
        while purged := store.purge(limit=batch):
            done += purged
            if progress is not None:
                progress.update(done)
    finally:  # also after a failure or Ctrl-C: what was deleted is deleted
        if progress is not None:
            progress.end()
        print(f"purged {done} expired {_plural(done, 'session')}")
    return 0


def clear(store: Store, args: argparse.Namespace) -> int:
    total = store.length()
    what = f"all {total} {_plural(total, 'session')}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise Refused(f"not deleting {what} without confirmation: stdin is not a terminal; pass --yes")
        print(f"Delete {what} in {store!r}? [y/N] ", end="", file=sys.stderr, flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise Refused("nothing deleted")
    store.clear()
    print(f"deleted {total} {_plural(total, 'session')}")
    return 0


COMMANDS: dict[str, Callable[[Store, argparse.Namespace], int]] = {
    "count": count, "list": list_sessions, "revoke": revoke, "purge": purge, "clear": clear}


class Progress:
    """``purging 12000/20000 (60%)`` on stderr: one line redrawn on a terminal, else a line per tenth."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, total
        self.terminal = sys.stderr.isatty()
        self.shown = 0  # the tenths printed so far (not on a terminal)

    def update(self, done: int) -> None:
        percent = min(100, done * 100 // self.total)
        line = f"{self.label} {done}/{self.total} ({percent}%)"
        if self.terminal:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif percent // 10 > self.shown:
            self.shown = percent // 10
            print(line, file=sys.stderr, flush=True)

    def end(self) -> None:
        if self.terminal:
            print(file=sys.stderr)


def _plural(n: int, noun: str) -> str:
    return noun if n == 1 else noun + "s"


def _printable(text: str | None) -> str:
    """Stored text as one harmless line: control and format characters (a terminal escape, a
    newline, a bidi override another writer left) are shown escaped."""
    if text is None:
        return "-"
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _utc(seconds: float | None) -> str:
    """ISO-8601 UTC to the second; ``-`` when unknown or out of range."""
    try:
        return "-" if seconds is None else datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return "-"
