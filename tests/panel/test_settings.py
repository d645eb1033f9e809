"""Settings: the effective pool configuration as the daemon reports it, and API tokens made
once-shown and revoked from the panel (the token works until it is revoked)."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import Page, expect

from .conftest import Daemon


def _spellings(value: object) -> set[str]:
    """How a scalar setting may be written: 300.0 as "300.0" or "300"."""
    if isinstance(value, bool):
        return {str(value).lower(), "yes" if value else "no", "on" if value else "off"}
    if isinstance(value, float) and value.is_integer():
        return {str(value), str(int(value))}
    return {str(value)}


def test_pool_configuration_is_shown_as_the_daemon_reports_it(
    signed_in: Page, api: httpx.Client
) -> None:
    page = signed_in
    config = api.get("/api/v1/pool/config")
    assert config.status_code == 200, config.text
    page.get_by_role("link", name="Settings").click()
    section = page.locator("section").filter(
        has=page.get_by_role("heading", name="Pool configuration")
    )
    terms = section.locator("dl dt")
    expect(terms.first).to_be_visible()
    details = [d.strip() for d in section.locator("dl dd").all_inner_texts()]
    scalars = {k: v for k, v in config.json().items() if isinstance(v, int | float | str | bool)}
    assert scalars, config.json()
    missing = {
        k: v for k, v in scalars.items() if not any(s in d for d in details for s in _spellings(v))
    }
    assert not missing, f"settings not shown: {missing}; shown: {details}"
    assert terms.count() >= len(scalars)


def test_an_api_token_is_created_shown_once_and_revoked(signed_in: Page, daemon: Daemon) -> None:
    page = signed_in
    name = f"panel-{uuid.uuid4().hex[:6]}"
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Token name").fill(name)
    page.get_by_role("button", name="Create token").click()
    shown = page.get_by_test_id("new-token")
    expect(shown).to_contain_text("tgf_")
    token = next(w for w in shown.inner_text().split() if w.startswith("tgf_"))
    bearer = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=daemon.base_url, timeout=10) as script:
        assert script.get("/api/v1/auth/me", headers=bearer).status_code == 200

        row = page.locator("tr").filter(has_text=name)
        expect(row).to_have_count(1)
        assert token not in row.inner_text()  # the table names tokens, never shows them
        page.reload()  # shown once: a fresh look at the page has no token on it
        expect(page.get_by_test_id("new-token")).to_have_count(0)
        assert token not in page.content()

        row.get_by_role("button", name="Revoke").click()
        # revoked: gone from the table or marked so, and refused by the API either way
        expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
        assert script.get("/api/v1/auth/me", headers=bearer).status_code == 401
