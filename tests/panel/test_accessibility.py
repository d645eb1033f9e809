"""Keyboard-usable, labelled controls: on every view each form control has a label and each
button a name, and every control the Tab key reaches shows where the focus is."""

from __future__ import annotations

from urllib.parse import quote

from playwright.sync_api import Locator, Page, expect

ALICE_PAGE = f"/#/accounts/{quote('+15550000001', safe='')}"


def _views(page: Page) -> dict[str, tuple[str, Locator]]:
    """Each view's address and a control that shows it has rendered its data."""
    return {
        "dashboard": ("/#/dashboard", page.locator('tr[data-account="+15550000001"]')),
        "account": (ALICE_PAGE, page.get_by_role("button", name="Send", exact=True)),
        "add": ("/#/add", page.get_by_role("button", name="Send code")),
        "settings": ("/#/settings", page.get_by_role("button", name="Create token")),
    }


# Visible controls without an accessible name: a label (for= or wrapping), aria-label(ledby),
# a title, or for buttons and links their text.
UNNAMED = """() => {
  const named = (el) =>
    (el.labels && el.labels.length > 0) ||
    (el.getAttribute("aria-label") || "").trim() ||
    (el.getAttribute("aria-labelledby") || "").trim() ||
    (["BUTTON", "A"].includes(el.tagName) && el.textContent.trim()) ||
    (el.getAttribute("title") || "").trim();
  return [...document.querySelectorAll("input, select, textarea, button, a[href]")]
    .filter((el) => el.type !== "hidden" && el.getClientRects().length > 0 && !named(el))
    .map((el) => el.outerHTML.slice(0, 120));
}"""

# What has the focus, whether it was focused before on this walk, and whether the focus shows:
# an outline or a ring (box-shadow).
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const seen = window.__focusWalk;
  const again = seen.has(el);
  seen.add(el);
  const s = getComputedStyle(el);
  const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0;
  return {html: el.outerHTML.slice(0, 120), again, shows: outline || s.boxShadow !== "none"};
}"""


def test_every_control_is_named_on_every_view(signed_in: Page) -> None:
    page = signed_in
    unnamed: dict[str, list[str]] = {}
    for view, (url, ready) in _views(page).items():
        page.goto(url)
        expect(ready.first).to_be_visible()
        found = page.evaluate(UNNAMED)
        if found:
            unnamed[view] = found
    assert not unnamed, f"controls without a name: {unnamed}"


def test_the_focus_shows_on_every_control_tab_reaches(signed_in: Page) -> None:
    page = signed_in
    hidden: dict[str, list[str]] = {}
    for view in ("account", "add"):
        url, ready = _views(page)[view]
        page.goto(url)
        expect(ready.first).to_be_visible()
        # a new walk from the top of the page
        page.evaluate("window.__focusWalk = new WeakSet(); document.activeElement?.blur()")
        seen: list[str] = []
        # a fixed walk, longer than the page's controls (about 40 on the account page): focus
        # leaves the page after the last one and comes round again
        for _ in range(60):
            page.keyboard.press("Tab")
            focused = page.evaluate(FOCUSED)
            if focused is None or focused["again"]:
                continue
            seen.append(focused["html"])
            if not focused["shows"]:
                hidden.setdefault(view, []).append(focused["html"])
        assert len(seen) >= 10, f"Tab reached only {seen} on {view}"
    assert not hidden, f"focus not visible on: {hidden}"
