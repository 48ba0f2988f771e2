"""The Session the app sees: a dict of JSON values, loaded on first use, with the lifecycle verbs."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from .errors import SessionError
from .persistence import Persistence
from .record import RESERVED_KEYS
from .session_cookie import SessionCookie

if TYPE_CHECKING:
    from .core import SessionCore

__all__ = ["Session", "persistence_of"]


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

    __slots__ = ("_core", "_cookie_header", "_is_secure", "_request", "_user_agent", "_p", "loaded")

    def __init__(self, core: SessionCore, cookie_header: str | None, is_secure: bool, request: Any,
                 user_agent: str | None = None) -> None:
        # Nothing is read yet, not even the cookie: a request that never uses its session costs
        # this object and no store operation.
        self._core = core
        self._cookie_header = cookie_header
        self._is_secure = is_secure
        self._request = request  # opaque: handed to genid
        self._user_agent = user_agent  # kept by login()
        self._p: Persistence | None = None
        self.loaded = False  # whether the app has used the session (so the store was consulted)

    def _persistence(self) -> Persistence:
        p = self._p
        if p is None:
            p = self._p = Persistence(self._core, self._cookie_header, self._is_secure, self._request)
            self.loaded = True
        return p

    def _use(self, change: bool = False) -> dict[str, Any]:
        """The data, for the app: loaded on first use; a use after the commit, and a change by key,
        are noted (for finish(), and for the end of the request)."""
        p = self._p
        if p is None:
            p = self._persistence()
        elif p.committed is not None:
            p.used_late = True
        if change:
            p.written = True
        return p.data

    # -- the dict ----------------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self._use()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in RESERVED_KEYS:
            raise KeyError(f"{key!r} is reserved (express-session uses it; an Express app sharing the session "
                           "would drop it): choose another key; session.cookie holds the cookie settings")
        self._use(True)[key] = value

    def __delitem__(self, key: str) -> None:
        del self._use(True)[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._use())

    def __len__(self) -> int:
        return len(self._use())

    def __contains__(self, key: object) -> bool:
        return key in self._use()

    def get(self, key: str, default: Any = None) -> Any:
        p = self._p
        if p is not None and p.committed is None:  # loaded, headers not out yet: the common case
            return p.data.get(key, default)
        return self._use().get(key, default)

    def __repr__(self) -> str:  # never shows the id
        return f"<Session {'not loaded' if self._p is None else f'{len(self._p.data)} keys'}>"

    # -- attributes and verbs ----------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The session id (loads the session: an unknown cookie id gets a fresh one)."""
        return self._persistence().id

    @property
    def is_new(self) -> bool:
        """True unless this session was loaded from the store under the cookie's id."""
        p = self._persistence()
        return p.id != p.cookie_id

    @property
    def modified(self) -> bool:
        """Whether this request changed the session (its data, cookie settings, id or account) so far."""
        return self._persistence().modified()

    @property
    def cookie(self) -> SessionCookie:
        """This session's cookie settings (``max_age`` and ``priority`` can be set per session)."""
        return self._persistence().cookie

    def regenerate(self) -> None:
        """Give the session a new id, keeping its data; the old record is destroyed (use on login).

        The new id keeps the session's creation time (for ``absolute_timeout``). If another
        request destroyed the record since this one loaded it (a logout), the logout wins: this
        session is dropped, and nothing of it is saved under the new id.
        """
        self._persistence().regenerate()

    def destroy(self) -> None:
        """Delete the record and start an empty session; the cookie is expired (use on logout)."""
        self._persistence().destroy()

    def reload(self) -> None:
        """Re-read the record from the store, dropping unsaved changes."""
        p = self._persistence()
        if not p.load(p.id):
            raise SessionError("the session no longer exists in the store")

    def save(self) -> None:
        """Write the session to the store now."""
        p = self._persistence()
        p.persist(p.state())

    def touch(self) -> None:
        """Restart the cookie's max-age countdown (the store's expiry follows when it is saved)."""
        self._persistence().cookie.reset()

    # -- accounts (accounts.py) --------------------------------------------------------------------

    def login(self, user_id: str) -> None:
        """Log a user in, after checking their credentials: the session gets a new id (no
        fixation), is bound to ``user_id`` and stamped as authenticated now; with
        ``max_sessions_per_user``, the user's oldest sessions beyond the limit end."""
        self._core.accounts.login(self._persistence(), user_id, self._user_agent)

    def logout(self) -> None:
        """Log out: ``destroy()``, which ends the binding too."""
        self._core.accounts.logout(self._persistence())

    @property
    def user_id(self) -> str | None:
        """The user this session is logged in as, or None."""
        account = self._persistence().account
        return None if account is None else account.user_id

    @property
    def authenticated_at(self) -> float | None:
        """When the user last proved who they are (login, ``reauthenticated``), in epoch seconds."""
        account = self._persistence().account
        return None if account is None or account.authenticated_ms is None else account.authenticated_ms / 1000

    def reauthenticated(self) -> None:
        """The user just proved who they are again (re-entered their password): stamp the time.

        Like a login, it gives the session a new id (OWASP ASVS 7.2.4), the binding kept."""
        self._core.accounts.reauthenticate(self._persistence())

    def authenticated_within(self, seconds: float) -> bool:
        """Whether the user is logged in and proved who they are less than ``seconds`` ago: guard
        sensitive actions with it, and ask for the password again when it is False."""
        return self._core.accounts.authenticated_within(self._persistence(), seconds)


def persistence_of(session: Session) -> Persistence | None:
    """The session's persistence, or None if the app has not used it (for the core, at the end of a request)."""
    return session._p
