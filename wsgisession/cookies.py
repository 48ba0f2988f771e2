"""Reading the request ``Cookie`` header and rendering ``Set-Cookie``, as the npm ``cookie`` 0.7 does.

The reader is deliberately lenient and never raises: a pair without ``=`` is skipped, names are
never percent-decoded, values are percent-decoded (strictly, like ECMAScript's
``decodeURIComponent``) only when they contain ``%``, and kept raw when decoding fails. Pairs are
read one by one, so another application's malformed cookie cannot hide ours (``SimpleCookie.load``
drops the whole header on the first bad pair, and keeps the *last* duplicate instead of the first).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from urllib.parse import quote, unquote_to_bytes

__all__ = [
    "cookie_values",
    "decode_uri_component",
    "encode_uri_component",
    "iter_cookie_pairs",
    "parse_cookie_header",
    "render_set_cookie",
]

_BLANKS = " \t"
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SIGNED_ID = re.compile(r"[A-Za-z0-9_.:+/-]*")  # what a signed session id is made of
# RFC 6265 cookie-name: an RFC 7230 token.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Attributes are printable ASCII without ";": anything else could end one, split the header or
# not even encode as latin-1.
_UNSAFE = re.compile(r"[^\x20-\x3a\x3c-\x7e]")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def iter_cookie_pairs(header: str) -> Iterator[tuple[str, str]]:
    """Yield ``(name, raw_value)`` for each pair, in order, with blanks and outer quotes removed.

    Splitting at ``;`` and skipping segments without ``=`` is what cookie 0.7's scanner does
    (it backtracks to the last ``;`` before the next ``=``).
    """
    return iter(_pairs(header, None, None))


def _pairs(header: str, only: str | None, limit: int | None) -> list[tuple[str, str]]:
    """The pairs of ``header`` (only the first ``limit`` named ``only``, if given); a list: this runs per request."""
    pairs: list[tuple[str, str]] = []
    if len(header) < 2:
        return pairs
    for segment in header.split(";"):
        if only is not None and only not in segment:
            continue
        name, equals, value = segment.partition("=")
        if not equals:
            continue
        name = name.strip(_BLANKS)
        if only is not None and name != only:
            continue
        value = value.strip(_BLANKS)
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        elif value == '"':
            value = ""
        pairs.append((name, value))
        if len(pairs) == limit:
            break
    return pairs


def decode_uri_component(text: str) -> str:
    """Decode like ECMAScript ``decodeURIComponent``; raise ValueError where it would throw.

    Every ``%`` must start an escape of two hex digits, and the escaped bytes must be valid
    UTF-8. Decoding the whole text as UTF-8 at once is equivalent to JavaScript's run-by-run
    decoding, because a literal character's UTF-8 never starts with a continuation byte.
    """
    if "%" not in text:
        return text
    if _BAD_ESCAPE.search(text):
        raise ValueError("malformed percent-escape")
    return unquote_to_bytes(text).decode("utf-8")


def _decode_value(raw: str) -> str:
    if "%" not in raw:
        return raw
    # Fast path for signed session cookies, whose only escapes are these three.
    quick = raw.replace("%3A", ":").replace("%2B", "+").replace("%2F", "/")
    if "%" not in quick:
        return quick
    try:
        return decode_uri_component(raw)
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return raw


def encode_uri_component(text: str) -> str:
    """Encode like ECMAScript ``encodeURIComponent`` (UTF-8, upper-case hex)."""
    if _SIGNED_ID.fullmatch(text):  # a signed id (s:, base64url id, base64 MAC): 0.3 µs instead of 0.9
        return text.replace(":", "%3A").replace("+", "%2B").replace("/", "%2F")
    return quote(text, safe="!'()*-._~")


def parse_cookie_header(header: str) -> dict[str, str]:
    """Parse a ``Cookie`` header into ``{name: decoded value}``; the first duplicate wins."""
    cookies: dict[str, str] = {}
    for name, raw in iter_cookie_pairs(header):
        if name not in cookies:
            cookies[name] = _decode_value(raw)
    return cookies


def cookie_values(header: str, name: str, limit: int | None = None) -> list[str]:
    """The decoded values of the cookie ``name`` in header order: all, or the first ``limit``."""
    if name not in header:
        return []
    return [_decode_value(raw) for _, raw in _pairs(header, name, limit)]


def format_http_date(moment: datetime) -> str:
    """``Thu, 01 Jan 1970 00:00:00 GMT`` (like JavaScript's ``toUTCString``), locale-independent."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return (
        f"{_DAYS[moment.weekday()]}, {moment.day:02d} {_MONTHS[moment.month - 1]} "
        f"{moment.year:04d} {moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} GMT"
    )


@functools.lru_cache(maxsize=256)
def _attributes(name: str, domain: str | None, path: str | None, http_only: bool, secure: bool, partitioned: bool,
                priority: str | None, same_site: str | None) -> tuple[str, str]:
    """The attributes of a Set-Cookie around its Expires, checked: ``"; Domain=...; Path=..."`` and
    ``"; HttpOnly; Secure; ...; SameSite=..."``.

    Refuses a name that is not a token, or an attribute that could split the header. Remembered
    (only what passed is cached): the same few combinations come on every Set-Cookie, and the
    checks and the joins cost a new session about 2,000 instructions (bench/instructions.py)."""
    if not TOKEN.fullmatch(name):
        raise ValueError(f"cookie name {name!r} is not an RFC 6265 token")
    if _UNSAFE.search(f"{domain or ''}{path or ''}{priority or ''}{same_site or ''}"):
        raise ValueError("a cookie attribute holds ';', CR, LF or another character that is not printable ASCII: refused")
    head = (f"; Domain={domain}" if domain else "") + (f"; Path={path}" if path else "")
    tail = ("; HttpOnly" if http_only else "") + ("; Secure" if secure else "") + (
        "; Partitioned" if partitioned else "") + (f"; Priority={priority.capitalize()}" if priority else "") + (
        f"; SameSite={same_site.capitalize()}" if same_site else "")
    return head, tail


def render_set_cookie(
    name: str,
    value: str,
    *,
    max_age: int | None = None,
    domain: str | None = None,
    path: str | None = None,
    expires: datetime | None = None,
    http_only: bool = False,
    secure: bool = False,
    partitioned: bool = False,
    priority: str | None = None,
    same_site: str | None = None,
) -> str:
    """Render a ``Set-Cookie`` value; the value is percent-encoded like ``encodeURIComponent``.

    Attributes come in the npm ``cookie`` order. ``priority`` and ``same_site`` are
    case-insensitive (``"lax"``, ``"strict"``, ``"none"``); ``http.cookies.Morsel`` knows
    neither ``Priority`` nor (before Python 3.14) ``Partitioned``, hence this renderer.

    Raises ValueError for a name that is not a token, or an attribute holding ``;``, CR, LF or
    any other character that is not printable ASCII: the options are validated long before, this
    is the last line of defence against a header split.
    """
    head, tail = _attributes(name, domain, path, http_only, secure, partitioned, priority, same_site)
    text = name + "=" + encode_uri_component(value)
    if max_age is not None:
        text += f"; Max-Age={int(max_age)}"
    text += head
    if expires is not None:
        text += "; Expires=" + format_http_date(expires)
    return text + tail
