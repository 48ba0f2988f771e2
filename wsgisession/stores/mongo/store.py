"""MongoStore: sessions in MongoDB, in connect-mongo 6's exact document format.

A Python app and an Express app (express-session + connect-mongo) that share the secret and the
collection share their users' sessions: ``{_id: sid, session: <JSON text>, expires: <date>
[, lastModified, createdAt, updatedAt]}``, written and filtered exactly as connect-mongo does.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from bson.errors import BSONError
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, PyMongoError
from pymongo.write_concern import WriteConcern

from ... import record as _record
from ...errors import ConfigurationError, StoreUnavailable
from ...options import check_seconds
from ...serialization import datetime_to_ms, now_ms
from ...serialization import ms_to_datetime as _date  # exact ms: BSON dates are milliseconds
from ..at_rest import AtRestStore
from ..base import (DEFAULT_TTL, Bound, Loaded, Record, Store, check_size, parse_texts, validate_touch_after,
                    validate_ttl)
from .documents import Version, account_of, account_update, bound_of, decode, embedded, live, session_text
from .expiry import AUTO_REMOVE, ExpiredRemoval, TTLIndexWarning
from .tombstones import Tombstones

__all__ = ["MongoStore", "TTLIndexWarning"]

logger = logging.getLogger(__name__)

_SAVE_LOCK_STRIPES = 64


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigurationError(message)


_TLS_FILES = ("tlsCAFile", "tlsCertificateKeyFile", "tlsCRLFile")


def _unreadable_tls_file(exc: OSError) -> str:
    """What to do about a TLS file the URL names that cannot be read; never the URL (it may hold a password)."""
    named = [name for name in _TLS_FILES if name.lower() in str(exc).lower()]
    option = named[0] if named else " or ".join(_TLS_FILES)
    reason = os.strerror(exc.errno) if exc.errno else "unreadable"
    return (f"the MongoDB URL's {option} cannot be read ({reason}): check the path it gives "
            f"(a relative one is from {os.getcwd()}).")


class MongoStore(Store):
    """Sessions in a MongoDB collection, readable and writable by connect-mongo 6::

        store = MongoStore.from_url("mongodb://localhost:27017/express-sessions", touch_after=3600)
        app = SessionMiddleware(app, secret=SECRET, store=store)

    ``touch_after`` (seconds) skips expiry refreshes of unchanged sessions younger than that,
    saving one write per request. ``stringify=False`` stores the session as an embedded document
    (connect-mongo's option of the same name); its data must then fit BSON (no ``$`` or ``.`` in keys).
    Given ``crypto`` (connect-mongo's ``crypto``/``cryptoAdapter``: encrypts the ``session``
    field, always a string then, as connect-mongo writes it) or ``transform_id`` (its
    ``transformId``: makes each ``_id``), the constructor returns ``AtRestStore(MongoStore(...,
    stringify=True), crypto, transform_id)`` (stores/at_rest.py).
    """

    def __new__(cls, *args: Any, crypto: Any = None, transform_id: Callable[[str], str] | None = None,
                **options: Any) -> Any:
        if crypto is None and transform_id is None:
            return super().__new__(cls)
        if crypto is not None:  # a ciphertext is a string: connect-mongo never embeds one
            options["stringify"] = True
        return AtRestStore(cls(*args, **options), crypto, transform_id)

    def __init__(self, collection: Collection[Any], *, ttl: float = DEFAULT_TTL, auto_remove: str = "native",
                 auto_remove_interval: float = 600, touch_after: float = 0, stringify: bool = True,
                 timestamps: bool = False, write_concern: WriteConcern | None = None,
                 clock: Callable[[], float] = time.time, crypto: Any = None,
                 transform_id: Callable[[str], str] | None = None) -> None:
        _check(isinstance(collection, Collection), "collection must be a pymongo Collection, e.g. "
               "MongoClient(url)['db']['sessions']; to connect from a URL use MongoStore.from_url(url).")
        _check(auto_remove in AUTO_REMOVE,
               f"auto_remove must be 'native', 'interval' or 'disabled', not {auto_remove!r}.")
        check_seconds("auto_remove_interval", auto_remove_interval)
        validate_touch_after(touch_after)
        for name, flag in (("stringify", stringify), ("timestamps", timestamps)):
            _check(isinstance(flag, bool), f"{name} must be True or False, not {flag!r}.")
        _check(write_concern is None or isinstance(write_concern, WriteConcern),
               "write_concern must be a pymongo WriteConcern, e.g. WriteConcern(w='majority'), or None.")
        _check(callable(clock), "clock must be a callable returning epoch seconds, like time.time.")
        # (crypto and transform_id are taken by __new__: never given here)
        self.collection = collection if write_concern is None else collection.with_options(write_concern=write_concern)
        # Reads fetch raw documents and decode each one here: a document another writer left
        # undecodable (bad UTF-8, say) reads as missing instead of failing the whole operation.
        self._codec = collection.codec_options
        self._raw = collection.with_options(codec_options=self._codec.with_options(document_class=RawBSONDocument))
        self.ttl = validate_ttl(ttl)
        self.auto_remove_interval, self.touch_after = auto_remove_interval, touch_after
        self.stringify, self.timestamps = stringify, timestamps
        self.tracks_creation = timestamps  # load() knows creation times: connect-mongo's createdAt
        self.throttles_refresh = touch_after > 0  # refresh() skips by lastModified, as connect-mongo's touch()
        self._clock = clock
        self._own_client: MongoClient[Any] | None = None
        self._users_indexed = False
        # Compare-and-set saves of one session are serialized in this process: MongoDB applies a filtered
        # update atomically, FerretDB 1.x in two steps (where this keeps one process's threads from losing updates).
        self._save_locks = tuple(threading.Lock() for _ in range(_SAVE_LOCK_STRIPES))
        self._expiry = ExpiredRemoval(self.collection, auto_remove, auto_remove_interval, now_ms(self._clock))
        self._tombstones = Tombstones(self.collection, auto_remove_interval, now_ms(self._clock))

    @property
    def auto_remove(self) -> str:
        """How expired sessions are removed, in effect: ``"native"`` becomes ``"interval"`` on first
        use where the server has no TTL indexes (a TTLIndexWarning says so)."""
        return self._expiry.mode

    @classmethod
    def from_url(cls, url: str, *, db_name: str | None = None, collection: str = "sessions",
                 server_selection_timeout: float = 3.0, **options: Any) -> Store:
        """A store on its own client (closed by ``close()``); the database comes from the URL path.

        The timeout (seconds) bounds each whole operation, retries included, so a request never hangs
        on a dead or frozen server (pymongo's is 30 s). ``options`` are the constructor's keywords
        (``ttl``, ``auto_remove``, ``touch_after``, ``crypto``, ...), checked by it. Nothing connects yet.
        """
        timeout = server_selection_timeout
        check_seconds("server_selection_timeout", timeout, at_most=300)
        _check(isinstance(url, str) and url.startswith(("mongodb://", "mongodb+srv://")),
               "url must be a MongoDB connection string, like 'mongodb://localhost:27017/sessions'.")
        for name, value in (("db_name", "x" if db_name is None else db_name), ("collection", collection)):
            _check(isinstance(value, str) and value != "", f"{name} must be a non-empty name, not {value!r}.")
        crypto, transform_id = options.pop("crypto", None), options.pop("transform_id", None)
        if crypto is not None:
            options["stringify"] = True  # (as the constructor does: a ciphertext is a string)
        ms = max(1, int(timeout * 1000))
        try:
            client: MongoClient[Any] = MongoClient(url, connect=False, tz_aware=True, serverSelectionTimeoutMS=ms,
                                                   connectTimeoutMS=ms, socketTimeoutMS=ms, timeoutMS=ms)
        except (PyMongoError, ValueError) as exc:  # pymongo raises ValueError for some (a port out of range)
            raise ConfigurationError(f"invalid MongoDB URL ({exc}).") from exc
        except OSError as exc:  # pymongo opens the TLS files the URL names as it parses it
            raise ConfigurationError(_unreadable_tls_file(exc)) from exc
        try:
            name = db_name or client.get_default_database(None).name
            store = cls(client[name][collection], **options)  # the plain store, which owns the client
            store._own_client = client
            if crypto is None and transform_id is None:
                return store
            return AtRestStore(store, crypto, transform_id)
        except BaseException as exc:
            client.close()
            if isinstance(exc, PyMongoError):  # no database in the URL, or an invalid name
                raise ConfigurationError(f"{exc} Put the database in the URL path (mongodb://host:27017/mydb) "
                                         "or pass db_name='mydb'.") from exc
            raise

    def __repr__(self) -> str:  # names the collection, never the URL (it may hold credentials)
        return f"MongoStore({self.collection.full_name!r})"

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn driver errors into StoreUnavailable; messages never carry a session id."""
        try:
            self._expiry.prepare()
            yield
        except (PyMongoError, BSONError) as exc:  # a BSONError here is about the reply, not one record
            code = getattr(exc, "code", None)
            detail = f"{type(exc).__name__}" + (f", code {code}" if code is not None else "")
            raise StoreUnavailable(f"MongoDB session store: {action} failed ({detail}).") from exc

    def load(self, sid: str) -> Loaded | None:
        now = now_ms(self._clock)
        with self._guard("get"):
            raw = self._raw.find_one({"_id": sid, **live(now)})
        doc = None if raw is None else decode(raw, self._codec)
        text = None if doc is None else session_text(doc, self.stringify)
        if doc is None or text is None:
            return None
        modified, created, expires = doc.get("lastModified"), doc.get("createdAt"), doc.get("expires")
        modified_ms = datetime_to_ms(modified) if self.touch_after > 0 and isinstance(modified, datetime) else None
        return Loaded(text, Version(doc.get("session"), modified_ms),
                      datetime_to_ms(created) if isinstance(created, datetime) else None, account_of(doc), False,
                      datetime_to_ms(expires) if isinstance(expires, datetime) else None)

    def _update(self, sid: str, record: Record, now: int, create: bool = False) -> dict[str, Any]:
        """connect-mongo's set(): the whole document in ``$set``, timestamps on request.

        A given creation time replaces connect-mongo's ``createdAt`` (a regenerated session keeps
        its own; a document Node wrote without one gets one). The account goes in fields of its
        own (``account_update``); a document ``create``d anew has exactly the account given.
        """
        check_size(record.text)
        session = record.text if self.stringify else embedded(record.text)
        fields: dict[str, Any] = {"_id": sid, "session": session, "expires": _date(self.expiry(record.expires_ms, now))}
        if self.touch_after > 0:
            fields["lastModified"] = _date(now)
        update: dict[str, Any] = {"$set": fields}
        if self.timestamps:
            if record.created_ms is None and not create:
                update["$setOnInsert"] = {"createdAt": _date(now)}
            else:  # (a record created anew over an expired document is created now)
                fields["createdAt"] = _date(now if record.created_ms is None else record.created_ms)
            update["$currentDate"] = {"updatedAt": True}
        if record.account is not None:
            self._index_users()
        if record.account is not None or create:
            for operator, values in account_update(record.account, create).items():
                update.setdefault(operator, {}).update(values)
        return update

    def write(self, sid: str, record: Record) -> None:
        now = now_ms(self._clock)
        update = self._update(sid, record, now)
        with self._guard("set"):
            self.collection.update_one({"_id": sid}, update, upsert=True)
        self._expiry.after_write(now)

    def save(self, sid: str, record: Record, version: Any) -> Any:
        """write() as a compare-and-set on the ``session`` field, which also sees connect-mongo's writes."""
        now = now_ms(self._clock)
        update = self._update(sid, record, now, create=version is None)
        with self._save_locks[hash(sid) % _SAVE_LOCK_STRIPES], self._guard("save"):
            if version is None:  # insert, or reuse an expired document; a live one is a conflict
                try:
                    self.collection.update_one({"_id": sid, "expires": {"$lte": _date(now)}}, update, upsert=True)
                except DuplicateKeyError:
                    return None
            elif self.collection.update_one({"_id": sid, "session": version.session, **live(now)},
                                            update).matched_count == 0:
                return None
        self._expiry.after_write(now)
        return Version(update["$set"]["session"], now if self.touch_after > 0 else None)

    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> bool | None:
        """connect-mongo's touch(): skipped while the record is younger than ``touch_after``.

        With the version of a load (the core's), only a live document is refreshed: an expired one
        that no purge has removed yet stays expired. express's ``touch()`` hands no loaded version
        and updates by ``_id`` alone, exactly as connect-mongo's does."""
        now = now_ms(self._clock)
        fields: dict[str, Any] = {}
        modified_ms = None if version is None else version.last_modified_ms
        if self.touch_after > 0 and modified_ms:
            if now - modified_ms < self.touch_after * 1000:
                return None  # recently written: skip the write entirely
            fields["lastModified"] = _date(now)
        fields["expires"] = _date(self.expiry(expires_ms, now))
        update: dict[str, Any] = {"$set": fields, **({"$currentDate": {"updatedAt": True}} if self.timestamps else {})}
        with self._guard("touch"):
            loaded = version is not None and version.session is not None
            result = self.collection.update_one({"_id": sid, **live(now)} if loaded else {"_id": sid}, update)
        self._expiry.after_write(now)
        return result.matched_count == 1 if result.acknowledged else None

    def destroy(self, sid: str) -> bool | None:
        with self._guard("destroy"):
            result = self.collection.delete_one({"_id": sid})
        return result.deleted_count == 1 if result.acknowledged else None

    def bury(self, key: str, until_ms: int) -> bool | None:
        with self._guard("destroy"):
            self._tombstones.bury(key, until_ms, now_ms(self._clock), self.auto_remove)
        return self.destroy(key)

    def buried(self, key: str) -> bool:
        with self._guard("get"):
            return self._tombstones.buried(key, now_ms(self._clock))

    def _index_users(self) -> None:
        """Create the index on ``userId`` once, before the first account is written or looked up."""
        if not self._users_indexed:
            with self._guard("create the userId index"):
                self.collection.create_index([("userId", 1)], name="userId_1")
            self._users_indexed = True

    def iter_bound(self, user_id: str | None = None) -> Iterator[Bound]:
        """The user's live documents, found through the ``userId`` index (None: every bound one)."""
        self._index_users()
        now = now_ms(self._clock)
        with self._guard("find by user"):
            raws = list(self._raw.find({"userId": {"$type": "string"} if user_id is None else user_id, **live(now)}))
        no_expiry = now + int(self.ttl * 1000)  # (a document without `expires` never expires: say "in a ttl")
        for doc in (doc for raw in raws if (doc := decode(raw, self._codec)) is not None):
            if (bound := bound_of(doc, session_text(doc, self.stringify), no_expiry)) is not None:
                yield bound

    def purge(self, limit: int | None = None) -> int:
        with self._guard("purge"):
            self._tombstones.sweep(now_ms(self._clock))
            return self._expiry.purge(now_ms(self._clock), limit)

    def count_expired(self) -> int:
        with self._guard("count"):
            return self._expiry.count(now_ms(self._clock))

    def all(self) -> dict[str, dict[str, Any]]:
        return parse_texts(self.texts())

    def texts(self) -> dict[str, str]:
        with self._guard("all"):
            raws = list(self._raw.find(live(now_ms(self._clock))))
        docs = (doc for raw in raws if (doc := decode(raw, self._codec)) is not None)
        texts = ((doc["_id"], session_text(doc, self.stringify)) for doc in docs)
        return {key: text for key, text in texts if isinstance(key, str) and text is not None}

    def length(self) -> int:
        """Live sessions only (connect-mongo also counts expired, unreaped ones)."""
        with self._guard("length"):
            return self.collection.count_documents(live(now_ms(self._clock)))

    def clear(self) -> None:
        with self._guard("clear"):
            self.collection.delete_many({})

    def close(self) -> None:
        """Close the client ``from_url`` created; a client you passed in stays yours to close."""
        if self._own_client is not None:
            self._own_client.close()

    # -- connect-mongo's get/set/touch: get() returns ``lastModified`` (touchAfter) inside the
    # session, touch() reads it there, and set() does not store it.

    def _session_of(self, loaded: Loaded) -> dict[str, Any] | None:
        record = _record.parse(loaded.text)
        if record is not None and loaded.version.last_modified_ms is not None:
            record["lastModified"] = _date(loaded.version.last_modified_ms)
        return record

    def _record_of(self, session: dict[str, Any], created_ms: int | None) -> Record:
        return super()._record_of({k: v for k, v in session.items() if k != "lastModified"}, created_ms)

    def _version_of(self, session: dict[str, Any]) -> Any:
        modified = session.get("lastModified")
        return Version(None, datetime_to_ms(modified)) if isinstance(modified, datetime) else None
