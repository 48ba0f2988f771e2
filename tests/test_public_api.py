"""The public API and the shape of the package: what is pinned, and the rules of its layout."""

from __future__ import annotations

import ast
import inspect
import io
import subprocess
import sys
import tokenize
from pathlib import Path

from webtest import TestApp

import wsgisession
from wsgisession import MemoryStore, SessionMiddleware, get_session
from wsgisession.session import state_of

PACKAGE = Path(wsgisession.__file__).parent
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_the_public_names_are_pinned():
    assert wsgisession.__all__ == [
        "ConfigurationError", "CookieOptions", "MemoryStore", "MongoStore", "PostgresStore", "RedisStore", "SQLiteStore",
        "Session", "SessionCookie", "SessionError", "SessionMiddleware", "Store", "StoreUnavailable", "TooManySessions",
        "get_session",
    ]
    for name in wsgisession.__all__:
        assert getattr(wsgisession, name) is not None


def test_importing_the_package_imports_the_standard_library_only():
    code = ("import sys, wsgisession; "
            "print(sorted(m for m in ('pymongo', 'bson', 'cryptography', 'flask', 'django', 'redis', 'psycopg', 'psycopg_pool') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# The pure bottom: str/bytes in, str/bytes out, no I/O, no state; it imports only itself.
BOTTOM = {"signing", "cookies", "serialization", "record", "merge", "errors", "options", "rules"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The package's modules ``path`` imports, anywhere in it (TYPE_CHECKING blocks and functions too)."""
    here = _module_name(path)
    package = here.split(".") if path.name == "__init__.py" else here.split(".")[:-1]
    known = {_module_name(p) for p in MODULES}
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] if node.level > 1 else package
                prefix = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.startswith("wsgisession"):
                prefix = node.module[len("wsgisession"):].lstrip(".")
            else:
                continue
            for alias in node.names:
                name = f"{prefix}.{alias.name}".lstrip(".")
                found.add(name if name in known else prefix)
        elif isinstance(node, ast.Import):
            found |= {a.name[len("wsgisession."):] for a in node.names if a.name.startswith("wsgisession.")}
    return {name for name in found if name in known and name != here}


GRAPH = {_module_name(path): _imports(path) for path in MODULES}


def test_the_modules_import_no_cycle():
    """Counting imports under TYPE_CHECKING and inside functions: the layers point one way."""
    done, path = set(), []

    def visit(module):
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(module):], module]))
        if module in done:
            return
        path.append(module)
        for imported in sorted(GRAPH[module]):
            visit(imported)
        path.pop()
        done.add(module)

    for module in sorted(GRAPH):
        visit(module)


def test_the_pure_bottom_imports_only_itself():
    assert BOTTOM <= GRAPH.keys()
    for module in BOTTOM:
        assert GRAPH[module] <= BOTTOM, (module, GRAPH[module] - BOTTOM)


def test_stores_never_import_the_core():
    """A store knows keys, text and expiries: stores import each other and the pure bottom only."""
    stores = {module for module in GRAPH if module.startswith("stores")}
    for module in stores:
        assert GRAPH[module] <= stores | BOTTOM, (module, GRAPH[module] - stores - BOTTOM)


def test_the_session_stays_short():
    assert len(inspect.getsource(wsgisession.Session).splitlines()) < 200  # the dict, its verbs, the account verbs


def _modules_naming(name):
    """The modules whose code (names, not docstrings or comments) says ``name``."""
    users = set()
    for path in MODULES:
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        if any(token.type == tokenize.NAME and token.string == name for token in tokens):
            users.add(path.relative_to(PACKAGE).as_posix())
    return users


def test_only_the_adapters_touch_environ():
    """The WSGI middleware, and the Flask adapter over it."""
    assert _modules_naming("environ") == {"middleware.py", "flask.py"}


def test_only_the_asgi_adapter_reads_a_scope():
    """The ASGI middleware reads the request from its scope; the core it hands plain values to never sees one."""
    assert _modules_naming("scope") == {"asgi.py"}


def served(use):
    """A middleware that served one request whose app called ``use(session)``; and that session."""
    seen = {}

    def app(environ, start_response):
        session = get_session(environ)
        use(session)
        seen["session"] = session
        start_response("200 OK", [])
        return [b""]

    middleware = SessionMiddleware(app, secret="x" * 32, store=MemoryStore())
    TestApp(middleware).get("/")
    return middleware, seen["session"]


def fields(obj):
    """What an object holds: its slots' values, or its attributes."""
    names = getattr(type(obj), "__slots__", None) or vars(obj)
    return {name: getattr(obj, name) for name in names if hasattr(obj, name)}


def test_the_core_holds_no_callable_of_the_middleware():
    middleware, session = served(lambda session: session.update(n=1))
    core, state = middleware.core, state_of(session)
    for obj in (core, core.config, session, state, state.life):
        for value in fields(obj).values():
            assert getattr(value, "__self__", None) is not middleware, value
            assert value is not middleware


def test_nothing_lower_holds_the_core():
    """A request's state, its Session and the accounts hold plain values and lower parts: never the
    SessionCore, nor a callable of it (data flows one way)."""
    middleware, session = served(lambda session: session.login("alice"))
    core, state = middleware.core, state_of(session)
    for obj in (session, state, state.life, core._accounts):
        for name, value in fields(obj).items():
            assert value is not core and getattr(value, "__self__", None) is not core, (type(obj).__name__, name)


def test_both_middlewares_take_the_same_session_options():
    """The ASGI middleware takes "the WSGI middleware's options": a new option added to one and not the
    other (max_sessions_policy and the cookie callable once were) fails here."""
    import inspect

    from wsgisession.asgi import SessionMiddleware as ASGIMiddleware

    def options(cls, transport_only):
        parameters = inspect.signature(cls.__init__).parameters
        return {name: parameter.default for name, parameter in parameters.items()
                if name not in ("self", "app", *transport_only)}

    wsgi = options(wsgisession.SessionMiddleware, ("environ_key",))
    asgi = options(ASGIMiddleware, ("scope_key", "skip_paths"))
    assert wsgi == asgi
