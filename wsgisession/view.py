"""SessionView: a framework's session object over the request's ``Session``, its mapping written once.

Flask's ``flask.session`` (``wsgisession.flask.FlaskSession``) and Django's ``request.session``
(``wsgisession.django.SessionStore``) are both a dict that is really a wsgisession ``Session``;
each adds its framework's flags and verbs on top of this class.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import uuid
from abc import abstractmethod
from collections.abc import Iterator, MutableMapping
from typing import Any, NoReturn

from .session import Session, state_of

__all__ = ["SessionView", "check_json"]


class SessionView(MutableMapping[str, Any]):
    """The mapping of a ``Session`` (JSON values, nested edits saved), reached through ``_session``::

        class FrameworkSession(SessionView):
            @property
            def _session(self) -> Session:
                return self.wsgi

    Every read and write goes through ``_session`` (a subclass may refuse there, as Django's does
    once the store failed in the request); a value that is not JSON is refused as it is set (where
    the app can handle it, not when the response goes out); ``modified`` and ``accessed`` are the
    frameworks' flags, which an app may reset; the repr never shows the id.
    """

    __slots__ = ()

    @property
    @abstractmethod
    def _session(self) -> Session:
        """The ``Session`` this view shows."""

    def __getitem__(self, key: str) -> Any:
        return self._used()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        check_json(key, value)  # here, where the app can handle it, not when the response goes out
        self._used()[key] = value
        self._wrote = True

    def __delitem__(self, key: str) -> None:
        del self._used()[key]
        self._wrote = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._used())

    def __len__(self) -> int:
        return len(self._used())

    def __contains__(self, key: object) -> bool:
        return key in self._used()

    def get(self, key: str, default: Any = None) -> Any:
        return self._used().get(key, default)

    def __repr__(self) -> str:  # never shows the id (nor does the Session's)
        return f"<{type(self).__name__} {self._session!r}>"

    # ``modified``: the frameworks' flag. It is computed (nested edits count), and, as in Django and
    # Flask, setting or deleting a key counts even if it put back what was there; an app (or a test)
    # may reset it to False. What is saved never depends on it: the middleware compares the data.
    _wrote = False  # a key was set or deleted (or the session flushed) since the request began or the reset
    _baseline: tuple[str, Any] | None = None  # (id, state) when the app set modified = False

    @property
    def modified(self) -> bool:
        """Whether the request changed the session so far (since ``modified = False``, if set): its
        data (nested edits too), cookie, id or user."""
        session = self._session
        if not session.loaded:  # (an unused session is not loaded to tell)
            return False
        if self._wrote:
            return True
        if self._baseline is None:
            return session.modified
        state = state_of(session)
        assert state is not None
        return (state.id, state.state()) != self._baseline or state.account_dirty

    @modified.setter
    def modified(self, value: bool) -> None:
        """``False`` resets the flag; ``True`` changes nothing (changes are found in the data itself,
        nested ones included, so Flask's advice to set it after a nested edit is never needed)."""
        if value:
            return
        self._wrote = False
        state = state_of(self._session)
        self._baseline = None if state is None else (state.id, state.state())

    # ``accessed``: the frameworks' flag, which an app (or a test) may reset to False; the next use
    # of the session sets it again. Until reset, it is "the session was used" (so loaded).
    _accessed: bool | None = None

    @property
    def accessed(self) -> bool:
        """Whether the session was used in this request (since ``accessed = False``, if set)."""
        return self._session.loaded if self._accessed is None else self._accessed

    @accessed.setter
    def accessed(self, value: bool) -> None:
        self._accessed = bool(value)

    def _used(self) -> Session:
        """The session, for a use of the mapping: a reset ``accessed`` becomes True again."""
        if self._accessed is False:
            self._accessed = True
        return self._session


# What to store instead of a value that is not JSON (Flask's cookie session took these).
_INSTEAD = (((bytes, bytearray, memoryview), "text, e.g. base64.b64encode(value).decode('ascii')"),
            (uuid.UUID, "str(value)"), ((datetime.datetime, datetime.date, datetime.time), "value.isoformat()"),
            ((set, frozenset), "a list, e.g. sorted(value)"), (decimal.Decimal, "str(value)"))


def check_json(key: str, value: Any) -> None:
    """Raise TypeError, saying what to store instead, if ``value`` is not JSON."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None or kind is float and math.isfinite(value):
        return  # (most values: nothing to serialize)
    culprit: list[Any] = []

    def refuse(item: Any) -> NoReturn:
        culprit.append(item)
        raise TypeError

    try:
        json.dumps(value, default=refuse, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise TypeError(_advice(key, culprit[0] if culprit else None)) from None


def _advice(key: str, culprit: Any) -> str:
    if culprit is None:
        what, instead = ("a NaN or an infinity, a circular structure or a dict key that is not a str",
                         "finite numbers, and dicts with str keys, without cycles")
    else:
        what = f"a {type(culprit).__name__}"
        instead = next((text for kinds, text in _INSTEAD if isinstance(culprit, kinds)),
                       "str, int, float, bool, None, or a list or dict of them")
    return (f"session[{key!r}] holds {what}, which is not JSON: wsgisession's sessions are JSON (an Express app "
            f"may read them too). Store {instead} instead.")
