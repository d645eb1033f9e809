"""A message sent from one account's page arrives in another account's live feed, pushed by the
event stream into a page that is never reloaded."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from playwright.sync_api import BrowserContext, Page, expect

from .conftest import SCREENSHOTS

ALICE = "+15550000001"  # demo_alice, keep_online: her updates reach the daemon
CAROL = "+15550000003"  # demo_carol, on demand


def _account_url(key: str) -> str:
    return f"/#/accounts/{quote(key, safe='')}"


def test_a_message_from_carols_page_arrives_in_alices_live_feed(
    signed_in: Page, context: BrowserContext
) -> None:
    # alice's page is a fresh document, so it opens its own event stream: wait until it is open
    alice = context.new_page()
    with alice.expect_response(lambda r: "/api/v1/events" in r.url and r.status == 200):
        alice.goto(_account_url(ALICE))
    expect(alice.get_by_role("heading", level=1)).to_contain_text(ALICE)
    expect(alice.get_by_role("heading", level=2, name="Live feed")).to_be_visible()
    feed = alice.get_by_test_id("live-feed")
    expect(feed).to_be_attached()
    alice.evaluate("window.__notReloaded = true")  # a reload would wipe this mark
    # the feed may be seeded from the event history when the page opens; from now on what
    # arrives must come by the stream, not by asking for the history again
    asked: list[str] = []
    alice.on("request", lambda r: asked.append(r.url))

    carol = signed_in
    carol.goto(_account_url(CAROL))
    expect(carol.get_by_role("heading", level=1)).to_contain_text(CAROL)
    texts = [f"panel test {uuid.uuid4().hex[:8]} #{n}" for n in (1, 2)]
    for text in texts:
        carol.get_by_label("To", exact=True).fill("demo_alice")
        carol.get_by_label("Message", exact=True).fill(text)
        carol.get_by_role("button", name="Send", exact=True).click()
        expect(carol.get_by_role("status").filter(has_text="Sent")).to_be_visible()
        expect(feed.locator("li").filter(has_text=text)).to_have_count(1, timeout=15_000)

    expect(feed.locator("li").first).to_contain_text(texts[1])  # newest first
    assert alice.evaluate("window.__notReloaded === true"), "alice's page was reloaded"
    polled = [url for url in asked if "history" in url]
    assert not polled, f"the feed polled instead of listening to the stream: {polled}"
    SCREENSHOTS.mkdir(exist_ok=True)
    alice.screenshot(path=SCREENSHOTS / "live_feed_alice.png", full_page=True)
