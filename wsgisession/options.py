"""Cookie options: a frozen, validated value object, and the cookie-name rules."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import astuple, dataclass, fields
from typing import Any, Literal

from .cookies import TOKEN
from .errors import ConfigurationError

__all__ = ["MAX_AGE_LIMIT", "CookieOptions", "check_domain", "check_max_age", "check_path", "check_priority",
           "check_seconds", "cookie_options", "validate_cookie_name"]

SameSite = Literal["lax", "strict", "none", "auto"]
_SAME_SITE = ("lax", "strict", "none", "auto")
_PRIORITY = ("low", "medium", "high")
# The npm cookie package's domain rule: dot-separated labels, an optional leading dot.
_DOMAIN = re.compile(
    r"\.?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*",
    re.IGNORECASE | re.ASCII,  # (without ASCII, [a-z] would match the Kelvin sign and the long s)
)
_PATH = re.compile(r"[\x20-\x3a\x3c-\x7e]*")  # printable ASCII without ";"
# Browsers cap a cookie's lifetime at 400 days (RFC 6265bis); a longer one only overflows dates.
MAX_AGE_LIMIT = 400 * 86400


def check_path(path: object) -> str:
    """Return ``path`` if it is an absolute URL path of printable ASCII without ``;``."""
    if not isinstance(path, str) or not path.startswith("/") or not _PATH.fullmatch(path):
        raise ConfigurationError(f"cookie path {path!r} is invalid: give an absolute URL path such as '/' or '/app'.")
    return path


def check_domain(domain: object) -> str | None:
    """Return ``domain`` if it is None or a host name."""
    if domain is not None and not (isinstance(domain, str) and _DOMAIN.fullmatch(domain)):
        raise ConfigurationError(f"cookie domain {domain!r} is invalid: give a host name such as 'example.com', or None.")
    return domain


def check_seconds(name: str, value: object, *, positive: bool = True, at_most: float | None = None,
                  hint: str = "") -> float:
    """Return ``value`` if it is a number of seconds (> 0, or >= 0 unless ``positive``; at most
    ``at_most``), else raise a ConfigurationError that names the option."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 if positive else value >= 0) \
            or (at_most is not None and not value <= at_most):
        bound = f", at most {at_most:g}" if at_most is not None else ""
        raise ConfigurationError(f"{name} must be a {'positive ' if positive else ''}number of seconds"
                                 f"{' (or 0)' if not positive else ''}{hint}{bound}, not {value!r}.")
    return value


def check_max_age(seconds: object) -> float | None:
    """Return ``seconds`` if it is None or a number of seconds from 0 to 400 days."""
    if seconds is not None and (
        isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= MAX_AGE_LIMIT
    ):
        raise ConfigurationError(
            f"max_age must be a number of seconds from 0 to {MAX_AGE_LIMIT} (400 days, the longest browsers keep "
            f"a cookie), or None for a browser-session cookie; not {seconds!r}."
        )
    return seconds


def check_priority(priority: object) -> str | None:
    """Return ``priority`` in lower case if it is 'low', 'medium', 'high' (any case) or None."""
    normalised = priority.lower() if isinstance(priority, str) else priority
    if normalised not in (*_PRIORITY, None):
        raise ConfigurationError(f"priority must be 'low', 'medium', 'high' or None, not {priority!r}.")
    return normalised


