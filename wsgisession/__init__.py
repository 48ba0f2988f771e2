"""wsgisession: server-side sessions for any WSGI app, compatible with express-session + connect-mongo."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, SessionError, StoreUnavailable
from .middleware import SessionMiddleware, get_session
from .options import CookieOptions
from .session import Session
from .session_cookie import SessionCookie
from .stores.base import Store
from .stores.memory import MemoryStore

if TYPE_CHECKING:
    from .stores.mongo import MongoStore
    from .stores.postgres import PostgresStore
    from .stores.redis import RedisStore
    from .stores.sqlite import SQLiteStore

__all__ = [
    "ConfigurationError",
    "CookieOptions",
    "MemoryStore",
    "MongoStore",
    "PostgresStore",
    "RedisStore",
    "SQLiteStore",
    "Session",
    "SessionCookie",
    "SessionError",
    "SessionMiddleware",
    "Store",
    "StoreUnavailable",
    "get_session",
]

_LAZY = {"MongoStore": ".stores.mongo", "SQLiteStore": ".stores.sqlite", "PostgresStore": ".stores.postgres",
         "RedisStore": ".stores.redis"}


def __getattr__(name: str) -> Any:
    """Import stores with optional dependencies (pymongo, psycopg) only when they are asked for."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
