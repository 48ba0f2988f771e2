"""What every session of one middleware shares: its settings, and the counts of concurrent saves."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .options import CookieOptions
from .stores.base import Loaded, Store

__all__ = ["SaveStats", "SessionSettings"]


class SaveStats:
    """Counts of concurrent saves, for monitoring (``SessionMiddleware.stats``); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.merged = 0  # saves that found the record changed and merged key by key
        self.same_key_conflicts = 0  # keys both requests changed: the later writer won
        self.dropped = 0  # saves abandoned because another request destroyed the session

    def add(self, *, merged: int = 0, same_key_conflicts: int = 0, dropped: int = 0) -> None:
        with self._lock:
            self.merged += merged
            self.same_key_conflicts += same_key_conflicts
            self.dropped += dropped

    def __repr__(self) -> str:
        return (f"SaveStats(merged={self.merged}, same_key_conflicts={self.same_key_conflicts}, "
                f"dropped={self.dropped})")


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """What every session of one middleware shares."""

    store: Store
    cookie: CookieOptions
    genid: Callable[[Any], str]
    resave: bool
    save_uninitialized: bool
    clock: Callable[[], float]
    identify: Callable[[Any], str | None]  # the verified id of the request's session cookie
    is_secure: Callable[[Any], bool]  # whether the request came over https
    load: Callable[[str], Loaded | None]  # store.load, or store.get adapted for minimal stores
    merge: bool = True  # compare-and-set saves (concurrency="merge"); False: plain overwrite
    tracks_creation: bool = False  # the store records creation times (and takes created_ms)
    absolute_timeout: float | None = None  # seconds since creation after which a session is dead
    stats: SaveStats = field(default_factory=SaveStats)
    log_salt: bytes = field(default_factory=lambda: secrets.token_bytes(16), repr=False)

    def tag(self, sid: str) -> str:
        """A short salted hash that correlates log lines of one session without revealing its id."""
        return hashlib.blake2b(sid.encode("utf-8", "surrogatepass"), key=self.log_salt, digest_size=6).hexdigest()
