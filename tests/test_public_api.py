"""The public API and the shape of the package: what is pinned, and the rules of its layout."""

from __future__ import annotations

import inspect
import io
import subprocess
import sys
import tokenize
from pathlib import Path

from webtest import TestApp

import wsgisession
from wsgisession import MemoryStore, SessionMiddleware, get_session

PACKAGE = Path(wsgisession.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_public_names_are_pinned():
    assert wsgisession.__all__ == [
        "ConfigurationError", "CookieOptions", "MemoryStore", "MongoStore", "SQLiteStore", "Session",
        "SessionCookie", "SessionError", "SessionMiddleware", "Store", "StoreUnavailable", "get_session",
    ]
    for name in wsgisession.__all__:
        assert getattr(wsgisession, name) is not None


def test_importing_the_package_imports_the_standard_library_only():
    code = ("import sys, wsgisession; "
            "print(sorted(m for m in ('pymongo', 'bson', 'cryptography', 'flask', 'django') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_no_module_is_over_300_lines_and_session_stays_short():
    lengths = {path.relative_to(PACKAGE).as_posix(): len(path.read_text().splitlines()) for path in MODULES}
    assert max(lengths.values()) <= 300, lengths
    assert len(inspect.getsource(wsgisession.Session).splitlines()) < 200  # the dict, its verbs, the account verbs


def test_only_the_adapters_touch_environ():
    """The WSGI middleware, and the Flask adapter over it. (In code: names, not docstrings or comments.)"""
    users = set()
    for path in MODULES:
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        if any(token.type == tokenize.NAME and token.string == "environ" for token in tokens):
            users.add(path.relative_to(PACKAGE).as_posix())
    assert users == {"middleware.py", "flask.py"}


def test_the_core_holds_no_callable_of_the_middleware():
    seen = {}

    def app(environ, start_response):
        session = get_session(environ)
        session["n"] = 1
        seen["session"] = session
        start_response("200 OK", [])
        return [b""]

    middleware = SessionMiddleware(app, secret="x" * 32, store=MemoryStore())
    TestApp(middleware).get("/")
    core = middleware.core
    persistence = seen["session"]._p
    held = [vars(core), vars(core.config)] + [
        {name: getattr(obj, name) for name in getattr(type(obj), "__slots__", ()) if hasattr(obj, name)}
        for obj in (seen["session"], persistence)]
    for values in held:
        for value in values.values():
            assert getattr(value, "__self__", None) is not middleware, value
            assert value is not middleware
