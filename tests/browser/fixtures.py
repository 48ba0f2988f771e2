"""Pytest fixtures of the browser tests (imported by tests/test_browser_*.py).

``browsers`` makes any number of ``Browser``s for one test, each a new Chromium with a fresh
profile, and quits them all at its end; ``serve`` starts ``ThreadedServer``s that are closed at
the end of the test; ``certificate`` is made once per run. Screenshots go to ``ARTIFACTS``
(git-ignored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .chromium import Browser
from .servers import ThreadedServer, WSGIApp
from .tls import Certificate, make_certificate

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SECRET = "the browser tests' secret, long enough not to warn"


# Each fixture's function has another name than the fixture, so that a test module can import it
# (which is how it gets it) and still name the fixture as its parameter.
@pytest.fixture(scope="session", name="certificate")
def certificate_fixture(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(name="browsers")
def browsers_fixture(tmp_path: Path, certificate: Certificate) -> Iterator[Callable[..., Browser]]:
    """``browsers(label, **options)``: a new headless Chromium with a fresh profile, quit after the test."""
    made: list[Browser] = []

    def make(label: str = "browser", **options: Any) -> Browser:
        browser = Browser(tmp_path, f"{label}{len(made)}", certificate, **options)
        made.append(browser)
        return browser

    try:
        yield make
    finally:
        errors = []
        for browser in made:
            try:
                browser.quit()
            except Exception as exc:  # noqa: BLE001  (quit the others all the same, then raise it)
                errors.append(exc)
        if errors:
            raise errors[0]


@pytest.fixture(name="serve")
def serve_fixture(certificate: Certificate) -> Iterator[Callable[..., ThreadedServer]]:
    """``serve(app, https=False)``: the app on a free loopback port, closed after the test."""
    started: list[ThreadedServer] = []

    def start(app: WSGIApp, https: bool = False) -> ThreadedServer:
        server = ThreadedServer(app, certificate if https else None)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.close()
