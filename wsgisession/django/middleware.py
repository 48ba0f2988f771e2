"""SessionMiddleware for Django: ``request.session`` over the session core, behind express's ``connect.sid``."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from http.cookies import Morsel
from typing import Any

from django.http import HttpResponse  # type: ignore[import-untyped]
from django.utils.cache import patch_vary_headers  # type: ignore[import-untyped]

from ..cookies import decode_uri_component
from ..core import UNAVAILABLE_BODY, UNAVAILABLE_HEADERS, VARY_COOKIE, SessionCore
from ..errors import StoreUnavailable
from ..session import Session
from .config import open_core
from .session_store import SessionStore, connect_signals

__all__ = ["SessionMiddleware"]

logger = logging.getLogger(__name__)


class SessionMiddleware:
    """Django's session middleware, replaced: configure it with ``settings.WSGISESSION``::

        MIDDLEWARE = [..., "wsgisession.django.SessionMiddleware", ...]   # where Django's was
        WSGISESSION = {"secret": os.environ["SESSION_SECRET"], "store": "sqlite:///sessions.sqlite3"}

    ``request.session`` is a ``SessionStore`` (Django's session API). The core decides what is
    saved and which headers go out, by express-session's rules; this class only carries them
    between Django's request and response. Which requests are https is Django's
    ``request.is_secure()`` (``SECURE_PROXY_SSL_HEADER``).
    """

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.core, opened = open_core()
        if opened is not None:  # a store opened from a URL lives as long as this middleware
            weakref.finalize(self, opened.close)
        self.events = self.core.events  # lifecycle events: counts, and hooks (events.subscribe)
        self._keeps_request = self.core.config.reads_request  # (else no request -> session -> request cycle)
        connect_signals()

    def __call__(self, request: Any) -> Any:
        core, meta = self.core, request.META
        cookie_header = meta.get("HTTP_COOKIE")
        if core.config.name not in (cookie_header or "") and core.config.name in request.COOKIES:
            # Put in request.COOKIES by other code (a middleware, a test), not in the header: it counts,
            # as for Django's middleware. (The header's own is read as express does: the first signed one.)
            cookie_header = f"{core.config.name}={request.COOKIES[core.config.name]}"
        session = core.open(cookie_header, request.is_secure(), request if self._keeps_request else None,
                            meta.get("HTTP_USER_AGENT"))
        request.session = store = SessionStore(core=core, session=session)
        try:
            response = self.get_response(request)  # (raises if Django's 500 page reads the session too)
            if store.failed:  # process_exception answered, or Django made a 500 of it (the signal)
                return response if response.status_code == 503 else self._unavailable(store)
            if response.status_code >= 500:
                # As Django's: a request that failed (a view that raised, made a 500 by Django) stores
                # nothing, so no half-done change, and sets no cookie.
                if store.accessed:
                    patch_vary_headers(response, [VARY_COOKIE[1]])
                return response
            if core.config.rolling and not session.loaded and core.config.name in (cookie_header or ""):
                session.id  # noqa: B018  (SESSION_SAVE_EVERY_REQUEST: every request renews the cookie it carries)
            headers = core.close(session)
        except StoreUnavailable as exc:
            store.failed = store.failed or exc
            return self._unavailable(store)
        self._add_headers(response, headers, store)
        if not session.loaded and response.streaming and core.config.name in (cookie_header or ""):
            patch_vary_headers(response, [VARY_COOKIE[1]])  # its body may still read it (see ../middleware.py)
        # What changes after this (in a streamed body, in middleware listed above this one) is saved
        # when the server closes the response; Django's file responses close their files the same way.
        response._resource_closers.append(_finisher(core, session))
        return response

    def _add_headers(self, response: Any, headers: list[tuple[str, str]], store: SessionStore) -> None:
        """Add the core's headers to a Django response: the cookie as a Morsel, Vary and Cache-Control merged.

        ``Vary: Cookie`` is left out, as Django's middleware does, when the app reset
        ``request.session.accessed`` to False and no cookie goes out."""
        setting = any(name == "Set-Cookie" for name, _ in headers)
        for name, value in headers:
            if name == "Set-Cookie":
                response.cookies[self.core.config.name] = session_morsel(self.core.config.name, value)
            elif name == "Vary":
                if setting or store.accessed:
                    patch_vary_headers(response, [value])
            else:  # Cache-Control: a list, like Vary
                response.headers[name] = f"{response.headers[name]}, {value}" if name in response.headers else value

    def process_exception(self, request: Any, exception: Exception) -> Any:
        """A StoreUnavailable from the view: 503, as the WSGI middleware answers."""
        store = getattr(request, "session", None)
        if isinstance(exception, StoreUnavailable) and isinstance(store, SessionStore):
            store.failed = store.failed or exception
            return self._unavailable(store)
        return None

    def _unavailable(self, store: SessionStore) -> Any:
        """The 503; the store's first failure is logged and counted once per request."""
        if not store.answered:
            store.answered = True
            logger.warning("session store unavailable: %s", store.failed)
            self.events.emit("store_error")
        response = HttpResponse(UNAVAILABLE_BODY, status=503, content_type="text/plain; charset=utf-8")
        for name, value in UNAVAILABLE_HEADERS:
            response[name] = value
        return response


class SessionMorsel(Morsel[str]):
    """The session cookie in ``response.cookies``: a real Morsel (``["secure"]``, ``["samesite"]``...
    read and set like any other, and what other middleware changes is what Django sends) that also
    knows ``priority`` and ``partitioned``, which ``http.cookies`` does not (before Python 3.14)."""

    _reserved = {**Morsel._reserved, "partitioned": "Partitioned", "priority": "Priority"}
    _flags = Morsel._flags | {"partitioned"}


def session_morsel(name: str, rendered: str) -> SessionMorsel:
    """The core's Set-Cookie (``cookies.render_set_cookie``'s format) as a ``SessionMorsel``."""
    pair, *attributes = rendered.split("; ")
    coded = pair.partition("=")[2]
    morsel = SessionMorsel()
    morsel.set(name, decode_uri_component(coded), coded)
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        key = key.lower()
        morsel[key] = (int(value) if key == "max-age" else value) if value else True
    return morsel


def _finisher(core: SessionCore, session: Session) -> Callable[[], None]:
    def finish() -> None:
        try:
            core.finish(session)
        except StoreUnavailable as exc:  # Django's close() would swallow it
            logger.warning("session store unavailable after the response: %s", exc)

    return finish
