"""SessionCore: sessions for any transport, from plain values (a Cookie header, https or not).

The WSGI middleware (and the framework adapters) hand it what they read from the request and
add the headers it returns; it never calls back into them::

    core = SessionCore(SessionConfig(secret=SECRET, store=SQLiteStore("sessions.sqlite3")))
    session = core.open(cookie_header, is_secure, request)     # lazy: nothing read yet
    ...                                                         # the app uses the session
    headers = core.close(session)       # saves or touches; [("Vary", "Cookie"), ("Set-Cookie", ...)]
    core.finish(session)                # after the body: saves what changed while it streamed

It drives each request's ``SessionState`` (lifecycle.py) against the store with ``run``; from an
event loop (asgi.py), ``open_async``, ``aclose`` and ``afinish`` drive the same steps with ``arun``.
With the ``header`` option, ids travel in a header of the transport's choosing instead of the cookie:
it hands that header's value to ``open`` and gets that header back from ``close``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, cast

from .accounts import Accounts, SessionInfo
from .config import SessionConfig
from .cookies import render_set_cookie
from .events import Events, SaveStats
from .ids import SessionIds
from .lifecycle import SET_COOKIE, Lifecycle, SessionState, arun, run
from .options import CookieOptions
from .session import AsyncSession, Session, state_of
from .stores.base import Store

__all__ = ["UNAVAILABLE_BODY", "UNAVAILABLE_HEADERS", "VARY_COOKIE", "SessionAccounts", "SessionCore"]

_EXPIRED = datetime(1970, 1, 1, tzinfo=timezone.utc)
VARY_COOKIE = ("Vary", "Cookie")
_NO_CACHE = ("Cache-Control", 'no-cache="Set-Cookie"')
# What every adapter answers when the store fails and the app did not handle it: retry in a moment, never cache.
UNAVAILABLE_BODY = b"Service temporarily unavailable: the session store cannot be reached. Try again shortly.\n"
UNAVAILABLE_HEADERS = (("Retry-After", "5"), ("Cache-Control", "no-store"))


class SessionAccounts:
    """The accounts API over Session objects (``SessionCore.accounts``): a user's sessions, listed
    and ended, run on the store (accounts.py has the steps)."""

    def __init__(self, accounts: Accounts, store: Store) -> None:
        self.steps = accounts
        self._store = store

    def sessions_of(self, user_id: str, current: Session | None = None) -> list[SessionInfo]:
        """The user's live sessions, the most recently seen first; ``current`` (a request's session) is marked."""
        return run(self.steps.sessions_of(user_id, self.keys_of(current)), self._store)

    def revoke(self, user_id: str, handle: str) -> bool:
        """End the user's session named ``handle`` (from ``sessions_of``); False if there is none."""
        return run(self.steps.revoke(user_id, handle), self._store)

    def revoke_all(self, user_id: str, keep: Session | None = None) -> int:
        """End every session of the user but ``keep``'s ("log out my other devices"); return how many."""
        return run(self.steps.revoke_all(user_id, self.keys_of(keep)), self._store)

    # The async twins, for an event loop (asgi.py): the same steps, driven by arun.

    async def asessions_of(self, user_id: str, current: Session | None = None) -> list[SessionInfo]:
        """``sessions_of``, awaited (``current``'s pending store work done first, so a login is listed)."""
        await _flushed(current)
        return await arun(self.steps.sessions_of(user_id, self.keys_of(current)), self._store)

    async def arevoke(self, user_id: str, handle: str) -> bool:
        """``revoke``, awaited."""
        return await arun(self.steps.revoke(user_id, handle), self._store)

    async def arevoke_all(self, user_id: str, keep: Session | None = None) -> int:
        """``revoke_all``, awaited (``keep``'s pending store work done first, so a login is kept)."""
        await _flushed(keep)
        return await arun(self.steps.revoke_all(user_id, self.keys_of(keep)), self._store)

    def handle(self, key: str) -> str:
        """The handle of the session stored under ``key``."""
        return self.steps.handle(key)

    def keys_of(self, session: Session | None) -> set[str]:
        """The keys of ``session``'s records: its id's, and the one's it was regenerated from in this
        request (still stored until the new one is)."""
        if session is None:
            return set()
        session.id  # noqa: B018  (loads it)
        state = state_of(session)
        assert state is not None
        return {self.steps.key(sid) for sid in (state.id, state.retired) if sid is not None}


