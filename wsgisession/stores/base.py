"""The Store protocol every session store implements, and the checks stores share.

A store keeps *records* (express's session JSON text, ``{"cookie": {...}, ...data}``) by session
id, each with an expiry: the one the core computed from the cookie, else now + ``ttl``. An expired
record reads as missing, whether or not it has been purged yet. A store knows nothing of HTTP,
cookies or signing, and never parses a record on the request path: the core hands it the JSON
text and the expiry, computed once, and keeps the store's version token opaque. Five methods are
required; the rest are capabilities a store declares by implementing them (``Store.supports``).
At rest, ``AtRestStore`` (``at_rest.py``) wraps any store to key its records by
``transform_id(sid)`` and encrypt their text: the core still deals in ids and JSON.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, NamedTuple

from .. import record as _record
from ..errors import SessionError
from ..options import check_seconds

__all__ = ["CAPABILITIES", "COMPARE_AND_SET", "DEFAULT_TTL", "MAINTENANCE", "MAX_SIZE", "MAX_TTL", "MAX_USER_AGENT",
           "MAX_USER_ID", "TOMBSTONES", "USER_INDEX", "Account", "Bound", "Loaded", "Record", "Store", "check_size",
           "combine", "expiry_of", "parse_texts", "read_account", "to_record", "validate_touch_after", "validate_ttl"]

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
    # With crypto: a MAC of the record's key and the fields above that matter, under a key derived
    # from the crypto secret (AtRestStore writes and checks it). Stores keep it as text that, like
    # the authentication time, never goes back: its prefix is that time, so the greater of two
    # seals (as text) is the one of the later authentication (see combine).
    seal: str | None = None


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
    expires_ms: int | None = None  # the stored expiry, epoch ms, when the store knows it (touch_after uses it)


class Bound(NamedTuple):
    """A live record bound to a user, as ``iter_bound`` yields it."""

    key: str  # what the record is stored under: its session id, or transform_id of it (Store.key)
    account: Account
    expires_ms: int
    text: str | None  # the record's JSON; None if it cannot be read (it is still listed, and can be ended)


MAX_SEAL = 128  # characters of an Account.seal a store returns (ours are 75)


def read_account(user_id: object, logged_in_ms: object, authenticated_ms: object, user_agent: object,
                 seal: object = None) -> Account | None:
    """An Account from stored fields, or None if they bind no valid user.

    Stored data is input: another writer may have left anything, so only a non-empty str user
    (at most MAX_USER_ID characters) binds; a time that is not an int of epoch ms, or an agent
    that is not a short str, reads as unknown.
    """
    if type(user_id) is not str or not 0 < len(user_id) <= MAX_USER_ID:
        return None
    return Account(user_id, _ms(logged_in_ms), _ms(authenticated_ms),
                   user_agent if type(user_agent) is str and len(user_agent) <= MAX_USER_AGENT else None,
                   seal if type(seal) is str and len(seal) <= MAX_SEAL else None)


def _ms(value: object) -> int | None:
    return value if type(value) is int and 0 <= value <= 253_402_300_799_999 else None


def combine(stored: Account | None, given: Account | None) -> Account | None:
    """What a live record's account becomes on a write: the given fields replace the stored ones,
    except that the authentication time never goes back (a request that loaded the session before
    a re-authentication must not undo it), and neither does the seal, which goes with it (the
    greater as text). Nothing given: the stored account stays."""
    if given is None or stored is None:
        return stored if given is None else given
    auth = max((t for t in (stored.authenticated_ms, given.authenticated_ms) if t is not None), default=None)
    return Account(given.user_id, given.logged_in_ms if given.logged_in_ms is not None else stored.logged_in_ms,
                   auth, given.user_agent if given.user_agent is not None else stored.user_agent,
                   max((s for s in (stored.seal, given.seal) if s is not None), default=None))


class Store(ABC):
    """Base class of session stores: five methods, and the capabilities a store chooses to declare.

    ::

        class RedisStore(Store):
            def load(self, sid): ...            # -> Loaded | None
            def write(self, sid, record): ...   # create or replace
            def refresh(self, sid, expires_ms, version): ...
            def destroy(self, sid): ...
            def close(self): ...
            def save(self, sid, record, version): ...   # optional: compare-and-set

    Required, what every request needs: ``load``, ``write``, ``refresh``, ``destroy``, ``close``.

    Optional capabilities, each declared by implementing (overriding) its methods; the base
    class's versions raise NotImplementedError naming the capability, and ``supports(name)``
    answers whether a store has one (SessionMiddleware checks once, at configuration, that the
    features it is given find the capabilities they need):

    - ``COMPARE_AND_SET`` (``save``): the concurrency-safe saves of ``concurrency="merge"`` (the
      default); without it, use ``concurrency="overwrite"``.
    - ``USER_INDEX`` (``iter_bound``): accounts, ``session.login``, ``sessions_of``, ``revoke``,
      ``max_sessions_per_user``, the CLI's ``list`` and ``revoke``.
    - ``TOMBSTONES`` (``bury`` and ``buried``): the ids a login or logout ended stay buried a
      while, so that a request racing it cannot send a cookie over the new one.
    - ``MAINTENANCE`` (``purge``, ``count_expired``, ``length``, ``all``, ``clear``; each one
      optional on its own): the CLI's ``count``, ``purge`` and ``clear``, express's ``all``.
      ``texts``, the records as stored, is what ``all`` parses and what AtRestStore's ``all``
      opens: implement both (``all`` as ``parse_texts(self.texts())``).

    express-session's ``get``, ``set`` and ``touch``, over session dicts, are defined here once
    for every store. Encryption at rest and hashed ids are a wrapper, ``AtRestStore(store,
    crypto, transform_id)`` (stores/at_rest.py): a store sees keys and opaque text only.
    """

    ttl: float = DEFAULT_TTL
    tracks_creation: bool = False  # whether load() reports creation times (absolute_timeout needs them)
    # An unmodified request refreshes the stored expiry only when it would move by at least this
    # many seconds (connect-mongo's touchAfter); the core applies it, from Loaded.expires_ms.
    touch_after: float = 0
    # True when refresh() itself skips writes inside touch_after (MongoStore: by connect-mongo's
    # lastModified, which an Express peer reads too): the core then leaves the throttling to it.
    throttles_refresh: bool = False

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
    def close(self) -> None:
        """Release connections; the store is not used afterwards."""

    # -- capabilities ------------------------------------------------------------------------------

    def supports(self, capability: str) -> bool:
        """Whether this store has ``capability``, or implements the optional method of that name
        (``supports("purge")``).

        A store declares a capability by overriding its methods: both of TOMBSTONES', any of
        MAINTENANCE's (each one is optional: ask for it by name). A wrapper asks the store it wraps.
        """
        methods = CAPABILITIES.get(capability) or ((capability,) if capability in OPTIONAL else None)
        if methods is None:
            raise ValueError(f"unknown store capability {capability!r}: one of {', '.join(CAPABILITIES)}, "
                             f"or an optional method ({', '.join(OPTIONAL)}).")
        implemented = (getattr(type(self), name) is not getattr(Store, name) for name in methods)
        return any(implemented) if capability == MAINTENANCE else all(implemented)

    @property
    def compares_and_sets(self) -> bool:
        """Whether this store has a compare-and-set ``save`` (needed by ``concurrency="merge"``)."""
        return self.supports(COMPARE_AND_SET)

    @property
    def keeps_accounts(self) -> bool:
        """Whether this store has the user index, ``iter_bound`` (needed to log users in)."""
        return self.supports(USER_INDEX)

    @property
    def keeps_tombstones(self) -> bool:
        """Whether this store implements ``bury`` and ``buried``."""
        return self.supports(TOMBSTONES)

    def save(self, sid: str, record: Record, version: Any) -> Any:
        """Write only if the stored record is still ``version`` (None: only if there is none).

        Return the new version, or None when the record changed or vanished meanwhile: a
        destroyed session is never recreated by a request that loaded it before. (Capability
        COMPARE_AND_SET.)
        """
        raise _missing(self, COMPARE_AND_SET, "save")

    def iter_bound(self, user_id: str | None = None) -> Iterator[Bound]:
        """The live records bound to ``user_id`` (None: to any user), found through an index.

        ``write`` and ``save`` keep a record's account as ``combine`` says; a record created
        (``save`` with version None) has exactly the account given. (Capability USER_INDEX.)
        """
        raise _missing(self, USER_INDEX, "iter_bound")

    def bury(self, key: str, until_ms: int) -> bool | None:
        """``destroy_key(key)``, leaving a tombstone for the key until ``until_ms`` (epoch ms); whether
        there was a record. (Capability TOMBSTONES: without it, the ids a login or logout ends leave
        no trace, and a request racing that login or logout may send a cookie over the new one.)"""
        raise _missing(self, TOMBSTONES, "bury")

    def buried(self, key: str) -> bool:
        """Whether a tombstone for ``key`` is still live (``bury``). (Capability TOMBSTONES.)"""
        raise _missing(self, TOMBSTONES, "buried")

    def purge(self, limit: int | None = None) -> int:
        """Delete expired records now, or the ``limit`` that expired first; return how many were deleted.

        (A store may delete a few more than ``limit``: records that expired at the same time as
        the last of them. MongoStore does, to delete by range rather than by a list of ids.)
        (Capability MAINTENANCE.)
        """
        raise _missing(self, MAINTENANCE, "purge")

    def count_expired(self) -> int:
        """How many expired records are still stored (``purge`` would delete them). (Capability MAINTENANCE.)"""
        raise _missing(self, MAINTENANCE, "count_expired")

    def length(self) -> int:
        """How many live records there are. (Capability MAINTENANCE.)"""
        raise _missing(self, MAINTENANCE, "length")

    def all(self) -> dict[str, dict[str, Any]]:
        """Every live, readable record by key, parsed (express's ``all``). (Capability MAINTENANCE.)"""
        raise _missing(self, MAINTENANCE, "all")

    def texts(self) -> dict[str, str]:
        """Every live record's text as stored, by key: what ``all`` parses, and what an AtRestStore
        around this store opens for its own ``all``. (Optional, with MAINTENANCE's ``all``.)"""
        raise _missing(self, MAINTENANCE, "texts")

    def clear(self) -> None:
        """Delete every record. (Capability MAINTENANCE.)"""
        raise _missing(self, MAINTENANCE, "clear")

    # -- keys ----------------------------------------------------------------------------------

    def key(self, sid: str) -> str:
        """The key the record of session ``sid`` is stored under (``sid``; AtRestStore: ``transform_id(sid)``).

        Tombstones, event tags, account handles and ``Bound.key`` are stored keys.
        """
        return sid

    def destroy_key(self, key: str) -> bool | None:
        """``destroy`` a record known by its key (a Bound's), not by its session id."""
        return self.destroy(key)  # (right as long as keys are ids; a store that transforms them overrides this)

    def expiry(self, expires_ms: int | None, now_ms: int) -> int:
        """When a record expires: the cookie's expiry, or, for a browser-session cookie, now + ``ttl``."""
        return now_ms + int(self.ttl * 1000) if expires_ms is None else expires_ms

    # -- express-session's Store methods, over session dicts ------------------------------------

    def get(self, sid: str) -> dict[str, Any] | None:
        """The session dict (``{"cookie": {...}, ...data}``), or None if missing, expired or unreadable."""
        loaded = self.load(sid)
        return None if loaded is None else self._session_of(loaded)

    def set(self, sid: str, session: dict[str, Any], *, created_ms: int | None = None) -> None:
        """Create or replace the record from a session dict."""
        self.write(sid, self._record_of(session, created_ms))

    def touch(self, sid: str, session: dict[str, Any]) -> None:
        """Extend the record's expiry to the session dict's ``cookie.expires`` (or now + ttl)."""
        self.refresh(sid, expiry_of(session), self._version_of(session))

    # Hooks of get/set/touch, for a store whose express API differs (MongoStore: connect-mongo's
    # lastModified); a wrapper forwards them to the store it wraps.

    def _session_of(self, loaded: Loaded) -> dict[str, Any] | None:
        """The session dict ``get`` returns for a loaded record."""
        return _record.parse(loaded.text)

    def _record_of(self, session: dict[str, Any], created_ms: int | None) -> Record:
        """The Record ``set`` writes for a session dict."""
        return to_record(session, created_ms)

    def _version_of(self, session: dict[str, Any]) -> Any:
        """The version ``touch`` hands to ``refresh`` for a session dict (none: refresh unconditionally)."""
        return None


COMPARE_AND_SET = "compare-and-set"
USER_INDEX = "user index"
TOMBSTONES = "tombstones"
MAINTENANCE = "maintenance"
# Each capability, and the methods a store implements to declare it.
CAPABILITIES: dict[str, tuple[str, ...]] = {
    COMPARE_AND_SET: ("save",),
    USER_INDEX: ("iter_bound",),
    TOMBSTONES: ("bury", "buried"),
    MAINTENANCE: ("purge", "count_expired", "length", "all", "clear"),
}
OPTIONAL = (*(name for methods in CAPABILITIES.values() for name in methods), "texts")


def _missing(store: Store, capability: str, method: str) -> NotImplementedError:
    return NotImplementedError(f"{type(store).__name__} has no {method}() (the {capability!r} capability "
                               "of wsgisession.Store: implement it, or use a store that has it)")


def parse_texts(texts: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Records' texts by key, parsed (``all``): a text that is not a session's JSON is left out."""
    records = ((key, _record.parse(text)) for key, text in texts.items())
    return {key: record for key, record in records if record is not None}


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


def validate_touch_after(touch_after: float) -> float:
    """Return ``touch_after`` if it is a number of seconds, at least 0, else raise ConfigurationError."""
    return check_seconds("touch_after", touch_after, positive=False, at_most=MAX_TTL)


def check_size(text: str, limit: int = MAX_SIZE) -> None:
    """Refuse a session over ``limit`` bytes as stored (its JSON, encrypted if the store encrypts), before it reaches the store."""
    if len(text) * 4 > limit and len(text.encode("utf-8")) > limit:
        raise SessionError(
            f"the session is {len(text.encode('utf-8'))} bytes as stored, over the store's limit of {limit}: "
            "keep large data elsewhere and store a reference to it in the session."
        )
