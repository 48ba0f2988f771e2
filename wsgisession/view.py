"""SessionView: a framework's session object over the request's ``Session``, its mapping written once.

Flask's ``flask.session`` (``wsgisession.flask.FlaskSession``) and Django's ``request.session``
(``wsgisession.django.SessionStore``) are both a dict that is really a wsgisession ``Session``;
each adds its framework's flags and verbs on top of this class.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, MutableMapping
from typing import Any

from .session import Session

__all__ = ["SessionView"]


class SessionView(MutableMapping[str, Any]):
    """The mapping of a ``Session`` (JSON values, nested edits saved), reached through ``_session``::

        class FrameworkSession(SessionView):
            @property
            def _session(self) -> Session:
                return self.wsgi

    Every read and write goes through ``_session`` (a subclass may refuse there, as Django's does
    once the store failed in the request); the repr never shows the id.
    """

    __slots__ = ()

    @property
    @abstractmethod
    def _session(self) -> Session:
        """The ``Session`` this view shows."""

    def __getitem__(self, key: str) -> Any:
        return self._session[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._session[key] = value

    def __delitem__(self, key: str) -> None:
        del self._session[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._session)

    def __len__(self) -> int:
        return len(self._session)

    def __contains__(self, key: object) -> bool:
        return key in self._session

    def get(self, key: str, default: Any = None) -> Any:
        return self._session.get(key, default)

    def __repr__(self) -> str:  # never shows the id (nor does the Session's)
        return f"<{type(self).__name__} {self._session!r}>"

    @property
    def modified(self) -> bool:
        """Whether the request changed the session so far: its data (nested edits too), cookie, id or user."""
        session = self._session
        return session.loaded and session.modified  # (an unused session is not loaded to tell)

    @modified.setter
    def modified(self, value: bool) -> None:
        """Changes are found in the data itself, nested ones included: setting this is never needed."""
