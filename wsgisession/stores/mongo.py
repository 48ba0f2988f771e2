"""MongoStore: sessions in MongoDB, in connect-mongo 6's exact document format.

A Python app and an Express app (express-session + connect-mongo) that share the secret and the
collection share their users' sessions: ``{_id: sid, session: <JSON text>, expires: <date>
[, lastModified, createdAt, updatedAt]}``, written and filtered exactly as connect-mongo does.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

import bson
from bson.errors import BSONError
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError
from pymongo.write_concern import WriteConcern

from .. import record as _record
from ..errors import ConfigurationError, StoreUnavailable
from ..serialization import datetime_to_ms, dumps, format_iso, loads
from ..serialization import ms_to_datetime as _date  # exact ms: BSON dates are milliseconds
from .base import DEFAULT_TTL, Loaded, Record, Store, check_size, expiry_of, validate_ttl

__all__ = ["MongoStore", "TTLIndexWarning"]

logger = logging.getLogger(__name__)

_AUTO_REMOVE = ("native", "interval", "disabled")
_SAVE_LOCK_STRIPES = 64
_NOT_IMPLEMENTED = (115, 238)  # CommandNotSupported, NotImplemented (FerretDB 1.x has no TTL indexes)
# With stringify=False Node stores the cookie's unset keys as null.
_NULLABLE_COOKIE_KEYS = ("partitioned", "priority", "secure", "domain", "sameSite")


class TTLIndexWarning(RuntimeWarning):
    """The server refused the TTL index; expired sessions are removed by the store instead."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigurationError(message)


def _is_seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _json_ready(value: Any) -> Any:
    """BSON values of an embedded session as ``JSON.stringify`` would render them (dates as ISO)."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, datetime):
        return format_iso(datetime_to_ms(value))
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)  # ObjectId and friends: their JSON form is their string form


class _Version(NamedTuple):
    """What load() saw: the compare-and-set token, and connect-mongo's lastModified (touchAfter)."""

    session: Any  # the document's `session` field
    last_modified_ms: int | None


