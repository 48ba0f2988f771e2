"""Flask 3.1's session and flash tests against ``wsgisession.flask``: ``python -m tests.framework_suites.flask_suite STORE``.

``STORE`` is ``memory`` or ``sqlite``. The tests of Flask's ``tests/test_basic.py``,
``test_testing.py`` and ``test_signals.py`` whose names say session or flash run unmodified, with Flask's own conftest; the only addition is that the
``app`` its fixture makes is given ``wsgisession.flask.install(app, ...)`` on a fresh store, as an
application would at start-up (so ``app.config`` changed later in a test is not read).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from . import source_of
from .outcome import first_line, report

FILES = ("test_basic.py", "test_testing.py", "test_signals.py")
SELECTION = "session or flash"


class _Install:
    """A pytest plugin: installs wsgisession on the ``app`` of Flask's conftest, and collects outcomes."""

    def __init__(self, store_kind: str, workdir: str) -> None:
        self.store_kind, self.workdir, self.count = store_kind, workdir, 0
        self.passed: list[str] = []
        self.failed: dict[str, str] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Any:
        outcome = yield
        if fixturedef.argname == "app" and outcome.excinfo is None:
            from wsgisession import MemoryStore, SQLiteStore
            from wsgisession.flask import install

            self.count += 1
            store = (MemoryStore() if self.store_kind == "memory"
                     else SQLiteStore(Path(self.workdir) / f"sessions-{self.count}.sqlite3"))
            install(outcome.get_result(), secret="flask's own session tests, 32 bytes or more", store=store)
            request.addfinalizer(store.close)

    def pytest_runtest_logreport(self, report: Any) -> None:
        name = report.nodeid.split("::", 1)[-1]
        if report.failed:
            self.failed.setdefault(name, first_line(report.longreprtext))
        elif report.when == "call" and report.passed:
            self.passed.append(name)
        elif report.skipped:
            self.failed[name] = "skipped"


def main(store_kind: str) -> None:
    tests = source_of("flask") / "tests"
    import _pytest.monkeypatch

    if not hasattr(_pytest.monkeypatch, "notset"):  # Flask's conftest uses the name pytest 8.4 renamed
        _pytest.monkeypatch.notset = _pytest.monkeypatch.NOTSET  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as workdir:
        plugin = _Install(store_kind, workdir)
        pytest.main([*(str(tests / name) for name in FILES), "-k", SELECTION, "-q", "-p", "no:cacheprovider", "--rootdir",
                     str(tests), "-W", "ignore::DeprecationWarning", "-o", "addopts=", "--no-header",
                     "--tb=line"], plugins=[plugin])
    report(plugin.passed, plugin.failed)


if __name__ == "__main__":
    main(sys.argv[1])
