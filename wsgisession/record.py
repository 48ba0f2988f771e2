"""The stored record: express-session's session JSON, ``{"cookie": {...}, ...data}``.

This module is the one place that knows the format: express's ``cookie`` object and its key
order, the keys a session may not use, how a record is split into its cookie and its data when
loaded and joined again when saved, and how a stored expiry (an ISO string, or a BSON date when
connect-mongo stores the session unstringified) becomes epoch milliseconds.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from .errors import SessionError
from .serialization import datetime_to_ms, dumps, loads, parse_iso, scan_once

__all__ = ["COOKIE_KEYS", "RESERVED_KEYS", "Parsed", "expires_ms", "join", "parse", "serialize", "split"]

logger = logging.getLogger(__name__)

# express's Cookie.toJSON() keys, in its order.
COOKIE_KEYS = ("originalMaxAge", "partitioned", "priority", "expires", "secure", "httpOnly", "domain", "path",
               "sameSite")
# Names express's Session object already has (its methods, Object.prototype): Node drops such
# keys when it loads a session and erases them at its next save, so they are refused here.
RESERVED_KEYS = frozenset({
    "cookie", "lastModified", "id", "req", "regenerate", "destroy", "reload", "save", "touch", "resetMaxAge",
    "constructor", "__proto__", "toString", "toLocaleString", "valueOf", "hasOwnProperty", "isPrototypeOf",
    "propertyIsEnumerable", "__defineGetter__", "__defineSetter__", "__lookupGetter__", "__lookupSetter__",
})
_HEAD = '{"cookie":'
_HEAD_LENGTH = len(_HEAD)


# A loaded record: its ``cookie`` object (None if absent, not an object, or ``known``), its data,
# the data's JSON, and whether the cookie's JSON was exactly the one the caller expected.
Parsed = tuple[dict[str, Any] | None, dict[str, Any], str, bool]


def parse(text: str | bytes) -> dict[str, Any] | None:
    """A record's JSON text as a dict, or None (logged) for anything else: never an exception.

    Stored data is input too: another writer may have left text that is not JSON, not UTF-8,
    nested deeper than the parser goes, or a number JSON.stringify never writes (``1e400``,
    ``NaN``). Such a record reads as missing.
    """
    try:
        record = loads(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        record = None
    if not isinstance(record, dict):
        logger.warning("ignored a stored session that is not a readable JSON object")
        return None
    return record


def split(text: str, expected_cookie: str = "") -> Parsed | None:
    """Parse a stored record into its cookie and its data (None, logged, if unreadable).

    The data's JSON, which change detection compares with at the end of the request, is sliced
    from the stored text rather than serialized again: express and wsgisession both write the
    ``cookie`` key first. (Text another writer formatted differently only costs one rewrite.)
    A cookie whose JSON is exactly ``expected_cookie`` is not parsed at all (then ``known``).
    """
    if text.startswith(_HEAD):
        try:
            known = bool(expected_cookie) and text.startswith(expected_cookie, _HEAD_LENGTH)
            if known:
                cookie, end = None, _HEAD_LENGTH + len(expected_cookie)
            else:
                cookie, end = scan_once(text, _HEAD_LENGTH)
            # Only `}` or `,"` may follow the cookie in JSON.stringify's output; anything else
            # (a trailing comma, blanks) is left to the full parser, which judges it. (Sliced once
            # from ``text``, not through a copy of its rest: bench/instructions.py, read-only.)
            data_json = "{" + text[end + 1:] if text.startswith(',"', end) else "{}" if text[end:] == "}" else ""
            data, end = scan_once(data_json, 0) if data_json else (None, 0)
        except (ValueError, RecursionError, StopIteration):  # (StopIteration: scan_once found no value)
            data = None
        # A second "cookie" key among the data: JSON.parse keeps the last one, so the full parser decides.
        if type(data) is dict and end == len(data_json) and "cookie" not in data:
            return (cookie if type(cookie) is dict else None, data, data_json, known)
    record = parse(text)
    if record is None:
        return None
    cookie = record.pop("cookie", None)
    try:
        data_json = dumps(record)
    except (ValueError, RecursionError):
        return None
    return (cookie if isinstance(cookie, dict) else None, record, data_json, False)


def serialize(value: Any) -> str:
    """``dumps`` for session data: what JSON cannot represent is a SessionError that says so."""
    try:
        return dumps(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SessionError(f"session data must be JSON-serializable: {exc}") from exc


def join(cookie_json: str, data_json: str) -> str:
    """The record's JSON from its cookie's and its data's, each serialized once (``cookie`` first, as express)."""
    # (f-strings: one new string, not one per ``+``; once per save, bench/instructions.py, modified)
    return f"{_HEAD}{cookie_json},{data_json[1:]}" if len(data_json) > 2 else f"{_HEAD}{cookie_json}}}"


def expires_ms(value: object) -> int | None:
    """A stored ``cookie.expires`` in epoch ms: ISO text, or a BSON date; None when unset.

    Raise ValueError for anything else (or a date outside what ``datetime`` holds).
    """
    if value is None:
        return None
    if isinstance(value, str):
        ms = parse_iso(value)
    elif isinstance(value, datetime):
        ms = datetime_to_ms(value)
    else:
        raise ValueError(f"not a date: {type(value).__name__}")
    if not _FIRST_MS <= ms <= _LAST_MS:  # offsets can move a date outside what datetime holds
        raise ValueError("date out of range")
    return ms


_FIRST_MS, _LAST_MS = -62_135_596_800_000, 253_402_300_799_999  # datetime's range, in epoch ms
