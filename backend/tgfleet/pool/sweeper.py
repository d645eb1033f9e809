"""The sweeper: idle and age expiry, and leak reports, at a cost that follows what expired.

Idle connections expire in the global least-recently-returned order and ages come off a heap,
so a sweep stops at the first connection that has not expired instead of scanning the fleet.
"""

from __future__ import annotations

import asyncio
import heapq
from typing import Any

from tgfleet.pool.book import ACTIVE, IDLE, log
from tgfleet.pool.connection import PooledConnection
from tgfleet.pool.waiters import PoolWaiters


class PoolSweeper(PoolWaiters):
    """``PoolWaiters`` plus the periodic sweep."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sweeper: asyncio.Task[None] | None = None

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.cleanup_interval)
            try:
                self._sweep(self._clock())
            except Exception:  # a bug here must not end the sweeping for good
                log.exception("pool sweep failed")

    async def sweep_now(self) -> int:
        """Run one sweep at the clock's current time and wait for the closes it started.
        Returns how many connections it closed."""
        before = set(self._tasks)
        closed = self._sweep(self._clock())
        started = [t for t in self._tasks if t not in before]
        if started:
            await asyncio.gather(*started, return_exceptions=True)
        return closed

    def _sweep(self, now: float) -> int:
        """Close what expired. The cost follows the number of expired connections: idle ones
        expire in ``_idle_lru`` order and ages come off a heap, so nothing scans the fleet."""
        closed = examined = 0
        cfg = self.config
        idle_limit = cfg.max_idle_time
        for _ in range(len(self._idle_lru)):
            serial, conn = next(iter(self._idle_lru.items()))
            examined += 1
            if now - conn.last_used < idle_limit:
                break
            entry = self._accounts[conn.phone]
            if entry.registered and len(entry.idle) <= cfg.min_idle_per_account:
                # Kept for min_idle; its idle clock restarts, which keeps the order sorted.
                conn.last_used = now
                self._idle_lru.move_to_end(serial)
                continue
            self._counters.evictions["max_idle"] += 1
            self._retire(entry, conn, "max_idle")
            closed += 1
        heap = self._age_heap
        while heap and heap[0][0] <= now:
            _, _, conn = heapq.heappop(heap)
            examined += 1
            if conn.state is IDLE:
                self._counters.evictions["max_age"] += 1
                self._retire(self._accounts[conn.phone], conn, "max_age")
                closed += 1
            elif conn.state is ACTIVE:
                conn.retire_reason = conn.retire_reason or "max_age"
        leaks = self._leak_heap
        while leaks and leaks[0][0] <= now:
            _, _, generation, conn = heapq.heappop(leaks)
            examined += 1
            if conn.state is ACTIVE and conn.generation == generation and not conn.leak_reported:
                self._report_leak(conn, now)
        self._top_up_all()
        # What the last sweep looked at: it follows the expired count, not the fleet size.
        self._counters.last_sweep = {"examined": examined, "closed": closed, "at": now}
        return closed

    def _report_leak(self, conn: PooledConnection, now: float) -> None:
        conn.leak_reported = True
        self._counters.total_leaks += 1
        held = now - conn.borrowed_at
        log.warning(
            "account %s: connection #%d borrowed by %s for %.1f s (pool.leak_detection_threshold)"
            "; borrowed at:\n%s",
            conn.phone,
            conn.serial,
            conn.borrower or "?",
            held,
            conn.borrower_stack or "(no stack)",
        )
        self._emit(
            "leak_suspected",
            conn.phone,
            conn.authorization_id,
            "leak_detection_threshold",
            held=held,
            borrower=conn.borrower,
        )
