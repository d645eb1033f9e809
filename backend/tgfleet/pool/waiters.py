"""Borrowers who cannot be served at once: the queue, the acquire deadline, and cancellation.

Waiters of one account are served first-in first-out (``book.py`` hands them what frees up);
this layer is the borrower's side: queue, wait under one deadline that also covers connecting
and the liveness check, and leave the queue cleanly when cancelled or timed out.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from tgfleet.errors import PoolError, PoolTimeout
from tgfleet.pool.account import AccountEntry, Grant
from tgfleet.pool.book import ACTIVE, CONNECTING
from tgfleet.pool.client import Connector
from tgfleet.pool.connection import PooledConnection
from tgfleet.pool.deadlines import WaiterDeadlines
from tgfleet.pool.lease import Lease
from tgfleet.pool.network import PoolNetwork


class PoolWaiters(PoolNetwork):
    """``PoolNetwork`` plus the slow path of an acquire."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadlines: WaiterDeadlines[Grant | None] = WaiterDeadlines(self._expire_waiters)
        self._acquire_timeout = self.config.acquire_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_time: Callable[[], float] = time.monotonic

    def _use_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deadlines run on the loop's clock. asyncio's own loops read ``time.monotonic()``;
        calling it directly saves a Python frame per reading (twice per queued borrower)."""
        self._loop = loop
        std = type(loop).time is asyncio.BaseEventLoop.time
        self._loop_time = time.monotonic if std else loop.time

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
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._use_loop(loop)
        loop_time = self._loop_time
        started = loop_time()
        waiters = entry.waiters
        # With others queued it is not hopeless: whatever made it so failed them all.
        if not waiters and not (entry.idle or entry.active or entry.connecting):
            self._refuse_hopeless(entry)
        # Queue up. No dispatch here: we just found nothing to take (or others queued first)
        # and nothing changed since; a release or close serves us.
        # (asyncio.Future directly: loop.create_future() is a Python-level call)
        fut: asyncio.Future[Grant | None] = asyncio.Future(loop=loop)
        waiters.append(fut)
        counters = self._counters
        counters.waiting += 1
        timeout = self._acquire_timeout
        if timeout is not None:
            self._deadlines.arm(started + timeout, fut, entry, counters.waiting)
        if entry.connecting and self._gate is not None and self._gate.queued:
            # What we wait for may be a keep_online fill queued behind the fleet.
            self._gate.promote(entry.phone)
        try:
            grant = await fut
        except BaseException:
            self._leave_queue(entry, fut)
            raise
        if grant is None:  # the deadline passed first
            raise self._timeout_error(entry, loop_time() - started)
        if grant.state is ACTIVE:
            grant.borrower = borrower
            if self._leak_threshold is not None:  # handed over: our stack
                grant.borrower_stack = "".join(traceback.format_stack(limit=16))
            # needs_check: it failed mid-request, or sat idle past the skip window (``_take``
            # decided that); a hand-over was in use a moment ago.
            if use_cache and not grant.needs_check:
                counters.record_wait(loop_time() - started)
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
        from ``started`` (on the loop's clock) when the acquire began earlier."""
        connector = create_func or self._connector
        loop = asyncio.get_running_loop()
        if started is None:
            started = loop.time()
        timeout = self._acquire_timeout
        deadline = None if timeout is None else started + timeout
        try:
            while True:
                if grant is None:
                    if not (entry.idle or entry.active or entry.connecting):
                        self._refuse_hopeless(entry)
                    fut: asyncio.Future[Grant | None] = asyncio.Future(loop=loop)
                    entry.waiters.append(fut)
                    self._counters.waiting += 1
                    if deadline is not None:
                        self._deadlines.arm(deadline, fut, entry, self._counters.waiting)
                    if entry.connecting and self._gate is not None and self._gate.queued:
                        self._gate.promote(entry.phone)
                    try:
                        grant = await fut
                    except BaseException:
                        self._leave_queue(entry, fut)
                        raise
                    if grant is None:  # the deadline passed first
                        raise self._timeout_error(entry, loop.time() - started)
                    if grant.state is ACTIVE:
                        grant.borrower = borrower
                        if self._leak_threshold is not None:  # handed over: our stack
                            grant.borrower_stack = "".join(traceback.format_stack(limit=16))
                if grant.state is CONNECTING:
                    if connector is None:
                        self._release_reservation(entry, grant)
                        raise PoolError(
                            f"account {entry.phone}: no connector to open a connection: pass "
                            "create_func or ConnectionPool(connector=...)"
                        )
                    async with asyncio.timeout_at(deadline):
                        conn: PooledConnection | None = await self._fill(
                            entry, grant, connector, borrower
                        )
                else:
                    conn = grant
                    if not use_cache or conn.needs_check:
                        async with asyncio.timeout_at(deadline):
                            if not await self._check(entry, conn):
                                conn = None
                if conn is not None:
                    self._counters.record_wait(loop.time() - started)
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
            raise self._timeout_error(entry, loop.time() - started) from None

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

    def _leave_queue(self, entry: AccountEntry, fut: asyncio.Future[Grant | None]) -> None:
        """A waiter was cancelled: leave the queue, or pass on what it was just given."""
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            granted = fut.result()
            if granted is not None:
                # Served, then cancelled before it could run: give the grant back.
                self._undo_grant(entry, granted)
        elif not fut.done() or fut.cancelled():
            self._drop_waiter(entry, fut)

    def _expire_waiters(self, expired: list[tuple[asyncio.Future[Grant | None], object]]) -> None:
        """Deadlines passed: wake those waiters with None ("your deadline passed")."""
        touched: dict[str, AccountEntry] = {}
        for fut, tag in expired:
            assert isinstance(tag, AccountEntry)
            fut.set_result(None)
            touched[tag.phone] = tag
        for entry in touched.values():
            # One pass per account, not one deque.remove() per waiter: a thousand waiters
            # timing out together must not cost a million steps.
            before = len(entry.waiters)
            entry.waiters = deque(f for f in entry.waiters if not f.done())
            self._counters.waiting -= before - len(entry.waiters)
            self._dispatch(entry)  # a deadline may have freed the head of the queue

    def _drop_waiter(self, entry: AccountEntry, fut: asyncio.Future[Grant | None]) -> None:
        try:
            entry.waiters.remove(fut)
        except ValueError:
            return
        self._counters.waiting -= 1
        # Its leaving may unblock the next one (it may have been the head of the queue).
        self._dispatch(entry)

    def _undo_grant(self, entry: AccountEntry, grant: Grant) -> None:
        if grant.state is CONNECTING:
            self._release_reservation(entry, grant)
        elif grant.state is ACTIVE:
            grant.use_count -= 1
            self._release(grant, grant.generation, True, None, True)
