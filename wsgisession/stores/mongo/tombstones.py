"""MongoStore's tombstones: the ids a login or logout ended, kept for a short window.

A tombstone is a document of its own in the sessions collection, ``{_id: "tombstone:" + key,
expires: null, tombstoneUntil: <date>}``: connect-mongo never loads, lists or touches it (it
looks ids up by their own ``_id``, and its ``all()`` filter, like every live-session filter here,
skips a null ``expires``; only its ``length()`` counts every document), and a request of Node that
touches the ended id still finds nothing to touch, as before. ``tombstoneUntil`` is its expiry: a TTL index removes it (``auto_remove="native"``), or
the store does, every interval (``"interval"``) and on ``purge()``.
"""

from __future__ import annotations

import threading
from typing import Any

from pymongo.collection import Collection

from ...serialization import ms_to_datetime as _date

__all__ = ["PREFIX", "Tombstones"]

PREFIX = "tombstone:"  # (ids, hashed or not, never take this form: they are base64url or hex)
UNTIL = "tombstoneUntil"


class Tombstones:
    """The tombstones in one sessions collection (MongoStore's ``bury`` and ``buried``)."""

    def __init__(self, collection: Collection[Any], interval: float, now_ms: int) -> None:
        self._collection = collection
        self._interval = interval  # seconds between sweeps, with auto_remove="interval"
        self._lock = threading.Lock()
        self._indexed = False
        self._due_ms = now_ms + int(interval * 1000)

    def bury(self, key: str, until_ms: int, now_ms: int, auto_remove: str) -> None:
        """Write the tombstone (the store then deletes the record: in that order, the id is never
        unknown and not yet buried)."""
        self._prepare(now_ms, auto_remove)
        update = {"$set": {"expires": None, UNTIL: _date(until_ms)}}
        self._collection.update_one({"_id": PREFIX + key}, update, upsert=True)

    def buried(self, key: str, now_ms: int) -> bool:
        found = self._collection.find_one({"_id": PREFIX + key, UNTIL: {"$gt": _date(now_ms)}}, {"_id": 1})
        return found is not None

    def sweep(self, now_ms: int) -> int:
        """Delete the tombstones whose window has passed; how many."""
        return self._collection.delete_many({UNTIL: {"$lte": _date(now_ms)}}).deleted_count

    def _prepare(self, now_ms: int, auto_remove: str) -> None:
        """The TTL index on ``tombstoneUntil`` (native removal), or an interval sweep when one is due."""
        if auto_remove == "native" and not self._indexed:
            self._collection.create_index([(UNTIL, 1)], expireAfterSeconds=0, background=True)
            self._indexed = True
        elif auto_remove == "interval":
            with self._lock:
                due = now_ms >= self._due_ms
                if due:
                    self._due_ms = now_ms + int(self._interval * 1000)
            if due:
                self.sweep(now_ms)
