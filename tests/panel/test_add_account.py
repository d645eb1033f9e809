"""The add-account wizard on the sandbox: phone, code, two-step password, each error in words
next to its field; the new account in the accounts table."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from playwright.sync_api import Locator, Page, expect

from .conftest import SAYS_SOMETHING

# In the embedded sandbox, not in tgfleet's store: has a two-step password (see shared facts).
DAVE = "+15550000004"
DAVE_PASSWORD = "tgfleet-demo"
# Unknown to the sandbox: it signs up on its first login, no two-step password.
FRESH = "+15550000123"
CODE = "12345"


def _choose_phone_flow(page: Page) -> None:
    page.get_by_role("link", name="Add account").click()
    choice = page.get_by_role("tab", name="Phone number").or_(
        page.get_by_role("button", name="Phone number")
    )
    choice.first.click()


def _expect_alert_next_to(field: Locator, page: Page, telegram_name: str) -> Locator:
    """The one alert naming ``telegram_name``: visible, in words a person can act on beside
    Telegram's name, and next to ``field`` (within 150 px vertically, overlapping it
    horizontally), not in a banner across the page."""
    alert = page.get_by_role("alert").filter(has_text=telegram_name)
    expect(alert).to_have_count(1)
    expect(alert).to_be_visible()
    words = alert.inner_text().replace(telegram_name, "").split()
    assert len(words) >= 3, f"the error is only a code: {alert.inner_text()!r}"
    f, a = field.bounding_box(), alert.bounding_box()
    assert f is not None and a is not None
    gap = max(a["y"] - (f["y"] + f["height"]), f["y"] - (a["y"] + a["height"]), 0)
    overlap = min(f["x"] + f["width"], a["x"] + a["width"]) - max(f["x"], a["x"])
    assert gap <= 150 and overlap > 0, f"alert {a} is not next to its field {f}"
    return alert


def test_wizard_adds_an_account_with_a_two_step_password(
    signed_in: Page, api: httpx.Client
) -> None:
    page = signed_in
    assert api.get(f"/api/v1/accounts/{DAVE}").status_code == 404, "dave must start outside"
    _choose_phone_flow(page)
    page.get_by_label("Phone number").fill(DAVE)
    page.get_by_role("button", name="Send code").click()
    page.get_by_label("Code", exact=True).fill(CODE)
    page.get_by_role("button", name="Submit code").click()

    password = page.get_by_label("Two-step password")
    expect(password).to_be_visible()
    password.fill("not-" + DAVE_PASSWORD)
    page.get_by_role("button", name="Submit password").click()
    _expect_alert_next_to(password, page, "PASSWORD_HASH_INVALID")
    password.fill(DAVE_PASSWORD)
    page.get_by_role("button", name="Submit password").click()

    done = page.get_by_role("status").filter(has_text="Added")
    expect(done).to_be_visible()
    # the old error is gone
    expect(page.get_by_role("alert").filter(has_text=SAYS_SOMETHING)).to_have_count(0)
    stored = api.get(f"/api/v1/accounts/{DAVE}")
    assert stored.status_code == 200, stored.text
    assert stored.json()["status"] == "active"

    page.locator('a[href^="#/accounts/"]').first.click()  # the link beside "Added"
    expect(page).to_have_url(f"{page.url.split('#')[0]}#/accounts/{quote(DAVE, safe='')}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(DAVE)

    page.get_by_role("link", name="Dashboard").click()
    row = page.get_by_test_id("accounts-table").locator(f'tr[data-account="{DAVE}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("active", ignore_case=True)


def test_a_wrong_code_shows_its_error_next_to_the_field(signed_in: Page, api: httpx.Client) -> None:
    page = signed_in
    _choose_phone_flow(page)
    page.get_by_label("Phone number").fill(FRESH)
    page.get_by_role("button", name="Send code").click()
    code = page.get_by_label("Code", exact=True)
    code.fill("00000")
    page.get_by_role("button", name="Submit code").click()
    _expect_alert_next_to(code, page, "PHONE_CODE_INVALID")
    assert api.get(f"/api/v1/accounts/{FRESH}").status_code == 404

    code.fill(CODE)  # the same login goes on: a wrong code is not the end of it
    page.get_by_role("button", name="Submit code").click()
    expect(page.get_by_role("status").filter(has_text="Added")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text=SAYS_SOMETHING)).to_have_count(0)
    assert api.get(f"/api/v1/accounts/{FRESH}").status_code == 200


def test_another_authorization_by_a_second_login_and_by_qr_handoff(
    signed_in: Page, api: httpx.Client
) -> None:
    page = signed_in
    phone = "+15550000126"  # filed by the API with one authorization; the panel adds two
    started = api.post("/api/v1/logins", json={"phone": phone})
    assert started.status_code == 201, started.text
    assert api.post(f"/api/v1/logins/{started.json()['id']}/code", json={"code": CODE}).is_success

    page.get_by_role("link", name="Add account").click()
    choice = page.get_by_role("tab", name="Another authorization").or_(
        page.get_by_role("button", name="Another authorization")
    )
    choice.first.click()
    account = page.get_by_label("Account", exact=True)
    expect(account.locator(f'option[value="{phone}"]')).to_be_attached()
    account.select_option(phone)
    page.get_by_role("button", name="Log in again").click()
    page.get_by_label("Code", exact=True).fill(CODE)
    page.get_by_role("button", name="Submit code").click()
    expect(page.get_by_role("status").filter(has_text="Added")).to_be_visible()

    choice.first.click()  # a fresh form: the finished login keeps its own locked
    expect(account.locator(f'option[value="{phone}"]')).to_be_attached()
    account.select_option(phone)
    page.get_by_role("button", name="QR handoff").click()
    expect(page.get_by_role("status").filter(has_text="Added")).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text=SAYS_SOMETHING)).to_have_count(0)
    listed = api.get(f"/api/v1/accounts/{phone}/authorizations")
    assert listed.status_code == 200, listed.text
    assert len(listed.json()) == 3, listed.json()


def test_a_bad_bot_token_and_a_bad_session_string_are_refused_next_to_their_fields(
    signed_in: Page,
) -> None:
    page = signed_in
    page.get_by_role("link", name="Add account").click()
    page.get_by_role("tab", name="Bot token").or_(
        page.get_by_role("button", name="Bot token")
    ).first.click()
    token = page.get_by_label("Bot token", exact=True)
    token.fill("123456:not-a-token-the-sandbox-issued")
    page.get_by_role("button", name="Add bot").click()
    _expect_alert_next_to(token, page, "ACCESS_TOKEN_INVALID")

    page.get_by_role("tab", name="Session string").or_(
        page.get_by_role("button", name="Session string")
    ).first.click()
    session = page.get_by_label("Session string", exact=True)
    session.fill("this is not a session string")
    page.get_by_role("button", name="Import").click()
    alert = page.get_by_role("alert").filter(has_text=SAYS_SOMETHING)
    expect(alert).to_have_count(1)
    f, a = session.bounding_box(), alert.bounding_box()
    assert f is not None and a is not None and abs(a["y"] - (f["y"] + f["height"])) <= 150
