"""How many connector calls run at once, fleet-wide (``pool.max_concurrent_connects``).

A daemon starting with a hundred keep_online accounts would otherwise dial them all in the
same instant: a connect storm that the server (and a shared proxy) answers with refusals and
floods. The gate lets ``limit`` connects run and queues the rest. Borrowers, who wait under
their acquire deadline, go ahead of the pool's own background fills (keep_online, min_idle),
which can afford to wait — unless a borrower is waiting for that very fill, which then moves
up (``promote``).

Like the pool, its bookkeeping is synchronous: a slot is counted as taken the moment it is
handed to a waiter, so a waiter cancelled right after being served gives the slot on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class ConnectGate:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self.peak = 0  # the most connects ever in flight at once
        self._urgent: deque[asyncio.Future[None]] = deque()  # borrowers, first come first
        self._background: deque[asyncio.Future[None]] = deque()  # keep_online / min_idle
        self._keys: dict[asyncio.Future[None], str] = {}  # queued background fill -> account

    @property
    def queued(self) -> int:
        return len(self._urgent) + len(self._background)

    @asynccontextmanager
    async def slot(self, *, urgent: bool, key: str = "") -> AsyncIterator[None]:
        """Hold one of the ``limit`` connect slots for the body; freed however it ends."""
        await self._acquire(urgent, key)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool, key: str) -> None:
        # Background work waits behind every queued borrower; a borrower only behind others.
        ahead = self._urgent if urgent else self._urgent or self._background
        if self.in_flight < self.limit and not ahead:
            self._take()
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._urgent if urgent else self._background).append(fut)
        if not urgent:
            self._keys[fut] = key
        try:
            await fut
        except BaseException:
            self._keys.pop(fut, None)
            if fut.done() and not fut.cancelled():
                self._release()  # served, then cancelled before it ran: pass the slot on
            else:
                # Cancelled while queued (the acquire deadline, or the caller gave up); a
                # release may already have skipped it.
                for queue in (self._urgent, self._background):
                    with contextlib.suppress(ValueError):
                        queue.remove(fut)
            raise

    def promote(self, key: str) -> None:
        """A borrower waits for ``key``'s queued background fills: queue them as urgent."""
        if key not in self._keys.values():
            return
        moving = [f for f in self._background if self._keys.get(f) == key]
        for fut in moving:
            self._background.remove(fut)
            del self._keys[fut]
            self._urgent.append(fut)

    def _take(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.peak:
            self.peak = self.in_flight

    def _release(self) -> None:
        self.in_flight -= 1
        while self.in_flight < self.limit:
            queue = self._urgent or self._background
            if not queue:
                return
            fut = queue.popleft()
            self._keys.pop(fut, None)
            if fut.done():
                continue
            self._take()
            fut.set_result(None)

    def describe(self) -> str:
        return f"{self.in_flight}/{self.limit} in flight, {self.queued} queued"
