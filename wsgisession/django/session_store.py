"""SessionStore: ``request.session`` for Django, Django's ``SessionBase`` API over a wsgisession ``Session``."""

from __future__ import annotations

import sys
import weakref
from collections.abc import ItemsView, KeysView, Mapping, ValuesView
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.signals import user_logged_in  # type: ignore[import-untyped]
from django.contrib.sessions.backends.base import UpdateError  # type: ignore[import-untyped]
from django.core.signals import got_request_exception  # type: ignore[import-untyped]
from django.utils import timezone  # type: ignore[import-untyped]

from .. import record
from ..accounts import Accounts
from ..cookies import encode_uri_component
from ..core import SessionCore
from ..errors import StoreUnavailable, TooManySessions
from ..lifecycle import DROPPED
from ..session import Session, state_of
from ..view import SessionView
from .config import open_core

__all__ = ["SessionStore", "connect_signals"]

_MISSING = object()  # apop()'s default when none is given
_AUTH_KEYS = ("_auth_user_id", "_auth_user_backend", "_auth_user_hash")  # what django.contrib.auth.login() writes


class SessionStore(SessionView):
    """``request.session`` under ``wsgisession.django.SessionMiddleware``, and the session engine
    (``SESSION_ENGINE = "wsgisession.django"``) through which Django's test Client logs in::

        request.session["cart"] = ["book"]     # JSON values; nested edits are saved too
        request.session.cycle_key()            # Session.regenerate()
        request.session.flush()                # Session.logout() when a user is logged in, else destroy()
        request.session.wsgisession.user_id    # the wsgisession Session itself (accounts)

    ``session_key`` is the cookie's value (the percent-encoded, signed ``s:<id>.<mac>``), so
    ``SessionStore(session_key)`` is the session of a browser holding that cookie. ``save()``
    writes at once; without it, the middleware saves by express-session's rules when the
    response goes out (the engine, outside requests, saves only when told).
    """

    TEST_COOKIE_NAME = "testcookie"
    TEST_COOKIE_VALUE = "worked"

    def __init__(self, session_key: str | None = None, *, core: SessionCore | None = None,
                 session: Session | None = None) -> None:
        if core is None or session is None:  # the engine: a session of its own, from the settings
            core, opened = open_core()
            if opened is not None:
                weakref.finalize(self, opened.close)
            connect_signals()
            session = core.open(f"{core.config.name}={session_key}" if session_key else None, False, None)
        self.core = core
        self._wsgi = session
        self.failed: StoreUnavailable | None = None  # the store's first failure in this request: a 503
        self.answered = False  # the middleware answered it (once: logged and counted once)

    @property
    def wsgisession(self) -> Session:
        """The wsgisession ``Session`` (``user_id``, ``authenticated_within()``...). Once the store
        failed in this request, it is not tried again (Django's 500 page would: CSRF_USE_SESSIONS)."""
        if self.failed:
            raise StoreUnavailable("the session store failed earlier in this request") from self.failed
        return self._wsgi

    _session = wsgisession  # the view's accessor: a failed store is not tried again

    def __bool__(self) -> bool:  # true even when empty, as Django's SessionBase (so client.login() keeps it)
        return True

    def has_key(self, key: str) -> bool:
        return key in self

    # -- Django's flags and key ------------------------------------------------------------------------

    @property
    def session_key(self) -> str | None:
        """The cookie value naming this session; None while the store does not hold it (as Django's):
        a new session until it is saved (by ``save()``, or by the middleware at the end of the request)."""
        session = self.wsgisession
        if session.is_new:
            state = state_of(session)
            if state is None or state.saved is None:
                return None
        return encode_uri_component(self.core.ids.cookie_value(session.id))

    def is_empty(self) -> bool:
        """No key and no data."""
        return self.session_key is None and len(self) == 0

    @property
    def accounts(self) -> Accounts:
        """The accounts API: ``sessions_of(user_id, current=...)``, ``revoke``, ``revoke_all(user_id, keep=...)``."""
        return self.core.accounts

    # -- lifecycle -------------------------------------------------------------------------------------

    def cycle_key(self) -> None:
        """A new key, the same data; the old record is destroyed (``Session.regenerate``)."""
        self.wsgisession.regenerate()

    def flush(self) -> None:
        """End the session and start an empty one: ``logout()`` if a user is logged in, else ``destroy()``."""
        session = self.wsgisession
        if session.user_id is not None:
            session.logout()
        else:
            session.destroy()
        self._wrote = True  # modified, as Django's

    def logged_in(self, user_id: str) -> None:
        """Django's ``login()`` happened: bind the session to the user (``Session.login``, a new id).

        Refused (``max_sessions_policy="refuse"``): the keys ``login()`` wrote go, and TooManySessions
        comes out of ``login()``."""
        if self.core.store.keeps_accounts:
            try:
                self.wsgisession.login(user_id)
            except TooManySessions:
                for key in _AUTH_KEYS:
                    self.pop(key, None)
                raise
        else:  # a store of your own without iter_bound(): Django's login still gets a new id
            self.wsgisession.regenerate()

    def save(self, must_create: bool = False) -> None:
        """Write the session now (``Session.save``)."""
        session = self.wsgisession
        session.save()
        state = state_of(session)
        if state is not None and state.phase == DROPPED:
            raise UpdateError("the session was ended (a logout, a revocation) by another request: not saved")

    create = save  # Django's "store it under a new key": ours has its key already

    def load(self) -> dict[str, Any]:
        """The data the store holds for this session, as Django's ``load()``: what the next request
        would see (not this request's unsaved changes); empty if the store holds none."""
        session = self.wsgisession
        if self.session_key is None:
            return {}
        loaded = self.core.store.load(session.id)
        parsed = None if loaded is None else record.split(loaded.text)
        return {} if parsed is None else dict(parsed[1])

    def exists(self, session_key: str) -> bool:
        """Whether a live session has the cookie value ``session_key``."""
        sid = self._sid(session_key)
        return sid is not None and self.core.store.load(sid) is not None

    def delete(self, session_key: str | None = None) -> None:
        """Destroy this session (``Session.destroy``), or the one the cookie value ``session_key`` names."""
        if session_key is None or session_key == self.session_key:
            self.wsgisession.destroy()
            return
        sid = self._sid(session_key)
        if sid is not None:
            self.core.end(self.core.store.key(sid))

    def _sid(self, session_key: str) -> str | None:
        return self.core.ids.read(f"{self.core.config.name}={session_key}")

    @classmethod
    def clear_expired(cls) -> None:
        """Delete expired records (``manage.py clearsessions``); the stores also do it on their own."""
        core, opened = open_core()
        try:
            core.store.purge()
        finally:
            if opened is not None:
                opened.close()

    # -- expiry: the cookie's max_age ------------------------------------------------------------------

    def get_session_cookie_age(self) -> int:
        """The configured lifetime: ``CookieOptions.max_age`` (this request's), else the store's ttl."""
        max_age = self.wsgisession.cookie.options.max_age
        return round(self.core.store.ttl if max_age is None else max_age)

    def get_expiry_age(self, **kwargs: Any) -> int:
        """Seconds until the session expires unless used: the cookie's, else (a browser-session
        cookie) the store's ttl. Django's keywords: ``modification`` (the lifetime counts from
        then) and ``expiry`` (a ``set_expiry`` value to use instead of the session's)."""
        if "expiry" in kwargs:
            expiry = kwargs["expiry"]
            if isinstance(expiry, datetime):
                return round((expiry - kwargs.get("modification", timezone.now())).total_seconds())
            seconds = self.wsgisession.cookie.options.max_age if expiry is None else expiry
        elif "modification" in kwargs:
            lifetime = self.wsgisession.cookie.original_max_age
            seconds = None if lifetime is None else lifetime / 1000
        else:
            seconds = self.wsgisession.cookie.max_age
        return round(self.core.store.ttl if seconds is None else seconds)

    def get_expiry_date(self, **kwargs: Any) -> datetime:
        """When the session expires unless used (``modification``, ``expiry``: as ``get_expiry_age``)."""
        start: datetime = kwargs.get("modification") or timezone.now()
        return start + timedelta(seconds=self.get_expiry_age(**kwargs))

    def get_expire_at_browser_close(self) -> bool:
        return self.wsgisession.cookie.max_age is None

    def set_expiry(self, value: float | datetime | timedelta | None) -> None:
        """Set the cookie's ``max_age``: seconds (0: until the browser closes), a datetime or a
        timedelta (a past one: at once), or None for the configured one."""
        if value is None:
            seconds = self.wsgisession.cookie.options.max_age  # (a cookie callable's for this request)
        elif isinstance(value, (datetime, timedelta)):
            delta = value - timezone.now() if isinstance(value, datetime) else value
            seconds = max(0.0, delta.total_seconds())
        else:
            seconds = value or None
        self.wsgisession.cookie.max_age = seconds

    # -- Django's test cookie --------------------------------------------------------------------------

    def set_test_cookie(self) -> None:
        self[self.TEST_COOKIE_NAME] = self.TEST_COOKIE_VALUE

    def test_cookie_worked(self) -> bool:
        return bool(self.get(self.TEST_COOKIE_NAME) == self.TEST_COOKIE_VALUE)

    def delete_test_cookie(self) -> None:
        del self[self.TEST_COOKIE_NAME]

    # -- the async API ---------------------------------------------------------------------------------
    # Each method runs its synchronous twin in a thread, as Django runs its own session backends' I/O
    # (the stores are synchronous).

    async def aget(self, key: str, default: Any = None) -> Any:
        return await sync_to_async(self.get)(key, default)

    async def aset(self, key: str, value: Any) -> None:
        await sync_to_async(self.__setitem__)(key, value)

    async def apop(self, key: str, default: Any = _MISSING) -> Any:
        return await sync_to_async(self.pop)(key, *(() if default is _MISSING else (default,)))

    async def asetdefault(self, key: str, value: Any) -> Any:
        return await sync_to_async(self.setdefault)(key, value)

    async def aupdate(self, dict_: Mapping[str, Any]) -> None:
        await sync_to_async(self.update)(dict_)

    async def ahas_key(self, key: str) -> bool:
        return await sync_to_async(self.has_key)(key)

    async def akeys(self) -> KeysView[str]:
        return await sync_to_async(self.keys)()

    async def avalues(self) -> ValuesView[Any]:
        return await sync_to_async(self.values)()

    async def aitems(self) -> ItemsView[str, Any]:
        return await sync_to_async(self.items)()

    async def acycle_key(self) -> None:
        await sync_to_async(self.cycle_key)()

    async def aflush(self) -> None:
        await sync_to_async(self.flush)()

    async def asave(self, must_create: bool = False) -> None:
        await sync_to_async(self.save)(must_create)

    async def acreate(self) -> None:
        await sync_to_async(self.create)()

    async def aload(self) -> dict[str, Any]:
        return await sync_to_async(self.load)()

    async def aexists(self, session_key: str) -> bool:
        return await sync_to_async(self.exists)(session_key)

    async def adelete(self, session_key: str | None = None) -> None:
        await sync_to_async(self.delete)(session_key)

    async def aget_expiry_age(self, **kwargs: Any) -> int:
        return await sync_to_async(self.get_expiry_age)(**kwargs)

    async def aget_expiry_date(self, **kwargs: Any) -> datetime:
        return await sync_to_async(self.get_expiry_date)(**kwargs)

    async def aset_expiry(self, value: float | datetime | timedelta | None) -> None:
        await sync_to_async(self.set_expiry)(value)

    async def aget_expire_at_browser_close(self) -> bool:
        return await sync_to_async(self.get_expire_at_browser_close)()

    async def aset_test_cookie(self) -> None:
        await sync_to_async(self.set_test_cookie)()

    async def atest_cookie_worked(self) -> bool:
        return await sync_to_async(self.test_cookie_worked)()

    async def adelete_test_cookie(self) -> None:
        await sync_to_async(self.delete_test_cookie)()

    @classmethod
    async def aclear_expired(cls) -> None:
        await sync_to_async(cls.clear_expired)()

def connect_signals() -> None:
    """Connect the receivers below (once: Django keeps one per dispatch_uid)."""
    user_logged_in.connect(_logged_in, dispatch_uid="wsgisession.django.logged_in")
    got_request_exception.connect(_failed, dispatch_uid="wsgisession.django.failed")


def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """``django.contrib.auth.login()`` (after its ``cycle_key()``): the session is bound to the user."""
    store = getattr(request, "session", None)
    if isinstance(store, SessionStore):
        try:
            store.logged_in(str(user.pk))
        except TooManySessions:
            if hasattr(request, "user"):
                from django.contrib.auth.models import AnonymousUser  # type: ignore[import-untyped]

                request.user = AnonymousUser()  # (login() set it before its signal)
            raise


def _failed(sender: Any, request: Any = None, **kwargs: Any) -> None:
    """An exception Django turns into a 500 (sent while it is handled): a StoreUnavailable is a 503."""
    store = getattr(request, "session", None)
    error = sys.exc_info()[1]
    if isinstance(store, SessionStore) and isinstance(error, StoreUnavailable) and store.failed is None:
        store.failed = error
