"""Small test doubles shared by the suites (no server stand-ins: those are real)."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable
from typing import Any

from wsgisession import Session, Store
from wsgisession.serialization import format_iso
from wsgisession.stores.base import Loaded, Record
from wsgisession.testing import FakeClock

__all__ = ["CORE_SECRET", "FakeClock", "SpyStore", "open_session", "record", "set_cookie_of"]

def record(clock: Any, *, max_age_ms: int | None = None, **data: Any) -> dict[str, Any]:
    """A session dict as express-session keeps it: its cookie (expiring in ``max_age_ms``, or a browser-session one) and ``data``."""
    expires = None if max_age_ms is None else format_iso(int(clock() * 1000) + max_age_ms)
    cookie = {"originalMaxAge": max_age_ms, "expires": expires, "httpOnly": True, "path": "/"}
    return {"cookie": cookie, **data}


class SpyStore(Store):
    """Wraps a store and records every call made to it, by the name of the method the core called.

    (The benchmarks count round trips with it too: each recorded call is one.)
    """

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str | None]] = []
        self.ttl = inner.ttl
        self.tracks_creation = inner.tracks_creation
        self.touch_after = inner.touch_after
        self.throttles_refresh = inner.throttles_refresh

    def supports(self, capability: str) -> bool:
        """What the inner store has, of what this spy forwards (it keeps no tombstones, say)."""
        return Store.supports(self, capability) and self.inner.supports(capability)

    def key(self, sid: str) -> str:
        return self.inner.key(sid)

    def destroy_key(self, key: str) -> Any:
        self._record("destroy", key)  # (one round trip, as destroy: keys are ids here)
        return self.inner.destroy_key(key)

    def _record(self, op: str, sid: str | None = None) -> None:
        self.calls.append((op, sid))

    def ops(self) -> list[str]:
        return [op for op, _ in self.calls]

    def count(self) -> Counter[str]:
        return Counter(self.ops())

    def load(self, sid: str) -> Any:
        self._record("load", sid)
        return self.inner.load(sid)

    def write(self, sid: str, record: Record) -> None:
        self._record("write", sid)
        self.inner.write(sid, record)

    def save(self, sid: str, record: Record, version: Any) -> Any:
        self._record("save", sid)
        return self.inner.save(sid, record, version)

    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> Any:
        self._record("refresh", sid)
        return self.inner.refresh(sid, expires_ms, version)

    def destroy(self, sid: str) -> Any:
        self._record("destroy", sid)
        return self.inner.destroy(sid)

    def texts(self) -> Any:
        self._record("texts")
        return self.inner.texts()

    def all(self) -> Any:
        self._record("all")
        return self.inner.all()

    def length(self) -> int:
        self._record("length")
        return self.inner.length()

    def clear(self) -> None:
        self._record("clear")
        self.inner.clear()

    def close(self) -> None:
        self._record("close")
        self.inner.close()


class DictStore(Store):
    """A third party's store, as small as the port allows: the five required methods and ``save``,
    over a dict (no expiry checks: the tests that use it never let a record expire)."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[str, int | None]] = {}  # key -> (text as stored, expires_ms)

    def load(self, sid: str) -> Loaded | None:
        found = self.records.get(sid)
        return None if found is None else Loaded(found[0], found[0], None, None, False, found[1])

    def write(self, sid: str, record: Record) -> None:
        self.records[sid] = (record.text, record.expires_ms)

    def save(self, sid: str, record: Record, version: Any) -> Any:
        found = self.records.get(sid)
        if (None if found is None else found[0]) != version:
            return None
        self.write(sid, record)
        return record.text

    def refresh(self, sid: str, expires_ms: int | None, version: Any) -> bool:
        if sid not in self.records:
            return False
        self.records[sid] = (self.records[sid][0], expires_ms)
        return True

    def destroy(self, sid: str) -> bool:
        return self.records.pop(sid, None) is not None

    def close(self) -> None:
        pass


CORE_SECRET = "a test secret, long enough to be safe"


def open_session(store: Store, clock: Any, sid: str | None = None, **options: Any) -> tuple[Any, Any]:
    """A request's session on the core alone (no WSGI), as if its cookie presented ``sid``; and the core.

    ``core.close(session)`` then ends the request (returns its headers), ``core.finish(session)``
    saves late changes.
    """
    from wsgisession.config import SessionConfig
    from wsgisession.core import SessionCore
    from wsgisession.cookies import encode_uri_component
    from wsgisession.signing import sign

    options.setdefault("genid", lambda request: "new-id")
    core = SessionCore(SessionConfig(secret=CORE_SECRET, store=store, clock=clock, **options))
    header = None if sid is None else "connect.sid=" + encode_uri_component("s:" + sign(sid, CORE_SECRET))
    return core.open(header, False, None), core


def set_cookie_of(headers: list[tuple[str, str]]) -> str | None:
    """The Set-Cookie among ``headers``, or None."""
    return next((value for name, value in headers if name == "Set-Cookie"), None)


def sessions_left_to_the_collector(run: Callable[[], object]) -> list[Session]:
    """The sessions ``run()`` (requests whose objects it drops before it returns) left in reference
    cycles: found by a full collection that keeps what it frees aside (``gc.DEBUG_SAVEALL``). Empty
    when every request's objects were freed as it ended, with no garbage collector needed."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
        return [thing for thing in gc.garbage if isinstance(thing, Session)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
