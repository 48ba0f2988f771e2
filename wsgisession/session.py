"""The per-request Session: a lazy dict over the stored record, with express-session's lifecycle.

Nothing is read from the store until the app first touches the session. Changes are detected by
comparing the serialized data (and the cookie settings) with what was loaded, so nested edits
are saved and unchanged sessions are not rewritten.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

from .errors import SessionError, StoreUnavailable
from .merge import merge
from .serialization import SerializedRecord, dumps, loads
from .session_cookie import SessionCookie
from .session_settings import SaveStats, SessionSettings
from .stores.base import Loaded, Record

__all__ = ["Session", "SessionCookie", "SessionSettings", "SaveStats", "SET_COOKIE", "EXPIRE_COOKIE"]

logger = logging.getLogger(__name__)

SET_COOKIE = "set"
EXPIRE_COOKIE = "expire"
_META_KEYS = ("lastModified",)  # store bookkeeping (connect-mongo's touchAfter), not app data
# Names express's Session object already has (its methods, Object.prototype): Node drops such
# keys when it loads a session and erases them at its next save, so they are refused here.
RESERVED_KEYS = frozenset({
    "cookie", "lastModified", "id", "req", "regenerate", "destroy", "reload", "save", "touch", "resetMaxAge",
    "constructor", "__proto__", "toString", "toLocaleString", "valueOf", "hasOwnProperty", "isPrototypeOf",
    "propertyIsEnumerable", "__defineGetter__", "__defineSetter__", "__lookupGetter__", "__lookupSetter__",
})
# Compare-and-set rounds before a save gives up (StoreUnavailable). Each failed round means
# another request's save succeeded, so this bounds how many concurrent writers one save outlasts.
MAX_SAVE_ATTEMPTS = 64


class Session(MutableMapping[str, Any]):
    """The session of one request: a dict of JSON values, loaded from the store on first use.

    ::

        session = environ["wsgisession.session"]
        session["cuenta"] = session.get("cuenta", 0) + 1
        session.regenerate()   # on login: new id, data kept, old record destroyed
        session.destroy()      # on logout: record destroyed, cookie expired
    """

    # Per-request state. The class attributes are the initial values: a session that the app
    # never uses costs only the two assignments of __init__ (it sits on every request).
    _cookie_id: str | None = None  # the id the request's cookie presented, verified (None: no such cookie)
    _delivered_id: str | None = None  # the id the browser holds once the headers are out
    _accessed_after_commit = False
    _data: dict[str, Any] | None = None  # None until loaded
    _id = ""
    _original_id = ""
    _cookie: SessionCookie | None = None
    _meta: dict[str, Any] = {}  # never mutated: replaced
    _version: Any = None  # what the store held when loaded: the compare-and-set token
    _base = "{}"  # the data's JSON as last seen in the store: what our changes are relative to
    _loaded_state: tuple[Any, ...] | None = None
    _saved_state: tuple[Any, ...] | None = None
    _committed_state: tuple[Any, ...] | None = None
    _expire_cookie = False
    _dropped = False  # another request destroyed it while this one ran: never recreate
    _retired: str | None = None  # the stored id a regenerate() left, destroyed at the next save
    _created_ms: int | None = None  # when the stored session was created, if known
    _pending_created: int | None = None  # a creation time the next save must write (regenerate, first sight)

    def __init__(self, settings: SessionSettings, request: Any) -> None:
        self._settings = settings
        self._request = request  # opaque here: handed back to settings.identify/is_secure/genid

    # -- loading -------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether the app has used the session in this request (so the store was consulted)."""
        return self._data is not None

    def _ensure(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            # The cookie is read (and HMAC-checked) only now, when the session is first used.
            sid = self._cookie_id = self._settings.identify(self._request)
            loaded = None if sid is None else self._settings.load(sid)
            if sid is not None and loaded is not None and isinstance(loaded.record, dict) \
                    and not self._too_old(sid, loaded) and self._inflated(loaded, sid):
                self._original_id = self._id = sid
            else:
                if sid is not None:
                    logger.debug("session %s unknown or expired: starting a new one", self._settings.tag(sid))
                self._generate()
            data = self._data
            assert data is not None
        return data

    def _too_old(self, sid: str, loaded: Loaded) -> bool:
        """Past the absolute timeout: destroyed, whatever its activity.

        A record whose creation time is unknown (written by a peer that does not record it)
        counts from now, its first sight, and is saved with that time so that it does time out.
        """
        self._created_ms = created = loaded.created_ms
        limit = self._settings.absolute_timeout
        if limit is None:
            return False
        now = int(self._settings.clock() * 1000)
        if created is None or created > now:  # unknown, or a writer's clock from the future
            self._created_ms = self._pending_created = now
            return False
        if now - created < limit * 1000:
            return False
        self._settings.store.destroy(sid)
        logger.debug("session %s reached its absolute timeout", self._settings.tag(sid))
        return True

    def _inflated(self, loaded: Loaded, sid: str) -> bool:
        """Take the loaded record; False if it holds what JSON cannot represent (NaN, 1e400...).

        Only another writer can have stored such a value (JSON.stringify never writes one); the
        record then reads as missing, as any unreadable record does.
        """
        try:
            self._inflate(loaded, sid)
        except SessionError:
            logger.warning("session %s: ignored a stored session that JSON cannot represent", self._settings.tag(sid))
            return False
        return True

    def _generate(self) -> None:
        self._id = self._original_id = self._new_id()
        self._data = {}
        self._meta = {}
        self._version = None
        self._created_ms = self._pending_created = None
        self._cookie = self._new_cookie()
        self._loaded_state = self._state()
        self._base = self._loaded_state[0]
        self._saved_state = None

    def _new_id(self) -> str:
        sid = self._settings.genid(self._request)
        if not isinstance(sid, str) or not sid:
            raise SessionError(f"genid must return a non-empty str, not {sid!r}")
        return sid

    def _new_cookie(self) -> SessionCookie:
        settings = self._settings
        return SessionCookie(settings.cookie, settings.is_secure(self._request), settings.clock)

    def _inflate(self, loaded: Loaded, sid: str) -> None:
        self._version = loaded.version
        data = dict(loaded.record)
        cookie = data.pop("cookie", None)
        self._meta = {key: data.pop(key) for key in _META_KEYS if key in data}
        invalid: list[str] = []
        if isinstance(cookie, dict):
            settings = self._settings
            self._cookie, invalid = SessionCookie.from_json(cookie, settings.cookie, settings.is_secure(self._request),
                                                            settings.clock)
            if invalid:
                logger.warning("session %s: ignored invalid stored cookie value(s) %s; using the configured ones",
                               settings.tag(sid), ", ".join(invalid))
        else:
            self._cookie = self._new_cookie()
        self._data = data
        self._loaded_state = self._state()
        self._base = self._loaded_state[0]
        # With resave, a record to repair or a creation time to write, the session is saved even
        # if the app changes nothing.
        rewrite = self._settings.resave or invalid or self._pending_created is not None
        self._saved_state = None if rewrite else self._loaded_state

    def _state(self) -> tuple[Any, ...]:
        assert self._cookie is not None
        try:
            data = dumps(self._data)
        except (TypeError, ValueError, RecursionError) as exc:
            raise SessionError(f"session data must be JSON-serializable: {exc}") from exc
        return (data, self._cookie.settings())

    def _record(self, data_json: str) -> Record:
        """The record to store; its JSON is assembled from the data's, already computed."""
        assert self._cookie is not None and self._data is not None
        cookie = self._cookie.to_json()
        text = '{"cookie":' + dumps(cookie) + ("," + data_json[1:] if len(data_json) > 2 else "}")
        return SerializedRecord({"cookie": cookie, **self._data}, text)

    # -- the dict --------------------------------------------------------------------------

    def _use(self) -> dict[str, Any]:
        """The data, for the app: loaded on first use; a use after the commit is noted (see finish)."""
        data = self._data
        if data is None:
            return self._ensure()
        if self._committed_state is not None:
            self._accessed_after_commit = True
        return data

    def __getitem__(self, key: str) -> Any:
        return self._use()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in RESERVED_KEYS:
            raise KeyError(f"{key!r} is reserved (express-session uses it; an Express app sharing the session "
                           "would drop it): choose another key; session.cookie holds the cookie settings")
        self._use()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._use()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._use())

    def __len__(self) -> int:
        return len(self._use())

    def __contains__(self, key: object) -> bool:
        return key in self._use()

    def get(self, key: str, default: Any = None) -> Any:
        return self._use().get(key, default)

    def __repr__(self) -> str:  # never shows the id
        return f"<Session {'not loaded' if self._data is None else f'{len(self._data)} keys'}>"

    # -- public attributes and methods -------------------------------------------------------

    @property
    def id(self) -> str:
        """The session id (loads the session: an unknown cookie id gets a fresh one)."""
        self._ensure()
        return self._id

    @property
    def is_new(self) -> bool:
        """True unless this session was loaded from the store under the cookie's id."""
        self._ensure()
        return self._id != self._cookie_id

    @property
    def cookie(self) -> SessionCookie:
        """This session's cookie settings."""
        self._ensure()
        assert self._cookie is not None
        return self._cookie

    def regenerate(self) -> None:
        """Give the session a new id, keeping its data; the old record is destroyed (use on login).

        The new id keeps the session's creation time (for ``absolute_timeout``). If another
        request destroyed the record since this one loaded it (a logout), the logout wins: this
        session is dropped, and nothing of it is saved under the new id.
        """
        self._ensure()
        old = self._id
        if self._retired is None and (self._version is not None or not self._settings.merge):
            # The stored old id is destroyed once the new one is saved: a logout that lands in
            # between is then seen. (Without versions, overwrite mode cannot tell: it always is.)
            self._retired = old
        self._id = self._new_id()
        logger.debug("session %s regenerated as %s", self._settings.tag(old), self._settings.tag(self._id))
        self._cookie = self._new_cookie()
        self._meta = {}
        self._version = None
        self._saved_state = None
        self._pending_created = self._created_ms

    def _retire(self) -> bool:
        """Destroy the id this session was regenerated from, now that the new one is saved.

        Return False when another request destroyed it first (a logout): the logout wins, so the
        new record is destroyed too and this session is dropped.
        """
        old, self._retired = self._retired, None
        assert old is not None
        store = self._settings.store
        if store.destroy(old) is False and self._settings.merge:
            store.destroy(self._id)
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        """Another request destroyed this session while this one ran: it stays destroyed."""
        logger.debug("session %s was destroyed by a concurrent request: its changes are dropped",
                     self._settings.tag(self._id))
        self._settings.stats.add(dropped=1)
        self._dropped = True

    def destroy(self) -> None:
        """Delete the record and start an empty session; the cookie is expired (use on logout)."""
        self._ensure()
        store = self._settings.store
        # Everything this browser had: the session, the id it was regenerated from, and the id
        # the cookie presented (a record this request could not read is removed too).
        for sid in {self._id, self._retired, self._cookie_id}:
            if sid is not None:
                store.destroy(sid)
        logger.debug("session %s destroyed", self._settings.tag(self._id))
        self._retired = None
        if self._cookie_id:
            self._expire_cookie = True
        self._generate()

    def reload(self) -> None:
        """Re-read the record from the store, dropping unsaved changes."""
        self._ensure()
        loaded = self._settings.load(self._id)
        if loaded is None or not isinstance(loaded.record, dict):
            raise SessionError("the session no longer exists in the store")
        self._inflate(loaded, self._id)

    def save(self) -> None:
        """Write the session to the store now."""
        self._ensure()
        self._persist(self._state())

    def _persist(self, state: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """Write the session; with merging on, as a compare-and-set that merges concurrent changes.

        Return the state written, or None when another request destroyed the session meanwhile:
        it stays destroyed.
        """
        settings = self._settings
        if self._dropped:
            return None
        # Only stores that track creation times are given one (a minimal store's set() takes two arguments).
        pending = self._pending_created
        created = {"created_ms": pending} if pending is not None and settings.tracks_creation else {}
        if not settings.merge:
            settings.store.set(self._id, self._record(state[0]), **created)
            self._saved_state = state
            self._pending_created = None
            if self._retired is not None:
                self._retire()
            return state
        for _ in range(MAX_SAVE_ATTEMPTS):
            version = settings.store.save(self._id, self._record(state[0]), self._version, **created)
            if version is not None:
                self._version = version
                self._saved_state = state
                self._base = state[0]
                self._pending_created = None
                if self._retired is not None and not self._retire():
                    return None
                return state
            loaded = settings.load(self._id)
            if loaded is None or not isinstance(loaded.record, dict):
                self._drop()
                return None
            theirs = {k: v for k, v in loaded.record.items() if k != "cookie" and k not in _META_KEYS}
            assert self._data is not None
            self._data, conflicts = merge(loads(self._base), self._data, theirs)
            self._version = loaded.version
            try:
                self._base = dumps(theirs)
                state = self._state()
            except (SessionError, ValueError, TypeError):  # another writer stored what JSON cannot hold
                self._drop()  # it reads as missing, as any unreadable record does
                return None
            settings.stats.add(merged=1, same_key_conflicts=conflicts)
            if conflicts:
                logger.debug("session %s: %d key(s) changed by concurrent requests, the later write won",
                             settings.tag(self._id), conflicts)
        raise StoreUnavailable(f"too many concurrent requests changed this session: not saved after "
                               f"{MAX_SAVE_ATTEMPTS} attempts")

    def touch(self) -> None:
        """Restart the cookie's max-age countdown (the store's expiry follows when it is saved)."""
        self.cookie.reset()

    # -- end of request (called by the middleware) -------------------------------------------

    def _modified(self, state: tuple[Any, ...]) -> bool:
        return self._id != self._original_id or state != self._loaded_state

    def commit(self, rolling: bool) -> str | None:
        """Save or touch as express-session does; return SET_COOKIE, EXPIRE_COOKIE or None."""
        if self._data is None:
            return None
        assert self._cookie is not None
        self._cookie.reset()
        state = self._state()
        modified = self._modified(state)
        is_saved = self._id == self._original_id and state == self._saved_state
        unknown = self._cookie_id != self._id
        if unknown and not self._settings.save_uninitialized and self._saved_state is None:
            should_save = modified
        else:
            should_save = not is_saved
        store = self._settings.store
        if should_save:
            saved = self._persist(state)
            if saved is None:
                return None  # destroyed meanwhile by another request: no cookie for it
            state = saved
            if unknown and self._id == self._original_id:
                logger.debug("session %s created", self._settings.tag(self._id))
        elif not unknown:
            store.touch(self._id, {"cookie": self._cookie.to_json(), **self._data, **self._meta})
        self._committed_state = state
        if unknown:
            send = self._settings.save_uninitialized or modified
        else:
            send = rolling or (self._cookie.expires_ms is not None and modified)
        self._delivered_id = self._id if send else self._cookie_id
        if send:
            return SET_COOKIE
        return EXPIRE_COOKIE if self._expire_cookie else None

    def finish(self) -> None:
        """Save changes made after the headers went out (while the body was being produced).

        Only the session whose id the browser holds can be saved then: a session first created
        (or regenerated) after the headers went out is not stored, as its cookie can never reach
        the browser. Only a session used after the commit is compared again: changes must go
        through the session (``session["cart"].append(x)`` does), not a reference kept from before.
        """
        if self._data is None or self._dropped:
            return
        if self._committed_state is None:  # first used after the headers went out
            self._delivered_id = self._cookie_id
        if self._id != self._delivered_id:
            logger.debug("session %s was created after the response headers: not stored", self._settings.tag(self._id))
            return
        if self._committed_state is None:
            self.commit(rolling=False)
        elif self._accessed_after_commit:
            state = self._state()
            if state != self._committed_state:
                self._committed_state = self._persist(state) or self._committed_state
