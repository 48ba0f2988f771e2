"""The Store protocol every session store implements, and the checks stores share.

A store keeps *records* (express's session JSON text, ``{"cookie": {...}, ...data}``) by session
id, each with an expiry: the one the core computed from the cookie, else now + ``ttl``. An expired
record reads as missing, whether or not it has been purged yet. A store knows nothing of HTTP,
cookies or signing, and never parses a record on the request path: the core hands it the JSON
text and the expiry, computed once, and keeps the store's version token opaque.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

from .. import record as _record
from ..errors import SessionError
from ..options import check_seconds

__all__ = ["DEFAULT_TTL", "MAX_SIZE", "MAX_TTL", "Loaded", "Record", "Store", "check_size", "expiry_of", "to_record",
           "validate_ttl"]

DEFAULT_TTL = 14 * 24 * 3600  # seconds, connect-mongo's default
MAX_TTL = 100 * 365 * 86400  # seconds: beyond, expiry dates overflow
MAX_SIZE = 15 * 1024 * 1024  # bytes of session JSON: under MongoDB's 16 MiB document limit, in every store


class Record(NamedTuple):
    """What the core asks a store to write."""

    text: str  # the record's JSON
    expires_ms: int | None  # the cookie's expiry, epoch ms; None: now + the store's ttl
    created_ms: int | None = None  # a creation time to keep (regenerate()); None: now for a new record


class Loaded(NamedTuple):
    """What ``load`` returns."""

    text: str  # the record's JSON, as stored
    version: Any  # opaque to the core: handed back to save() and refresh()
    created_ms: int | None  # epoch ms of the first write, when the store knows it


class Store(ABC):
    """Base class of session stores: implement the primitives, the rest comes with it.

    ::

        class RedisStore(Store):
            def load(self, sid): ...            # -> Loaded | None
            def write(self, sid, record): ...   # create or replace
            ...

    Required: ``load``, ``write``, ``refresh``, ``destroy`` (what each request needs) and ``all``,
    ``length``, ``clear``, ``close``. Optional: ``save``, the compare-and-set that
    ``concurrency="merge"`` (the default) needs; a store without it works with
    ``concurrency="overwrite"``. express-session's ``get``, ``set`` and ``touch``, over session
    dicts, are defined here once for every store.
    """

    ttl: float = DEFAULT_TTL
    tracks_creation: bool = False  # whether load() reports creation times (absolute_timeout needs them)

    @abstractmethod
    def load(self, sid: str) -> Loaded | None:
        """The live record, or None if it is missing or expired."""

    @abstractmethod
    def write(self, sid: str, record: Record) -> None:
        """Create or replace the record (keeping its creation time unless ``record.created_ms`` is given)."""

    @abstractmethod
    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> None:
        """Extend the live record's expiry without rewriting its data; ``version`` is what load() returned.

        A missing record stays missing.
        """

    @abstractmethod
    def destroy(self, sid: str) -> bool | None:
        """Delete the record; return whether there was one (None: the store cannot tell).

        A session whose record is found gone when it is regenerated was destroyed by another
        request (a logout), and stays so.
        """

    @abstractmethod
    def all(self) -> dict[str, dict[str, Any]]:
        """Every live, readable record by id, parsed."""

    @abstractmethod
    def length(self) -> int:
        """How many live records there are."""

    @abstractmethod
    def clear(self) -> None:
        """Delete every record."""

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is not used afterwards."""

    def save(self, sid: str, record: Record, version: Any) -> Any:
        """Write only if the stored record is still ``version`` (None: only if there is none).

        Return the new version, or None when the record changed or vanished meanwhile: a
        destroyed session is never recreated by a request that loaded it before.
        """
        raise NotImplementedError(f"{type(self).__name__} has no compare-and-set save()")

    def expiry(self, expires_ms: int | None, now_ms: int) -> int:
        """When a record expires: the cookie's expiry, or, for a browser-session cookie, now + ``ttl``."""
        return now_ms + int(self.ttl * 1000) if expires_ms is None else expires_ms

    @property
    def compares_and_sets(self) -> bool:
        """Whether this store implements ``save`` (needed by ``concurrency="merge"``)."""
        return type(self).save is not Store.save

    # -- express-session's Store methods, over session dicts ------------------------------------

    def get(self, sid: str) -> dict[str, Any] | None:
        """The session dict (``{"cookie": {...}, ...data}``), or None if missing, expired or unreadable."""
        loaded = self.load(sid)
        return None if loaded is None else _record.parse(loaded.text)

    def set(self, sid: str, session: dict[str, Any], *, created_ms: int | None = None) -> None:
        """Create or replace the record from a session dict."""
        self.write(sid, to_record(session, created_ms))

    def touch(self, sid: str, session: dict[str, Any]) -> None:
        """Extend the record's expiry to the session dict's ``cookie.expires`` (or now + ttl)."""
        self.refresh(sid, expiry_of(session), None)


def to_record(session: dict[str, Any], created_ms: int | None = None) -> Record:
    """A session dict as a Record (raise SessionError if it is not JSON, or too large)."""
    return Record(_record.serialize(session), expiry_of(session), created_ms)


def expiry_of(session: dict[str, Any]) -> int | None:
    """A session dict's ``cookie.expires`` in epoch ms, or None (unset or unreadable: the ttl applies)."""
    cookie = session.get("cookie")
    try:
        return _record.expires_ms(cookie.get("expires")) if isinstance(cookie, dict) else None
    except (ValueError, OverflowError):
        return None


def validate_ttl(ttl: float) -> float:
    """Return ``ttl`` if it is a positive number of seconds (at most a century), else raise ConfigurationError."""
    return check_seconds("ttl", ttl, at_most=MAX_TTL, hint=" (default 14 days)")


def check_size(text: str, limit: int = MAX_SIZE) -> None:
    """Refuse a session whose JSON is over ``limit`` bytes, before it reaches the store."""
    if len(text) * 4 > limit and len(text.encode("utf-8")) > limit:
        raise SessionError(
            f"the session is {len(text.encode('utf-8'))} bytes of JSON, over the store's limit of {limit}: "
            "keep large data elsewhere and store a reference to it in the session."
        )
