"""The panel's browser tests: a real daemon (`tgfleet serve --sandbox`) on loopback, Debian's
Chromium driven by Playwright, and an API client for set-up and bursts.

One daemon and one browser serve the package (the daemon's start, with the demo fleet logging
in, is the slow part); each test gets its own browser context, so cookies and pages never leak
between tests. Package scope, not session: Playwright's sync API marks an event loop as running
in the main thread while it lives, so it must stop before pytest goes on to the asyncio tests
of other packages in the same process.
Every request a page makes is recorded, and a test fails at teardown if one left 127.0.0.1: the
panel works with no internet, so it must never ask for anything from elsewhere. Each test leaves
a screenshot in tests/panel/screenshots/<test>.png.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Response,
    expect,
    sync_playwright,
)

from served_daemon import LOOPBACK, ServedDaemon, start_daemon

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "frontend" / "dist"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DOCS_SCREENSHOT = REPO / "docs" / "dashboard.png"
CHROMIUM = Path("/usr/bin/chromium")
ADMIN = "admin"
PASSWORD = "panel-tests-Пароль-1"  # not ASCII on purpose: the form must send it as typed

# Schemes that never reach a network host: inline data, object URLs, the blank page.
LOCAL_SCHEMES = {"data", "blob", "about"}

DESKTOP = {"width": 1280, "height": 900}
# Actions and expectations wait this long: the machine is shared (2 cores, other suites), and a
# live panel settles in well under a second when it works; the margin is for the noise.
WAIT_MS = 10_000
expect.set_options(timeout=WAIT_MS)
# An alert that shows words; the panel may keep empty alert regions in place beside its fields.
SAYS_SOMETHING = re.compile(r"\S")


# the daemon the tests drive: tests/served_daemon.py, shared with the API's socket tests
Daemon = ServedDaemon


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser_context(**options): options of the test's browser context"
    )


@pytest.fixture(scope="package")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    if not (DIST / "index.html").is_file():
        pytest.fail(
            f"the panel is not built: {DIST / 'index.html'} is missing. Build it with "
            "`cd frontend && npm ci && npm run build` (`make test` does this first).",
            pytrace=False,
        )
    built = (DIST / "index.html").stat().st_mtime
    newer = [p for p in (REPO / "frontend" / "src").rglob("*") if p.stat().st_mtime > built]
    if newer:
        warnings.warn(
            f"frontend/dist is older than {newer[0].relative_to(REPO)}: the tests drive the "
            "last build (`cd frontend && npm run build` for the current source)",
            stacklevel=1,
        )
    daemon = start_daemon(tmp_path_factory.mktemp("panel-daemon"), PASSWORD)
    try:
        with httpx.Client(base_url=daemon.base_url, timeout=5) as http:
            index = http.get("/")
            if index.status_code != 200 or "<html" not in index.text.lower():
                pytest.fail(
                    f"the daemon does not serve the panel at / (status {index.status_code}): "
                    f"{index.text[:300]}",
                    pytrace=False,
                )
        yield daemon
    finally:
        code = daemon.stop(timeout=30)
    # after the browser closed its event streams: a clean drain, and no error the panel caused
    # that the daemon only logged
    log = daemon.log()
    assert code == 0, f"the daemon exited {code}:\n{daemon.log_tail()}"
    assert "unexpected error" not in log and "Traceback" not in log, daemon.log_tail(80)


@pytest.fixture(scope="package")
def api(daemon: Daemon) -> Iterator[httpx.Client]:
    """A script's view of the daemon: a bearer token made by `tgfleet tokens create`."""
    made = daemon.cli("tokens", "create", "--name", "panel-tests")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=daemon.base_url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright, daemon: Daemon) -> Iterator[Browser]:
    # depends on the daemon so that it closes first: open event streams end before SIGTERM
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`; "
            "`make test` does it). Playwright's own browser download does not work here.",
            pytrace=False,
        )
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    )
    yield browser
    browser.close()


@dataclass
class Recorder:
    """What the pages of one context asked for, and what broke in them."""

    urls: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    # The daemon's CSP stops a request to elsewhere before it leaves, so the request never shows
    # up above; Chromium says so on the console, and a refused request is a broken panel.
    refused: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    def answered(self, response: Response) -> None:
        if response.status >= 500:
            self.server_errors.append(f"{response.status} {response.request.method} {response.url}")

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.refused.append(message.text)

    def foreign(self) -> list[str]:
        found = []
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme in LOCAL_SCHEMES:
                continue
            if parts.hostname != LOOPBACK:
                found.append(url)
        return found


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def context(
    browser: Browser, daemon: Daemon, recorder: Recorder, request: pytest.FixtureRequest
) -> Iterator[BrowserContext]:
    marker = request.node.get_closest_marker("browser_context")
    options = {"viewport": DESKTOP, **(marker.kwargs if marker is not None else {})}
    ctx = browser.new_context(base_url=daemon.base_url, **options)
    ctx.set_default_timeout(WAIT_MS)
    ctx.on("request", lambda r: recorder.urls.append(r.url))
    ctx.on("page", recorder.watch)
    ctx.on("response", recorder.answered)
    yield ctx
    ctx.close()
    # checked after the test body, so a failure here names the request, not a symptom
    foreign = recorder.foreign()
    assert not foreign, f"the panel made requests that left {LOOPBACK}: {foreign}"
    assert recorder.urls, "no request was recorded: the recorder is not attached"
    assert not recorder.server_errors, f"the daemon failed the panel: {recorder.server_errors}"
    assert not recorder.refused, f"the panel asked for what its CSP refuses: {recorder.refused}"
    assert not recorder.page_errors, f"uncaught errors in the panel: {recorder.page_errors}"


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    page = context.new_page()
    yield page
    SCREENSHOTS.mkdir(exist_ok=True)
    try:
        page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
    except Exception as exc:  # a screenshot that fails must not hide the test's own result
        print(f"screenshot of {request.node.name} failed: {exc}", file=sys.stderr)


def sign_in_api(context: BrowserContext, daemon: Daemon) -> None:
    """Sign the context in through the API (the tests of the sign-in form use the form)."""
    answer = context.request.post(
        f"{daemon.base_url}/api/v1/auth/login", data={"username": ADMIN, "password": PASSWORD}
    )
    assert answer.ok, answer.text()


@pytest.fixture
def signed_in(page: Page, context: BrowserContext, daemon: Daemon) -> Page:
    """A page on the dashboard of a signed-in panel."""
    sign_in_api(context, daemon)
    page.goto("/#/dashboard")
    # attached, not visible: at phone width the header may fold its buttons into a menu
    page.get_by_role("button", name="Sign out").wait_for(state="attached")
    return page


def save_docs_screenshot(source: Path) -> None:
    """The README's dashboard picture: refreshed only when asked, so a test run leaves the
    tracked file alone (UPDATE_DOCS_SCREENSHOT=1 .venv/bin/pytest tests/panel)."""
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(source, DOCS_SCREENSHOT)
