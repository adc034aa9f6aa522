"""Browser tests: Debian's Chromium, headless, driven by Playwright's sync API against `live_server`.

Every test here is marked `browser`, gets a fresh browser context (no cookies shared between
tests) and leaves a screenshot of its last page in test-results/screenshots/<test-name>.png.
"""

import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from portal.demo import seed_accounts
from tests.browser.helpers import DESKTOP, PHONE

# Playwright's sync API runs an event loop in this thread; Django would otherwise refuse the ORM
# calls that fixtures and tests make beside it (SynchronousOnlyOperation).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROWSER_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items, so mark only the ones under tests/browser/.
    for item in items:
        if BROWSER_DIR in item.path.parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        # Fail, never skip: a missing browser must not pass for a green run.
        pytest.fail(
            f"Browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium); "
            "Playwright cannot download its own browser here.",
            pytrace=False,
        )
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def screenshot_dir(request: pytest.FixtureRequest) -> Path:
    directory = request.config.rootpath / "test-results" / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _file_name(test_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\[\]-]+", "_", test_name)


@pytest.fixture
def new_page(
    browser: Browser, live_server, request: pytest.FixtureRequest, screenshot_dir: Path
) -> Iterator[Callable[..., Page]]:
    """Opens pages in fresh contexts against the live server; screenshots each one at teardown."""
    contexts = []

    def open_page(viewport: dict[str, int] = DESKTOP) -> Page:
        context = browser.new_context(base_url=live_server.url, viewport=viewport)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for index, context in enumerate(contexts):
        suffix = f"-{index}" if index else ""
        for page in context.pages:
            path = screenshot_dir / f"{_file_name(request.node.name)}{suffix}.png"
            try:
                page.screenshot(path=path, full_page=True)
            except PlaywrightError as error:
                # A failed test may leave a page that cannot be captured; its own failure is the news.
                warnings.warn(f"No screenshot {path.name}: {error}", stacklevel=1)
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A desktop-sized page (1280x800) in a context of its own."""
    return new_page()


@pytest.fixture
def phone_page(new_page: Callable[..., Page]) -> Page:
    """A phone-sized page (390x844) in a context of its own."""
    return new_page(PHONE)


@pytest.fixture
def snapshot(request: pytest.FixtureRequest, screenshot_dir: Path) -> Callable[[Page, str], None]:
    """Saves a screenshot mid-test as <test-name>--<label>.png, for pages the test moves past."""

    def take(page: Page, label: str) -> None:
        page.screenshot(path=screenshot_dir / f"{_file_name(request.node.name)}--{label}.png", full_page=True)

    return take


@pytest.fixture
def demo_accounts(transactional_db):
    """The demo organization `acme` and its five users, one per role (portal.demo)."""
    return seed_accounts()