class MongoStore(Store):
    """Sessions in a MongoDB collection, readable and writable by connect-mongo 6::

        store = MongoStore.from_url("mongodb://localhost:27017/express-sessions", touch_after=3600)
        app = SessionMiddleware(app, secret=SECRET, store=store)

    ``touch_after`` (seconds) skips expiry refreshes of unchanged sessions younger than that,
    saving one write per request. ``stringify=False`` stores the session as an embedded document
    (connect-mongo's option of the same name); its data must then fit BSON (no ``$`` or ``.`` in keys).
    """

    def __init__(self, collection: Collection[Any], *, ttl: float = DEFAULT_TTL, auto_remove: str = "native",
                 auto_remove_interval: float = 600, touch_after: float = 0, stringify: bool = True,
                 timestamps: bool = False, write_concern: WriteConcern | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        _check(isinstance(collection, Collection), "collection must be a pymongo Collection, e.g. "
               "MongoClient(url)['db']['sessions']; to connect from a URL use MongoStore.from_url(url).")
        _check(auto_remove in _AUTO_REMOVE,
               f"auto_remove must be 'native', 'interval' or 'disabled', not {auto_remove!r}.")
        _check(_is_seconds(auto_remove_interval) and auto_remove_interval > 0,
               f"auto_remove_interval must be a positive number of seconds, not {auto_remove_interval!r}.")
        _check(_is_seconds(touch_after), f"touch_after must be a number of seconds >= 0, not {touch_after!r}.")
        for name, flag in (("stringify", stringify), ("timestamps", timestamps)):
            _check(isinstance(flag, bool), f"{name} must be True or False, not {flag!r}.")
        _check(write_concern is None or isinstance(write_concern, WriteConcern),
               "write_concern must be a pymongo WriteConcern, e.g. WriteConcern(w='majority'), or None.")
        _check(callable(clock), "clock must be a callable returning epoch seconds, like time.time.")
        self.collection = collection if write_concern is None else collection.with_options(write_concern=write_concern)
        # Reads fetch raw documents and decode each one here: a document another writer left
        # undecodable (bad UTF-8, say) reads as missing instead of failing the whole operation.
        self._codec = collection.codec_options
        self._raw = collection.with_options(codec_options=self._codec.with_options(document_class=RawBSONDocument))
        self.ttl = validate_ttl(ttl)
        self.auto_remove = auto_remove
        self.auto_remove_interval = auto_remove_interval
        self.touch_after = touch_after
        self.stringify = stringify
        self.timestamps = timestamps
        self.tracks_creation = timestamps  # load() knows creation times: connect-mongo's createdAt
        self._clock = clock
        self._own_client: MongoClient[Any] | None = None
        self._lock = threading.Lock()
        # Compare-and-set saves of one session are serialized within this process: MongoDB applies
        # a filtered update atomically anyway, but some compatible servers do not (FerretDB 1.x
        # evaluates the filter and writes in two steps), and there this keeps the threads of one
        # process from losing each other's updates.
        self._save_locks = tuple(threading.Lock() for _ in range(_SAVE_LOCK_STRIPES))
        self._prepared = auto_remove != "native"
        self._removal_due_ms = self._now_ms() + int(auto_remove_interval * 1000)

    @classmethod
    def from_url(cls, url: str, *, db_name: str | None = None, collection: str = "sessions",
                 server_selection_timeout: float = 3.0, ttl: float = DEFAULT_TTL, auto_remove: str = "native",
                 auto_remove_interval: float = 600, touch_after: float = 0, stringify: bool = True,
                 timestamps: bool = False, write_concern: WriteConcern | None = None,
                 clock: Callable[[], float] = time.time) -> MongoStore:
        """A store on its own client (closed by ``close()``); the database comes from the URL path.

        The timeout (seconds) bounds each whole operation, retries included, so a request never
        hangs on a dead or frozen server (pymongo's default is 30 s). Nothing connects yet. The
        other options are the constructor's.
        """
        timeout = server_selection_timeout
        _check(_is_seconds(timeout) and 0 < timeout <= 300,
               f"server_selection_timeout must be seconds in (0, 300], not {timeout!r}.")
        _check(isinstance(url, str) and url.startswith(("mongodb://", "mongodb+srv://")),
               "url must be a MongoDB connection string, like 'mongodb://localhost:27017/sessions'.")
        for name, value in (("db_name", "x" if db_name is None else db_name), ("collection", collection)):
            _check(isinstance(value, str) and value != "", f"{name} must be a non-empty name, not {value!r}.")
        ms = max(1, int(timeout * 1000))
        try:
            client: MongoClient[Any] = MongoClient(url, connect=False, tz_aware=True, serverSelectionTimeoutMS=ms,
                                                   connectTimeoutMS=ms, socketTimeoutMS=ms, timeoutMS=ms)
        except PyMongoError as exc:
            raise ConfigurationError(f"invalid MongoDB URL ({exc}).") from exc
        try:
            name = db_name or client.get_default_database(None).name
            store = cls(client[name][collection], ttl=ttl, auto_remove=auto_remove,
                        auto_remove_interval=auto_remove_interval, touch_after=touch_after, stringify=stringify,
                        timestamps=timestamps, write_concern=write_concern, clock=clock)
        except BaseException as exc:
            client.close()
            if isinstance(exc, PyMongoError):  # no database in the URL, or an invalid name
                raise ConfigurationError(f"{exc} Put the database in the URL path (mongodb://host:27017/mydb) "
                                         "or pass db_name='mydb'.") from exc
            raise
        store._own_client = client
        return store


    def __repr__(self) -> str:  # names the collection, never the URL (it may hold credentials)
        return f"MongoStore({self.collection.full_name!r})"

    # -- plumbing ------------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _live(self, now_ms: int) -> dict[str, Any]:
        """connect-mongo's read filter: no ``expires`` field, or one in the future (nulls never match)."""
        return {"$or": [{"expires": {"$exists": False}}, {"expires": {"$gt": _date(now_ms)}}]}

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn driver errors into StoreUnavailable; messages never carry a session id."""
        try:
            self._prepare()
            yield
        except (PyMongoError, BSONError) as exc:  # a BSONError here is about the reply, not one record
            code = getattr(exc, "code", None)
            detail = f"{type(exc).__name__}" + (f", code {code}" if code is not None else "")
            raise StoreUnavailable(f"MongoDB session store: {action} failed ({detail}).") from exc

    def _prepare(self) -> None:
        """Create connect-mongo's TTL index once, on first use (no I/O in the constructor)."""
        if self._prepared:
            return
        with self._lock:
            if self._prepared:
                return
            try:
                self.collection.create_index([("expires", 1)], expireAfterSeconds=0, background=True)
            except OperationFailure as exc:
                if exc.code not in _NOT_IMPLEMENTED:  # connect-mongo fails every operation here too
                    raise StoreUnavailable(
                        f"MongoDB session store: creating the TTL index on 'expires' failed (code {exc.code}); "
                        "if an index on 'expires' with other options exists, drop it or pass "
                        "auto_remove='interval'.") from exc
                self.auto_remove = "interval"
                self._prepared = True  # before warning: an "error" filter must not make it repeat
                warnings.warn("this MongoDB server does not support TTL indexes; MongoStore will delete "
                              "expired sessions itself every auto_remove_interval seconds "
                              "(pass auto_remove='interval' to silence this).", TTLIndexWarning, stacklevel=5)
            self._prepared = True

    def _remove_expired(self, now_ms: int) -> None:
        """Interval removal, piggy-backed on writes: no thread outlives ``close()``."""
        if self.auto_remove != "interval":
            return
        with self._lock:
            if now_ms < self._removal_due_ms:
                return
            self._removal_due_ms = now_ms + int(self.auto_remove_interval * 1000)
        # Acknowledged, unlike connect-mongo's w=0: FerretDB answers unacknowledged writes anyway,
        # which desynchronizes pymongo's connection. Failures only cost a retry one interval later.
        try:
            self.collection.delete_many({"expires": {"$lt": _date(now_ms)}})
        except PyMongoError as exc:
            logger.warning("could not delete expired sessions (%s); retrying in %g s",
                           type(exc).__name__, self.auto_remove_interval)

    def _embedded(self, text: str) -> Any:
        """The embedded document of stringify=False, with Node's nulls and a BSON date in the cookie."""
        record = loads(text)
        cookie = record.get("cookie")
        if not isinstance(cookie, dict):
            return record
        full = {key: cookie.get(key) for key in _record.COOKIE_KEYS} | cookie  # Node's nulls, then extra keys
        try:
            expires = _record.expires_ms(full["expires"])
            if expires is not None:
                full["expires"] = _date(expires)
        except ValueError:
            pass
        return {**record, "cookie": full}

    def _decode(self, raw: RawBSONDocument) -> dict[str, Any] | None:
        """A raw document decoded, or None (logged) if it cannot be: it then reads as missing."""
        try:
            return dict(bson.decode(raw.raw, self._codec))
        except (BSONError, ValueError, RecursionError):
            logger.warning("ignored a session document that cannot be decoded")
            return None

    def _text(self, doc: dict[str, Any]) -> str | None:
        """The record's JSON text in a document, or None (logged) if it is not a session we can read."""
        value = doc.get("session")
        if isinstance(value, str):
            return value
        record: Any = None
        if isinstance(value, dict) and not self.stringify:
            try:
                record = _json_ready(value)
            except RecursionError:
                record = None
            cookie = record.get("cookie") if isinstance(record, dict) else None
            if isinstance(cookie, dict):
                record["cookie"] = {k: v for k, v in cookie.items() if not (v is None and k in _NULLABLE_COOKIE_KEYS)}
        if not isinstance(record, dict):
            logger.warning("ignored a session document whose 'session' field is not a %s",
                           "JSON object string" if self.stringify else "JSON object string or embedded document")
            return None
        try:
            return dumps(record)
        except (ValueError, TypeError, RecursionError):
            logger.warning("ignored a session document whose embedded session JSON cannot represent")
            return None

    # -- the Store protocol ---------------------------------------------------------------------

    def load(self, sid: str) -> Loaded | None:
        now = self._now_ms()
        with self._guard("get"):
            raw = self._raw.find_one({"_id": sid, **self._live(now)})
        doc = None if raw is None else self._decode(raw)
        text = None if doc is None else self._text(doc)
        if text is None:
            return None
        modified, created = doc.get("lastModified"), doc.get("createdAt")  # type: ignore[union-attr]
        modified_ms = datetime_to_ms(modified) if self.touch_after > 0 and isinstance(modified, datetime) else None
        return Loaded(text, _Version(doc.get("session"), modified_ms),  # type: ignore[union-attr]
                      datetime_to_ms(created) if isinstance(created, datetime) else None)

    def _update(self, sid: str, record: Record, now: int) -> dict[str, Any]:
        """connect-mongo's set(): the whole document in ``$set``, timestamps on request.

        A given creation time replaces connect-mongo's ``createdAt`` (a regenerated session keeps
        its own; a document Node wrote without one gets one).
        """
        check_size(record.text)
        expires = now + int(self.ttl * 1000) if record.expires_ms is None else record.expires_ms
        fields: dict[str, Any] = {"_id": sid, "session": record.text if self.stringify else self._embedded(record.text),
                                  "expires": _date(expires)}
        if self.touch_after > 0:
            fields["lastModified"] = _date(now)
        update: dict[str, Any] = {"$set": fields}
        if self.timestamps:
            if record.created_ms is None:
                update["$setOnInsert"] = {"createdAt": _date(now)}
            else:
                fields["createdAt"] = _date(record.created_ms)
            update["$currentDate"] = {"updatedAt": True}
        return update

    def write(self, sid: str, record: Record) -> None:
        now = self._now_ms()
        update = self._update(sid, record, now)
        with self._guard("set"):
            self.collection.update_one({"_id": sid}, update, upsert=True)
        self._remove_expired(now)

    def save(self, sid: str, record: Record, version: Any) -> Any:
        """write() as a compare-and-set on the ``session`` field, which also sees connect-mongo's writes."""
        now = self._now_ms()
        update = self._update(sid, record, now)
        with self._save_locks[hash(sid) % _SAVE_LOCK_STRIPES], self._guard("save"):
            if version is None:  # insert, or reuse an expired document; a live one is a conflict
                try:
                    self.collection.update_one({"_id": sid, "expires": {"$lte": _date(now)}}, update, upsert=True)
                except DuplicateKeyError:
                    return None
            elif self.collection.update_one({"_id": sid, "session": version.session, **self._live(now)},
                                            update).matched_count == 0:
                return None
        self._remove_expired(now)
        return _Version(update["$set"]["session"], now if self.touch_after > 0 else None)

    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> None:
        """connect-mongo's touch(): skipped while the record is younger than ``touch_after``."""
        now = self._now_ms()
        fields: dict[str, Any] = {}
        modified_ms = None if version is None else version.last_modified_ms
        if self.touch_after > 0 and modified_ms:
            if now - modified_ms < self.touch_after * 1000:
                return  # recently written: skip the write entirely
            fields["lastModified"] = _date(now)
        fields["expires"] = _date(now + int(self.ttl * 1000) if expires_ms is None else expires_ms)
        update: dict[str, Any] = {"$set": fields}
        if self.timestamps:
            update["$currentDate"] = {"updatedAt": True}
        with self._guard("touch"):
            self.collection.update_one({"_id": sid}, update)  # a vanished record stays vanished
        self._remove_expired(now)

    # connect-mongo's get() returns lastModified inside the session, and its touch() reads it there.
    def get(self, sid: str) -> dict[str, Any] | None:
        loaded = self.load(sid)
        record = None if loaded is None else _record.parse(loaded.text)
        if record is not None and loaded is not None and loaded.version.last_modified_ms is not None:
            record["lastModified"] = _date(loaded.version.last_modified_ms)
        return record

    def set(self, sid: str, session: dict[str, Any], *, created_ms: int | None = None) -> None:
        super().set(sid, {k: v for k, v in session.items() if k != "lastModified"}, created_ms=created_ms)

    def touch(self, sid: str, session: dict[str, Any]) -> None:
        modified = session.get("lastModified")
        version = _Version(None, datetime_to_ms(modified)) if isinstance(modified, datetime) else None
        self.refresh(sid, expiry_of(session), version)

    def destroy(self, sid: str) -> bool | None:
        with self._guard("destroy"):
            result = self.collection.delete_one({"_id": sid})
        return result.deleted_count == 1 if result.acknowledged else None

    def all(self) -> dict[str, dict[str, Any]]:
        with self._guard("all"):
            raws = list(self._raw.find(self._live(self._now_ms())))
        docs = (doc for raw in raws if (doc := self._decode(raw)) is not None)
        texts = ((doc["_id"], self._text(doc)) for doc in docs)
        records = ((sid, _record.parse(text)) for sid, text in texts if isinstance(sid, str) and text is not None)
        return {sid: record for sid, record in records if record is not None}

    def length(self) -> int:
        """Live sessions only (connect-mongo also counts expired, unreaped ones)."""
        with self._guard("length"):
            return self.collection.count_documents(self._live(self._now_ms()))

    def clear(self) -> None:
        with self._guard("clear"):
            self.collection.delete_many({})

    def close(self) -> None:
        """Close the client ``from_url`` created; a client you passed in stays yours to close."""
        if self._own_client is not None:
            self._own_client.close()
