"""How MongoStore removes expired sessions: connect-mongo's TTL index, or a sweep every interval."""

from __future__ import annotations

import logging
import threading
import warnings
from typing import TYPE_CHECKING, Any

from pymongo.errors import OperationFailure, PyMongoError

from ..errors import StoreUnavailable
from ..serialization import ms_to_datetime as _date

if TYPE_CHECKING:
    from .mongo import MongoStore

__all__ = ["ExpiredRemoval", "TTLIndexWarning"]

logger = logging.getLogger(__name__)

_NOT_IMPLEMENTED = (115, 238)  # CommandNotSupported, NotImplemented (FerretDB 1.x has no TTL indexes)


class TTLIndexWarning(RuntimeWarning):
    """The server refused the TTL index; expired sessions are removed by the store instead."""


class ExpiredRemoval:
    """``auto_remove``: ``"native"`` (a TTL index, created on first use), ``"interval"``, ``"disabled"``.

    No thread: the interval sweep piggy-backs on writes, so nothing outlives ``close()``.
    """

    def __init__(self, store: MongoStore, now_ms: int) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._prepared = store.auto_remove != "native"
        self._due_ms = now_ms + int(store.auto_remove_interval * 1000)

    def prepare(self) -> None:
        """Create connect-mongo's TTL index once, on first use (no I/O in the constructor)."""
        if self._prepared:
            return
        store = self._store
        with self._lock:
            if self._prepared:
                return
            try:
                store.collection.create_index([("expires", 1)], expireAfterSeconds=0, background=True)
            except OperationFailure as exc:
                if exc.code not in _NOT_IMPLEMENTED:  # connect-mongo fails every operation here too
                    raise StoreUnavailable(
                        f"MongoDB session store: creating the TTL index on 'expires' failed (code {exc.code}); "
                        "if an index on 'expires' with other options exists, drop it or pass "
                        "auto_remove='interval'.") from exc
                store.auto_remove = "interval"
                self._prepared = True  # before warning: an "error" filter must not make it repeat
                warnings.warn("this MongoDB server does not support TTL indexes; MongoStore will delete "
                              "expired sessions itself every auto_remove_interval seconds "
                              "(pass auto_remove='interval' to silence this).", TTLIndexWarning, stacklevel=5)
            self._prepared = True

    def purge(self, now_ms: int, limit: int | None) -> int:
        """Delete the expired documents now: all, or the ``limit`` that expired first (and any that
        expired in the same millisecond as the last of them); return how many."""
        expired: dict[str, Any] = {"expires": {"$lte": _date(now_ms)}}
        collection = self._store.collection
        if limit is not None and limit < 1:
            return 0
        if limit is not None:
            # Two commands whatever the batch: find when the limit-th oldest expired, delete up to
            # then (the `expires` index serves both; a list of ids in `$in` is slow on FerretDB).
            last = list(collection.find(expired, {"expires": 1}).sort("expires", 1).skip(limit - 1).limit(1))
            if last:
                expired = {"expires": {"$lte": last[0]["expires"]}}
        return collection.delete_many(expired).deleted_count

    def count(self, now_ms: int) -> int:
        """How many expired documents are still stored."""
        return self._store.collection.count_documents({"expires": {"$lte": _date(now_ms)}})

    def after_write(self, now_ms: int) -> None:
        """With ``auto_remove="interval"``, delete the expired documents when an interval has passed."""
        store = self._store
        if store.auto_remove != "interval":
            return
        with self._lock:
            if now_ms < self._due_ms:
                return
            self._due_ms = now_ms + int(store.auto_remove_interval * 1000)
        # Acknowledged, unlike connect-mongo's w=0: FerretDB answers unacknowledged writes anyway,
        # which desynchronizes pymongo's connection. Failures only cost a retry one interval later.
        try:
            store.collection.delete_many({"expires": {"$lt": _date(now_ms)}})
        except PyMongoError as exc:
            logger.warning("could not delete expired sessions (%s); retrying in %g s",
                           type(exc).__name__, store.auto_remove_interval)
