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
from typing import TYPE_CHECKING

from ..serialization import ms_to_datetime as _date

if TYPE_CHECKING:
    from .mongo import MongoStore

__all__ = ["PREFIX", "Tombstones"]

PREFIX = "tombstone:"  # (ids, hashed or not, never take this form: they are base64url or hex)
UNTIL = "tombstoneUntil"


class Tombstones:
    """The tombstones of one MongoStore (its ``bury`` and ``buried``)."""

    def __init__(self, store: MongoStore, now_ms: int) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._indexed = False
        self._due_ms = now_ms + int(store.auto_remove_interval * 1000)

    def bury(self, key: str, until_ms: int, now_ms: int) -> bool | None:
        """Write the tombstone, then delete the record (in that order: the id is never unknown and not
        yet buried); whether there was a record."""
        self._prepare(now_ms)
        update = {"$set": {"expires": None, UNTIL: _date(until_ms)}}
        self._store.collection.update_one({"_id": PREFIX + key}, update, upsert=True)
        return self._store.destroy_key(key)

    def buried(self, key: str, now_ms: int) -> bool:
        found = self._store.collection.find_one({"_id": PREFIX + key, UNTIL: {"$gt": _date(now_ms)}}, {"_id": 1})
        return found is not None

    def sweep(self, now_ms: int) -> int:
        """Delete the tombstones whose window has passed; how many."""
        return self._store.collection.delete_many({UNTIL: {"$lte": _date(now_ms)}}).deleted_count

    def _prepare(self, now_ms: int) -> None:
        """The TTL index on ``tombstoneUntil`` (native removal), or an interval sweep when one is due."""
        store = self._store
        if store.auto_remove == "native" and not self._indexed:
            store.collection.create_index([(UNTIL, 1)], expireAfterSeconds=0, background=True)
            self._indexed = True
        elif store.auto_remove == "interval":
            with self._lock:
                due = now_ms >= self._due_ms
                if due:
                    self._due_ms = now_ms + int(store.auto_remove_interval * 1000)
            if due:
                self.sweep(now_ms)
