"""The frameworks' own session tests, run unmodified against wsgisession's adapters.

Django's ``tests/sessions_tests`` (its three classes: ``SessionTestsMixin`` over
``wsgisession.django.SessionStore``, ``SessionMiddlewareTests`` over our middleware,
``SessionBaseTests`` over our ``SessionStore``) and Flask's session and flash tests of
``tests/test_basic.py`` (each test's ``app`` given ``wsgisession.flask.install``) come from the
sdists of the installed Django and Flask, downloaded with pip into a cache (never vendored here).
Each suite runs in a subprocess (``python -m tests.framework_suites.django_suite STORE``,
``...flask_suite STORE``) on one store and prints one JSON line: the ids that passed, and each
failing id with the first line of its error. ``tests/test_framework_suites.py`` asserts that every
failing id is one the README documents (its table "Django's and Flask's own tests").
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tarfile
from pathlib import Path

__all__ = ["CACHE", "source_of"]

CACHE = Path(os.environ.get("WSGISESSION_SDIST_CACHE") or Path.home() / ".cache" / "wsgisession" / "sdists")
# What each suite needs from its framework's sdist (the tests directory it reads).
WANTED = {"django": "tests/sessions_tests", "flask": "tests"}


def source_of(framework: str) -> Path:
    """The extracted tests of the installed ``framework``'s sdist (downloaded with pip once, then cached)."""
    version = importlib.metadata.version(framework)
    root = CACHE / f"{framework}-{version}"
    marker = root / ".complete"
    if marker.exists():
        return root
    archive = CACHE / f"{framework}-{version}.tar.gz"
    if not archive.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        "--dest", str(CACHE), f"{framework}=={version}"], check=True, timeout=600)
    prefix = f"{framework}-{version}/{WANTED[framework]}"
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name == prefix or m.name.startswith(prefix + "/")]
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # (Python 3.10.12+)
        tar.extractall(CACHE, members=members, **safe)
    marker.touch()
    return root
