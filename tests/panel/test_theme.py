"""Light and dark: the system's preference by default, the "Theme" button overrides it and the
choice survives a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

# Relative luminance (0 black .. 1 white) of the page's background: the body's, else the root's.
LUMINANCE = """() => {
  for (const el of [document.body, document.documentElement]) {
    const c = getComputedStyle(el).backgroundColor;
    if (!c || c === "rgba(0, 0, 0, 0)" || c === "transparent") continue;
    const [r, g, b] = c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map((v) => Number(v) / 255);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  return 1;
}"""


def _becomes(page: Page, test: str, why: str) -> None:
    """Wait (through any colour transition) until the luminance passes ``test``."""
    try:
        page.wait_for_function(f"() => ({LUMINANCE})() {test}", timeout=5_000)
    except Exception as exc:
        raise AssertionError(f"{why}: luminance {page.evaluate(LUMINANCE):.2f}") from exc


@pytest.mark.browser_context(color_scheme="dark")
def test_dark_by_system_preference_and_the_toggle_is_remembered(signed_in: Page) -> None:
    page = signed_in
    _becomes(page, "< 0.3", "a dark system preference gives a dark panel")
    page.get_by_role("button", name="Theme").click()
    _becomes(page, "> 0.7", "the toggle turns it light")
    page.reload()
    page.get_by_role("button", name="Sign out").wait_for(state="attached")
    _becomes(page, "> 0.7", "the choice survives a reload")


@pytest.mark.browser_context(color_scheme="light")
def test_light_by_system_preference(signed_in: Page) -> None:
    _becomes(signed_in, "> 0.7", "a light system preference gives a light panel")
