"""Borrowers who cannot be served at once: the queue, the acquire deadline, and cancellation.

Waiters of one account are served first-in first-out (``book.py`` hands them what frees up);
this layer is the borrower's side: queue, wait under one deadline that also covers connecting
and the liveness check, and leave the queue cleanly when cancelled or timed out.

Deadlines cost one timer per account, not one per waiter. Each waiter carries the time its
acquire began in the queue; with one ``acquire_timeout`` for all, the front of a FIFO queue
holds the earliest deadline, so the account's timer, when it fires, wakes the expired ones at
the front and moves on to the next. (A timer per waiter, then a deadline heap shared by all,
each cost a measurable share of a busy account's throughput.) Times are ``time.monotonic()``,
which is what asyncio's loops read, without a Python frame per reading.
"""

from __future__ import annotations

import asyncio
import traceback
from collections import deque
from time import monotonic
from typing import Any

from tgfleet.errors import PoolError, PoolTimeout
from tgfleet.pool.account import AccountEntry, Grant, Waiter
from tgfleet.pool.book import ACTIVE, CONNECTING
from tgfleet.pool.client import Connector
from tgfleet.pool.connection import PooledConnection
from tgfleet.pool.lease import Lease
from tgfleet.pool.network import PoolNetwork
from tgfleet.pool.stats import WAIT_FOLD_AT

_Future = asyncio.Future


