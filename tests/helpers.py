"""Small test doubles shared by the suites (no server stand-ins: those are real)."""

from __future__ import annotations

import time
from typing import Any


class FakeClock:
    """A settable clock in epoch seconds, injected instead of sleeping."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SpyStore:
    """Wraps a store and records every call made to it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str | None]] = []

    def _record(self, op: str, sid: str | None = None) -> None:
        self.calls.append((op, sid))

    def ops(self) -> list[str]:
        return [op for op, _ in self.calls]

    def get(self, sid: str) -> Any:
        self._record("get", sid)
        return self.inner.get(sid)

    def set(self, sid: str, session: dict[str, Any], **options: Any) -> None:
        self._record("set", sid)
        self.inner.set(sid, session, **options)

    @property
    def tracks_creation(self) -> bool:
        return bool(self.inner.tracks_creation)

    def load(self, sid: str) -> Any:
        self._record("get", sid)
        return self.inner.load(sid)

    def save(self, sid: str, session: dict[str, Any], version: Any, **options: Any) -> Any:
        self._record("set", sid)
        return self.inner.save(sid, session, version, **options)

    def touch(self, sid: str, session: dict[str, Any]) -> None:
        self._record("touch", sid)
        self.inner.touch(sid, session)

    def destroy(self, sid: str) -> Any:
        self._record("destroy", sid)
        return self.inner.destroy(sid)

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