class SessionCore:
    """What the sessions of one middleware share: the options, the store, the ids, the events."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.store = store = config.store
        self.clock = config.clock
        self.events = Events(store.key)
        self.stats = SaveStats(self.events)
        header = config.id_header
        self.ids = SessionIds(config.name, config.secrets, self.events, header is not None,
                              header is not None and header.bearer)
        # Vary names what the response depends on: the cookie, or the header ids travel in.
        self.vary = VARY_COOKIE if header is None else ("Vary", header.request)
        self.vary_field = self.vary[1].lower()  # to find it in the app's own Vary
        self._no_cache = _NO_CACHE if header is None else ("Cache-Control", f'no-cache="{header.response}"')
        self.life = Lifecycle(config, self.events, self.ids)
        self._accounts = Accounts(store, self.events, self.clock, config.secrets[0], config.max_sessions_per_user,
                                  config.tombstone_window, config.max_sessions_policy)
        self.accounts = SessionAccounts(self._accounts, store)

    def end(self, key: str) -> bool | None:
        """End the record stored under ``key`` (Store.key); whether there was one. With tombstones,
        the key stays buried for ``tombstone_window``: a request that still presents it stores nothing."""
        op = self.life.end(key)
        result: bool | None = getattr(self.store, op[0])(*op[1:])
        return result

    def open(self, cookie_header: str | None, is_secure: bool, request: Any, user_agent: str | None = None,
             options: CookieOptions | None = None) -> Session:
        """The request's session; nothing is read until the app uses it (``user_agent``: kept at login;
        ``options``: the request's cookie options, ``config.options_for(request)``, when the adapter
        needed them first, for the cookie path; else they are resolved when the session is first used)."""
        return Session(self.life, self.store, self._accounts, cookie_header, is_secure, request, user_agent, options)

    def presents(self, header: str | None) -> bool:
        """Whether a request whose id header (its Cookie header, or the header option's) is ``header``
        may present a session id: a response whose body may still read the session then varies on it."""
        if not header:
            return False
        return self.config.id_header is not None or self.config.name in header

    def open_async(self, header: str | None, is_secure: bool, request: Any, user_agent: str | None = None
                   ) -> AsyncSession:
        """The request's session, for an event loop: ``await session.aopen()`` reads it before the app
        runs (only if the request presents a verified id: no store I/O otherwise)."""
        return AsyncSession(self.life, self.store, self._accounts, header, is_secure, request, user_agent)

    def _unset(self, session: Session) -> list[tuple[str, str]] | None:
        """The app removed the session from the request: with express's ``unset="keep"``, the headers
        to add (a body that read it varies on it); with ``"destroy"``, None once it is destroyed."""
        if self.config.unset == "keep":
            return [self.vary] if session.loaded else []
        session.destroy()
        return None

    def close(self, session: Session, unset: bool = False) -> list[tuple[str, str]]:
        """Save, touch or destroy as needed; return the headers to add (Vary, Set-Cookie...).

        ``unset``: the app removed the session from the request (express's ``unset`` option decides).
        Also ``aclose`` for a store that never blocks (``life.inline``, lifecycle.never_blocks),
        called directly from the loop without a coroutine (bench/asgi_cpu.py): the store work an
        async session's verbs left is done first.
        """
        if unset and (kept := self._unset(session)) is not None:
            return kept
        state = state_of(session)
        if state is None:
            return []
        if session._pending:
            cast(AsyncSession, session).flush_now()
        action = state.commit_sync(self.store)
        return [self.vary] if action is None else self.headers(state, action)  # (most requests: no cookie to send)

    async def aclose(self, session: AsyncSession, unset: bool = False) -> list[tuple[str, str]]:
        """``close``, from an event loop: the store work the session's verbs left, then the commit."""
        if unset and (kept := self._unset(session)) is not None:
            return kept
        state = state_of(session)
        if state is None:
            return []
        if session._pending:
            await session.aflush()
        if self.life.inline:  # a store that never blocks (lifecycle.never_blocks): the twin, called directly
            return self.headers(state, state.commit_sync(self.store))
        return self.headers(state, await arun(state.commit(), self.store))

    async def afinish(self, session: AsyncSession) -> None:
        """``finish``, from an event loop."""
        if session._pending:
            await session.aflush()
        state = state_of(session)
        if state is not None:
            if self.life.inline:
                state.finish_sync(self.store)
            else:
                await arun(state.finish(), self.store)

    def headers(self, state: SessionState, action: str | None) -> list[tuple[str, str]]:
        """The headers a commit's ``action`` (lifecycle.SET_COOKIE, EXPIRE_COOKIE or None) adds: Vary,
        and the cookie (or the id header) with its Cache-Control."""
        if action is None:
            return [self.vary]
        sid = state.id
        header = self.config.id_header
        if header is not None:  # Spring's HeaderHttpSessionIdResolver: the new id, or empty when it ended
            return [self.vary, (header.response, self.ids.token(sid) if action == SET_COOKIE else ""), self._no_cache]
        options = state.options  # the request's (a ``cookie`` callable's); "auto" resolved in the cookie
        cookie = state.cookie
        if action == SET_COOKIE:
            value = self.ids.cookie_value(sid)
            max_age = None if cookie.expires_ms is None else max(0, int(cookie.max_age or 0))
            expires = cookie.expires
        else:
            value, max_age, expires = "", 0, _EXPIRED
        set_cookie = render_set_cookie(
            self.config.name, value, max_age=max_age, domain=options.domain, path=options.path, expires=expires,
            http_only=options.http_only, secure=cookie.secure, partitioned=options.partitioned,
            priority=cookie.priority, same_site=cookie.same_site,
        )
        return [VARY_COOKIE, ("Set-Cookie", set_cookie), _NO_CACHE]

    def finish(self, session: Session) -> None:
        """The response is over: save what changed after its headers went out (also ``afinish`` for
        a store that never blocks, as ``close`` is ``aclose``'s)."""
        if session._pending:
            cast(AsyncSession, session).flush_now()
        state = state_of(session)
        if state is not None:
            state.finish_sync(self.store)


async def _flushed(session: Session | None) -> None:
    """Do the store work an async session's verbs left pending (a login's save, with a limit)."""
    if isinstance(session, AsyncSession):
        await session.aflush()
