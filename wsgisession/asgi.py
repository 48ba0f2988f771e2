"""SessionMiddleware for ASGI (Starlette, FastAPI, Litestar): the same sessions, from an event loop.

The only module that reads an ASGI scope. ``scope["session"]`` is the request's session, so
``request.session`` works in Starlette and FastAPI, for ``http`` and ``websocket`` scopes::

    app = FastAPI()
    app.add_middleware(SessionMiddleware, secret=os.environ["SESSION_SECRET"],
                       store=SQLiteStore("sessions.sqlite3"))

    @app.get("/")
    async def count(request: Request):
        request.session["n"] = request.session.get("n", 0) + 1

It drives the one lifecycle (lifecycle.py) with ``arun``: the store's coroutines (``aload``...)
when it has them, its synchronous methods in a worker thread otherwise, so the store's I/O never
blocks the event loop; a store whose class declares ``never_blocks = True`` (MemoryStore: a dict)
is called directly, through the steps' synchronous twins, on first use, as under WSGI. Otherwise,
as ``request.session`` is synchronous, the session is read before the app runs, when and only when
the request presents a verified id (a request without one costs no store I/O). The verbs (``regenerate``, ``destroy``, ``login``, ``logout``, ``reauthenticated``) are called
without ``await``, and their store work is done when the response starts, before the commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from .config import SessionConfig, check_bool, default_genid
from .core import UNAVAILABLE_BODY, UNAVAILABLE_HEADERS, SessionCore
from .errors import ConfigurationError, SessionError, StoreUnavailable
from .metrics import render_metrics
from .options import CookieOptions
from .session import AsyncSession, Session
from .stores.base import Store

if TYPE_CHECKING:
    from .config import CookieSource

__all__ = ["MIDDLEWARE_KEY", "SessionMiddleware", "get_middleware"]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]

MIDDLEWARE_KEY = "wsgisession.middleware"  # the scope holds the middleware too, for its accounts API
_START = frozenset({"http.response.start", "websocket.http.response.start"})
# What starts a response's body (and so sends its held headers): a chunk, or a file sent by path.
_BODY = frozenset({"http.response.body", "websocket.http.response.body", "http.response.pathsend",
                   "http.response.zerocopy"})


class SessionMiddleware:
    """Give every ``http`` and ``websocket`` request a server-side session: ``scope["session"]``.

    A pure ASGI middleware (not Starlette's ``BaseHTTPMiddleware``)::

        app.add_middleware(SessionMiddleware, secret=..., store=SQLiteStore("sessions.sqlite3"))
        # or: app = SessionMiddleware(app, secret=..., store=...)

    The options are the WSGI middleware's (``environ_key`` becomes ``scope_key``), plus
    ``skip_paths``: path prefixes of routes that never use the session (static files, health
    checks), which get no session and cost nothing. The accounts API is awaited:
    ``await middleware.sessions_of(user_id, current=request.session)``; an app that added the
    middleware with ``add_middleware`` finds it with ``get_middleware(request)``.
    """

    def __init__(
        self, app: ASGIApp, *, secret: str | bytes | Sequence[str | bytes], store: Store | None = None,
        name: str = "connect.sid", cookie: CookieSource | None = None, resave: bool = False,
        save_uninitialized: bool = False, rolling: bool = False, unset: Literal["keep", "destroy"] = "keep",
        trust_proxy: bool = False, genid: Callable[[Scope], str] | None = None,
        concurrency: Literal["merge", "overwrite"] = "merge", absolute_timeout: float | None = None,
        max_sessions_per_user: int | None = None, tombstone_window: float = 60,
        clock: Callable[[], float] = time.time, header: str | tuple[str, str] | None = None,
        skip_paths: Sequence[str] = (), scope_key: str = "session",
        max_sessions_policy: Literal["end_oldest", "refuse"] = "end_oldest",
    ) -> None:
        if not callable(app):
            raise ConfigurationError("app must be an ASGI application (an async callable).")
        check_bool("trust_proxy", trust_proxy)
        if not isinstance(scope_key, str) or not scope_key:
            raise ConfigurationError("scope_key must be a non-empty str ('session' is what request.session reads).")
        self.app = app
        self.config = config = SessionConfig(
            secret=secret, store=store, name=name, cookie=CookieOptions() if cookie is None else cookie,  # type: ignore[arg-type]
            resave=resave, save_uninitialized=save_uninitialized, rolling=rolling, unset=unset,
            genid=genid or default_genid, concurrency=concurrency, absolute_timeout=absolute_timeout,
            max_sessions_per_user=max_sessions_per_user, tombstone_window=tombstone_window, clock=clock,
            header=header, max_sessions_policy=max_sessions_policy)
        self.core = core = SessionCore(config)
        self.store, self.name, self.cookie, self.scope_key = config.store, name, config.cookie, scope_key
        self.trust_proxy = trust_proxy
        self.events = core.events  # lifecycle events: counts, and hooks (events.subscribe)
        self.stats = core.stats
        self.skip_paths = _check_skip_paths(skip_paths)
        id_header = config.id_header
        # The request header that presents the id (never both: with ``header``, the cookie is not read).
        self._id_name = b"cookie" if id_header is None else id_header.request.lower().encode("latin-1")
        self._vary_field = core.vary_field.encode("latin-1")
        static = config.static_cookie  # (None: a cookie callable decides the path of each request)
        # "": every path is in scope (ids in a header have no path); None: the callable's path decides
        self._scope = "" if id_header is not None or static is not None and static.path == "/" else (
            None if static is None else static.path)
        self._skipped = _Skipped(tuple(self.skip_paths))
        # (config.reads_request: scope -> session -> scope is then a cycle, broken when the request
        # ends, _Exchange._detach; otherwise the session is handed None and there is no cycle)
        self._keeps_scope = config.reads_request
        # A store that never blocks (MemoryStore: lifecycle.never_blocks) is called directly from the
        # loop, through the steps' synchronous twins: no coroutine per step (bench/asgi_cpu.py).
        self._inline = core.life.inline
        # The session's constant headers as ASGI bytes, encoded once (Set-Cookie is encoded per response).
        self._encoded: dict[tuple[str, str], tuple[bytes, bytes]] = {
            header: _encode(header) for header in (core.vary, core._no_cache)}

    # -- the accounts API, awaited ------------------------------------------------------------------

    async def sessions_of(self, user_id: str, current: Session | None = None) -> list[Any]:
        """The user's live sessions, most recently seen first; ``current`` (a request's session) is marked."""
        return await self.core.accounts.asessions_of(user_id, current)

    async def revoke(self, user_id: str, handle: str) -> bool:
        """End the user's session named ``handle`` (from ``sessions_of``); False if there is none."""
        return await self.core.accounts.arevoke(user_id, handle)

    async def revoke_all(self, user_id: str, keep: Session | None = None) -> int:
        """End every session of the user, but ``keep`` ("log out my other devices"); return how many."""
        return await self.core.accounts.arevoke_all(user_id, keep)

    def metrics(self) -> str:
        """The lifecycle counters in Prometheus's text format, to serve on a route of your own."""
        return render_metrics(self.events.counts)

    def __repr__(self) -> str:  # no secrets
        return f"<asgi.SessionMiddleware name={self.name!r} store={type(self.store).__name__}>"

    # -- a request ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            return await self.app(scope, receive, send)  # lifespan
        scope[MIDDLEWARE_KEY] = self  # (an admin route in skip_paths may still revoke sessions)
        prefix, options = self._scope, None
        if prefix is None:  # a cookie callable: called for every request, as express-session 1.19 does
            options = self.config.options_for(scope)  # (a bad return raises ConfigurationError: a 500)
            prefix = "" if options.path == "/" else options.path
        if prefix or self.skip_paths:
            path = _path(scope)
            if prefix and not path.startswith(prefix):
                return await self.app(scope, receive, send)  # outside the cookie path: no session at all
            if self.skip_paths and self._skipped.covers(path):
                scope[self.scope_key] = self._skipped
                return await self.app(scope, receive, send)
        presented, user_agent, secure = self._read(scope)
        core = self.core
        session = AsyncSession(core.life, self.store, core._accounts, presented, secure,
                               scope if self._keeps_scope else None, user_agent, options)
        exchange = _Exchange(self, scope, session, send, presented)
        try:
            if not self._inline:  # (a store that never blocks is read on first use: lifecycle.never_blocks)
                await session.aopen()
            scope[self.scope_key] = session
            await self.app(scope, receive, exchange.send)
        except StoreUnavailable as error:
            if exchange.out:
                raise  # the headers went out: nothing else can be said
            await exchange.unavailable(error)
            return
        except Exception:
            await exchange.abandoned()
            raise
        if exchange.out and self._inline:  # (the common case, without a coroutine: bench/asgi_cpu.py)
            exchange.end_now()
        else:
            await exchange.end()

    def _read(self, scope: Scope) -> tuple[str | None, str | None, bool]:
        """The request's id header (its cookies, joined as a WSGI server joins them), user agent, and https."""
        id_name, raw = self._id_name, scope["headers"]
        if not isinstance(raw, (list, tuple)):
            raw = list(raw)  # (an iterable of pairs, read once)
        found = dict(raw)  # (each name once, the common case: the dict answers; in C, a third of the loop's cost)
        if len(found) == len(raw):
            value = found.get(id_name)
            presented = None if value is None else value.decode("latin-1")
            value = found.get(b"user-agent")
            user_agent = None if value is None else value.decode("latin-1")
            forwarded = found.get(b"x-forwarded-proto")
        else:  # a name repeated (two Cookie headers, say): joined as a WSGI server joins them
            values: list[bytes] = []
            user_agent = forwarded = None
            for name, value in raw:
                if name == id_name:
                    values.append(value)
                elif name == b"user-agent":
                    user_agent = value.decode("latin-1")
                elif name == b"x-forwarded-proto" and forwarded is None:
                    forwarded = value
            presented = None
            if values:
                presented = (b"; ".join(values) if id_name == b"cookie" else values[0]).decode("latin-1")
        secure = scope.get("scheme") in ("https", "wss")
        if not secure and self.trust_proxy and forwarded is not None:
            secure = forwarded.split(b",", 1)[0].strip().lower() == b"https"
        return presented, user_agent, secure


