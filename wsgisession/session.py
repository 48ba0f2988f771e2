"""The Session the app sees: a dict of JSON values, loaded on first use, with the lifecycle verbs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from operator import attrgetter
from typing import Any

from .accounts import Accounts
from .errors import SessionError
from .lifecycle import Lifecycle, Op, SessionState, Steps, arun, run
from .options import CookieOptions
from .record import RESERVED_KEYS
from .session_cookie import SessionCookie
from .stores.base import Store

__all__ = ["AsyncSession", "Session", "state_of"]


class Session(MutableMapping[str, Any]):
    """The session of one request: a dict of JSON values, loaded from the store on first use.

    ::

        session = environ["wsgisession.session"]
        session["cuenta"] = session.get("cuenta", 0) + 1
        session.regenerate()   # on login: new id, data kept, old record destroyed
        session.destroy()      # on logout: record destroyed, cookie expired

    Changes are found by comparing the data's JSON with what was loaded, so nested edits
    (``session["cart"].append(item)``) are saved, and an unchanged session is not rewritten.
    """

    __slots__ = ("_life", "_store", "_accounts", "_cookie_header", "_is_secure", "_request", "_user_agent", "_options",
                 "_state", "loaded", "_pending", "_prepared")

    def __init__(self, life: Lifecycle, store: Store, accounts: Accounts, cookie_header: str | None,
                 is_secure: bool, request: Any, user_agent: str | None = None,
                 options: CookieOptions | None = None) -> None:
        # Nothing is read yet, not even the cookie: a request that never uses its session costs
        # this object and no store operation.
        self._life = life
        self._store = store
        self._accounts = accounts
        self._cookie_header = cookie_header
        self._is_secure = is_secure
        self._request = request  # opaque: handed to genid
        self._user_agent = user_agent  # kept by login()
        self._options = options  # the request's cookie options, if not the static ones (a ``cookie`` callable's)
        self.loaded = False  # whether the app has used the session (so the store was consulted)
        # Store work the verbs left for later, which the core does before it commits (core.close): an
        # AsyncSession's (None until a verb queues some); a synchronous session's verbs do theirs at once.
        self._pending: list[Callable[[], Steps[Any]]] | None = None
        self._state: SessionState | None = None  # (state_of reads it)
        # An AsyncSession's state opened by ``aopen()``, not used by the app yet (a synchronous session's stays
        # None). Here rather than in an AsyncSession.__init__ of its own: one call less per ASGI request
        # (bench/asgi_cpu.py --instructions, modified).
        self._prepared: SessionState | None = None

    def _opened(self) -> SessionState:
        if self.loaded:
            return self._state
        # (SessionState itself, not Lifecycle.begin: one call less per request that uses its session)
        state = SessionState(self._life, self._cookie_header, self._is_secure, self._request, self._options)
        state.open_sync(self._store)
        self._state = state
        self.loaded = True
        return state

    def _use(self, change: bool = False) -> dict[str, Any]:
        """The data, for the app, loaded on first use (a late use or a change is noted by the state)."""
        state = self._state if self.loaded else self._opened()
        if change or state.committed is not None:
            return state.use(change)
        return state.data  # a read before the headers go out: nothing to note

    # -- the dict ----------------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        state = self._state if self.loaded else self._opened()  # (``_use``, spelled out as in ``get``: a call less)
        if state.committed is None:  # headers not out yet: the common case, nothing to note
            return state.data[key]
        return state.use(False)[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in RESERVED_KEYS:
            raise KeyError(f"{key!r} is reserved (express-session uses it; an Express app sharing the session "
                           "would drop it): choose another key; session.cookie holds the cookie settings")
        (self._state if self.loaded else self._opened()).use(True)[key] = value

    def __delitem__(self, key: str) -> None:
        del self._use(True)[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._use())

    def __len__(self) -> int:
        return len(self._use())

    def __contains__(self, key: object) -> bool:
        return key in self._use()

    def get(self, key: str, default: Any = None) -> Any:
        state = self._state if self.loaded else self._opened()  # (``_use``, spelled out: a call less)
        if state.committed is None:  # headers not out yet: the common case, nothing to note
            return state.data.get(key, default)
        return state.use(False).get(key, default)

    def __repr__(self) -> str:  # never shows the id
        return f"<Session {f'{len(self._state.data)} keys' if self.loaded else 'not loaded'}>"

    # -- attributes and verbs ----------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The session id (loads the session: an unknown cookie id gets a fresh one)."""
        return self._opened().id

    @property
    def is_new(self) -> bool:
        """True unless this session was loaded from the store under the cookie's id."""
        return self._opened().is_new

    @property
    def modified(self) -> bool:
        """Whether this request changed the session (its data, cookie settings, id or account) so far."""
        return self._opened().modified()

    @property
    def cookie(self) -> SessionCookie:
        """This session's cookie settings (``max_age`` and ``priority`` can be set per session)."""
        return self._opened().own_cookie()

    def regenerate(self) -> None:
        """Give the session a new id, keeping its data; the old record is destroyed (use on login).

        The new id keeps the session's creation time (for ``absolute_timeout``). If another
        request destroyed the record since this one loaded it (a logout), the logout wins: this
        session is dropped, and nothing of it is saved under the new id.
        """
        self._opened().regenerate()

    def destroy(self) -> None:
        """Delete the record and start an empty session; the cookie is expired (use on logout)."""
        self._opened().destroy_sync(self._store)

    def reload(self) -> None:
        """Re-read the record from the store, dropping unsaved changes."""
        self._opened().reload_sync(self._store)

    def save(self) -> None:
        """Write the session to the store now."""
        self._opened().save_sync(self._store)

    def touch(self) -> None:
        """Restart the cookie's max-age countdown (the store's expiry follows when it is saved)."""
        self._opened().own_cookie().reset()

    def skip_touch(self) -> None:
        """Leave this session's expiry alone in this request, for polling and health endpoints: the
        store's expiry is not refreshed (nor, with ``rolling``, the cookie resent) and the max-age
        countdown does not restart. A change is still saved."""
        self._opened().skip_touch()

    # -- accounts (accounts.py) --------------------------------------------------------------------

    def login(self, user_id: str, *, authenticated: bool = True) -> None:
        """Log a user in, after checking their credentials: the session gets a new id (no
        fixation), is bound to ``user_id`` and stamped as authenticated now; with
        ``max_sessions_per_user``, the user's oldest other sessions beyond the limit end (or, with
        ``max_sessions_policy="refuse"``, TooManySessions is raised and nothing changes).

        ``authenticated=False``: the user was recognized without proving who they are now (a
        remember-me cookie): bound all the same, but ``authenticated_at`` stays None, so
        ``authenticated_within`` is False until ``reauthenticated()``."""
        run(self._accounts.login(self._opened(), user_id, self._user_agent, authenticated), self._store)

    def logout(self) -> None:
        """Log out: ``destroy()``, which ends the binding too."""
        run(self._accounts.logout(self._opened()), self._store)

    @property
    def user_id(self) -> str | None:
        """The user this session is logged in as, or None."""
        account = self._opened().account
        return None if account is None else account.user_id

    @property
    def authenticated_at(self) -> float | None:
        """When the user last proved who they are (login, ``reauthenticated``), in epoch seconds."""
        account = self._opened().account
        return None if account is None or account.authenticated_ms is None else account.authenticated_ms / 1000

    def reauthenticated(self) -> None:
        """The user just proved who they are again (re-entered their password): stamp the time.

        Like a login, it gives the session a new id (OWASP ASVS 7.2.4), the binding kept."""
        self._accounts.reauthenticate(self._opened())

    def authenticated_within(self, seconds: float) -> bool:
        """Whether the user is logged in and proved who they are less than ``seconds`` ago: guard
        sensitive actions with it, and ask for the password again when it is False."""
        return self._accounts.authenticated_within(self._opened(), seconds)