class PoolWaiters(PoolNetwork):
    """``PoolNetwork`` plus the slow path of an acquire."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acquire_timeout = self.config.acquire_timeout

    async def _wait_turn(
        self,
        entry: AccountEntry,
        create_func: Connector | None,
        use_cache: bool,
        borrower: str | None,
        lease: Lease | None = None,
    ) -> PooledConnection:
        """Queue behind the account's waiters until served: the slow path's common case.

        Kept to the case of a 1,000 borrowers sharing 3 connections (the one that runs most):
        a returned connection is handed to the head of the queue with its bookkeeping done
        (``book.py``), so the woken borrower only takes it. Anything else it is given (a slot
        to connect, a connection to check) goes on to ``_acquire_slow`` under the same deadline.
        """
        started = monotonic()
        waiters = entry.waiters
        if not waiters:
            # With others queued it is not hopeless: whatever made it so failed them all.
            if not (entry.idle or entry.active or entry.connecting):
                self._refuse_hopeless(entry)
            self._queued[entry.phone] = entry
        # Queue up. No dispatch here: we just found nothing to take (or others queued first)
        # and nothing changed since; a release or close serves us.
        fut: asyncio.Future[Grant | None] = _Future()
        waiter = (fut, started)
        waiters.append(waiter)
        # Every waiter queued here starts later than those ahead of it: a timer already armed
        # is early enough.
        if entry.deadline_timer is None and self._acquire_timeout is not None:
            self._arm_deadline(entry, started + self._acquire_timeout)
        if entry.connecting and self._gate is not None and self._gate.queued:
            # What we wait for may be a keep_online fill queued behind the fleet.
            self._gate.promote(entry.phone)
        try:
            grant = await fut
        except BaseException:
            self._leave_queue(entry, waiter)
            raise
        if grant is None:  # the deadline passed first
            raise self._timeout_error(entry, monotonic() - started)
        # A hand-over (in use a moment ago) is ready; anything else, or a borrower whose stack
        # is wanted for leak reports, goes the long way.
        if (
            grant.state is ACTIVE
            and use_cache
            and not grant.needs_check
            and self._leak_threshold is None
        ):
            grant.borrower = borrower
            pending = self._counters.pending_waits  # record_wait(), inlined
            pending.append(monotonic() - started)
            if len(pending) >= WAIT_FOLD_AT:
                self._counters.fold()
            if lease is not None:
                lease._conn = grant
                lease._generation = grant.generation
            return grant
        return await self._acquire_slow(
            entry, grant, create_func, use_cache, borrower, lease, started
        )

    async def _acquire_slow(
        self,
        entry: AccountEntry,
        grant: Grant | None,
        create_func: Connector | None,
        use_cache: bool,
        borrower: str | None,
        lease: Lease | None = None,
        started: float | None = None,
    ) -> PooledConnection:
        """Wait, connect or check, all under one deadline (DESIGN guarantee 4), which runs
        from ``started`` (``time.monotonic()``) when the acquire began earlier."""
        connector = create_func or self._connector
        if started is None:
            started = monotonic()
        timeout = self._acquire_timeout
        deadline = None if timeout is None else started + timeout
        try:
            while True:
                if grant is None:
                    if not (entry.idle or entry.active or entry.connecting):
                        self._refuse_hopeless(entry)
                    fut: asyncio.Future[Grant | None] = _Future()
                    waiter: Waiter = (fut, started)
                    self._requeue(entry, waiter, deadline)
                    if entry.connecting and self._gate is not None and self._gate.queued:
                        self._gate.promote(entry.phone)
                    try:
                        grant = await fut
                    except BaseException:
                        self._leave_queue(entry, waiter)
                        raise
                    if grant is None:  # the deadline passed first
                        raise self._timeout_error(entry, monotonic() - started)
                if grant.state is ACTIVE:
                    grant.borrower = borrower
                    if self._leak_threshold is not None:  # lent or handed over: our stack
                        grant.borrower_stack = "".join(traceback.format_stack(limit=16))
                if grant.state is CONNECTING:
                    if connector is None:
                        self._release_reservation(entry, grant)
                        raise PoolError(
                            f"account {entry.phone}: no connector to open a connection: pass "
                            "create_func or ConnectionPool(connector=...)"
                        )
                    async with asyncio.timeout(_left(deadline)):
                        conn: PooledConnection | None = await self._fill(
                            entry, grant, connector, borrower
                        )
                else:
                    conn = grant
                    if not use_cache or conn.needs_check:
                        async with asyncio.timeout(_left(deadline)):
                            if not await self._check(entry, conn):
                                conn = None
                if conn is not None:
                    self._counters.record_wait(monotonic() - started)
                    if lease is not None:
                        lease._conn = conn
                        lease._generation = conn.generation
                    return conn
                grant = None
                if not entry.waiters:
                    grant = self._take(entry, self._clock(), borrower)
        except PoolTimeout:
            raise
        except TimeoutError:
            raise self._timeout_error(entry, monotonic() - started) from None

    def _refuse_hopeless(self, entry: AccountEntry) -> None:
        """Raise instead of waiting when nothing could ever serve this borrower."""
        error = self._hopeless(entry)
        if error is not None:
            raise error

    def _timeout_error(self, entry: AccountEntry, waited: float) -> PoolTimeout:
        entry.timeouts += 1
        self._counters.total_timeouts += 1
        busy = len(entry.active)
        waiting = len(entry.waiters) + 1  # counting this borrower, who has just left the queue
        limit = entry.limit(self.config.max_connections_per_account)
        extra = ""
        if self._counters.size >= self.config.max_total_connections:
            extra = f"; the fleet is full (pool.max_total_connections={self._counters.size})"
        gate = self._gate
        if gate is not None and gate.in_flight >= gate.limit:
            extra += (
                f"; fleet-wide connects {gate.describe()} "
                f"(pool.max_concurrent_connects={gate.limit})"
            )
        message = (
            f"account {entry.phone}: {busy} of {limit} connections busy, {len(entry.idle)} "
            f"idle, {entry.connecting} connecting, {waiting} waiting; waited {waited:.1f} s "
            f"(pool.acquire_timeout){extra}"
        )
        self._emit("timeout", entry.phone, None, "acquire_timeout", waited=waited, busy=busy)
        return PoolTimeout(message, phone=entry.phone, waited=waited, busy=busy, waiting=waiting)

    def _requeue(self, entry: AccountEntry, waiter: Waiter, deadline: float | None) -> None:
        """Queue a borrower that keeps the deadline of an acquire begun earlier: it may be
        earlier than those it queues behind, and the account's timer must not miss it."""
        waiters = entry.waiters
        if not waiters:
            self._queued[entry.phone] = entry
        elif waiters[-1][1] > waiter[1]:
            entry.deadlines_unordered = True
        waiters.append(waiter)
        timer = entry.deadline_timer
        if deadline is not None and (timer is None or entry.deadline_at > deadline):
            if timer is not None:
                timer.cancel()
            self._arm_deadline(entry, deadline)

    def _arm_deadline(self, entry: AccountEntry, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        entry.deadline_at = deadline
        # call_later, not call_at: deadlines are on time.monotonic(), whatever the loop's clock.
        entry.deadline_timer = loop.call_later(deadline - monotonic(), self._expire_waiters, entry)

    def _leave_queue(self, entry: AccountEntry, waiter: Waiter) -> None:
        """A waiter was cancelled: leave the queue, or pass on what it was just given."""
        fut = waiter[0]
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            granted = fut.result()
            if granted is not None:
                # Served, then cancelled before it could run: give the grant back.
                self._undo_grant(entry, granted)
        elif not fut.done() or fut.cancelled():
            self._drop_waiter(entry, waiter)

    def _expire_waiters(self, entry: AccountEntry) -> None:
        """The account's deadline timer: wake the waiters whose deadline passed with None
        ("your deadline passed"), then arm the timer for the next deadline."""
        entry.deadline_timer = None
        timeout = self._acquire_timeout
        if timeout is None:
            return
        cutoff = monotonic() - timeout  # a waiter that began at or before it has expired
        waiters = entry.waiters
        if entry.deadlines_unordered:
            # One pass over the queue, not a deque.remove() per waiter: a thousand waiters
            # timing out together must not cost a million steps.
            kept: deque[Waiter] = deque()
            for waiter in waiters:
                fut, began = waiter
                if fut.done():
                    continue  # cancelled; its owner's cleanup finds it gone
                if began <= cutoff:
                    fut.set_result(None)
                else:
                    kept.append(waiter)
            entry.waiters = waiters = kept
            starts = [began for _, began in kept]
            entry.deadlines_unordered = starts != sorted(starts)
            earliest = min(starts, default=None)
        else:
            while waiters:
                fut, began = waiters[0]
                if not fut.done():
                    if began > cutoff:
                        break
                    fut.set_result(None)
                waiters.popleft()
            earliest = waiters[0][1] if waiters else None
        if earliest is not None:
            self._arm_deadline(entry, earliest + timeout)
        self._dispatch(entry)  # a deadline may have freed the head of the queue

    def _cancel_deadline_timers(self) -> None:
        for entry in self._accounts.values():
            if entry.deadline_timer is not None:
                entry.deadline_timer.cancel()
                entry.deadline_timer = None

    def _drop_waiter(self, entry: AccountEntry, waiter: Waiter) -> None:
        try:
            entry.waiters.remove(waiter)
        except ValueError:
            return
        # Its leaving may unblock the next one (it may have been the head of the queue).
        self._dispatch(entry)

    def _undo_grant(self, entry: AccountEntry, grant: Grant) -> None:
        if grant.state is CONNECTING:
            self._release_reservation(entry, grant)
        elif grant.state is ACTIVE:
            grant.unused_grants += 1
            self._release(grant, grant.generation, True, None, True)


def _left(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (``time.monotonic()``), for ``asyncio.timeout``."""
    return None if deadline is None else deadline - monotonic()
