"""``settings.WSGISESSION`` and Django's own session settings, turned into a ``SessionCore`` (checked once).

Django's ``SESSION_COOKIE_*`` settings changed from Django's defaults set the cookie name and
``CookieOptions`` (contradicting ``WSGISESSION`` is an error), so a project's existing settings
(and ``check --deploy``'s advice) keep their meaning; ``SESSION_SERIALIZER`` cannot change: the
sessions are JSON, as express's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import global_settings, settings  # type: ignore[import-untyped]
from django.core.exceptions import ImproperlyConfigured  # type: ignore[import-untyped]

from ..config import SessionConfig
from ..core import SessionCore
from ..errors import ConfigurationError
from ..options import CookieOptions
from ..stores.base import Store
from ..stores.url import open_store

__all__ = ["ENGINE", "OPTIONS", "open_core"]

ENGINE = "wsgisession.django"
# The WSGI middleware's options that Django supplies in its own way (the WSGI adapter's own, and
# SessionConfig's ``unset``), with what to do instead.
_ELSEWHERE = {"trust_proxy": "Django's SECURE_PROXY_SSL_HEADER decides which requests are https",
              "environ_key": "the session is request.session", "unset": "the session is request.session",
              "header": "ids in a header are the WSGI and ASGI middlewares' option (Django's adapter reads the "
                        "cookie)"}
# WSGISESSION's keys: SessionConfig's options, but those.
OPTIONS = tuple(field.name for field in dataclasses.fields(SessionConfig)
                if field.init and field.name not in _ELSEWHERE)
# Django's settings with a wsgisession counterpart ("cookie.x": a CookieOptions field).
_MAPPED = {"SESSION_COOKIE_NAME": "name", "SESSION_COOKIE_AGE": "cookie.max_age",
           "SESSION_EXPIRE_AT_BROWSER_CLOSE": "cookie.max_age", "SESSION_COOKIE_DOMAIN": "cookie.domain",
           "SESSION_COOKIE_PATH": "cookie.path", "SESSION_COOKIE_SECURE": "cookie.secure",
           "SESSION_COOKIE_HTTPONLY": "cookie.http_only", "SESSION_COOKIE_SAMESITE": "cookie.same_site",
           "SESSION_SAVE_EVERY_REQUEST": "rolling"}


def open_core() -> tuple[SessionCore, Store | None]:
    """The core the settings describe, and the store it opened from a URL (the caller closes it) or None."""
    given = getattr(settings, "WSGISESSION", None)
    if not isinstance(given, dict):
        raise ImproperlyConfigured('wsgisession needs settings.WSGISESSION = {"secret": ..., "store": ...} '
                                   '(store: a Store, or a URL such as "sqlite:///sessions.sqlite3").')
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        hints = "".join(f"; {key}: {_ELSEWHERE[key]}" for key in unknown if key in _ELSEWHERE)
        raise ImproperlyConfigured(f"WSGISESSION has no option {', '.join(map(repr, unknown))}{hints}. "
                                   f"Its options are {', '.join(OPTIONS)}.")
    _check_fixed_settings()
    opened = None
    try:
        options = {"secret": None, "store": None, **given, **_from_django(given)}
        if isinstance(options["store"], str):
            options["store"] = opened = open_store(options["store"])
        core = SessionCore(SessionConfig(**options))
    except ConfigurationError as exc:
        if opened is not None:
            opened.close()
        raise ImproperlyConfigured(f"WSGISESSION: {exc}") from exc
    if settings.SESSION_COOKIE_NAME != core.config.name:
        if opened is not None:
            opened.close()
        raise ImproperlyConfigured(f"set SESSION_COOKIE_NAME = {core.config.name!r}, the session cookie's name: "
                                   "Django's test Client names the cookie of client.login() with it.")
    return core, opened


def _check_fixed_settings() -> None:
    """The settings that must be so: the engine (for the test Client), the serializer (JSON)."""
    if settings.SESSION_ENGINE != ENGINE:
        raise ImproperlyConfigured(f"set SESSION_ENGINE = {ENGINE!r}: Django's test Client (client.login(), "
                                   "client.session) opens wsgisession's sessions with it.")
    if settings.SESSION_SERIALIZER != global_settings.SESSION_SERIALIZER:
        raise ImproperlyConfigured("SESSION_SERIALIZER cannot change under wsgisession: sessions are JSON, as "
                                   "express-session's; remove the setting.")


def _changed() -> dict[str, tuple[str, Any]]:
    """{target: (setting, value)} for Django's session settings changed from Django's defaults."""
    mapped: dict[str, tuple[str, Any]] = {}
    for setting, target in _MAPPED.items():
        value = getattr(settings, setting)
        if value == getattr(global_settings, setting):
            continue
        if setting == "SESSION_EXPIRE_AT_BROWSER_CLOSE":
            value = None  # (True: its default is False) a browser-session cookie
        elif setting == "SESSION_COOKIE_SAMESITE":
            value = value.lower() if isinstance(value, str) else None
        if target in mapped:  # SESSION_COOKIE_AGE with SESSION_EXPIRE_AT_BROWSER_CLOSE
            raise ImproperlyConfigured(f"{mapped[target][0]} and {setting} both set the cookie's max_age: remove "
                                       "one (a browser-session cookie's record lives the store's ttl).")
        mapped[target] = (setting, value)
    return mapped


def _from_django(given: dict[str, Any]) -> dict[str, Any]:
    """The options (``cookie`` as CookieOptions) that Django's changed settings give, checked against ``given``."""
    cookie = given.get("cookie")
    if cookie is not None and not isinstance(cookie, (dict, CookieOptions)):
        raise ImproperlyConfigured("WSGISESSION['cookie'] must be a dict of CookieOptions fields, or a CookieOptions.")
    fields = {} if cookie is None else cookie
    options: dict[str, Any] = {}
    for target, (setting, value) in _changed().items():
        kind, _, field = target.partition(".")
        if field:
            ours = getattr(fields, field) if isinstance(fields, CookieOptions) else fields.get(field, value)
        else:
            ours = given.get(kind, value)
        if ours != value:
            raise ImproperlyConfigured(f"{setting} = {getattr(settings, setting)!r} contradicts WSGISESSION's "
                                       f"{target} = {ours!r}: set one of them.")
        if field and not isinstance(fields, CookieOptions):
            fields = {field: value, **fields}
        elif not field:
            options[kind] = value
    if isinstance(fields, dict):
        try:
            options["cookie"] = CookieOptions(**fields)
        except TypeError as exc:  # a field CookieOptions does not have
            raise ImproperlyConfigured(f"WSGISESSION['cookie']: {exc}; see wsgisession.CookieOptions.") from exc
    return options
