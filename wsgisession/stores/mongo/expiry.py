"""How MongoStore removes expired sessions: connect-mongo's TTL index, or a sweep every interval."""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import OperationFailure, PyMongoError

from ...errors import StoreUnavailable
from ...serialization import ms_to_datetime as _date

__all__ = ["AUTO_REMOVE", "ExpiredRemoval", "TTLIndexWarning"]

logger = logging.getLogger(__name__)

AUTO_REMOVE = ("native", "interval", "disabled")
_NOT_IMPLEMENTED = (115, 238)  # CommandNotSupported, NotImplemented (FerretDB 1.x has no TTL indexes)


class TTLIndexWarning(RuntimeWarning):
    """The server refused the TTL index; expired sessions are removed by the store instead."""


class ExpiredRemoval:
    """The removal of a collection's expired sessions, ``auto_remove``: ``"native"`` (a TTL index,
    created on first use), ``"interval"``, ``"disabled"``.

    ``mode`` is the mode in effect: ``"native"`` becomes ``"interval"`` where the server has no
    TTL indexes. No thread: the interval sweep piggy-backs on writes, so nothing outlives the store.
    """

    def __init__(self, collection: Collection[Any], mode: str, interval: float, now_ms: int) -> None:
        self._collection = collection
        self.mode = mode
        self.interval = interval  # seconds
        self._lock = threading.Lock()
        self._prepared = mode != "native"
        self._due_ms = now_ms + int(interval * 1000)

    def prepare(self) -> str:
        """Create connect-mongo's TTL index once, on first use (no I/O in the constructor); the mode in effect."""
        if self._prepared:
            return self.mode
        with self._lock:
            if self._prepared:
                return self.mode
            try:
                self._collection.create_index([("expires", 1)], expireAfterSeconds=0, background=True)
            except OperationFailure as exc:
                if exc.code not in _NOT_IMPLEMENTED:  # connect-mongo fails every operation here too
                    raise StoreUnavailable(
                        f"MongoDB session store: creating the TTL index on 'expires' failed (code {exc.code}); "
                        "if an index on 'expires' with other options exists, drop it or pass "
                        "auto_remove='interval'.") from exc
                self.mode = "interval"
                self._prepared = True  # before warning: an "error" filter must not make it repeat
                warnings.warn("this MongoDB server does not support TTL indexes; MongoStore will delete "
                              "expired sessions itself every auto_remove_interval seconds "
                              "(pass auto_remove='interval' to silence this).", TTLIndexWarning, stacklevel=5)
            self._prepared = True
        return self.mode

    def purge(self, now_ms: int, limit: int | None) -> int:
        """Delete the expired documents now: all, or the ``limit`` that expired first (and any that
        expired in the same millisecond as the last of them); return how many."""
        expired: dict[str, Any] = {"expires": {"$lte": _date(now_ms)}}
        if limit is not None and limit < 1:
            return 0
        if limit is not None:
            # Two commands whatever the batch: find when the limit-th oldest expired, delete up to
            # then (the `expires` index serves both; a list of ids in `$in` is slow on FerretDB).
            last = list(self._collection.find(expired, {"expires": 1}).sort("expires", 1).skip(limit - 1).limit(1))
            if last:
                expired = {"expires": {"$lte": last[0]["expires"]}}
        return self._collection.delete_many(expired).deleted_count

    def count(self, now_ms: int) -> int:
        """How many expired documents are still stored."""
        return self._collection.count_documents({"expires": {"$lte": _date(now_ms)}})

    def after_write(self, now_ms: int) -> None:
        """With ``auto_remove="interval"``, delete the expired documents when an interval has passed."""
        if self.mode != "interval":
            return
        with self._lock:
            if now_ms < self._due_ms:
                return
            self._due_ms = now_ms + int(self.interval * 1000)
        # Acknowledged, unlike connect-mongo's w=0: FerretDB answers unacknowledged writes anyway,
        # which desynchronizes pymongo's connection. Failures only cost a retry one interval later.
        try:
            self._collection.delete_many({"expires": {"$lt": _date(now_ms)}})
        except PyMongoError as exc:
            logger.warning("could not delete expired sessions (%s); retrying in %g s",
                           type(exc).__name__, self.interval)
