"""AtRestStore: any store, its records kept under ``transform_id(sid)`` and their text sealed by ``crypto``.

connect-mongo's ``transformId`` and ``crypto``/``cryptoAdapter``, for every store, as a wrapper: a
record's key is ``transform_id(sid)`` (a hash, say, so that a copy of the database holds no usable
id) and its text is ``crypto.encrypt(json)`` (``wsgisession.crypto``). Expiries, times and accounts
stay in clear, so the store can still query them. The store it wraps sees keys and opaque text
only; the core still deals in ids and JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..errors import ConfigurationError, StoreUnavailable
from .base import Bound, Loaded, Record, Store, check_size, parse_texts

__all__ = ["AtRestStore"]

logger = logging.getLogger(__name__)


class AtRestStore(Store):
    """A store whose records are kept under hashed keys, their session JSON encrypted::

        store = AtRestStore(SQLiteStore("sessions.sqlite3"), crypto=WebCryptoAdapter(os.environ["KEY"]),
                            transform_id=lambda sid: hashlib.sha256(sid.encode()).hexdigest())

    Why: a copy of the database (a backup, a dump, a read-only user) then holds no usable session
    id and no readable session data (see the README's "Encryption at rest and hashed ids").
    ``MemoryStore``, ``SQLiteStore`` and ``MongoStore`` take ``crypto=`` and ``transform_id=``
    themselves and return this wrapper around the plain store. It has the capabilities of the
    store it wraps (``supports``), its ``ttl``, ``tracks_creation`` and ``touch_after``, and
    forwards any other attribute to it (``store.collection``, ``store.path``).
    """

    def __init__(self, inner: Store, crypto: Any = None, transform_id: Callable[[str], str] | None = None) -> None:
        if not isinstance(inner, Store):
            raise ConfigurationError("AtRestStore wraps a store: pass a wsgisession.Store, like AtRestStore("
                                     f"SQLiteStore('sessions.sqlite3'), crypto=...); not {type(inner).__name__}.")
        if crypto is not None and not all(callable(getattr(crypto, name, None)) for name in ("encrypt", "decrypt")):
            raise ConfigurationError("crypto must have encrypt(str) -> str and decrypt(str) -> str, like "
                                     "wsgisession.crypto.WebCryptoAdapter(secret).")
        if transform_id is not None:
            if not callable(transform_id):
                raise ConfigurationError("transform_id must be a callable from a session id to the stored key, "
                                         "like lambda sid: hashlib.sha256(sid.encode()).hexdigest().")
            _checked(transform_id("a-session-id-to-check-transform_id"))
        self.inner = inner
        self.crypto = crypto
        self.transform_id = transform_id
        # Our codecs say whether a retired secret opened a record; any other adapter only decrypts.
        self._decrypt = getattr(crypto, "decrypt_rotating", None) or (lambda text: (crypto.decrypt(text), False))

    def __repr__(self) -> str:  # whether each option is on, never a secret
        return (f"AtRestStore({self.inner!r}, crypto={'on' if self.crypto is not None else 'off'}, "
                f"transform_id={'on' if self.transform_id is not None else 'off'})")

    def __getattr__(self, name: str) -> Any:
        """Any other attribute is the inner store's (only called for names this wrapper lacks)."""
        if name == "inner" or name.startswith("__"):  # (not yet set: while unpickling, say)
            raise AttributeError(name)
        if name in _ASYNC:  # an inner store's coroutine, through this wrapper's keys and crypto
            if getattr(self.inner, name, None) is None:
                raise AttributeError(name)  # (lifecycle's arun then runs the method in a thread)
            return getattr(self, "_" + name)
        return getattr(self.inner, name)

    # The inner store's coroutines (lifecycle's arun awaits ``a`` + a port method's name), wrapped
    # as the synchronous methods are: found through __getattr__ only when the inner store has them.

    async def _aload(self, sid: str) -> Loaded | None:
        loaded = await self.inner.aload(self.key(sid))
        if loaded is None or self.crypto is None:
            return loaded
        opened = self._open(loaded.text)
        if opened is None:
            return None
        return Loaded(opened[0], loaded.version, loaded.created_ms, loaded.account, opened[1], loaded.expires_ms)

    async def _awrite(self, sid: str, record: Record) -> None:
        await self.inner.awrite(self.key(sid), self._sealed(record))

    async def _asave(self, sid: str, record: Record, version: Any) -> Any:
        return await self.inner.asave(self.key(sid), self._sealed(record), version)

    async def _arefresh(self, sid: str, expires_ms: int | None, version: Any) -> bool | None:
        return await self.inner.arefresh(self.key(sid), expires_ms, version)

    async def _adestroy(self, sid: str) -> bool | None:
        return await self.inner.adestroy(self.key(sid))

    async def _adestroy_key(self, key: str) -> bool | None:
        return await self.inner.adestroy(key)

    async def _abury(self, key: str, until_ms: int) -> bool | None:
        return await self.inner.abury(key, until_ms)

    async def _aburied(self, key: str) -> bool:
        return await self.inner.aburied(key)

    async def _aiter_bound(self, user_id: str | None = None) -> list[Bound]:
        bound = await self.inner.aiter_bound(user_id)
        return list(self._opened_bound(bound))

    @property  # type: ignore[override]
    def ttl(self) -> float:
        return self.inner.ttl

    @property  # type: ignore[override]
    def tracks_creation(self) -> bool:
        return self.inner.tracks_creation

    @property  # type: ignore[override]
    def touch_after(self) -> float:
        return self.inner.touch_after

    @property  # type: ignore[override]
    def throttles_refresh(self) -> bool:
        return self.inner.throttles_refresh

    def supports(self, capability: str) -> bool:
        return self.inner.supports(capability)

    # -- at rest: keys and sealed text ---------------------------------------------------------

    def key(self, sid: str) -> str:
        """The key the record of session ``sid`` is stored under: ``transform_id(sid)``, or ``sid``."""
        return sid if self.transform_id is None else _checked(self.transform_id(sid))

    def _sealed(self, record: Record) -> Record:
        """``record`` with its JSON as stored: encrypted, and no larger than a store takes."""
        if self.crypto is None:
            return record
        text = self.crypto.encrypt(record.text)
        check_size(text)
        return Record(text, record.expires_ms, record.created_ms, record.account)

    def _open(self, stored: str) -> tuple[str, bool] | None:
        """The session's JSON, and whether it should be sealed again (a retired secret opened it);
        None (one warning) if no secret opens it: it then reads as missing. An OSError of the
        codec (one that calls a key service, say) is an outage: StoreUnavailable."""
        if self.crypto is None:
            return stored, False
        try:
            text, stale = self._decrypt(stored)
        except OSError as exc:  # an adapter that calls out (a key service) failed: an outage, not bad data
            raise StoreUnavailable(f"the session store's crypto failed ({type(exc).__name__})") from exc
        except Exception:  # stored data is input: whatever a tampered record makes a codec raise
            logger.warning("ignored a session record that no secret decrypts (tampered with, written under "
                           "another secret, or not encrypted)")
            return None
        return (text, bool(stale)) if isinstance(text, str) else None

    # -- the port, through the inner store -----------------------------------------------------

    def load(self, sid: str) -> Loaded | None:
        loaded = self.inner.load(self.key(sid))
        if loaded is None or self.crypto is None:
            return loaded
        opened = self._open(loaded.text)
        if opened is None:
            return None
        return Loaded(opened[0], loaded.version, loaded.created_ms, loaded.account, opened[1], loaded.expires_ms)

    def write(self, sid: str, record: Record) -> None:
        self.inner.write(self.key(sid), self._sealed(record))

    def save(self, sid: str, record: Record, version: Any) -> Any:
        return self.inner.save(self.key(sid), self._sealed(record), version)

    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> bool | None:
        return self.inner.refresh(self.key(sid), expires_ms, version)

    def destroy(self, sid: str) -> bool | None:
        return self.inner.destroy(self.key(sid))

    def destroy_key(self, key: str) -> bool | None:
        return self.inner.destroy(key)

    def close(self) -> None:
        self.inner.close()

    def iter_bound(self, user_id: str | None = None) -> Iterator[Bound]:
        """The inner store's, each text opened (None if no secret opens it: still listed, and can be ended)."""
        return self._opened_bound(self.inner.iter_bound(user_id))

    def _opened_bound(self, bounds: Iterable[Bound]) -> Iterator[Bound]:
        for bound in bounds:
            if self.crypto is not None and bound.text is not None:
                opened = self._open(bound.text)
                bound = Bound(bound.key, bound.account, bound.expires_ms, None if opened is None else opened[0])
            yield bound

    def bury(self, key: str, until_ms: int) -> bool | None:
        return self.inner.bury(key, until_ms)

    def buried(self, key: str) -> bool:
        return self.inner.buried(key)

    def purge(self, limit: int | None = None) -> int:
        return self.inner.purge(limit)

    def count_expired(self) -> int:
        return self.inner.count_expired()

    def length(self) -> int:
        return self.inner.length()

    def all(self) -> dict[str, dict[str, Any]]:
        """The inner store's ``all``; with crypto, its ``texts``, opened and parsed."""
        return self.inner.all() if self.crypto is None else parse_texts(self.texts())

    def texts(self) -> dict[str, str]:
        """Every live record's JSON by key, opened (a record no secret opens is left out)."""
        opened = ((key, self._open(stored)) for key, stored in self.inner.texts().items())
        return {key: text[0] for key, text in opened if text is not None}

    def clear(self) -> None:
        self.inner.clear()

    # express's get/set/touch are the base class's, through the inner store's hooks.

    def _session_of(self, loaded: Loaded) -> dict[str, Any] | None:
        return self.inner._session_of(loaded)

    def _record_of(self, session: dict[str, Any], created_ms: int | None) -> Record:
        return self.inner._record_of(session, created_ms)

    def _version_of(self, session: dict[str, Any]) -> Any:
        return self.inner._version_of(session)


_ASYNC = frozenset({"aload", "awrite", "asave", "arefresh", "adestroy", "adestroy_key", "abury", "aburied",
                    "aiter_bound"})


def _checked(key: object) -> str:
    if type(key) is not str or not key:
        raise ConfigurationError(f"transform_id returned {'an empty str' if key == '' else type(key).__name__}: "
                                 "it must return a non-empty str, the same for the same session id.")
    return key
