"""Acquire deadlines for every waiter of the pool behind one timer, not one timer per waiter.

An ``asyncio.timeout`` per waiter costs a timer handle, a heap push and a cancel for each
borrower that queues; with a thousand borrowers on one account that was a measurable share of
the pool's overhead. Deadlines are ``now + acquire_timeout``, so they mostly arrive in order:
those go on a deque (O(1)); the rare earlier one (a borrower queueing again after a failed
liveness check) goes on a heap. Entries of waiters served meanwhile are dropped lazily, and the
whole structure is compacted when they outnumber the live ones.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
_INF = float("inf")


class WaiterDeadlines(Generic[T]):
    """Calls ``on_expired([(future, tag), ...])`` with the not-yet-done futures whose
    deadline (on the loop's clock) has passed."""

    def __init__(self, on_expired: Callable[[list[tuple[asyncio.Future[T], object]]], None]):
        self._on_expired = on_expired
        self._ordered: deque[tuple[float, asyncio.Future[T], object]] = deque()
        self._heap: list[tuple[float, int, asyncio.Future[T], object]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = _INF
        self._check_at = 0  # len(self._ordered) at which arm() considers compacting

    def __len__(self) -> int:
        return len(self._ordered) + len(self._heap)

    def arm(self, deadline: float, fut: asyncio.Future[T], tag: object, live: int) -> None:
        """Watch ``fut`` until ``deadline``; ``live`` (how many still wait) drives compaction."""
        ordered = self._ordered
        # The common case, kept short (it runs for every borrower that queues): a deadline no
        # earlier than the last one. The timer is then already set for an earlier one: it is
        # always armed at or before the first live deadline.
        if ordered and ordered[-1][0] <= deadline and len(ordered) < self._check_at:
            ordered.append((deadline, fut, tag))
            return
        if len(ordered) + len(self._heap) > 64 + 4 * live:
            self._compact()
            ordered = self._ordered
        # Look again at the size after this many more entries (not at every arm).
        self._check_at = len(ordered) + 64 + 4 * live
        if not ordered or ordered[-1][0] <= deadline:
            ordered.append((deadline, fut, tag))
        else:
            heapq.heappush(self._heap, (deadline, next(self._seq), fut, tag))
        if deadline < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline
            self._timer = asyncio.get_running_loop().call_at(deadline, self._fire)

    def clear(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = _INF
        self._ordered.clear()
        self._heap.clear()

    def _compact(self) -> None:
        self._ordered = deque(item for item in self._ordered if not item[1].done())
        self._heap = [item for item in self._heap if not item[2].done()]
        heapq.heapify(self._heap)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = _INF
        loop = asyncio.get_running_loop()
        now = loop.time()
        expired: list[tuple[asyncio.Future[T], object]] = []
        ordered, heap = self._ordered, self._heap
        while ordered and ordered[0][0] <= now:
            _, fut, tag = ordered.popleft()
            if not fut.done():
                expired.append((fut, tag))
        while heap and heap[0][0] <= now:
            _, _, fut, tag = heapq.heappop(heap)
            if not fut.done():
                expired.append((fut, tag))
        if expired:
            self._on_expired(expired)
        while ordered and ordered[0][1].done():
            ordered.popleft()
        while heap and heap[0][2].done():
            heapq.heappop(heap)
        nxt = min(ordered[0][0] if ordered else _INF, heap[0][0] if heap else _INF)
        if nxt != _INF:
            self._timer_at = nxt
            self._timer = loop.call_at(nxt, self._fire)
