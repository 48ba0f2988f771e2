"""The test project's settings: Django's sessions replaced by wsgisession's (the lines marked ★).

Its files (the users' database, the sessions) are in WSGISESSION_DJANGO_DIR, a temporary directory
that tests/test_django.py creates before it sets Django up.
"""

from __future__ import annotations

import os
from pathlib import Path

DIRECTORY = Path(os.environ["WSGISESSION_DJANGO_DIR"])
SESSION_SECRET = "the django project's session secret, 32+ bytes"

SECRET_KEY = "django-insecure-only-for-the-test-project"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.messages"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "wsgisession.django.SessionMiddleware",  # ★ in place of django.contrib.sessions.middleware.SessionMiddleware
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
SESSION_ENGINE = "wsgisession.django"  # ★ Django's test Client logs in through it
SESSION_COOKIE_NAME = "connect.sid"  # ★ the express-session cookie
WSGISESSION = {"secret": SESSION_SECRET, "store": f"sqlite:///{DIRECTORY / 'sessions.sqlite3'}"}  # ★

ROOT_URLCONF = "tests.django_project.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DIRECTORY / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
TIME_ZONE = "UTC"  # (Django sets the process's TZ from it: the fixture restores it)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast: test users only
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
CSRF_USE_SESSIONS = True
