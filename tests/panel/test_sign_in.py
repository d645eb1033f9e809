"""Sign-in and sign-out through the panel's form, by mouse and by keyboard alone."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect

from .conftest import ADMIN, PASSWORD, SAYS_SOMETHING, Daemon


def _header_shows_signed_in(page: Page) -> None:
    for name in ("Dashboard", "Add account", "Settings"):
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.get_by_text(ADMIN, exact=True).first).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_wrong_password_is_refused_in_words_then_sign_in_and_out(
    page: Page, context: BrowserContext, daemon: Daemon
) -> None:
    page.goto("/#/settings")  # signed out: the sign-in view, whatever the hash
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert").filter(has_text=SAYS_SOMETHING)
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("password", ignore_case=True)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    _header_shows_signed_in(page)
    expect(page.get_by_role("alert").filter(has_text=SAYS_SOMETHING)).to_have_count(0)
    me = context.request.get(f"{daemon.base_url}/api/v1/auth/me")
    assert me.ok and me.json()["username"] == ADMIN

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    # the session ended on the server, not only in the page
    assert context.request.get(f"{daemon.base_url}/api/v1/auth/me").status == 401
    page.goto("/#/dashboard")
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_role("link", name="Add account")).to_have_count(0)


def test_sign_in_with_the_keyboard_alone(page: Page) -> None:
    page.goto("/")
    username = page.get_by_label("Username")
    expect(username).to_be_visible()
    for _ in range(12):  # whatever comes first in the tab order (a skip link, the theme toggle)
        if username.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Tab")
    assert username.evaluate("el => el === document.activeElement"), (
        "Tab never reached the Username field"
    )
    # the focus is visible: an outline or a ring, not removed by the stylesheet
    ring = username.evaluate(
        """el => { const s = getComputedStyle(el);
          return {outline: s.outlineStyle, width: s.outlineWidth, shadow: s.boxShadow}; }"""
    )
    assert (ring["outline"] != "none" and ring["width"] != "0px") or ring["shadow"] != "none", ring
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    assert page.get_by_label("Password").evaluate("el => el === document.activeElement")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    _header_shows_signed_in(page)
    expect(page).to_have_url(re.compile(r"#/dashboard$"))


def test_signing_out_in_one_tab_signs_out_the_other(
    signed_in: Page, context: BrowserContext
) -> None:
    other = context.new_page()
    other.goto("/#/dashboard")
    expect(other.get_by_test_id("live-status")).to_have_text("live")
    signed_in.get_by_role("button", name="Sign out").click()
    expect(signed_in.get_by_role("button", name="Sign in")).to_be_visible()
    # the other tab must stop showing the fleet (its stream carries incoming messages' text)
    expect(other.get_by_role("button", name="Sign in")).to_be_visible(timeout=8_000)
