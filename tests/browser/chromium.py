"""Headless Chromium driven by Selenium, from Debian's packages only.

The browser is ``/usr/bin/chromium`` and the driver ``/usr/bin/chromedriver`` (Debian's
``chromium`` and ``chromium-driver``, which ``scripts/test`` installs when missing). Both paths
are given to Selenium explicitly, so Selenium Manager is never run (``DriverFinder`` skips it
when the Service has a path) and can never download a browser or a driver; ``SE_OFFLINE=true``
is set as well, in case a later Selenium changes that. A missing binary fails the test with the
command that installs it: the browser tests never skip.

Every ``Browser`` is a new Chromium process with a fresh profile (a temporary
``--user-data-dir``): no cookie survives from one browser to the next. Host names are mapped by
``--host-resolver-rules``: ``a.test``, its subdomains and ``b.test`` all reach 127.0.0.1, and
are different *sites* to the browser, so SameSite is exercised for real (``localhost`` and
``127.0.0.1`` are two sites to Chromium too, but give no subdomains). https listeners use a
certificate made at test time, trusted by its key pin (see ``tls.py``).

Debian's Chromium blocks third-party cookies by default (``profile.cookie_controls_mode`` = 1).
``Browser(..., third_party_cookies=True)`` allows them, as Google Chrome's default settings do,
for the tests about what SameSite itself does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager, if anything ever ran it: no downloads
# (set before selenium is imported, in case a version reads it then)

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from .tls import Certificate

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "apt-get install chromium chromium-driver (scripts/test does it as root)"
HOST_RULES = "MAP a.test 127.0.0.1, MAP *.a.test 127.0.0.1, MAP b.test 127.0.0.1, MAP *.b.test 127.0.0.1"
WAIT = 15.0  # seconds: every wait for the page is bounded by this
PAGE_LOAD = 30.0  # seconds: the longest a navigation may take

T = TypeVar("T")


def require_chromium() -> None:
    """Fail (never skip) when Debian's chromium or chromium-driver is missing."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.fail(f"the browser tests need Debian's {package} ({path} is missing): {INSTALL}", pytrace=False)


class Browser:
    """One headless Chromium with its own fresh profile; ``quit()`` ends it and deletes the profile."""

    def __init__(self, workdir: Path, label: str, certificate: Certificate | None = None,
                 window: tuple[int, int] = (1000, 700), third_party_cookies: bool = False) -> None:
        require_chromium()
        self.label = label
        self.profile = Path(tempfile.mkdtemp(prefix=f"chromium-{label}-", dir=workdir))
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in (
            "--headless=new",
            "--no-sandbox",  # the tests run as root (CI too), where Chromium's sandbox cannot start
            "--disable-dev-shm-usage",
            "--disable-gpu",
            f"--user-data-dir={self.profile}",  # a fresh profile: an empty cookie jar
            f"--host-resolver-rules={HOST_RULES}",
            f"--window-size={window[0]},{window[1]}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",  # no update checks or other calls home (no network here)
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--password-store=basic",
            # http://a.test:PORT must stay plain http. HTTPS-Upgrades leave non-default ports alone
            # today (all ours are), but the secure="auto" tests must not depend on that rule
            "--disable-features=HttpsUpgrades",
        ):
            options.add_argument(argument)
        if certificate is not None:
            options.add_argument(certificate.chromium_flag())
        if third_party_cookies:
            # Debian's Chromium blocks third-party cookies by default (profile.cookie_controls_mode
            # = 1, "block third-party cookies"), which would hide what SameSite itself does; 0 is
            # "allow", as in Google Chrome's default settings
            options.add_experimental_option("prefs", {"profile.cookie_controls_mode": 0})
        options.page_load_strategy = "normal"
        self.driver_log = workdir / f"chromedriver-{label}.log"
        service = Service(executable_path=CHROMEDRIVER, log_output=str(self.driver_log))
        try:
            self.driver = webdriver.Chrome(options=options, service=service)
        except BaseException:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.driver.set_page_load_timeout(PAGE_LOAD)
        self.driver.set_script_timeout(WAIT)

    # -- navigation and page ------------------------------------------------------------------------

    def get(self, url: str) -> None:
        self.driver.get(url)

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    def text(self) -> str:
        """The page's visible text (a text/plain page is one <pre>)."""
        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def js_async(self, script: str, *args: Any) -> Any:
        """Run ``script``; it calls ``arguments[arguments.length - 1](result)`` when done (bounded by WAIT)."""
        return self.driver.execute_async_script(script, *args)

    def wait(self, condition: Callable[[Browser], T | None], what: str, timeout: float = WAIT) -> T:
        """Poll ``condition(self)`` until it is truthy; fail after ``timeout`` seconds, saying ``what``."""
        try:
            found = WebDriverWait(self.driver, timeout, poll_frequency=0.05,
                                  ignored_exceptions=(WebDriverException,)).until(lambda _: condition(self))
        except TimeoutException:
            try:
                where = f"at {self.url}: {self.text()[:500]!r}"
            except WebDriverException as exc:
                where = f"(the page cannot be read: {exc.msg})"
            raise AssertionError(f"{self.label}: timed out after {timeout} s waiting for {what}; {where}") from None
        assert found is not None  # until() returns only a truthy value
        return found

    def wait_text(self, expected: str, timeout: float = WAIT) -> str:
        """Wait until the page's text contains ``expected``; the text."""
        def shown(browser: Browser) -> str | None:
            text = browser.text()
            return text if expected in text else None

        return self.wait(shown, f"the text {expected!r}", timeout)

    def click(self, css: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, css).click()

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.driver.save_screenshot(str(path)):
            raise AssertionError(f"{self.label}: could not save a screenshot to {path}")
        return path

    # -- the cookie jar -----------------------------------------------------------------------------

    def cookies(self) -> list[dict[str, Any]]:
        """Every cookie in the browser's jar, HttpOnly and partitioned ones included, as CDP shows them
        (name, value, domain, path, expires (epoch s, -1 for a session cookie), httpOnly, secure,
        sameSite (absent when none was set), partitionKey...)."""
        return list(self.driver.execute_cdp_cmd("Storage.getCookies", {})["cookies"])

    def cookie(self, name: str, domain: str | None = None) -> dict[str, Any] | None:
        """The one cookie called ``name`` (on ``domain`` if given), or None; fails if there are several."""
        found = [c for c in self.cookies() if c["name"] == name and (domain is None or c["domain"] == domain)]
        assert len(found) <= 1, f"several {name} cookies: {found}"
        return found[0] if found else None

    def delete_cookies(self, name: str) -> None:
        """Delete every cookie called ``name`` (what a user does in the browser's settings)."""
        for cookie in self.cookies():
            if cookie["name"] == name:
                self.driver.execute_cdp_cmd("Network.deleteCookies", {"name": name, "domain": cookie["domain"],
                                                                      "path": cookie["path"]})

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            # Chromium may still be writing its profile as it exits: retry briefly, then give up
            for _ in range(20):
                shutil.rmtree(self.profile, ignore_errors=True)
                if not self.profile.exists():
                    break
                time.sleep(0.05)

