"""Django 5.2's ``tests/sessions_tests`` against ``wsgisession.django``: ``python -m tests.framework_suites.django_suite STORE``.

``STORE`` is ``memory`` or ``sqlite``. The three classes run unmodified: ``SessionTestsMixin`` in a
concrete class whose backend is our ``SessionStore``, ``SessionMiddlewareTests`` with the test
module's ``SessionMiddleware`` being ours, ``SessionBaseTests`` with its ``SessionBase`` being our
``SessionStore``. The cookie keeps Django's name (``sessionid``), so the tests' settings hold.
"""

from __future__ import annotations

import sys
import tempfile
import unittest
from pathlib import Path

from . import source_of
from .outcome import first_line, report

CLASSES = ("SessionTestsMixin", "SessionMiddlewareTests", "SessionBaseTests")
SECRET = "django's own session tests, with a secret of 32 bytes or more"


def main(store_kind: str) -> None:
    sys.path.insert(0, str(source_of("django") / "tests"))
    import django
    from django.conf import settings

    from wsgisession import MemoryStore, SQLiteStore

    workdir = tempfile.TemporaryDirectory()
    store = MemoryStore() if store_kind == "memory" else SQLiteStore(Path(workdir.name) / "sessions.sqlite3")
    settings.configure(
        SECRET_KEY=SECRET, USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions",
                        "sessions_tests"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        SESSION_ENGINE="wsgisession.django",
        WSGISESSION={"secret": SECRET, "store": store, "name": "sessionid"},
    )
    django.setup()
    from django.test import SimpleTestCase
    from django.test.runner import DiscoverRunner

    import wsgisession.django
    from sessions_tests import tests  # type: ignore[import-not-found]

    tests.SessionMiddleware = wsgisession.django.SessionMiddleware
    tests.SessionBase = wsgisession.django.SessionStore

    class SessionTestsMixin(tests.SessionTestsMixin, SimpleTestCase):  # the mixin, on our backend
        backend = wsgisession.django.SessionStore

    SessionTestsMixin.__module__ = tests.__name__
    tests.SessionTestsMixinOnWsgisession = SessionTestsMixin
    cases = {"SessionTestsMixin": SessionTestsMixin, "SessionMiddlewareTests": tests.SessionMiddlewareTests,
             "SessionBaseTests": tests.SessionBaseTests}
    loader = unittest.TestLoader()
    suite = unittest.TestSuite(loader.loadTestsFromTestCase(cases[name]) for name in CLASSES)
    runner = DiscoverRunner(verbosity=0, interactive=False)
    runner.setup_test_environment()
    databases = runner.setup_databases()
    try:
        result = _Result()
        suite.run(result)
    finally:
        runner.teardown_databases(databases)
        runner.teardown_test_environment()
        store.close()
        workdir.cleanup()
    report(result.passed, result.failed)


class _Result(unittest.TestResult):
    """Ids as ``Class.test_name``; a failure or an error alike is a failing test."""

    def __init__(self) -> None:
        super().__init__()
        self.passed: list[str] = []
        self.failed: dict[str, str] = {}

    @staticmethod
    def name(test: unittest.TestCase) -> str:
        return f"{type(test).__name__}.{test._testMethodName}"

    def addSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802
        self.passed.append(self.name(test))

    def addFailure(self, test: unittest.TestCase, err: object) -> None:  # noqa: N802
        self.failed[self.name(test)] = first_line(self._exc_info_to_string(err, test))  # type: ignore[arg-type]

    addError = addFailure  # noqa: N815

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase, err: object) -> None:  # noqa: N802
        if err is not None:
            self.addFailure(test, err)

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:  # noqa: N802
        self.failed[self.name(test)] = f"skipped: {reason}"


if __name__ == "__main__":
    main(sys.argv[1])
