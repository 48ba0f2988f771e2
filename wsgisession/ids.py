"""Session ids: which one a request's Cookie header presents, and the cookie value of an id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .cookies import cookie_values
from .errors import SessionError
from .events import Events
from .signing import Signer

__all__ = ["MAX_CHECKED", "MAX_COOKIE_VALUE", "SessionIds"]

MAX_COOKIE_VALUE = 4096  # longer candidates are ignored unverified: ids are only ever short keys
MAX_CHECKED = 8  # duplicate cookies whose signature is checked at most: a flood of them costs no more
VERIFIED_CACHE_SIZE = 4096  # verified Cookie headers remembered (positive results only)
MAX_CACHED_HEADER = 1024  # longer headers are verified every time


class SessionIds:
    """Reads and writes the signed session id of one cookie name (express's ``s:`` + cookie-signature)::

        ids = SessionIds("connect.sid", ["new secret", "old secret"], events)
        ids.read("connect.sid=s%3Aabc.MAC")   # -> "abc", or None
    """

    def __init__(self, name: str, secrets: Sequence[str | bytes], events: Events) -> None:
        self.name = name
        self._signer = Signer(secrets)
        self._events = events
        self._verified: dict[str, str] = {}  # Cookie header -> its verified id

    def read(self, header: str | None) -> str | None:
        """The id of the first of our cookies whose signature verifies; never an unverified one.

        Only that one is looked up: if it is unknown or expired, the request gets a fresh session
        (as in express), never the session of a later duplicate, which could be one an attacker
        planted beside the victim's cookie (cookie tossing from a sibling subdomain). Express takes
        the first duplicate even unsigned; we skip the unsigned ones, but check at most
        MAX_CHECKED values, so a flood of duplicates costs no more than a few.
        """
        if not header or self.name not in header:
            return None
        # A header that verified once verifies again (same secrets): skip the percent-decoding and
        # the HMAC for a returning browser. Only verified results are kept, so a forged cookie
        # can never enter; the memo is bounded and simply emptied when full.
        verified = self._verified
        sid = verified.get(header)
        if sid is not None:
            return sid
        for value in cookie_values(header, self.name, MAX_CHECKED):
            sid = self._signer.unsign(value[2:]) if value.startswith("s:") and len(value) <= MAX_COOKIE_VALUE else None
            if sid:
                if len(header) <= MAX_CACHED_HEADER:
                    if len(verified) >= VERIFIED_CACHE_SIZE:
                        verified.clear()
                    verified[header] = sid
                return sid
            self._events.emit("bad_signature")
        return None

    def cookie_value(self, sid: str) -> str:
        """The cookie value for ``sid``, before percent-encoding: ``s:`` + the signed id."""
        return "s:" + self._signer.sign(sid)

    @staticmethod
    def new(genid: Callable[[Any], str], request: Any) -> str:
        """A fresh id from ``genid(request)``; refuse anything but a non-empty str."""
        sid = genid(request)
        if not isinstance(sid, str) or not sid:
            raise SessionError(f"genid must return a non-empty str, not {sid!r}")
        return sid
