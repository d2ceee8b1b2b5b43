"""Headless Chromium (Debian's ``chromium``, installed by tests/run.sh) driven by
Playwright's Python package against the real server.  Playwright never
downloads a browser here: it is pointed at /usr/bin/chromium."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.configs import GROUPS, SERVER
from tests.web.client import ROOT_PW, SALES_PW, Office, office_fixture

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
__all__ = ["ROOT_PW", "SALES_PW", "Office"]
CONFIG = SERVER + '[http]\nlogin_max_failures = 3\n' + GROUPS
# B2BUA_SCREENSHOTS=DIR keeps the pages' screenshots there (docs/ is made so)
SHOTS = os.environ.get("B2BUA_SCREENSHOTS")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # per module, not per session: while Playwright's sync API runs, its event loop
    # counts as running in this thread, and later tests that call asyncio.run fail
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium package "
                    "(bash tests/run.sh installs it; or apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()

office = office_fixture("portal", CONFIG)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    p = context.new_page()
    p.set_default_timeout(10_000)
    yield p
    context.close()


def login(page: Page, url: str, name: str, password: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@contextlib.contextmanager
def live_calls_page(browser: Browser, url: str) -> Iterator[Page]:
    """A page of its own, logged in as root, on the live calls."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        login(page, url, "root", ROOT_PW)
        page.goto(url + "/calls")
        yield page
    finally:
        context.close()
