"""Taking borrowed connections back: hand to the next waiter, put idle, or close.

Synchronous like the rest of the bookkeeping (``book.py``): a return runs to the end before
anything else does, so a cancelled borrower can never leave it half done.
"""

from __future__ import annotations

import asyncio
import heapq

from tgfleet.pool.account import AccountEntry
from tgfleet.pool.book import ACTIVE, IDLE, PoolBook
from tgfleet.pool.connection import PooledConnection


class PoolReturns(PoolBook):
    """``PoolBook`` plus the return of a borrowed connection."""

    def _give_back(self, conn: PooledConnection, generation: int) -> None:
        """``_release`` of a borrow that went well, without its generality: this runs on every
        return. The first waiter gets the connection straight away (FIFO, no idle detour, with
        the bookkeeping done here so that the woken borrower only takes it); without waiters
        it goes idle. With events or leak reports to make, it is ``_release``.

        A hand-over reads no clock: a connection past its age while borrowed is marked by the
        sweeper (``retire_reason``) and closes at its next return; one going idle is checked
        here, as ``_release`` does.
        """
        if conn.state is not ACTIVE or generation != conn.generation:
            return
        if not (self._plain and conn.retire_reason is None and self._open):
            self._release(conn, generation, True, None)
            return
        entry = self._accounts[conn.phone]
        waiters = entry.waiters
        while waiters:
            fut = waiters.popleft()[0]
            if fut.done():
                continue  # cancelled; its owner's cleanup finds it gone
            conn.generation = generation + 1
            self._counters.total_reused += 1
            fut.set_result(conn)  # the borrower sets itself as conn.borrower
            return
        now = self._clock()
        if now < conn.expires_at:
            self._put_idle(entry, conn, now)
        else:
            self._release(conn, generation, True, None)

    def _release(
        self,
        conn: PooledConnection,
        generation: int | None,
        keep_alive: bool,
        failure: BaseException | None,
        quiet: bool = False,
    ) -> bool:
        """Take a borrowed connection back: hand it to the next waiter, put it idle or close
        it. Idempotent."""
        if conn.state is not ACTIVE or (generation is not None and generation != conn.generation):
            return False
        entry = self._accounts[conn.phone]
        now = self._clock()
        if not quiet and self._borrow_events:
            self._emit("returned", conn.phone, conn.authorization_id, "returned")
        if (
            keep_alive
            and failure is None
            and conn.retire_reason is None
            and now < conn.expires_at
            and self._open
        ):
            if not (entry.waiters and self._hand_over(entry, conn, now)):
                self._put_idle(entry, conn, now)
            return True
        reason = None
        if not keep_alive:
            reason = "not_kept_alive"
        elif isinstance(failure, asyncio.CancelledError):
            reason = "cancelled_mid_request"
        elif conn.retire_reason is not None:
            reason = conn.retire_reason
        elif now >= conn.expires_at:
            reason = "max_age"
        elif not self._open:
            reason = "pool_stopping"
        if failure is not None and reason is None:
            conn.needs_check = True
            conn.error_count += 1
            conn.last_error = repr(failure)
        if reason is not None:
            if reason == "max_age":
                self._counters.evictions["max_age"] += 1
            self._retire(entry, conn, reason)
            return True
        self._put_idle(entry, conn, now)
        return True

    def _hand_over(self, entry: AccountEntry, conn: PooledConnection, now: float) -> bool:
        """Lend a returned connection straight to the first waiter (FIFO, no idle detour),
        with the bookkeeping done here so that the woken borrower only takes it."""
        waiters = entry.waiters
        counters = self._counters
        while waiters:
            fut = waiters.popleft()[0]
            if fut.done():
                continue  # cancelled; its owner's cleanup finds it gone
            conn.generation += 1
            conn.borrowed_at = now
            counters.total_reused += 1
            if self._leak_threshold is not None:
                conn.leak_reported = False
                heapq.heappush(
                    self._leak_heap,
                    (now + self._leak_threshold, conn.serial, conn.generation, conn),
                )
            if self._borrow_events:
                self._emit("reused", entry.phone, conn.authorization_id, "handed_over")
            fut.set_result(conn)
            return True
        return False

    def _put_idle(self, entry: AccountEntry, conn: PooledConnection, now: float) -> None:
        del entry.active[conn.serial]
        counters = self._counters
        counters.active -= 1
        conn.state = IDLE
        conn.borrower = None
        conn.borrower_stack = None
        conn.last_used = now
        entry.idle[conn.serial] = conn
        if not conn.pinned:
            self._idle_lru[conn.serial] = conn
        counters.idle += 1
        if self._borrowed_gone is not None:
            self._after_count_change()
        if entry.waiters:
            self._dispatch(entry)
        elif self._global_blocked:
            self._dispatch_global()
