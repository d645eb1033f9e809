"""The account page: its sections, connections, dialogs and a chat's history, the settings
form, closing connections, and log out and remove behind a confirmation."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import httpx
from playwright.sync_api import Page, expect

from .conftest import SAYS_SOMETHING

BOB = "+15550000002"  # demo_bob, keep_online: one connection open
SECTIONS = (
    "Authorizations", "Connections", "Recent events", "Send a message", "Dialogs", "Live feed",
    "Settings",
)  # fmt: skip


def _open(page: Page, key: str) -> None:
    page.goto(f"/#/accounts/{quote(key, safe='')}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(key)


def test_bobs_page_shows_his_connection_dialogs_history_and_saves_settings(
    signed_in: Page, api: httpx.Client
) -> None:
    page = signed_in
    _open(page, BOB)
    for title in SECTIONS:
        expect(page.get_by_role("heading", level=2, name=title, exact=True)).to_be_visible()
    connections = page.get_by_test_id("connections-table")
    expect(connections.locator("tbody tr")).to_have_count(1)  # one authorization, one client
    expect(connections.locator("tbody tr")).to_contain_text(re.compile("idle|active"))

    dialogs = page.locator("section").filter(
        has=page.get_by_role("heading", level=2, name="Dialogs", exact=True)
    )
    first_words = "Morning Bob! Is the community digest out?"  # demo_alice, at the demo's start
    expect(dialogs.get_by_text(first_words)).to_have_count(0)
    dialogs.get_by_role("button", name="Load dialogs").click()
    dialogs.get_by_role("button", name="Alice").click()
    expect(dialogs.get_by_text(first_words)).to_be_visible()

    label = f"community desk {uuid.uuid4().hex[:4]}"
    page.get_by_label("Label", exact=True).fill(label)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text=SAYS_SOMETHING).first).to_be_visible()
    assert api.get(f"/api/v1/accounts/{BOB}").json()["label"] == label

    page.get_by_role("button", name="Close connections").click()
    expect(page.get_by_role("status").filter(has_text=re.compile("[Cc]losed"))).to_be_visible()
    expect(page.get_by_role("alert").filter(has_text=SAYS_SOMETHING)).to_have_count(0)


def test_log_out_and_remove_asks_first(signed_in: Page, api: httpx.Client) -> None:
    page = signed_in
    phone = "+15550000125"
    started = api.post("/api/v1/logins", json={"phone": phone})
    assert started.status_code == 201, started.text
    done = api.post(f"/api/v1/logins/{started.json()['id']}/code", json={"code": "12345"})
    assert done.status_code == 200, done.text
    _open(page, phone)

    page.get_by_role("button", name="Log out and remove").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(phone)
    dialog.get_by_role("button", name="Cancel").click()  # asking is not doing
    expect(dialog).to_be_hidden()
    assert api.get(f"/api/v1/accounts/{phone}").status_code == 200

    page.get_by_role("button", name="Log out and remove").click()
    dialog.get_by_role("button", name="Remove", exact=True).click()
    expect(dialog).to_be_hidden()
    assert api.get(f"/api/v1/accounts/{phone}").status_code == 404
    page.get_by_role("link", name="Dashboard").click()
    table = page.get_by_test_id("accounts-table")
    expect(table.locator(f'tr[data-account="{BOB}"]')).to_be_visible()
    expect(table.locator(f'tr[data-account="{phone}"]')).to_have_count(0)