@dataclass(frozen=True, kw_only=True)
class CookieOptions:
    """How the session cookie is written; refuses combinations browsers would reject.

    ``secure="auto"`` marks the cookie Secure exactly when the request is https (``trust_proxy``
    lets ``X-Forwarded-Proto`` say so), which keeps development on http working while production
    cookies never travel in clear. ``same_site="lax"`` blocks the cookie on cross-site
    sub-requests (a CSRF defence); ``http_only`` hides it from scripts (an XSS defence)::

        CookieOptions(max_age=14 * 86400)            # persistent cookie, 14 days
        CookieOptions(secure=True, same_site="none")  # cross-site embed over https

    These options, not what a stored session says, decide every Set-Cookie's security attributes.
    """

    path: str = "/"
    domain: str | None = None
    http_only: bool = True
    secure: bool | Literal["auto"] = "auto"
    same_site: SameSite | None = "lax"
    max_age: float | None = None  # seconds (at most 400 days); None = a browser-session cookie
    partitioned: bool = False
    priority: Literal["low", "medium", "high"] | None = None

    def __post_init__(self) -> None:
        check_path(self.path)
        check_domain(self.domain)
        if not isinstance(self.http_only, bool):
            raise ConfigurationError("http_only must be True or False.")
        if self.secure not in (True, False, "auto") or not isinstance(self.secure, (bool, str)):
            raise ConfigurationError(f"secure must be True, False or 'auto', not {self.secure!r}.")
        check_max_age(self.max_age)
        if not isinstance(self.partitioned, bool):
            raise ConfigurationError("partitioned must be True or False.")
        same_site = self.same_site.lower() if isinstance(self.same_site, str) else self.same_site
        if same_site not in (*_SAME_SITE, None):
            raise ConfigurationError(
                f"same_site must be 'lax', 'strict', 'none', 'auto' or None, not {self.same_site!r}."
            )
        object.__setattr__(self, "same_site", same_site)
        object.__setattr__(self, "priority", check_priority(self.priority))
        if same_site == "none" and self.secure is not True:
            raise ConfigurationError(
                "same_site='none' needs secure=True (browsers reject SameSite=None cookies without Secure); "
                "use same_site='auto' to get None on https and Lax on http."
            )
        if self.partitioned and self.secure is not True:
            raise ConfigurationError("partitioned=True needs secure=True (browsers require Secure for CHIPS).")
        object.__setattr__(self, "_hash", hash(astuple(self)))

    def __hash__(self) -> int:  # computed once: the options key per-options caches on every save
        return self._hash  # type: ignore[attr-defined,no-any-return]


def validate_cookie_name(name: str, options: CookieOptions) -> None:
    """Refuse a name that is not a token, or that breaks the ``__Host-``/``__Secure-`` prefix rules."""
    if not isinstance(name, str) or not TOKEN.fullmatch(name):
        raise ConfigurationError(f"cookie name {name!r} is not a valid token: use letters, digits and .-_ only.")
    if name.startswith("__Host-") and (options.secure is not True or options.path != "/" or options.domain):
        raise ConfigurationError(
            f"a cookie named {name!r} needs CookieOptions(secure=True, path='/', domain=None): "
            "browsers drop __Host- cookies otherwise."
        )
    if name.startswith("__Secure-") and options.secure is not True:
        raise ConfigurationError(
            f"a cookie named {name!r} needs CookieOptions(secure=True): browsers drop __Secure- cookies otherwise."
        )


def cookie_options(value: object, name: str, source: str = "cookie") -> CookieOptions:
    """``value`` as CookieOptions: a CookieOptions, or a dict of its fields, checked as
    ``CookieOptions(...)`` and ``validate_cookie_name(name, ...)`` check them (what a ``cookie``
    callable returns, at every request: a dict seen before costs a dict lookup).

    Anything else is a ConfigurationError that says what ``source`` returned and what to return.
    """
    if isinstance(value, CookieOptions):
        return _named(value, name, source)
    if isinstance(value, Mapping):
        try:
            key = tuple(sorted(value.items()))
            hash(key)
        except TypeError:  # unhashable or unorderable values: checked, not cached (CookieOptions refuses them)
            return _named(_from_fields(dict(value), source), name, source)
        return _named(_cached_from_fields(key, source), name, source)
    raise ConfigurationError(f"{source} returned {type(value).__name__}: return a CookieOptions(...) or a dict of "
                             f"its fields ({', '.join(_FIELDS)}).")


_FIELDS = tuple(field.name for field in fields(CookieOptions))


def _from_fields(given: dict[Any, Any], source: str) -> CookieOptions:
    unknown = sorted(map(str, set(given) - set(_FIELDS)))
    if unknown:
        raise ConfigurationError(f"{source} returned a dict with {', '.join(unknown)}, which CookieOptions does not "
                                 f"have: its fields are {', '.join(_FIELDS)}.")
    try:
        return CookieOptions(**given)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{source} returned invalid options: {exc}") from None


@functools.lru_cache(maxsize=256)
def _cached_from_fields(items: tuple[tuple[Any, Any], ...], source: str) -> CookieOptions:
    return _from_fields(dict(items), source)


@functools.lru_cache(maxsize=256)
def _named(options: CookieOptions, name: str, source: str) -> CookieOptions:
    """``options`` if the cookie ``name`` may have them (``__Host-``, ``__Secure-`` prefixes)."""
    try:
        validate_cookie_name(name, options)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{source} returned options the cookie name forbids: {exc}") from None
    return options
