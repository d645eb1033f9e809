"""The keyed connection pool: up to N clients per account, one per authorization.

``ConnectionPool`` is the public interface (the seed's names and ``acquire``), start and stop.
Its work is layered over a few modules, each building on the one before:

- ``book.py``: the state and the synchronous decisions (the critical section);
- ``returns.py``: taking borrowed connections back (hand over, put idle, close);
- ``network.py``: connect, liveness check, close, keep_online / min_idle fills;
- ``waiters.py``: the queue, the acquire deadline, cancellation;
- ``sweeper.py``: idle and age expiry, leak reports.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from tgfleet.errors import PoolClosed, PoolError
from tgfleet.pool.account import AccountEntry, Grant
from tgfleet.pool.book import ACTIVE, CONNECTING, IDLE, log
from tgfleet.pool.client import Connector
from tgfleet.pool.config import PoolConfig
from tgfleet.pool.connection import ConnectionInfo, PooledConnection
from tgfleet.pool.events import EventCallback
from tgfleet.pool.lease import Lease
from tgfleet.pool.sweeper import PoolSweeper


class ConnectionPool(PoolSweeper):
    """Per-account pools of clients, one client per authorization, under a global limit.

    Borrow with ``async with pool.acquire(phone) as conn`` (or the seed's
    ``get_connection`` / ``return_connection``); ``start()`` runs the sweeper and the
    keep_online connections, ``stop()`` drains. See DESIGN.md, "The pool contract".
    """

    # --- lifecycle ------------------------------------------------------------------------

    def __init__(
        self,
        config: PoolConfig | None = None,
        *,
        connector: Connector | None = None,
        clock: Callable[[], float] = time.monotonic,
        event_callback: EventCallback | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(
            config, connector=connector, clock=clock, event_callback=event_callback, rng=rng
        )
        self._drained: asyncio.Event | None = None

    async def start(self) -> None:
        """Start the sweeper and the keep_online / min_idle connections. Borrowing works
        before ``start()`` too; only the background work waits for it."""
        if self._phase != "new":
            raise PoolError(f"the pool cannot start: it is {self._phase}")
        self._phase = "running"
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="tgfleet-pool-sweeper")
        self._top_up_all()

    async def stop(self, *, drain_timeout: float | None = None) -> None:
        """Refuse new borrowers, fail the waiters, close idle connections, wait up to
        ``drain_timeout`` for borrowed ones to come back (they close on return), then close
        whatever is left. Nothing the pool started is running when this returns."""
        if self._phase in ("stopping", "stopped"):
            if self._drained is not None:
                await self._drained.wait()
            return
        self._phase = "stopping"
        self._open = False
        self._drained = asyncio.Event()
        began = time.monotonic()
        closed_before = self._counters.total_closed
        try:
            if self._sweeper is not None:
                self._sweeper.cancel()
                await asyncio.gather(self._sweeper, return_exceptions=True)
            for entry in list(self._accounts.values()):
                self._fail_waiters(entry, lambda p: PoolClosed(f"account {p}: the pool stopped"))
                for conn in list(entry.idle.values()):
                    self._retire(entry, conn, "pool_stopping")
            self._global_blocked.clear()
            self._needs_fill.clear()
            timeout = self.config.drain_timeout if drain_timeout is None else drain_timeout
            if self._counters.active or self._counters.connecting:
                self._borrowed_gone = asyncio.Event()
                try:
                    async with asyncio.timeout(timeout):
                        await self._borrowed_gone.wait()
                except TimeoutError:
                    log.warning(
                        "pool drain: %d connections still borrowed after %.1f s; closing them",
                        self._counters.active,
                        timeout,
                    )
                for entry in list(self._accounts.values()):
                    for conn in list(entry.active.values()):
                        self._retire(entry, conn, "drain_timeout")
            # Closes (and keep-online connects) get their own bounded grace; what still hangs
            # after it is cancelled, so that no task of the pool outlives stop().
            grace = max(timeout, 1.0)
            if self._tasks:
                _, pending = await asyncio.wait(list(self._tasks), timeout=grace)
                for task in pending:
                    task.cancel()
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        finally:
            self._cancel_deadline_timers()
            self._phase = "stopped"
            self._drained.set()
            # the line an operator looks for after a SIGTERM: did the drain finish, and how fast
            log.info(
                "pool drained: %d connections closed in %.2f s",
                self._counters.total_closed - closed_before,
                time.monotonic() - began,
            )

    async def terminate(self) -> None:
        """Like ``stop()`` but closes borrowed connections at once instead of waiting."""
        await self.stop(drain_timeout=0)

    async def aclose(self) -> None:
        await self.stop()

    @property
    def closed(self) -> bool:
        return self._phase in ("stopping", "stopped")

    # --- accounts -------------------------------------------------------------------------

    def set_account(
        self, phone: str, *, authorizations: Iterable[str], keep_online: bool = False
    ) -> None:
        """Tell the pool which authorizations ``phone`` may use now (oldest first).

        A connection on an authorization no longer listed is closed now if idle, on return if
        borrowed. An empty list takes the account out of service: its waiters get
        ``NoAuthorizationAvailable``.
        """
        entry = self._entry(phone)
        entry.registered = True
        entry.authorizations = list(dict.fromkeys(authorizations))
        kept = set(entry.authorizations)
        for conn in list(entry.bound.values()):
            if conn.authorization_id in kept:
                continue
            if conn.state is IDLE:
                self._retire(entry, conn, "authorization_removed")
            else:
                conn.retire_reason = "authorization_removed"
        self.set_keep_online(phone, keep_online)
        self._dispatch(entry)

    def set_keep_online(self, phone: str, keep_online: bool) -> None:
        """Pin one connection of ``phone`` up (exempt from the idle sweep and eviction), so
        the account keeps receiving updates (DESIGN fact 3)."""
        entry = self._entry(phone)
        entry.keep_online = keep_online
        pinned = entry.pinned
        if not keep_online:
            if pinned is not None:
                pinned.pinned = False
                entry.pinned = None
                if pinned.state is IDLE:
                    pinned.last_used = self._clock()  # keeps _idle_lru sorted by last use
                    self._idle_lru[pinned.serial] = pinned
            self._top_up(entry)  # min_idle_per_account may still want some
            return
        if pinned is None:
            live = [c for c in entry.bound.values() if c.state in (IDLE, ACTIVE)]
            live.sort(key=lambda c: (c.state is not IDLE, c.serial))
            if live:
                self._pin(entry, live[0])
        self._top_up(entry)

    def set_borrow_events(self, on: bool) -> None:
        """Whether the event callback gets ``reused`` and ``returned``, one of each per borrow
        (on by default when there is a callback). Off, every borrow takes the short path: the
        daemon turns them on only while an event stream wants them."""
        self._set_borrow_events(on)

    # --- borrowing ------------------------------------------------------------------------

    def acquire(
        self,
        phone: str,
        create_func: Connector | None = None,
        *,
        use_cache: bool = True,
        borrower: str | None = None,
    ) -> Lease:
        """``async with pool.acquire(phone) as conn:``; the connection always goes back.

        If the body fails, the connection is checked before its next use; if the body is
        cancelled, it is closed (a cancelled request may have left bytes on the wire).
        """
        return Lease(self, phone, create_func, use_cache, borrower)

    async def get_connection(
        self,
        phone: str,
        create_func: Connector | None = None,
        use_cache: bool = True,
        *,
        borrower: str | None = None,
    ) -> PooledConnection:
        """Borrow a connection; give it back with ``return_connection``.

        ``use_cache=False`` lends nothing unchecked: the connection passes ``is_alive()`` even
        if it was used a moment ago. Raises ``PoolTimeout``, ``PoolClosed``, ``ConnectFailed``,
        ``NoAuthorizationAvailable`` or what the connector raised as a ``TgfleetError``.
        """
        entry, grant, ready = self._begin(phone, use_cache, borrower)
        if ready:
            assert grant is not None
            return grant
        if grant is None:
            return await self._wait_turn(entry, create_func, use_cache, borrower)
        return await self._acquire_slow(entry, grant, create_func, use_cache, borrower)

    async def return_connection(
        self, phone: str, conn: PooledConnection, keep_alive: bool = True
    ) -> None:
        """Give a borrowed connection back.

        A second return does nothing while the connection sits idle or is closed. Once it is
        lent again (to a waiter, at once, if one was queued) a second return would give back
        the new borrower's: the seed interface hands out the connection itself, with nothing
        to tell one borrow from the next. ``async with pool.acquire()`` does not have this
        hazard: its lease knows its borrow.

        The bookkeeping runs before the first ``await``, so a cancelled caller cannot leave it
        half done, and the close (if any) runs in a task the pool owns.
        """
        if conn.phone != phone:
            raise ValueError(f"connection {conn!r} belongs to {conn.phone}, not {phone}")
        if keep_alive:
            self._give_back(conn, conn.generation)
        else:
            self._release(conn, None, False, None)

    async def close_connection(self, phone: str, conn: PooledConnection) -> None:
        """Close one connection now, borrowed or not; its borrower's return then does nothing."""
        entry = self._accounts.get(phone)
        if entry is None or conn.phone != phone:
            return
        if conn.state is CONNECTING:
            conn.retire_reason = "closed_by_request"
            return
        task = self._retire(entry, conn, "closed_by_request")
        if task is not None:
            await asyncio.shield(task)

    async def close_all_for_account(self, phone: str) -> int:
        """Close the account's idle connections now and its borrowed ones on return; waits
        for the idle ones to be closed. Returns how many connections were affected."""
        entry = self._accounts.get(phone)
        if entry is None:
            return 0
        tasks: list[asyncio.Task[None]] = []
        count = 0
        for conn in list(entry.bound.values()):
            if conn.state is IDLE:
                task = self._retire(entry, conn, "closed_by_request")
                if task is not None:
                    tasks.append(task)
                count += 1
            elif conn.state in (ACTIVE, CONNECTING):
                conn.retire_reason = "closed_by_request"
                count += 1
        if tasks:
            await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))
        return count

    def _begin(
        self,
        phone: str,
        use_cache: bool,
        borrower: str | None,
        entry: AccountEntry | None = None,
    ) -> tuple[AccountEntry, Grant | None, bool]:
        """The synchronous first step of every acquire: (entry, grant, ready to hand out).

        Kept out of a coroutine so that the common case (an idle connection used a moment
        ago) costs no extra coroutine frame; the rest is ``_acquire_slow``.
        """
        if not self._open:
            raise PoolClosed(f"account {phone}: the pool is {self._phase}")
        if entry is None:  # (the caller may have looked it up already)
            entry = self._entry(phone)
        grant: Grant | None = None
        if not entry.waiters:  # FIFO: a newcomer never overtakes a waiter
            now = self._clock()
            grant = self._take(entry, now, borrower)
            if grant is not None and grant.state is ACTIVE and use_cache and not grant.needs_check:
                self._counters.record_wait(0.0)
                return entry, grant, True
            return entry, grant, False
        return entry, grant, False

    # --- observation ----------------------------------------------------------------------

    def get_pool_stats(self, phone: str | None = None) -> dict[str, Any]:
        """Global stats (O(1) apart from the wait percentiles' window), or one account's."""
        if phone is not None:
            entry = self._accounts.get(phone)
            if entry is None:
                return AccountEntry(phone, []).stats()
            return entry.stats()
        stats = self._counters.as_dict(self.config.max_total_connections, self._waiting())
        stats["accounts"] = len(self._accounts)
        stats["state"] = self._phase
        gate = self._gate
        stats["connects"] = {
            "limit": None if gate is None else gate.limit,
            "in_flight": None if gate is None else gate.in_flight,
            "queued": 0 if gate is None else gate.queued,
            "peak_in_flight": None if gate is None else gate.peak,
        }
        return stats

    def _waiting(self) -> int:
        """Borrowers queued, fleet-wide: counted over the accounts that had a queue."""
        queued = self._queued
        total = 0
        for phone, entry in list(queued.items()):
            if entry.waiters:
                total += len(entry.waiters)
            else:
                del queued[phone]
        return total

    def connections(self) -> list[ConnectionInfo]:
        """A snapshot of every live connection (scans the fleet: for the API, not hot paths)."""
        now = self._clock()
        return [
            ConnectionInfo.of(conn, now)
            for entry in self._accounts.values()
            for conn in entry.bound.values()
        ]

    def __repr__(self) -> str:
        c = self._counters
        return (
            f"<ConnectionPool {self._phase} size={c.size}/{self.config.max_total_connections} "
            f"idle={c.idle} active={c.active} connecting={c.connecting} closing={c.closing} "
            f"waiting={self._waiting()} created={c.total_created} reused={c.total_reused} "
            f"closed={c.total_closed} errors={c.total_errors} timeouts={c.total_timeouts}>"
        )
