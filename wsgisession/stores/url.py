"""open_store: a store from a URL, ``sqlite:///path/to/sessions.sqlite3``, ``mongodb://host/db`` or ``redis://host:6379/0``.

SQLite URLs follow SQLAlchemy's convention: the file name is everything after the third slash,
so ``sqlite:///sessions.sqlite3`` is relative to the current directory and
``sqlite:////var/lib/app/sessions.sqlite3`` (four slashes) is absolute. The name is taken
literally, as SQLAlchemy does without ``?uri=true``: ``sqlite:///file:x.sqlite3`` is the file of
that name, never the SQLite URI ``file:x.sqlite3`` (which opens ``x.sqlite3``); only
``sqlite:///:memory:`` keeps its meaning, SQLite's in-memory database.
"""

from __future__ import annotations

import ipaddress
import os
import re

from ..errors import ConfigurationError
from .base import Store

__all__ = ["URL_FORMS", "open_store"]

URL_FORMS = ("sqlite:///relative/path.sqlite3, sqlite:////absolute/path.sqlite3, mongodb://host:27017/db or "
             "redis://host:6379/0 (rediss:// for TLS, unix:///path/to/redis.sock)")


def open_store(url: str, *, collection: str = "sessions", table: str = "sessions", timeout: float = 3.0,
               auto_remove: str = "native") -> Store:
    """The store ``url`` names; nothing is opened or connected yet::

        store = open_store("sqlite:///sessions.sqlite3")
        store = open_store("mongodb://db1:27017/app", collection="web_sessions")
        store = open_store("redis://cache1:6379/0")     # rediss:// (TLS), unix:///run/redis.sock

    ``table`` applies to SQLite, ``collection`` and ``auto_remove`` (MongoStore's option) to
    MongoDB; ``timeout`` (seconds) is SQLite's wait for a lock, MongoDB's bound on each operation,
    Redis's on connecting and on each reply (RedisStore, connect-redis's ``sess:`` prefix).
    A URL that names no store raises ConfigurationError, saying what to write instead; its
    message never repeats the URL, which may hold a password.
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"a store URL must be a str, like {URL_FORMS}; not {type(url).__name__}.")
    scheme, separator, rest = url.partition("://")
    if scheme == "sqlite" and separator:
        from .sqlite import SQLiteStore

        return SQLiteStore(_sqlite_path(rest), table=table, timeout=timeout)
    if scheme in ("mongodb", "mongodb+srv") and separator:
        return _mongo_store(url, rest, collection, timeout, auto_remove)
    if scheme in ("redis", "rediss", "unix") and separator:
        return _redis_store(url, timeout)
    named = f"scheme {scheme!r}" if separator and scheme.isascii() and scheme.replace("+", "").isalnum() else "URL"
    raise ConfigurationError(f"unsupported store {named}: write {URL_FORMS}.")


def _sqlite_path(rest: str) -> str:
    """The file of a SQLite URL (what follows ``sqlite://``): after the third slash, taken as written."""
    if not rest.startswith("/") or rest == "/":
        raise ConfigurationError("a SQLite URL has no host and names a file: write sqlite:///relative/path.sqlite3 "
                                 "(from the current directory) or sqlite:////absolute/path.sqlite3.")
    if "?" in rest:
        raise ConfigurationError("a SQLite URL takes no query parameters: use --table and --timeout "
                                 "(or open_store's table= and timeout=).")
    path = rest[1:]
    # SQLite reads a name that starts with "file:" as a URI whatever sqlite3.connect's uri= says
    # (this build has SQLITE_USE_URI): "./" makes it the file's name again.
    return os.path.join(os.curdir, path) if path.startswith("file:") else path


def _mongo_store(url: str, rest: str, collection: str, timeout: float, auto_remove: str) -> Store:
    _check_hosts(rest)
    # pymongo's own message for a URL without a database speaks of an argument the CLI does not have.
    # (Split as pymongo does: urllib's urlsplit raises on some hosts with a message quoting the password.)
    if not rest.partition("?")[0].partition("/")[2].strip("/"):
        raise ConfigurationError("the MongoDB URL names no database: put it in the path, as in "
                                 "mongodb://host:27017/mydb.")
    try:
        from .mongo import MongoStore
    except ImportError as exc:
        raise ConfigurationError("MongoDB stores need pymongo: pip install 'wsgisession[mongo]'.") from exc
    return MongoStore.from_url(url, collection=collection, server_selection_timeout=timeout, auto_remove=auto_remove)


def _redis_store(url: str, timeout: float) -> Store:
    try:
        from .redis import RedisStore
    except ImportError as exc:
        raise ConfigurationError("Redis stores need redis-py: pip install 'wsgisession[redis]'.") from exc
    return RedisStore.from_url(url, timeout=timeout)


_BRACKETED = re.compile(r"\[([^\[\]]+)\](?::[0-9]*)?")


def _check_hosts(rest: str) -> None:
    """Refuse an IPv6 host that is not written ``[address]`` or ``[address]:port``, saying so
    (urllib raises a bare ValueError, pymongo a message that needs reading twice)."""
    hosts = rest.partition("/")[0].partition("?")[0].rpartition("@")[2]  # as pymongo splits them
    for host in hosts.split(","):
        if "[" in host or "]" in host:
            bracketed = _BRACKETED.fullmatch(host)
            ok = bracketed is not None and _is_ipv6(bracketed.group(1))
        else:
            ok = host.count(":") <= 1
        if not ok:
            raise ConfigurationError("a host in the MongoDB URL is not a valid host or IPv6 address: write an "
                                     "IPv6 host in brackets, the port after them, as in mongodb://[::1]:27017/db.")


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
