"""Session ids: which one a request's Cookie header (or, with the ``header`` option, its id header)
presents, and the cookie value (or header value) of an id."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from .cookies import cookie_values, decode_uri_component, encode_uri_component
from .errors import SessionError
from .events import Events
from .signing import Signer

__all__ = ["MAX_CHECKED", "MAX_COOKIE_VALUE", "SessionIds"]

MAX_COOKIE_VALUE = 4096  # longer candidates are ignored unverified: ids are only ever short keys
MAX_CHECKED = 8  # duplicate cookies whose signature is checked at most: a flood of them costs no more
VERIFIED_CACHE_SIZE = 4096  # verified Cookie headers remembered (positive results only)
MAX_CACHED_HEADER = 1024  # longer headers are verified every time
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/=-]+")  # RFC 7235's token68 (a Bearer credential), '.' included


class SessionIds:
    """Reads and writes the signed session id of one cookie name (express's ``s:`` + cookie-signature)::

        ids = SessionIds("connect.sid", ["new secret", "old secret"], events)
        ids.read("connect.sid=s%3Aabc.MAC")   # -> "abc", or None
    """

    def __init__(self, name: str, secrets: Sequence[str | bytes], events: Events, header: bool = False,
                 bearer: bool = False) -> None:
        self.name = name
        self._signer = Signer(secrets)
        self._events = events
        self._verified: dict[str, str] = {}  # Cookie header (or id header) -> its verified id
        # With the ``header`` option, ids travel in a header of their own and the Cookie header is never read.
        self._header = header
        self._bearer = bearer  # that header is Authorization: "Bearer <signed id>"

    def read(self, header: str | None) -> str | None:
        """The id of the first of our cookies whose signature verifies; never an unverified one.

        Only that one is looked up: if it is unknown or expired, the request gets a fresh session
        (as in express), never the session of a later duplicate, which could be one an attacker
        planted beside the victim's cookie (cookie tossing from a sibling subdomain). Express takes
        the first duplicate even unsigned; we skip the unsigned ones, but check at most
        MAX_CHECKED values, so a flood of duplicates costs no more than a few.
        """
        if self._header:
            return self._read_token(header)
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

    def _read_token(self, value: str | None) -> str | None:
        """The id a header option's request header presents, verified: the signed id (``id.mac``, as
        ``token`` writes it; express's ``s:`` in front, or a percent-encoded cookie value, also read)."""
        if not value:
            return None
        sid = self._verified.get(value)
        if sid is not None:
            return sid
        token = value.strip(" \t")
        if self._bearer:
            scheme, _, token = token.partition(" ")
            if scheme.lower() != "bearer":
                return None  # another scheme's credentials (Basic...): not a session id, no session
            token = token.strip(" \t")
        if len(token) > MAX_COOKIE_VALUE:
            self._events.emit("bad_signature")
            return None
        if "%" in token:
            try:
                token = decode_uri_component(token)
            except ValueError:
                self._events.emit("bad_signature")
                return None
        sid = self._signer.unsign(token[2:]) if token.startswith("s:") else None
        sid = sid or self._signer.unsign(token)  # (an id of genid's own may start with "s:")
        if not sid:
            self._events.emit("bad_signature")
            return None
        if len(value) <= MAX_CACHED_HEADER:
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[value] = sid
        return sid

    def token(self, sid: str) -> str:
        """The value of the response header that carries ``sid`` (the ``header`` option): the signed id
        as the cookie signs it, without express's ``s:``, so that it is a valid Bearer credential;
        percent-encoded only if ``genid`` made an id that is not (read back either way)."""
        signed = self._signer.sign(sid)
        return signed if _TOKEN68.fullmatch(signed) else encode_uri_component(signed)

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
