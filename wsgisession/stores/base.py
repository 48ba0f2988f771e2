"""The Store protocol every session store implements, and the expiry rule they share.

A store keeps *records*: JSON-ready dicts ``{"cookie": {...express cookie JSON...}, **data}``,
keyed by the session id. It knows nothing of HTTP, cookies or signing. Expiry follows
connect-mongo: ``record["cookie"]["expires"]`` when set, else now + ``ttl`` seconds; an expired
record reads as missing, whether or not it has been purged yet.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ..errors import ConfigurationError, SessionError
from ..serialization import datetime_to_ms, loads, parse_iso

__all__ = ["DEFAULT_TTL", "MAX_SIZE", "Loaded", "Store", "check_size", "expiry_ms", "parse_record", "validate_ttl"]

DEFAULT_TTL = 14 * 24 * 3600  # seconds, connect-mongo's default
MAX_SIZE = 15 * 1024 * 1024  # bytes of session JSON: under MongoDB's 16 MiB document limit, in every store

Record = dict[str, Any]
logger = logging.getLogger(__name__)


class Loaded(NamedTuple):
    """What ``load`` returns: the record, the version to compare-and-set against, its creation time."""

    record: Record
    version: Any  # opaque: what the store holds for this record now
    created_ms: int | None  # epoch ms of the first write, when the store knows it


@runtime_checkable
class Store(Protocol):
    """What ``SessionMiddleware`` needs from a store (express-session's Store method names)."""

    def get(self, sid: str) -> Record | None:
        """The record, or None if it is missing or expired."""

    def set(self, sid: str, session: Record, *, created_ms: int | None = None) -> None:
        """Create or replace the record.

        ``created_ms`` (given only to stores with ``tracks_creation``) sets its creation time:
        a regenerated session keeps its own. Without it, a new record is created now.
        """

    def touch(self, sid: str, session: Record) -> None:
        """Extend the record's expiry without rewriting its data."""

    def destroy(self, sid: str) -> bool | None:
        """Delete the record; a missing record is not an error.

        Return whether there was one (None: the store cannot tell). A session whose record is
        found gone when it is regenerated was destroyed by another request, and stays so.
        """

    def all(self) -> dict[str, Record]:
        """Every live record by id."""

    def length(self) -> int:
        """How many live records there are."""

    def clear(self) -> None:
        """Delete every record."""

    def close(self) -> None:
        """Release connections and timers; the store is not used afterwards."""

    # Concurrency-safe saves (every store of this package has them; SessionMiddleware's
    # concurrency="overwrite" works with stores that only have the methods above).

    tracks_creation: bool  # whether load() reports creation times (needed by absolute_timeout)

    def load(self, sid: str) -> Loaded | None:
        """Like ``get``, with the version token and creation time."""

    def save(self, sid: str, session: Record, version: Any, *, created_ms: int | None = None) -> Any:
        """Write only if the stored record is still ``version`` (None: only if there is none).

        ``created_ms`` as in ``set``.
        Return the new version, or None when the record changed or vanished meanwhile: a
        destroyed session is never recreated by a request that loaded it before.
        """


def parse_record(text: str | bytes) -> Record | None:
    """A stored record's JSON text as a dict, or None for anything else (never an exception).

    Stored data is input too: another writer may have left text that is not JSON, not UTF-8,
    or nested deeper than the parser goes. Such a record reads as missing.
    """
    try:
        record = loads(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        record = None
    if not isinstance(record, dict):
        logger.warning("ignored a stored session that is not a readable JSON object")
        return None
    return record


def expiry_ms(session: Record, now_ms: int, ttl: float) -> int:
    """When a record expires, in epoch ms: ``cookie.expires`` if it has one, else now + ttl."""
    cookie = session.get("cookie")
    expires = cookie.get("expires") if isinstance(cookie, dict) else None
    if isinstance(expires, str) and expires:
        try:
            return parse_iso(expires)
        except ValueError:
            pass
    elif isinstance(expires, datetime):
        return datetime_to_ms(expires)
    return now_ms + int(ttl * 1000)


MAX_TTL = 100 * 365 * 86400  # seconds: beyond, expiry dates overflow


def validate_ttl(ttl: float) -> float:
    """Return ``ttl`` if it is a positive number of seconds (at most a century), else raise ConfigurationError."""
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl <= MAX_TTL:
        raise ConfigurationError(
            f"ttl must be a positive number of seconds (default 14 days, at most {MAX_TTL}), not {ttl!r}.")
    return ttl


def check_size(text: str, limit: int = MAX_SIZE) -> None:
    """Refuse a session whose JSON is over ``limit`` bytes, before it reaches the store."""
    if len(text) * 4 > limit and len(text.encode("utf-8")) > limit:
        raise SessionError(
            f"the session is {len(text.encode('utf-8'))} bytes of JSON, over the store's limit of {limit}: "
            "keep large data elsewhere and store a reference to it in the session."
        )
