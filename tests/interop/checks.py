"""Small helpers and data for tests/test_interop.py: expected cookie values, dates, typed JSON."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

from wsgisession.cookies import encode_uri_component
from wsgisession.signing import sign

from .harness import SECRET

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
TTL_MS = 14 * DAY_MS  # connect-mongo's and MongoStore's default ttl
SLACK_MS = 5_000  # two processes on one machine: their clocks agree, requests take time
OLD = "the old interop secret, long enough not to warn"
NEW = "the new interop secret, long enough not to warn"

# Every kind of JSON value, with the edges JavaScript and Python could disagree on.
FIDELITY = {
    "nested": {"a": {"b": {"c": [1, {"d": None, "e": [[], {}]}]}}, "empty": {}},
    "array": [1, "two", 3.5, None, True, False, [], {}, [[["deep"]]]],
    "unicode": "ñandú 🍣 👩‍💻 e\u0301 \u00e9 中文 \u2028\u2029 \U0010ffff",
    "controls": "tab\t newline\n cr\r quote\" backslash\\ nul\u0000 bell\u0007 del\u007f",
    "🍣 astral key": "ok",
    "": "empty key",
    "dotted.key": "dots", "$dollar": "dollar",
    "10": "integer-like keys", "2": "reordered by JavaScript",
    "max_safe": 2**53 - 1, "min_safe": -(2**53 - 1), "two_53": 2**53, "negative": -42, "zero": 0,
    "floats": [0.1, -2.5, 1e-7, 6.02214076e23, 1.7976931348623157e308, 5e-324, 1 / 3, 1e21, -1.5e-300],
    "yes": True, "no": False, "nothing": None,
}


def ordered(pair, first):
    python, node = pair
    return (python, node) if first == "python" else (node, python)


def signed(sid, secret=SECRET):
    """The cookie value express-session sends for ``sid``."""
    return encode_uri_component("s:" + sign(sid, secret))


def now_ms():
    return int(time.time() * 1000)


def expires_attribute(set_cookie):
    """The Expires attribute of a Set-Cookie line, in epoch ms."""
    for part in set_cookie.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "expires":
            return int(parsedate_to_datetime(value).timestamp() * 1000)
    raise AssertionError(f"no Expires in {set_cookie!r}")


def typed(value):
    """``value`` with every scalar tagged by its type, so True != 1 and 1 != 1.0 compare unequal."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)
