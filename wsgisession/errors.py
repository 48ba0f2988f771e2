"""Exceptions raised by wsgisession.

The hierarchy::

    SessionError                 root of everything this package raises
    ├── ConfigurationError       bad options at construction (also a ValueError)
    └── StoreUnavailable         the session store could not be reached or answered an error

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


class InsecureSecretWarning(UserWarning):
    """A signing secret is shorter than 32 bytes."""