class _Exchange:
    """One request through the middleware: its ``send``, which commits the session as the response
    starts and adds its headers.

    As under WSGI, when the app starts its response before it has used the session, the start is
    held until the body's first chunk, so the session can still be used until then, with a cookie
    if it needs one. A websocket's session is committed when it is accepted. Changes made later (a
    streamed body, a background task, a websocket conversation) are saved when the app returns.
    """

    __slots__ = ("_middleware", "_scope", "_session", "_send", "_presented", "_inline", "_held", "_error", "out",
                 "answered")

    def __init__(self, middleware: SessionMiddleware, scope: Scope, session: AsyncSession, send: Send,
                 presented: str | None) -> None:
        self._middleware = middleware
        self._scope = scope
        self._session = session
        self._send = send
        self._presented = presented  # the request's id header (or Cookie header): a body reading the session varies
        self._inline = middleware._inline  # the store never blocks: committed without a coroutine
        self._held: Message | None = None  # the app's response start, not passed on yet
        self._error: StoreUnavailable | None = None  # the commit failed: the app's response is dropped
        self.out = False  # the session's headers went out (or a websocket was accepted or refused)
        self.answered = False  # a 503 went out instead of the app's response

    def _unset(self) -> bool:
        """Whether the app removed its session from the scope (the ``unset`` option decides what that means)."""
        return self._scope.get(self._middleware.scope_key) is not self._session

    def send(self, message: Message) -> Awaitable[None]:
        """The ``send`` the app is given. A plain function that returns the awaitable: the common messages
        (any once the session's headers went out; the response start, for a store that never blocks)
        need no coroutine of their own, two a request (bench/asgi_cpu.py)."""
        if self.out:  # the session's headers went out (and nothing is held): the rest passes through
            return self._send(message)
        if (self._inline and self._held is None and self._error is None and not self.answered
                and message["type"] in _START and (self._session.loaded or self._unset())):
            return self._send(self._add(message, self._commit_now(True)))
        return self._sending(message)

    async def _sending(self, message: Message) -> None:
        """``send``, every other case: a start held or committed through a coroutine, a websocket's accept."""
        kind = message["type"]
        if self._error is not None or self.answered:
            return  # answering 503: what the app still sends is dropped
        if self._held is None:
            if kind in _START:
                if not self._session.loaded and not self._unset():
                    self._held = message  # unused yet: it may be used until the body starts
                    return
                message = self._add(message, self._commit_now(True) if self._inline else await self._commit(True))
            elif kind == "websocket.accept" and not self.out:
                message = await self._accept(message)
            elif kind == "websocket.close" and not self.out:
                await self._accept(message)  # refused: the session is committed all the same, nothing to add
        elif kind in _BODY:
            held, self._held = self._held, None
            streaming = kind == "http.response.body" and bool(message.get("more_body", False))
            await self._send(await self._start(held, streaming))
        return await self._send(message)

    async def _start(self, message: Message, streaming: bool) -> Message:
        """The response start with the session's headers added (the session committed first)."""
        return self._add(message, self._commit_now(streaming) if self._inline else await self._commit(streaming))

    def _add(self, message: Message, extra: list[tuple[str, str]]) -> Message:
        """The response start with ``extra``, the session's headers, added (a copy: the app's is left alone)."""
        if not extra:
            return message
        middleware = self._middleware
        headers = list(message.get("headers", ()))
        varies = False  # the app's own Vary already covers ours (inline: a call less, bench/asgi_cpu.py)
        field = middleware._vary_field
        for name, value in headers:
            if len(name) == 4 and name.lower() == b"vary" and any(
                    token.strip().lower() in (field, b"*") for token in value.split(b",")):
                varies = True
                break
        encoded = middleware._encoded
        for header in extra:  # (a loop, not a comprehension: no function call per response)
            if not varies or header[0] != "Vary":
                headers.append(encoded.get(header) or _encode(header))
        return {**message, "headers": headers}

    async def _accept(self, message: Message) -> Message:
        """A websocket's accept with the session's id header (Set-Cookie) added (Vary and Cache-Control
        say nothing to a handshake)."""
        extra = self._commit_now(False) if self._inline else await self._commit(False)
        carried = [_encode(header) for header in extra if header[0] not in ("Vary", "Cache-Control")]
        if not carried or message["type"] != "websocket.accept":
            return message
        return {**message, "headers": [*message.get("headers", ()), *carried]}

    async def _commit(self, streaming: bool) -> list[tuple[str, str]]:
        """Commit the session (once): the headers to add."""
        session, unset = self._session, self._unset()
        if not (session.loaded or unset):
            return self._unused(streaming)
        try:
            extra = await self._middleware.core.aclose(session, unset)
        except StoreUnavailable as error:
            self._error = error  # raised into the app: the middleware answers 503 (nothing went out)
            raise
        self.out = True
        return extra

    def _commit_now(self, streaming: bool) -> list[tuple[str, str]]:
        """``_commit``, for a store that never blocks: the core's ``close``, called directly."""
        session = self._session
        unset = self._scope.get(self._middleware.scope_key) is not session  # (``_unset``, spelled out: a call less)
        if not (session.loaded or unset):
            return self._unused(streaming)
        try:
            extra = self._middleware.core.close(session, unset)
        except StoreUnavailable as error:
            self._error = error
            raise
        self.out = True
        return extra

    def _unused(self, streaming: bool) -> list[tuple[str, str]]:
        """The commit of a session the app has not used (nothing to store)."""
        self.out = True
        if streaming and self._middleware.core.presents(self._presented):
            # Not used yet, but the body may still read it: then the response depends on the
            # cookie, and a shared cache must not serve it to another user.
            return [self._middleware.core.vary]
        return []

    async def end(self) -> None:
        """The app returned: a held start goes out; changes made after the headers are saved."""
        if self._error is not None and not self.answered:
            await self.unavailable(self._error)  # the app swallowed the commit's failure
            return
        if self._held is not None:  # (a start and no body: pass it on all the same)
            held, self._held = self._held, None
            await self._send(await self._start(held, streaming=False))
        if self.answered:
            return
        session = self._session
        if not self.out:  # no response (a websocket closed by the server): the verbs' store work
            if self._inline:
                session.flush_now()
            else:
                await session.aflush()
        elif not self._unset():
            if self._inline:
                self._middleware.core.finish(session)
            else:
                await self._middleware.core.afinish(session)
        if self._middleware._keeps_scope:  # (else the session never held it)
            self._detach()

    def end_now(self) -> None:
        """``end``, once the headers went out, for a store that never blocks (``Lifecycle.inline``)."""
        # (``_unset`` spelled out, and ``_detach`` called only when the session holds the scope: two calls
        # less on the common path, bench/asgi_cpu.py --instructions, modified)
        middleware, session = self._middleware, self._session
        if not self.answered and self._scope.get(middleware.scope_key) is session:
            middleware.core.finish(session)
        if middleware._keeps_scope:
            self._detach()

    def _detach(self) -> None:
        """The request is over: the session lets go of the scope, which holds it (a reference cycle
        otherwise, freed only by the garbage collector), and keeps a copy without itself for ``genid``.
        (Called only when it holds it: ``_keeps_scope``.)"""
        request = dict(self._scope)
        request.pop(self._middleware.scope_key, None)
        self._session.detach(request)

    async def abandoned(self) -> None:
        """The app raised: the store work of verbs it called (a logout) is done all the same, and, once its
        headers went out, what it changed since is saved (as a WSGI server's close() of a failed body)."""
        try:
            if self.out and not self.answered and not self._unset():
                await self._middleware.core.afinish(self._session)
            else:
                await self._session.aflush()
        except StoreUnavailable as error:
            logger.warning("session store unavailable after the app failed: %s", error)

    async def unavailable(self, error: StoreUnavailable) -> None:
        """Answer 503 for a store failure the app did not handle (or refuse the websocket: 1013, try again later)."""
        logger.warning("session store unavailable: %s", error)
        self._middleware.events.emit("store_error")
        self._held = None
        self.answered = True
        if self._scope["type"] == "websocket":
            await self._send({"type": "websocket.close", "code": 1013, "reason": "session store unavailable"})
            return
        body = UNAVAILABLE_BODY
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
        headers += [(name.lower().encode(), value.encode()) for name, value in UNAVAILABLE_HEADERS]
        await self._send({"type": "http.response.start", "status": 503, "headers": headers})
        await self._send({"type": "http.response.body", "body": body, "more_body": False})


