"""connect-mongo 6's documents: the ``session`` field in both its formats, read defensively.

``stringify=True`` (connect-mongo's default) stores the record's JSON text; ``stringify=False``
an embedded document, where Node writes the cookie's unset keys as null and ``expires`` as a
BSON date. Stored data is input: a document another writer left undecodable or malformed reads
as missing (logged), never as an error.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, NamedTuple

import bson
from bson.codec_options import CodecOptions
from bson.errors import BSONError
from bson.raw_bson import RawBSONDocument

from ... import record as _record
from ...serialization import datetime_to_ms, dumps, format_iso, loads
from ...serialization import ms_to_datetime as _date  # exact ms: BSON dates are milliseconds
from ..base import Account, Bound, read_account

__all__ = ["ACCOUNT_FIELDS", "Version", "account_of", "account_update", "bound_of", "decode", "embedded", "live", "session_text"]

logger = logging.getLogger(__name__)

# With stringify=False Node stores the cookie's unset keys as null.
_NULLABLE_COOKIE_KEYS = ("partitioned", "priority", "secure", "domain", "sameSite")


# The account (session.login) in top-level fields beside connect-mongo's, which its `$set`
# writes leave alone: Node's saves keep a session's user binding. `userId` is indexed.
ACCOUNT_FIELDS = ("userId", "loggedInAt", "authenticatedAt", "userAgent", "accountSeal")  # accountSeal: with crypto


class Version(NamedTuple):
    """What a load saw: the compare-and-set token, and connect-mongo's lastModified (touchAfter)."""

    session: Any  # the document's `session` field
    last_modified_ms: int | None


def live(now_ms: int) -> dict[str, Any]:
    """connect-mongo's read filter: no ``expires`` field, or one in the future (nulls never match)."""
    return {"$or": [{"expires": {"$exists": False}}, {"expires": {"$gt": _date(now_ms)}}]}


def decode(raw: RawBSONDocument, codec: CodecOptions[Any]) -> dict[str, Any] | None:
    """A raw document decoded, or None (logged) if it cannot be: it then reads as missing."""
    try:
        return dict(bson.decode(raw.raw, codec))
    except (BSONError, ValueError, RecursionError):
        logger.warning("ignored a session document that cannot be decoded")
        return None


def session_text(doc: dict[str, Any], stringify: bool) -> str | None:
    """The record's JSON text in a document, or None (logged) if it is not a session we can read."""
    value = doc.get("session")
    if isinstance(value, str):
        return value
    record: Any = None
    if isinstance(value, dict) and not stringify:
        try:
            record = _json_ready(value)
        except RecursionError:
            record = None
        cookie = record.get("cookie") if isinstance(record, dict) else None
        if isinstance(cookie, dict):
            record["cookie"] = {k: v for k, v in cookie.items() if not (v is None and k in _NULLABLE_COOKIE_KEYS)}
    if not isinstance(record, dict):
        logger.warning("ignored a session document whose 'session' field is not a %s",
                       "JSON object string" if stringify else "JSON object string or embedded document")
        return None
    try:
        return dumps(record)
    except (ValueError, TypeError, RecursionError):
        logger.warning("ignored a session document whose embedded session JSON cannot represent")
        return None


def account_of(doc: dict[str, Any]) -> Account | None:
    """The account a document is bound to, or None (any field another writer left invalid is unknown)."""
    user = doc.get("userId")
    if user is None:
        return None
    logged_in, authenticated = (doc.get(name) for name in ("loggedInAt", "authenticatedAt"))
    return read_account(user, datetime_to_ms(logged_in) if isinstance(logged_in, datetime) else None,
                        datetime_to_ms(authenticated) if isinstance(authenticated, datetime) else None,
                        doc.get("userAgent"), doc.get("accountSeal"))


def bound_of(doc: dict[str, Any], text: str | None, no_expiry_ms: int) -> Bound | None:
    """A bound document whose session JSON is ``text`` as a Bound (``no_expiry_ms`` stands for a missing
    ``expires``), or None if it binds no valid user."""
    key, expires, account = doc.get("_id"), doc.get("expires"), account_of(doc)
    if not isinstance(key, str) or account is None:
        return None
    return Bound(key, account, datetime_to_ms(expires) if isinstance(expires, datetime) else no_expiry_ms, text)


def account_update(account: Account | None, create: bool) -> dict[str, dict[str, Any]]:
    """The update operators that write ``account`` (stores/base.py's combine()): its fields are
    set, the authentication time and the seal with ``$max`` so that they never go back; a document created
    anew (``create``) drops what an expired one with the same id held."""
    values: dict[str, Any] = dict.fromkeys(ACCOUNT_FIELDS)
    if account is not None:
        values = {"userId": account.user_id,
                  "loggedInAt": None if account.logged_in_ms is None else _date(account.logged_in_ms),
                  "authenticatedAt": None if account.authenticated_ms is None else _date(account.authenticated_ms),
                  "userAgent": account.user_agent, "accountSeal": account.seal}
    update: dict[str, dict[str, Any]] = {"$set": {name: value for name, value in values.items() if value is not None}}
    if not create:  # the authentication time never goes back, nor its seal (the greater as text: see Account)
        update["$max"] = {name: update["$set"].pop(name) for name in ("authenticatedAt", "accountSeal")
                          if name in update["$set"]}
    if create and None in values.values():
        update["$unset"] = {name: "" for name, value in values.items() if value is None}
    return {operator: fields for operator, fields in update.items() if fields}


def embedded(text: str) -> Any:
    """The embedded document of stringify=False, with Node's nulls and a BSON date in the cookie."""
    record = loads(text)
    cookie = record.get("cookie")
    if not isinstance(cookie, dict):
        return record
    full = {key: cookie.get(key) for key in _record.COOKIE_KEYS} | cookie  # Node's nulls, then extra keys
    try:
        expires = _record.expires_ms(full["expires"])
        if expires is not None:
            full["expires"] = _date(expires)
    except ValueError:
        pass
    return {**record, "cookie": full}


def _json_ready(value: Any) -> Any:
    """BSON values of an embedded session as ``JSON.stringify`` would render them (dates as ISO)."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, datetime):
        return format_iso(datetime_to_ms(value))
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)  # ObjectId and friends: their JSON form is their string form
