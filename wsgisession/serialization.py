"""JSON as Node writes it, and JavaScript dates: the only serialization wsgisession uses.

Sessions are JSON, never pickle. ``dumps`` writes what ``JSON.stringify`` writes for the same data
(no whitespace, non-ASCII kept) and refuses what JSON cannot represent (NaN, sets, datetimes...).
Dates travel as JavaScript does: epoch milliseconds in memory, ``2026-01-16T14:03:00.000Z`` in JSON.
"""

from __future__ import annotations

import json
import json.encoder
import re
from datetime import datetime, timedelta, timezone
from collections.abc import Callable
from typing import Any

__all__ = ["dumps", "loads", "scan_once", "now_ms", "ms_to_datetime", "datetime_to_ms", "format_iso", "parse_iso"]

def _refuse(value: Any) -> Any:
    raise TypeError(f"a {type(value).__name__} is not JSON-serializable")


_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_refuse)
# The C encoder built once: JSONEncoder.encode builds one per call, which is most of the cost for
# a small session (0.5 µs instead of 1.3 for {"cuenta": 12}, once per modified request). No
# circular-reference markers: a shared markers dict is not thread-safe; a circular structure ends
# in RecursionError instead.
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode = (_c_encoder(None, _refuse, json.encoder.encode_basestring, None, ":", ",", False, False, False)
           if _c_encoder is not None else None)

def _finite(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):  # 1e400: JSON.stringify never writes a number that overflows
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: JSON.stringify writes null


_INF = float("inf")
# Refuses what JSON.stringify cannot write, so a parsed value always serializes again.
_decoder = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant)
_SURROGATE = re.compile("[\ud800-\udfff]")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def dumps(value: Any) -> str:
    """Serialize like ``JSON.stringify``; raise TypeError/ValueError for non-JSON values.

    A lone surrogate (which Node can store) is escaped as ``\\udxxx``, as JSON.stringify does,
    so the text always encodes to UTF-8.
    """
    text = "".join(_encode(value, 0)) if _encode is not None else _encoder.encode(value)
    if not text.isascii() and _SURROGATE.search(text):
        text = _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
    return text


def loads(text: str | bytes) -> Any:
    """Parse JSON text as ``JSON.parse`` would (raise ValueError if it is not JSON, or holds NaN or 1e400)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return _decoder.decode(text)


# (text, start) -> the JSON value that starts at text[start] and the index after it; StopIteration if
# none does. The decoder's raw_decode without its Python frame (once or twice per load: record.split).
scan_once = _decoder.scan_once


def now_ms(clock: Callable[[], float]) -> int:
    """The time ``clock`` (epoch seconds, like ``time.time``) tells, in epoch milliseconds, as ``Date.now()``."""
    return int(clock() * 1000)


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=ms)


def datetime_to_ms(moment: datetime) -> int:
    """An aware (or naive UTC, as pymongo returns) datetime to epoch milliseconds, truncated."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def format_iso(ms: int) -> str:
    """``Date.prototype.toJSON``: ISO-8601 UTC with exactly three fraction digits and ``Z``."""
    moment = ms_to_datetime(ms - ms % 1000)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def parse_iso(text: str) -> int:
    """Parse an ISO-8601 date (as ``new Date(text)`` would) to epoch milliseconds."""
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    return datetime_to_ms(moment)
