"""Browser tests: the real app under granian (tests/e2e/server.py) driven by Debian's Chromium through Playwright.

`./dev test` installs the `chromium` package when /usr/bin/chromium is missing; Playwright's own browser download
is never used (it needs the internet)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright

from tests.e2e.server import RunningServer

CHROMIUM = Path(os.environ.get("COOKCAM_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # No in-process jobs: the tests deliver the outbox's emails themselves (tests.support.deliver_mail).
    running = RunningServer(
        database_url, tmp_path_factory.mktemp("serve"), workers=1, env={"JOBS_SCHEDULER_ENABLED": "false"}
    )
    yield running
    running.terminate()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (./dev test does it as root)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        await launched.close()


@dataclass
class Tab:
    """A page in a fresh browser context, with everything the browser complained about."""

    page: Page
    screenshots: Path
    problems: list[str] = field(default_factory=list)

    def watch(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        # CSP violations, failed loads and script errors are all reported at these levels.
        if message.type in ("error", "warning"):
            self.problems.append(f"{message.type}: {message.text}")

    async def screenshot(self, name: str) -> Path:
        path = self.screenshots / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        return path


@pytest.fixture
async def tab(browser: Browser, tmp_path: Path) -> AsyncIterator[Tab]:
    context: BrowserContext = await browser.new_context()
    opened = Tab(await context.new_page(), tmp_path)
    opened.watch()
    yield opened
    await context.close()
