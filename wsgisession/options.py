"""Cookie options: a frozen, validated value object, and the cookie-name rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .cookies import TOKEN
from .errors import ConfigurationError

__all__ = ["CookieOptions", "validate_cookie_name"]

SameSite = Literal["lax", "strict", "none", "auto"]
_SAME_SITE = ("lax", "strict", "none", "auto")
_PRIORITY = ("low", "medium", "high")
# The npm cookie package's domain rule: dot-separated labels, an optional leading dot.
_DOMAIN = re.compile(
    r"\.?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*",
    re.IGNORECASE,
)
_PATH = re.compile(r"[\x20-\x3a\x3c-\x7e]*")  # printable ASCII without ";"


@dataclass(frozen=True, kw_only=True)
class CookieOptions:
    """How the session cookie is written; refuses combinations browsers would reject.

    ``secure="auto"`` marks the cookie Secure exactly when the request is https (``trust_proxy``
    lets ``X-Forwarded-Proto`` say so), which keeps development on http working while production
    cookies never travel in clear. ``same_site="lax"`` blocks the cookie on cross-site
    sub-requests (a CSRF defence); ``http_only`` hides it from scripts (an XSS defence)::

        CookieOptions(max_age=14 * 86400)            # persistent cookie, 14 days
        CookieOptions(secure=True, same_site="none")  # cross-site embed over https
    """

    path: str = "/"
    domain: str | None = None
    http_only: bool = True
    secure: bool | Literal["auto"] = "auto"
    same_site: SameSite | None = "lax"
    max_age: float | None = None  # seconds; None = a browser-session cookie
    partitioned: bool = False
    priority: Literal["low", "medium", "high"] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path.startswith("/") or not _PATH.fullmatch(self.path):
            raise ConfigurationError(
                f"cookie path {self.path!r} is invalid: give an absolute URL path such as '/' or '/app'."
            )
        if self.domain is not None and not (
            isinstance(self.domain, str) and _DOMAIN.fullmatch(self.domain)
        ):
            raise ConfigurationError(
                f"cookie domain {self.domain!r} is invalid: give a host name such as 'example.com', or None."
            )
        if not isinstance(self.http_only, bool):
            raise ConfigurationError("http_only must be True or False.")
        if self.secure not in (True, False, "auto") or not isinstance(self.secure, (bool, str)):
            raise ConfigurationError(f"secure must be True, False or 'auto', not {self.secure!r}.")
        if self.max_age is not None and (
            isinstance(self.max_age, bool) or not isinstance(self.max_age, (int, float)) or not 0 <= self.max_age < 1e13
        ):
            raise ConfigurationError(
                f"max_age must be a number of seconds >= 0 (or None for a browser-session cookie), not {self.max_age!r}."
            )
        if not isinstance(self.partitioned, bool):
            raise ConfigurationError("partitioned must be True or False.")
        same_site = self.same_site.lower() if isinstance(self.same_site, str) else self.same_site
        if same_site not in (*_SAME_SITE, None):
            raise ConfigurationError(
                f"same_site must be 'lax', 'strict', 'none', 'auto' or None, not {self.same_site!r}."
            )
        object.__setattr__(self, "same_site", same_site)
        priority = self.priority.lower() if isinstance(self.priority, str) else self.priority
        if priority not in (*_PRIORITY, None):
            raise ConfigurationError(f"priority must be 'low', 'medium', 'high' or None, not {self.priority!r}.")
        object.__setattr__(self, "priority", priority)
        if same_site == "none" and self.secure is not True:
            raise ConfigurationError(
                "same_site='none' needs secure=True (browsers reject SameSite=None cookies without Secure); "
                "use same_site='auto' to get None on https and Lax on http."
            )
        if self.partitioned and self.secure is not True:
            raise ConfigurationError("partitioned=True needs secure=True (browsers require Secure for CHIPS).")


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
