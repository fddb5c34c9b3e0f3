"""A real headless browser for the tests of web pages: Debian's Chromium through Selenium.

The wallboard and the report page are checked the way a supervisor sees them. The
browser is Chromium from the Debian packages (``chromium`` and ``chromium-driver``,
installed by ``.ci/run``); without them, or without Selenium, the tests that need it skip
and say why.

What a test can ask of a :class:`Browser` beyond Selenium's driver: the page's console
errors, and every URL the page requested (from Chromium's performance log), so a test
can show that nothing left the machine. Chromium is also told to resolve no host name
but ``localhost``: a request to the internet fails instead of going out.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.remote.webdriver import WebDriver
except ImportError:  # pragma: no cover - the test extra brings selenium
    webdriver = None  # type: ignore[assignment]

SKIP_REASON = (
    "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver;"
    " .ci/run installs them) and selenium (the test extra)"
)
needs_browser = pytest.mark.skipif(
    webdriver is None or CHROMIUM is None or CHROMEDRIVER is None, reason=SKIP_REASON)


class Browser:
    """A headless Chromium window of a fixed size, with its console and network logs."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver
        self._performance: list[dict[str, Any]] = []

    def open(self, url: str) -> None:
        self.driver.get(url)

    def console_errors(self) -> list[str]:
        """The console messages of level SEVERE since the last call."""
        return [entry["message"] for entry in self.driver.get_log("browser")
                if entry["level"] == "SEVERE"]

    def requested_urls(self) -> list[str]:
        """Every URL the page asked for so far (documents, scripts, images, fetches)."""
        for entry in self.driver.get_log("performance"):
            self._performance.append(json.loads(entry["message"])["message"])
        return [m["params"]["request"]["url"] for m in self._performance
                if m.get("method") == "Network.requestWillBeSent"]

    def outside_requests(self) -> list[str]:
        """The requested URLs that would leave the machine: any network scheme to a host
        other than loopback (the browser's own ``chrome://`` pages, ``data:`` and
        ``file:`` stay inside)."""
        outside = []
        for url in self.requested_urls():
            parts = urlsplit(url)
            if parts.scheme in ("chrome", "data", "file", "blob", "about"):
                continue
            if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                outside.append(url)
        return outside

    def screenshot(self, path: Path) -> Path:
        self.driver.save_screenshot(str(path))
        return path

    def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Make the page's viewport exactly ``width`` x ``height`` CSS pixels (a window
        size includes the browser's frame); ``mobile`` emulates a phone, which honours the
        page's viewport meta tag. Lasts until the browser closes."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    """A fresh headless Chromium (skips when Chromium or its driver is missing)."""
    if webdriver is None or CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(SKIP_REASON)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--window-size=1400,1000",
                     f"--user-data-dir={tmp_path / 'chromium-profile'}",
                     # nothing but loopback resolves: a request to the internet fails here
                     "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
