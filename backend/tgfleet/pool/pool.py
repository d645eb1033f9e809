"""The keyed connection pool: up to N clients per account, one per authorization.

Bookkeeping is plain synchronous code. In asyncio, code between two ``await``s runs without
interruption, so every method below that does not await *is* the pool's critical section: it
decides (which connection to lend, which to close, which waiter to wake) and edits counters,
and it never does network I/O. The network work (the connector, ``is_alive()``,
``disconnect()``) runs afterwards, outside it, so one slow account never stalls another.

An account never registered with ``set_account`` is treated as having exactly one
authorization whose id is its phone: a pool of 1 (DESIGN fact 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Iterable
from types import MappingProxyType
from typing import Any, Literal

from tgfleet.errors import (
    ConnectFailed,
    NoAuthorizationAvailable,
    PoolClosed,
    PoolError,
    PoolTimeout,
    TgfleetError,
)
from tgfleet.pool.account import AccountEntry, Grant
from tgfleet.pool.client import Connector, PoolClient
from tgfleet.pool.config import PoolConfig
from tgfleet.pool.connection import ConnectionInfo, ConnectionState, PooledConnection
from tgfleet.pool.deadlines import WaiterDeadlines
from tgfleet.pool.events import EventCallback, EventKind, PoolEvent
from tgfleet.pool.gate import ConnectGate
from tgfleet.pool.lease import Lease
from tgfleet.pool.stats import PoolCounters

log = logging.getLogger(__name__)

IDLE = ConnectionState.IDLE
ACTIVE = ConnectionState.ACTIVE
CONNECTING = ConnectionState.CONNECTING
DISCONNECTED = ConnectionState.DISCONNECTED
ERROR = ConnectionState.ERROR

_Phase = Literal["new", "running", "stopping", "stopped"]


class ConnectionPool:
    def __init__(
        self,
        config: PoolConfig | None = None,
        *,
        connector: Connector | None = None,
        clock: Callable[[], float] = time.monotonic,
        event_callback: EventCallback | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config if config is not None else PoolConfig()
        self._connector = connector
        self._clock = clock
        self._callback = event_callback
        self._rng = rng if rng is not None else random.Random()
        self._lru = self.config.reuse_order == "lru"
        self._accounts: dict[str, AccountEntry] = {}
        # Evictable idle connections of every account, least recently returned first. Since
        # max_idle_time is one number, this is also the order in which they expire idle.
        self._idle_lru: OrderedDict[int, PooledConnection] = OrderedDict()
        # (expires_at, serial, conn): pushed once per connection, stale entries skipped.
        self._age_heap: list[tuple[float, int, PooledConnection]] = []
        # (deadline, serial, generation, conn): pushed per borrow when leak detection is on.
        self._leak_heap: list[tuple[float, int, int, PooledConnection]] = []
        # Accounts whose next waiter could open a connection but for the global limit, FIFO.
        self._global_blocked: OrderedDict[str, None] = OrderedDict()
        # Accounts below their keep_online / min_idle target; the sweeper retries them.
        self._needs_fill: set[str] = set()
        self._counters = PoolCounters(window=self.config.wait_window)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._phase: _Phase = "new"
        self._open = True  # False once stop() began; read on every acquire
        self._skip_window = self.config.liveness_skip_window
        self._leak_threshold = self.config.leak_detection_threshold
        self._deadlines: WaiterDeadlines[Grant | None] = WaiterDeadlines(self._expire_waiters)
        self._drained: asyncio.Event | None = None
        self._borrowed_gone: asyncio.Event | None = None
        limit = self.config.max_concurrent_connects
        self._gate = ConnectGate(limit) if limit is not None else None

    # --- lifecycle ------------------------------------------------------------------------

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
            self._deadlines.clear()
            self._phase = "stopped"
            self._drained.set()

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

    def _pin(self, entry: AccountEntry, conn: PooledConnection) -> None:
        conn.pinned = True
        entry.pinned = conn
        self._idle_lru.pop(conn.serial, None)

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
        return await self._acquire_slow(entry, grant, create_func, use_cache, borrower)

    async def return_connection(
        self, phone: str, conn: PooledConnection, keep_alive: bool = True
    ) -> None:
        """Give a borrowed connection back; a second return of the same borrow does nothing.

        The bookkeeping runs before the first ``await``, so a cancelled caller cannot leave it
        half done, and the close (if any) runs in a task the pool owns.
        """
        if conn.phone != phone:
            raise ValueError(f"connection {conn!r} belongs to {conn.phone}, not {phone}")
        self._release(conn, None, keep_alive, None)

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
        self, phone: str, use_cache: bool, borrower: str | None
    ) -> tuple[AccountEntry, Grant | None, bool]:
        """The synchronous first step of every acquire: (entry, grant, ready to hand out).

        Kept out of a coroutine so that the common case (an idle connection used a moment
        ago) costs no extra coroutine frame; the rest is ``_acquire_slow``.
        """
        if not self._open:
            raise PoolClosed(f"account {phone}: the pool is {self._phase}")
        entry = self._accounts.get(phone)
        if entry is None:
            entry = self._entry(phone)
        grant: Grant | None = None
        if not entry.waiters:  # FIFO: a newcomer never overtakes a waiter
            now = self._clock()
            grant = self._take(entry, now, borrower)
            if (
                grant is not None
                and grant.state is ACTIVE
                and use_cache
                and not grant.needs_check
                and now - grant.last_used < self._skip_window
            ):
                self._counters.record_wait(0.0)
                return entry, grant, True
            return entry, grant, False
        return entry, grant, False

    async def _acquire_slow(
        self,
        entry: AccountEntry,
        grant: Grant | None,
        create_func: Connector | None,
        use_cache: bool,
        borrower: str | None,
        lease: Lease | None = None,
    ) -> PooledConnection:
        """Wait, connect or check, all under one deadline (DESIGN guarantee 4)."""
        connector = create_func or self._connector
        loop = asyncio.get_running_loop()
        started = loop.time()
        timeout = self.config.acquire_timeout
        deadline = None if timeout is None else started + timeout
        try:
            while True:
                if grant is None:
                    if not (entry.idle or entry.active or entry.connecting):
                        self._refuse_hopeless(entry)
                    # Queue up. No dispatch here: we just found nothing to take (or others
                    # queued first) and nothing changed since; a release or close serves us.
                    # (asyncio.Future directly: loop.create_future() is a Python-level call)
                    fut: asyncio.Future[Grant | None] = asyncio.Future(loop=loop)
                    entry.waiters.append(fut)
                    self._counters.waiting += 1
                    if deadline is not None:
                        self._deadlines.arm(deadline, fut, entry, self._counters.waiting)
                    if entry.connecting and self._gate is not None and self._gate.queued:
                        # What we wait for may be a keep_online fill queued behind the fleet.
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
                    if (
                        not use_cache
                        or conn.needs_check
                        or self._clock() - conn.last_used >= self._skip_window
                    ):
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

    def _hopeless(self, entry: AccountEntry) -> PoolError | None:
        if entry.size:
            return None  # a borrowed or connecting one will come back
        if not entry.authorizations:
            return NoAuthorizationAvailable(
                f"account {entry.phone} has no usable authorization (none registered, or all "
                "revoked); log it in again"
            )
        now = self._clock()
        if now < entry.backoff_until and not entry.bound:
            return ConnectFailed(
                f"account {entry.phone}: {entry.connect_failures} connect attempts failed in a "
                f"row; next try in {entry.backoff_until - now:.1f} s "
                "(pool.reconnect_backoff_base)"
            )
        return None

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

    async def _fill(
        self,
        entry: AccountEntry,
        conn: PooledConnection,
        connector: Connector,
        borrower: str | None,
    ) -> PooledConnection:
        try:
            # Runs under the caller's acquire deadline, so waiting for a connect slot counts
            # against it too (DESIGN guarantee 4).
            client = await self._dial(entry, conn, connector, urgent=True)
        except BaseException as exc:
            self._connect_failed(entry, conn, exc)
            if isinstance(exc, TgfleetError) or not isinstance(exc, Exception):
                raise  # the caller decides on these (revoked, banned, cancelled, ...)
            raise ConnectFailed(
                f"account {entry.phone}: connecting authorization {conn.authorization_id} "
                f"failed: {exc!r}"
            ) from exc
        return self._connected(entry, conn, client, lend_to=borrower, lend=True)

    async def _check(self, entry: AccountEntry, conn: PooledConnection) -> bool:
        """The liveness check on borrow (the caller skips it for one used a moment ago)."""
        assert conn.client is not None
        generation = conn.generation
        try:
            alive = await conn.client.is_alive()
            error = "is_alive() returned False"
        except Exception as exc:
            alive, error = False, repr(exc)
        except BaseException:
            # Cancelled mid-check: we cannot tell what state it is in; close it.
            if conn.state is ACTIVE and conn.generation == generation:
                self._retire(entry, conn, "cancelled")
            raise
        if conn.state is not ACTIVE or conn.generation != generation:
            return False  # closed by someone else meanwhile
        if alive:
            conn.needs_check = False
            return True
        conn.error_count += 1
        conn.last_error = error
        self._retire(entry, conn, "liveness_check_failed", error=error)
        return False

    # --- decisions (synchronous: this is the pool's critical section) ---------------------

    def _entry(self, phone: str) -> AccountEntry:
        entry = self._accounts.get(phone)
        if entry is None:
            entry = self._accounts[phone] = AccountEntry(phone, [phone])
        return entry

    def _take(self, entry: AccountEntry, now: float, borrower: str | None) -> Grant | None:
        """Lend an idle connection, or reserve a slot for a new one, or None."""
        if entry.idle:
            _, conn = entry.idle.popitem(last=not self._lru)
            serial = conn.serial
            self._idle_lru.pop(serial, None)
            counters = self._counters
            counters.idle -= 1
            counters.total_reused += 1
            if self._leak_threshold is None:  # _lend, inlined: this is the hot path
                conn.state = ACTIVE
                conn.generation += 1
                conn.use_count += 1
                conn.borrower = borrower
                conn.borrowed_at = now
                entry.active[serial] = conn
                counters.active += 1
            else:
                self._lend(entry, conn, now, borrower)
            if self._callback is not None:
                self._emit("reused", entry.phone, conn.authorization_id, "borrowed")
            return conn
        return self._reserve(entry, now)

    def _reserve(self, entry: AccountEntry, now: float) -> Grant | None:
        if self._phase in ("stopping", "stopped"):
            return None
        if entry.size >= entry.limit(self.config.max_connections_per_account):
            return None
        if now < entry.backoff_until:
            return None
        authorization = entry.free_authorization()
        if authorization is None:
            return None  # the free ones are still disconnecting (DESIGN fact 1)
        if self._counters.size >= self.config.max_total_connections:
            victim = self._pick_victim(entry.phone)
            if victim is None:
                self._global_blocked[entry.phone] = None
                return None
            victim_entry = self._accounts[victim.phone]
            self._counters.evictions["global_limit"] += 1
            self._emit("evicted", victim.phone, victim.authorization_id, "global_limit")
            # No dispatch from inside: this reservation is the one the freed slot is for.
            self._retire(victim_entry, victim, "evicted_global_limit", dispatch=False)
        conn = PooledConnection(
            phone=entry.phone,
            authorization_id=authorization,
            client=None,
            state=CONNECTING,
            created_at=now,
            last_used=now,
            idle_timeout=self.config.max_idle_time,
        )
        entry.bound[authorization] = conn
        entry.connecting += 1
        self._counters.connecting += 1
        return conn

    def _pick_victim(self, phone: str) -> PooledConnection | None:
        for conn in self._idle_lru.values():
            if conn.phone != phone:
                return conn
        return None

    def _lend(
        self, entry: AccountEntry, conn: PooledConnection, now: float, borrower: str | None
    ) -> None:
        conn.state = ACTIVE
        conn.generation += 1
        conn.use_count += 1
        conn.borrower = borrower
        conn.borrowed_at = now
        entry.active[conn.serial] = conn
        self._counters.active += 1
        threshold = self._leak_threshold
        if threshold is not None:
            conn.leak_reported = False
            conn.borrower_stack = "".join(traceback.format_stack(limit=16)[:-3])
            heapq.heappush(self._leak_heap, (now + threshold, conn.serial, conn.generation, conn))

    def _connected(
        self,
        entry: AccountEntry,
        conn: PooledConnection,
        client: PoolClient,
        *,
        lend_to: str | None,
        lend: bool,
    ) -> PooledConnection:
        """A reservation got its client: lend it, or (for a top-up) put it idle."""
        now = self._clock()
        conn.client = client
        ready: asyncio.Future[PooledConnection] = asyncio.Future()
        ready.set_result(conn)
        conn.ready = ready
        entry.connecting -= 1
        self._counters.connecting -= 1
        entry.connect_failures = 0
        entry.backoff_until = 0.0
        entry.total_created += 1
        self._counters.total_created += 1
        conn.created_at = conn.last_used = now
        jitter = self.config.age_jitter
        factor = 1.0 + self._rng.uniform(-jitter, jitter) if jitter else 1.0
        conn.expires_at = now + self.config.max_connection_age * factor
        heapq.heappush(self._age_heap, (conn.expires_at, conn.serial, conn))
        if self._callback is not None:
            self._emit("created", entry.phone, conn.authorization_id, "connected")
        if entry.keep_online and entry.pinned is None:
            self._pin(entry, conn)
        if self._phase in ("stopping", "stopped"):
            conn.state = ACTIVE  # so that _retire takes it from the right place
            entry.active[conn.serial] = conn
            self._counters.active += 1
            self._retire(entry, conn, "pool_stopping")
            raise PoolClosed(f"account {entry.phone}: the pool stopped while connecting")
        self._lend(entry, conn, now, lend_to)
        if not lend:
            self._release(conn, conn.generation, True, None, True)
        self._after_count_change()
        return conn

    def _connect_failed(
        self, entry: AccountEntry, conn: PooledConnection, exc: BaseException
    ) -> None:
        if isinstance(exc, Exception):
            entry.connect_failures += 1
            entry.errors += 1
            self._counters.total_errors += 1
            cfg = self.config
            delay = min(
                cfg.reconnect_backoff_max,
                cfg.reconnect_backoff_base * 2 ** (entry.connect_failures - 1),
            )
            # Equal jitter: accounts that failed together do not retry together.
            delay *= self._rng.uniform(0.5, 1.0)
            entry.backoff_until = self._clock() + delay
            conn.error_count += 1
            conn.last_error = repr(exc)
            self._emit(
                "error",
                entry.phone,
                conn.authorization_id,
                "connect_failed",
                error=repr(exc),
                backoff=delay,
            )
            if entry.keep_online or (entry.registered and self.config.min_idle_per_account):
                self._needs_fill.add(entry.phone)
        self._release_reservation(entry, conn)

    def _release_reservation(self, entry: AccountEntry, conn: PooledConnection) -> None:
        if conn.state is not CONNECTING:
            return
        conn.state = DISCONNECTED
        entry.connecting -= 1
        self._counters.connecting -= 1
        if entry.bound.get(conn.authorization_id) is conn:
            del entry.bound[conn.authorization_id]
        self._dispatch(entry)
        self._dispatch_global()
        self._after_count_change()
        self._forget_if_empty(entry)

    def _release(
        self,
        conn: PooledConnection,
        generation: int | None,
        keep_alive: bool,
        failure: BaseException | None,
        quiet: bool = False,
    ) -> bool:
        """Take a borrowed connection back: close it or put it idle. Idempotent."""
        if conn.state is not ACTIVE or (generation is not None and generation != conn.generation):
            return False
        entry = self._accounts[conn.phone]
        now = self._clock()
        if not quiet and self._callback is not None:
            self._emit("returned", conn.phone, conn.authorization_id, "returned")
        if (
            keep_alive
            and failure is None
            and conn.retire_reason is None
            and now < conn.expires_at
            and self._open
        ):
            if entry.waiters and self._hand_over(entry, conn, now):
                return True
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
        """Lend a returned connection straight to the first waiter (FIFO, no idle detour)."""
        waiters = entry.waiters
        counters = self._counters
        while waiters:
            fut = waiters.popleft()
            counters.waiting -= 1
            if fut.done():
                continue  # cancelled; its owner's cleanup finds it gone
            conn.last_used = now
            conn.generation += 1
            conn.use_count += 1
            conn.borrower = None
            conn.borrowed_at = now
            counters.total_reused += 1
            if self._leak_threshold is not None:
                conn.leak_reported = False
                heapq.heappush(
                    self._leak_heap,
                    (now + self._leak_threshold, conn.serial, conn.generation, conn),
                )
            if self._callback is not None:
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

    def _retire(
        self,
        entry: AccountEntry,
        conn: PooledConnection,
        reason: str,
        *,
        error: str | None = None,
        dispatch: bool = True,
    ) -> asyncio.Task[None] | None:
        """Take a connection out of service now; its client is disconnected in a task the pool
        owns, and its authorization stays bound until that finishes (DESIGN fact 1)."""
        state = conn.state
        if state is IDLE:
            del entry.idle[conn.serial]
            self._idle_lru.pop(conn.serial, None)
            self._counters.idle -= 1
        elif state is ACTIVE:
            del entry.active[conn.serial]
            self._counters.active -= 1
        else:
            return None  # connecting (handled by its filler) or already closed
        conn.state = ERROR if error is not None else DISCONNECTED
        conn.borrower = None
        conn.borrower_stack = None
        if conn.pinned:
            conn.pinned = False
            entry.pinned = None
            if entry.keep_online:
                self._needs_fill.add(entry.phone)
        self._counters.total_closed += 1
        self._counters.closing += 1
        if error is not None:
            entry.errors += 1
            self._counters.total_errors += 1
            self._emit("error", entry.phone, conn.authorization_id, reason, error=error)
        self._emit("closed", entry.phone, conn.authorization_id, reason)
        task = asyncio.get_running_loop().create_task(self._disconnect(entry, conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if dispatch:
            self._dispatch(entry)
            self._dispatch_global()
        self._after_count_change()
        return task

    async def _disconnect(self, entry: AccountEntry, conn: PooledConnection) -> None:
        try:
            if conn.client is not None:
                await conn.client.disconnect()
        except Exception as exc:  # a failing close must not keep the authorization bound
            log.debug("closing %r failed: %r", conn, exc)
        finally:
            self._counters.closing -= 1
            if entry.bound.get(conn.authorization_id) is conn:
                del entry.bound[conn.authorization_id]
            self._dispatch(entry)
            self._top_up(entry)
            self._forget_if_empty(entry)

    def _dispatch(self, entry: AccountEntry) -> None:
        """Serve the account's waiters in order while something can be lent or reserved."""
        waiters = entry.waiters
        if not waiters:
            return
        now = self._clock()
        while waiters:
            fut = waiters[0]
            if fut.done():  # cancelled; its owner's cleanup finds it gone
                waiters.popleft()
                self._counters.waiting -= 1
                continue
            grant = self._take(entry, now, None)
            if grant is None:
                error = self._hopeless(entry)
                if error is not None:
                    self._fail_waiters(entry, _copier(error))
                return
            waiters.popleft()
            self._counters.waiting -= 1
            fut.set_result(grant)

    def _dispatch_global(self) -> None:
        """A global slot freed up (or an idle one can be evicted): serve blocked accounts."""
        blocked = self._global_blocked
        while blocked:
            phone, _ = blocked.popitem(last=False)
            entry = self._accounts.get(phone)
            if entry is None or not entry.waiters:
                continue
            self._dispatch(entry)
            if phone in blocked:
                return  # still blocked: nothing more can be had right now

    def _fail_waiters(self, entry: AccountEntry, make: Callable[[str], BaseException]) -> None:
        while entry.waiters:
            fut = entry.waiters.popleft()
            self._counters.waiting -= 1
            if not fut.done():
                fut.set_exception(make(entry.phone))

    def _forget_if_empty(self, entry: AccountEntry) -> None:
        if entry.is_empty() and self._accounts.get(entry.phone) is entry:
            del self._accounts[entry.phone]
            self._global_blocked.pop(entry.phone, None)

    def _after_count_change(self) -> None:
        drained = self._borrowed_gone
        if drained is not None and not (self._counters.active or self._counters.connecting):
            drained.set()

    # --- keep_online and min_idle -----------------------------------------------------------

    def _top_up(self, entry: AccountEntry) -> None:
        """Open the connections ``keep_online`` / ``min_idle_per_account`` ask for, in tasks
        the pool owns. Only with a constructor connector and while running."""
        want = entry.deficit(self.config.min_idle_per_account)
        if not want:
            self._needs_fill.discard(entry.phone)
            return
        if self._phase != "running" or self._connector is None or entry.waiters:
            if self._phase == "running" or self._phase == "new":
                self._needs_fill.add(entry.phone)
            return
        now = self._clock()
        for _ in range(want):
            grant = self._reserve(entry, now)
            if grant is None:
                self._needs_fill.add(entry.phone)
                return
            self._spawn(self._fill_in_background(entry, grant, self._connector))
        self._needs_fill.discard(entry.phone)

    def _top_up_all(self) -> None:
        for phone in list(self._needs_fill):
            entry = self._accounts.get(phone)
            if entry is None:
                self._needs_fill.discard(phone)
            else:
                self._top_up(entry)

    async def _fill_in_background(
        self, entry: AccountEntry, conn: PooledConnection, connector: Connector
    ) -> None:
        try:
            client = await self._dial(entry, conn, connector, urgent=False)
        except _Withdrawn:
            self._release_reservation(entry, conn)
            return
        except BaseException as exc:
            self._connect_failed(entry, conn, exc)
            if not isinstance(exc, Exception):
                raise
            log.warning("account %s: keeping a connection up failed: %r", entry.phone, exc)
            return
        # PoolClosed: the pool stopped meanwhile and _connected already closed the client.
        with contextlib.suppress(PoolClosed):
            self._connected(entry, conn, client, lend_to=None, lend=False)

    async def _dial(
        self, entry: AccountEntry, conn: PooledConnection, connector: Connector, *, urgent: bool
    ) -> PoolClient:
        """Call the connector, within ``max_concurrent_connects`` when it is set."""
        gate = self._gate
        if gate is None:
            return await connector(entry.phone, conn.authorization_id)
        async with gate.slot(urgent=urgent, key=entry.phone):
            # A background fill may have queued for a while: dial only if still wanted.
            if not urgent and not self._open:
                raise _Withdrawn
            return await connector(entry.phone, conn.authorization_id)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the sweeper ------------------------------------------------------------------------

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

    # --- observation ------------------------------------------------------------------------

    def _emit(
        self,
        kind: EventKind,
        phone: str,
        authorization_id: str | None,
        reason: str,
        **detail: Any,
    ) -> None:
        callback = self._callback
        if callback is None:
            return
        event = PoolEvent(
            kind,
            phone,
            authorization_id,
            reason,
            self._clock(),
            MappingProxyType(detail) if detail else MappingProxyType({}),
        )
        try:
            callback(event)
        except Exception:  # an observer's bug must not break the pool's bookkeeping
            log.exception("pool event callback failed on %s", kind)

    def get_pool_stats(self, phone: str | None = None) -> dict[str, Any]:
        """Global stats (O(1) apart from the wait percentiles' window), or one account's."""
        if phone is not None:
            entry = self._accounts.get(phone)
            if entry is None:
                return AccountEntry(phone, []).stats()
            return entry.stats()
        stats = self._counters.as_dict(self.config.max_total_connections)
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
            f"waiting={c.waiting} created={c.total_created} reused={c.total_reused} "
            f"closed={c.total_closed} errors={c.total_errors} timeouts={c.total_timeouts}>"
        )


class _Withdrawn(Exception):
    """A queued background fill is no longer wanted (the pool is stopping)."""


def _copier(error: PoolError) -> Callable[[str], BaseException]:
    # One instance per waiter, so that their tracebacks do not mix.
    return lambda _phone: error.__class__(str(error))