def _encode(header: tuple[str, str]) -> tuple[bytes, bytes]:
    """A header as ASGI has it: the name in lower case, both in bytes."""
    return header[0].lower().encode("latin-1"), header[1].encode("latin-1")


def _path(scope: Scope) -> str:
    """The request's path from the server's root (servers disagree on whether ``path`` holds ``root_path``)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path if not root or path.startswith(root) else root + path


def _check_skip_paths(paths: object) -> tuple[str, ...]:
    if isinstance(paths, str) or not isinstance(paths, (list, tuple, set, frozenset)) or not all(
            isinstance(path, str) and path.startswith("/") for path in paths):
        raise ConfigurationError(f"skip_paths must be a list of path prefixes such as ['/static', '/health'], "
                                 f"not {paths!r}.")
    return tuple(paths)


class _Skipped(MutableMapping[str, Any]):
    """``scope["session"]`` on a route of ``skip_paths``: any use says why there is no session."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        # "/static" covers "/static" and "/static/...", not "/statics"
        self._prefixes = tuple(p.rstrip("/") or "/" for p in prefixes)

    def covers(self, path: str) -> bool:
        return any(path == p or path.startswith(p if p.endswith("/") else p + "/") for p in self._prefixes)

    def _refuse(self, *args: Any) -> NoReturn:
        raise SessionError("this route is in SessionMiddleware's skip_paths, so it has no session: remove its "
                           "prefix from skip_paths to use the session there")

    __getitem__ = __setitem__ = __delitem__ = __len__ = _refuse  # type: ignore[assignment]

    def __iter__(self) -> Iterator[str]:
        self._refuse()

    def __repr__(self) -> str:
        return "<no session: skip_paths>"


def get_middleware(scope: Any) -> SessionMiddleware:
    """The SessionMiddleware that served this request (``request`` or its scope), for the accounts API
    when the app added it with ``add_middleware`` (routes in ``skip_paths`` have it too); SessionError
    if none did."""
    middleware = getattr(scope, "scope", scope).get(MIDDLEWARE_KEY)
    if not isinstance(middleware, SessionMiddleware):
        raise SessionError("no wsgisession.asgi.SessionMiddleware served this request: add it to the app.")
    return middleware
