"""Exceptions raised by wsgisession.

The hierarchy::

    SessionError                 root of everything this package raises
    ├── ConfigurationError       bad options at construction (also a ValueError)
    ├── StoreUnavailable         the session store could not be reached or answered an error
    └── TooManySessions          a login refused: the user has max_sessions_per_user sessions already
                                 (max_sessions_policy="refuse")

    InsecureSecretWarning        a signing secret is too short to be safe (a UserWarning)

Client input (a forged, malformed or expired cookie) is never an error: it simply gets a fresh
session.
"""

from __future__ import annotations


class SessionError(Exception):
    """Base class of every exception raised by wsgisession."""


class ConfigurationError(SessionError, ValueError):
    """An option is invalid; the message says what to change."""


class StoreUnavailable(SessionError):
    """The store failed; the middleware answers 503 if the app does not handle it."""


class TooManySessions(SessionError):
    """A login refused because the user already has ``limit`` sessions (``max_sessions_policy="refuse"``,
    Spring Security's ``maxSessionsPreventsLogin``). The message is for the user; ``limit`` and
    ``active`` are for the app's own wording. Nothing of the login happened: the session is as before."""

    def __init__(self, limit: int, active: int) -> None:
        self.limit = limit  # max_sessions_per_user
        self.active = active  # the user's other live sessions
        super().__init__(f"This account is already signed in on {active} device{'s' * (active != 1)}, the most "
                         f"allowed: sign out on one of them (or wait for it to expire), then sign in again.")


class InsecureSecretWarning(UserWarning):
    """A signing secret is shorter than 32 bytes."""
