"""The Store protocol every session store implements, and the checks stores share.

A store keeps *records* (express's session JSON text, ``{"cookie": {...}, ...data}``) by session
id, each with an expiry: the one the core computed from the cookie, else now + ``ttl``. An expired
record reads as missing, whether or not it has been purged yet. A store knows nothing of HTTP,
cookies or signing, and never parses a record on the request path: the core hands it the JSON
text and the expiry, computed once, and keeps the store's version token opaque. At rest, a store
may key a record by ``transform_id(sid)`` and encrypt its text (``at_rest.py``): the core still
deals in ids and JSON.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, NamedTuple

from .. import record as _record
from ..errors import SessionError
from ..options import check_seconds
from .at_rest import PLAIN, AtRest

__all__ = ["DEFAULT_TTL", "MAX_SIZE", "MAX_TTL", "MAX_USER_AGENT", "MAX_USER_ID", "Account", "Bound", "Loaded",
           "Record", "Store", "check_size", "combine", "expiry_of", "read_account", "to_record", "validate_ttl"]

DEFAULT_TTL = 14 * 24 * 3600  # seconds, connect-mongo's default
MAX_TTL = 100 * 365 * 86400  # seconds: beyond, expiry dates overflow
MAX_SIZE = 15 * 1024 * 1024  # bytes of a session as stored (its JSON, or encrypted): under MongoDB's 16 MiB document limit, in every store
MAX_USER_ID = 256  # characters
MAX_USER_AGENT = 512  # characters kept of a User-Agent header


class Account(NamedTuple):
    """The user a session is bound to (``session.login``), kept by the store beside the record.

    Stores keep it out of the session's data, in fields of their own with an index on the user.
    """

    user_id: str
    logged_in_ms: int | None  # when login() bound it: when its id was created
    authenticated_ms: int | None  # the last time the user proved who they are (login, reauthenticated)
    user_agent: str | None  # the User-Agent of the login request


class Record(NamedTuple):
    """What the core asks a store to write."""

    text: str  # the record's JSON
    expires_ms: int | None  # the cookie's expiry, epoch ms; None: now + the store's ttl
    created_ms: int | None = None  # a creation time to keep (regenerate()); None: now for a new record
    account: Account | None = None  # to write (see combine()); None: a live record keeps its own


class Loaded(NamedTuple):
    """What ``load`` returns."""

    text: str  # the record's JSON, as stored
    version: Any  # opaque to the core: handed back to save() and refresh()
    created_ms: int | None  # epoch ms of the first write, when the store knows it
    account: Account | None = None  # the user it is bound to
    stale: bool = False  # sealed under a retired secret (crypto): to be written again, sealed anew


class Bound(NamedTuple):
    """A live record bound to a user, as ``iter_bound`` yields it."""

    key: str  # what the record is stored under: its session id, or transform_id of it (Store.key)
    account: Account
    expires_ms: int
    text: str | None  # the record's JSON; None if it cannot be read (it is still listed, and can be ended)


def read_account(user_id: object, logged_in_ms: object, authenticated_ms: object, user_agent: object) -> Account | None:
    """An Account from stored fields, or None if they bind no valid user.

    Stored data is input: another writer may have left anything, so only a non-empty str user
    (at most MAX_USER_ID characters) binds; a time that is not an int of epoch ms, or an agent
    that is not a short str, reads as unknown.
    """
    if type(user_id) is not str or not 0 < len(user_id) <= MAX_USER_ID:
        return None
    return Account(user_id, _ms(logged_in_ms), _ms(authenticated_ms),
                   user_agent if type(user_agent) is str and len(user_agent) <= MAX_USER_AGENT else None)


def _ms(value: object) -> int | None:
    return value if type(value) is int and 0 <= value <= 253_402_300_799_999 else None


def combine(stored: Account | None, given: Account | None) -> Account | None:
    """What a live record's account becomes on a write: the given fields replace the stored ones,
    except that the authentication time never goes back (a request that loaded the session before
    a re-authentication must not undo it). Nothing given: the stored account stays."""
    if given is None or stored is None:
        return stored if given is None else given
    auth = max((t for t in (stored.authenticated_ms, given.authenticated_ms) if t is not None), default=None)
    return Account(given.user_id, given.logged_in_ms if given.logged_in_ms is not None else stored.logged_in_ms,
                   auth, given.user_agent if given.user_agent is not None else stored.user_agent)


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

    Accounts (``session.login``, ``sessions_of``, the CLI) need three more: ``iter_bound``, the
    live records of a user through an index; ``purge`` and ``count_expired``. Every store here
    has them; a store without them works until an app logs a user in.

    ``crypto`` and ``transform_id`` (stores/at_rest.py): a store keeps ``self.at_rest`` and
    applies it at its edges; its ``key(sid)`` is what a record is stored under, and
    ``destroy_key`` deletes a record by that key (what ``iter_bound`` lists).
    """

    ttl: float = DEFAULT_TTL
    tracks_creation: bool = False  # whether load() reports creation times (absolute_timeout needs them)
    at_rest: AtRest = PLAIN  # transform_id and crypto (stores/at_rest.py): none by default

    @abstractmethod
    def load(self, sid: str) -> Loaded | None:
        """The live record, or None if it is missing or expired."""

    @abstractmethod
    def write(self, sid: str, record: Record) -> None:
        """Create or replace the record (keeping its creation time unless ``record.created_ms`` is given)."""

    @abstractmethod
    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> bool | None:
        """Extend the live record's expiry without rewriting its data; ``version`` is what load() returned.

        A missing record stays missing: return False then (True: refreshed; None: the store cannot
        tell, or skipped the write). A request whose record was found gone sends no cookie.
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

    def key(self, sid: str) -> str:
        """The key the record of session ``sid`` is stored under: ``sid``, or ``transform_id(sid)``."""
        return self.at_rest.key(sid)

    def destroy_key(self, key: str) -> bool | None:
        """``destroy`` a record known by its key (a Bound's), not by its session id."""
        return self.destroy(key)  # (right as long as keys are ids; a store that transforms them overrides this)

    def bury(self, key: str, until_ms: int) -> bool | None:
        """``destroy_key(key)``, leaving a tombstone for the key until ``until_ms`` (epoch ms); whether
        there was a record. Optional: without it, the ids a login or logout ends leave no trace, and a
        request racing that login or logout may send a cookie over the new one (see the README)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no tombstones (no bury())")

    def buried(self, key: str) -> bool:
        """Whether a tombstone for ``key`` is still live (``bury``)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no tombstones (no buried())")

    @property
    def keeps_tombstones(self) -> bool:
        """Whether this store implements ``bury`` and ``buried``."""
        return type(self).bury is not Store.bury

    def iter_bound(self, user_id: str | None = None) -> Iterator[Bound]:
        """The live records bound to ``user_id`` (None: to any user), found through an index.

        ``write`` and ``save`` keep a record's account as ``combine`` says; a record created
        (``save`` with version None) has exactly the account given, or none.
        """
        raise NotImplementedError(f"{type(self).__name__} does not keep accounts (no iter_bound())")

    def purge(self, limit: int | None = None) -> int:
        """Delete expired records now, or the ``limit`` that expired first; return how many were deleted.

        (A store may delete a few more than ``limit``: records that expired at the same time as
        the last of them. MongoStore does, to delete by range rather than by a list of ids.)
        """
        raise NotImplementedError(f"{type(self).__name__} has no purge()")

    def count_expired(self) -> int:
        """How many expired records are still stored (``purge`` would delete them)."""
        raise NotImplementedError(f"{type(self).__name__} has no count_expired()")

    @property
    def keeps_accounts(self) -> bool:
        """Whether this store implements ``iter_bound`` (needed to log users in)."""
        return type(self).iter_bound is not Store.iter_bound

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
    """Refuse a session over ``limit`` bytes as stored (its JSON, encrypted if the store encrypts), before it reaches the store."""
    if len(text) * 4 > limit and len(text.encode("utf-8")) > limit:
        raise SessionError(
            f"the session is {len(text.encode('utf-8'))} bytes as stored, over the store's limit of {limit}: "
            "keep large data elsewhere and store a reference to it in the session."
        )