class AsyncSession(Session):
    """The session of a request served from an event loop (asgi.py), where the store is never called
    from a synchronous method, so that its I/O never blocks the loop.

    Starlette's ``request.session`` is synchronous, so the session is read before the app runs
    (``await aopen()``, only when the request presents a verified id: no store I/O otherwise), unless
    the store never blocks (``Lifecycle.inline``): then it is read on first use, as under WSGI. Its
    verbs are called without ``await`` and take effect at once (``destroy()`` leaves an empty session,
    ``login()`` a new id); the store work they need waits in ``_pending`` until the response starts,
    when the core's ``aclose`` runs it (``aflush``) before the commit. ``save()`` and ``reload()``,
    whose point is the store, are awaited: ``await session.asave()``, ``await session.areload()``.
    """

    __slots__ = ()  # (its ``_prepared``, opened by aopen() and not used by the app yet, is Session's slot)

    async def aopen(self) -> None:
        """Read the session, if the request presents a verified id (else nothing: no store I/O)."""
        life = self._life
        if life.ids.read(self._cookie_header) is None:
            self._cookie_header = None  # no id: opened on first use without the store (nor a second HMAC)
            return
        state = life.begin(self._cookie_header, self._is_secure, self._request, self._options)
        if life.inline:  # a store that never blocks: its twin, no coroutine per operation
            state.open_sync(self._store)
        else:
            await arun(state.open(), self._store)
        self._prepared = state

    def _opened(self) -> SessionState:
        if self.loaded:
            return self._state
        state = self._prepared
        if state is None:
            life = self._life
            state = SessionState(life, self._cookie_header, self._is_secure, self._request, self._options)
            if life.inline:  # a store that never blocks is read on first use, as under WSGI (not before the app)
                state.open_sync(self._store)
            elif next(state.open(), None) is not None:  # (else no id was presented: a fresh session, no store)
                raise SessionError("an async session must be opened with 'await session.aopen()' first")
        self._state = state
        self.loaded = True
        return state

    async def aflush(self) -> None:
        """Do the store work the verbs left, in the order they were called."""
        while self._pending:
            await arun(self._pending.pop(0)(), self._store)

    def flush_now(self) -> None:
        """``aflush``, for a store that never blocks (``Lifecycle.inline``)."""
        while self._pending:
            run(self._pending.pop(0)(), self._store)

    def _later(self, work: Callable[[], Steps[Any]]) -> None:
        """Queue a verb's store work for ``aflush``."""
        if self._pending is None:
            self._pending = []
        self._pending.append(work)

    def detach(self, request: Any) -> None:
        """Let go of the request (the ASGI scope) once it is over, keeping ``request`` (a copy of it
        without this session) for ``genid``: the scope holds the session, so the session holding the
        scope made a reference cycle of every request's objects, which only the garbage collector
        frees (bench/asgi_cpu.py: 12 objects a request). (asgi.py hands the session the scope only
        when a genid or a cookie callable of the app's may read it.)"""
        self._request = request
        state = self._state or self._prepared
        if state is not None:
            state.rebind(request)

    def _queue(self, steps: Steps[None]) -> None:
        """Run ``steps`` now, their store operations later (``aflush``): only for steps that ignore
        the operations' results (a destroy's, a logout's: the ids they end), which are sent None."""
        ops: list[Op] = []
        try:
            op = next(steps)
            while True:
                ops.append(op)
                op = steps.send(None)
        except StopIteration:
            pass
        if ops:
            self._later(lambda: _replay(ops))

    def destroy(self) -> None:
        """Delete the record and start an empty session at once; the record goes when the response starts."""
        self._queue(self._opened().destroy())

    def logout(self) -> None:
        """Log out at once (``destroy()``); the records go when the response starts."""
        self._queue(self._accounts.logout(self._opened()))

    def login(self, user_id: str, *, authenticated: bool = True) -> None:
        """Log a user in at once (a new id, bound to them); with ``max_sessions_per_user``, the save and
        the eviction of their oldest sessions happen when the response starts. (With
        ``max_sessions_policy="refuse"`` a login may be refused: ``await session.alogin(user_id)``.)"""
        accounts = self._accounts
        if accounts.limit is not None and accounts.refuse:
            raise SessionError("with max_sessions_policy='refuse' a login may be refused (TooManySessions), which "
                               "the app must see: from an event loop, log in with 'await session.alogin(user_id)'")
        state = self._opened()
        accounts.bind_login(state, user_id, self._user_agent, authenticated)
        if accounts.limit is not None:
            self._later(lambda: accounts.limit_logins(state, user_id))

    async def alogin(self, user_id: str, *, authenticated: bool = True) -> None:
        """Log a user in now, the store work included: under ``max_sessions_policy="refuse"``,
        TooManySessions is raised here, where the app can answer it."""
        state = self._opened()
        await self.aflush()
        await arun(self._accounts.login(state, user_id, self._user_agent, authenticated), self._store)

    def save(self) -> None:
        raise SessionError("from an event loop, write the session with 'await session.asave()' (the store is "
                           "never called from a synchronous method there); it is saved anyway when the response starts")

    def reload(self) -> None:
        raise SessionError("from an event loop, re-read the session with 'await session.areload()'")

    async def asave(self) -> None:
        """Write the session to the store now."""
        state = self._opened()
        await self.aflush()
        await arun(state.save(), self._store)

    async def areload(self) -> None:
        """Re-read the record from the store, dropping unsaved changes."""
        state = self._opened()
        await self.aflush()
        await arun(state.reload(), self._store)


def _replay(ops: list[Op]) -> Steps[None]:
    """The store operations a queued verb computed, as steps for a driver."""
    for op in ops:
        yield op


# state_of(session): the session's state, or None if the app has not used it (for the core, at the
# end of a request). An attrgetter, not a function: no Python call, twice per request.
state_of: Callable[[Session], SessionState | None] = attrgetter("_state")
