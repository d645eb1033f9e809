"""The fleet dashboard: tiles and charts move with the pool while a burst of API calls runs,
the thresholds colour their tiles, the accounts table sorts and filters, and the page reads at
phone width."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import Page, expect

from .conftest import SCREENSHOTS, save_docs_screenshot

TILES = (
    "active", "idle", "connecting", "error", "waiting", "utilization", "wait-p50", "wait-p95",
    "rps", "error-rate", "success-rate", "p95-response", "floods",
)  # fmt: skip
CHARTS = ("chart-connections", "chart-waits", "chart-requests")
DEMO_USERS = ("+15550000001", "+15550000002", "+15550000003")

# Samples the active and waiting tiles, and the Active cell of demo_alice's row in the accounts
# table, every 50 ms in the page, so a peak between two looks from the test is not missed; the
# test reads the peaks afterwards.
WATCH_PEAKS = """() => {
  window.__peaks = {active: -1, waiting: -1, aliceRow: -1};
  const table = document.querySelector('[data-testid="accounts-table"]');
  const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
  const column = heads.findIndex((text) => /^Active\\b/.test(text));
  const cells = {
    active: () => document.querySelector('[data-testid="tile-active-value"]'),
    waiting: () => document.querySelector('[data-testid="tile-waiting-value"]'),
    aliceRow: () => table.querySelector('tr[data-account="+15550000001"]')?.cells[column],
  };
  const read = () => {
    for (const [name, find] of Object.entries(cells)) {
      const el = find();
      const m = el && el.textContent.match(/-?\\d+(\\.\\d+)?/);
      if (m) window.__peaks[name] = Math.max(window.__peaks[name], parseFloat(m[0]));
    }
  };
  read();
  window.__watch = setInterval(read, 50);
}"""


def _number(text: str) -> float:
    found = re.search(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
    assert found, f"no number in {text!r}"
    return float(found.group())


def _points(page: Page, chart: str) -> int:
    value = page.get_by_test_id(chart).get_attribute("data-points")
    assert value is not None and value.isdigit(), f"{chart} data-points={value!r}"
    return int(value)


def _burst(api: httpx.Client, seconds: float, workers: int = 30) -> list[int]:
    """``workers`` concurrent callers asking the demo users for their dialogs for ``seconds``:
    three accounts with one authorization each, so every pool is busy and the rest wait."""
    deadline = time.monotonic() + seconds

    def work(n: int) -> list[int]:
        key = DEMO_USERS[n % len(DEMO_USERS)]
        codes = []
        while time.monotonic() < deadline:
            codes.append(api.get(f"/api/v1/accounts/{key}/dialogs").status_code)
        return codes

    with ThreadPoolExecutor(workers) as pool:
        return [code for codes in pool.map(work, range(workers)) for code in codes]


def _wait_live(page: Page) -> None:
    expect(page.get_by_test_id("live-status")).to_have_text("live")


def test_a_burst_of_api_calls_moves_the_active_count_and_the_chart(
    signed_in: Page, api: httpx.Client
) -> None:
    page = signed_in
    _wait_live(page)
    for name in TILES:
        tile = page.get_by_test_id(f"tile-{name}")
        expect(tile).to_have_attribute("data-state", re.compile(r"^(ok|warn)$"))
        expect(page.get_by_test_id(f"tile-{name}-value")).to_have_text(re.compile(r"\d"))
    for chart in CHARTS:
        expect(page.get_by_test_id(chart)).to_have_attribute("data-points", re.compile(r"^\d+$"))
    # the demo fleet is at rest: nothing borrowed (a health ping may hold one for an instant)
    expect(page.get_by_test_id("tile-active-value")).to_have_text(re.compile(r"^\D*0\D*$"))
    before = _points(page, "chart-connections")

    page.evaluate(WATCH_PEAKS)
    with ThreadPoolExecutor(1) as background:
        burst = background.submit(_burst, api, 4.0)
        time.sleep(3.0)  # mid-burst: the picture for the README shows the pools busy
        SCREENSHOTS.mkdir(exist_ok=True)
        shot = SCREENSHOTS / "dashboard.png"
        page.screenshot(path=shot, full_page=True)
        codes = burst.result()
    assert codes and set(codes) == {200}, f"burst answers: {sorted(set(codes))}"
    time.sleep(1.5)  # one more stats sample after the burst
    peaks = page.evaluate("window.__peaks")
    # three accounts with one connection each, thirty callers: all busy, the rest waiting
    assert peaks["active"] > 0, f"the active tile stayed at {peaks} through {len(codes)} calls"
    assert peaks["waiting"] > 0, f"the waiting tile stayed at {peaks} through {len(codes)} calls"
    assert peaks["aliceRow"] > 0, f"demo_alice's row never showed her connection busy: {peaks}"
    after = _points(page, "chart-connections")
    assert after > before, f"chart-connections data-points {before} -> {after}: not live"
    # and back to rest once the burst is over: the tile follows the pool both ways
    expect(page.get_by_test_id("tile-active-value")).to_have_text(re.compile(r"^\D*0\D*$"))
    save_docs_screenshot(shot)


def test_failing_calls_turn_the_error_rate_tile_to_warning(
    signed_in: Page, api: httpx.Client
) -> None:
    page = signed_in
    _wait_live(page)
    error_rate = page.get_by_test_id("tile-error-rate")

    def refused(n: int) -> int:
        # Telegram refuses each of these (no such username): a call through the pool that fails
        return api.post(
            f"/api/v1/accounts/{DEMO_USERS[n % len(DEMO_USERS)]}/messages",
            json={"peer": "nobody_by_this_name_here", "text": "hello?"},
        ).status_code

    # the rate is over the last 60 s, which may hold another test's successful burst: fail in
    # rounds until the tile turns, within a bound
    codes: list[int] = []
    deadline = time.monotonic() + 30
    with ThreadPoolExecutor(10) as pool:
        while error_rate.get_attribute("data-state") != "warn" and time.monotonic() < deadline:
            codes += pool.map(refused, range(20))
            time.sleep(0.5)
    assert codes and all(400 <= code < 500 for code in codes), sorted(set(codes))
    expect(error_rate).to_have_attribute("data-state", "warn", timeout=5_000)
    expect(page.get_by_test_id("tile-success-rate")).to_have_attribute("data-state", "warn")
    assert _number(page.get_by_test_id("tile-error-rate-value").inner_text()) > 5


def test_the_accounts_table_filters_and_sorts(signed_in: Page) -> None:
    page = signed_in
    table = page.get_by_test_id("accounts-table")
    rows = table.locator("tbody tr[data-account]")
    expect(rows.filter(has_text="+15550000001")).to_have_count(1)
    total = rows.count()
    assert total >= 4, f"the demo fleet has 4 accounts, the table shows {total}"

    page.get_by_label("Filter accounts").fill("outreach")  # demo_carol's label
    expect(rows.filter(visible=True)).to_have_count(1)
    expect(rows.filter(visible=True).first).to_have_attribute("data-account", "+15550000003")
    page.get_by_label("Filter accounts").fill("")
    expect(rows.filter(visible=True)).to_have_count(total)

    def order() -> list[str]:
        return [r.get_attribute("data-account") or "" for r in rows.filter(visible=True).all()]

    sort = table.get_by_role("button", name="Account")
    sort.click()
    first = order()
    sort.click()
    expect(rows.filter(visible=True).first).to_have_attribute("data-account", first[-1])
    assert order() == list(reversed(first))
    link = rows.filter(has_text="+15550000002").get_by_role("link").first
    link.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("+15550000002")


@pytest.mark.browser_context(viewport={"width": 375, "height": 812}, is_mobile=True)
def test_the_dashboard_reads_at_phone_width(signed_in: Page) -> None:
    page = signed_in
    _wait_live(page)
    expect(page.get_by_test_id("tile-active")).to_be_visible()
    expect(page.get_by_test_id("accounts-table")).to_be_attached()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the dashboard is {width} px wide at a 375 px viewport"
    # the tiles stack inside the screen rather than off its edge
    for name in TILES:
        box = page.get_by_test_id(f"tile-{name}").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, name
