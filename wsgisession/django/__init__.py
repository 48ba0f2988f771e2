"""Django: wsgisession's sessions as Django's ``request.session``, behind express's ``connect.sid``.

::

    MIDDLEWARE = [..., "wsgisession.django.SessionMiddleware", ...]   # in place of Django's
    SESSION_ENGINE = "wsgisession.django"      # Django's test Client logs in through it
    SESSION_COOKIE_NAME = "connect.sid"
    WSGISESSION = {"secret": os.environ["SESSION_SECRET"], "store": "sqlite:///sessions.sqlite3"}

Supported: Django 5.2 LTS (``pip install 'wsgisession-express[django]'``). ``django.contrib.auth``'s
``login()`` binds the session to the user (``Session.login``), its ``logout()`` (``flush()``)
ends it (``Session.logout``).
"""

from __future__ import annotations

from .middleware import SessionMiddleware
from .session_store import SessionStore

__all__ = ["SessionMiddleware", "SessionStore"]
