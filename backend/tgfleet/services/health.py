"""The periodic health check: statuses that time changes, and keep_online accounts proven.

A flood that ended makes its account active again. A keep_online account sits on one idle
client that only receives; if its authorization was revoked (terminated from another device,
say) nothing would notice until someone used it, and the panel would show it active. So each
check sends every keep_online account one cheap authorized call (``updates.getState``) through
the pool, a few at a time; a failure reaches ``fleet.on_error`` like any other request, so a
revoked key ends as ``revoked`` and a dead proxy as ``error``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from tgfleet.errors import TgfleetError
from tgfleet.services.actions import Actions
from tgfleet.services.fleet import Fleet
from tgfleet.store.records import AccountStatus
from tgfleet.store.store import Store

log = logging.getLogger(__name__)

_CHECKED = (AccountStatus.ACTIVE, AccountStatus.ERROR)


@dataclass(frozen=True)
class HealthReport:
    checked: int
    failed: int


async def check_fleet(
    store: Store, fleet: Fleet, actions: Actions, *, concurrency: int = 10
) -> HealthReport:
    """One round of the health check; returns how many accounts were pinged and failed."""
    await fleet.refresh_statuses()
    phones: list[str] = []
    after: int | None = None
    while True:
        page = await store.accounts.list(keep_online=True, enabled=True, limit=500, after=after)
        phones += [a.key for a in page.items if a.status in _CHECKED]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    limit = asyncio.Semaphore(concurrency)
    failed = 0

    async def ping(phone: str) -> None:
        nonlocal failed
        async with limit:
            try:
                await actions.ping(phone)
            except TgfleetError as exc:
                failed += 1
                log.info("health check of %s failed: %s", phone, exc)

    await asyncio.gather(*(ping(p) for p in phones))
    return HealthReport(checked=len(phones), failed=failed)


async def run_health_checks(
    store: Store, fleet: Fleet, actions: Actions, interval: float = 30.0
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await check_fleet(store, fleet, actions)
        except Exception:
            log.exception("health check failed; trying again in %.0f s", interval)
