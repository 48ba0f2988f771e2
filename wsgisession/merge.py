"""Merging concurrent changes to one session, key by key (a pure function, no I/O).

Two requests of one user that load the same session and both save it would each overwrite the
other's changes if saves were plain writes. Instead a save is a compare-and-set; when it finds
the record changed, the request reloads it and re-applies only *its own* changes on top: keys it
changed or deleted win, every other key keeps the stored value.
"""

from __future__ import annotations

from typing import Any

from .serialization import dumps

__all__ = ["changed_keys", "merge"]

_ABSENT = object()


def _same(a: Any, b: Any) -> bool:
    if a is _ABSENT or b is _ABSENT:
        return a is b
    return bool(dumps(a) == dumps(b))


def changed_keys(base: dict[str, Any], current: dict[str, Any]) -> set[str]:
    """Top-level keys whose JSON value differs between ``base`` and ``current`` (incl. added/removed)."""
    return {key for key in base.keys() | current.keys()
            if not _same(base.get(key, _ABSENT), current.get(key, _ABSENT))}


def merge(base: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Apply our changes (``base`` → ``ours``) to ``theirs``; return it and the same-key conflicts.

    A key both sides changed to different values is a conflict: the later writer (us) wins.
    """
    merged = dict(theirs)
    conflicts = 0
    for key in changed_keys(base, ours):
        value = ours.get(key, _ABSENT)
        if not _same(base.get(key, _ABSENT), theirs.get(key, _ABSENT)) and not _same(value, theirs.get(key, _ABSENT)):
            conflicts += 1
        if value is _ABSENT:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged, conflicts
