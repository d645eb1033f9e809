"""The pool's bookkeeping: its state and the synchronous decisions on it.

In asyncio, code between two ``await``s runs without interruption, so every method here *is*
the pool's critical section: it decides (which connection to lend, which slot to reserve, which
idle connection to evict, whether a returned one goes to a waiter, back idle or out) and edits
the counters, and it never awaits. The network work it decides on (connect, ``is_alive()``,
``disconnect()``) runs afterwards, outside it, in ``network.py``, so one slow account never
stalls another.

An account never registered with ``set_account`` is treated as having exactly one
authorization whose id is its phone: a pool of 1 (DESIGN fact 1).
"""

from __future__ import annotations

import abc
import asyncio
import heapq
import logging
import random
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from types import MappingProxyType
from typing import Any, Literal

from tgfleet.errors import ConnectFailed, NoAuthorizationAvailable, PoolError
from tgfleet.pool.account import AccountEntry, Grant
from tgfleet.pool.client import Connector
from tgfleet.pool.config import PoolConfig
from tgfleet.pool.connection import ConnectionState, PooledConnection
from tgfleet.pool.events import EventCallback, EventKind, PoolEvent
from tgfleet.pool.stats import PoolCounters

# One logger for the whole pool, named after its public module, so that logging settings do not
# depend on how the pool's code is split into files.
log = logging.getLogger("tgfleet.pool.pool")

IDLE = ConnectionState.IDLE
ACTIVE = ConnectionState.ACTIVE
CONNECTING = ConnectionState.CONNECTING
DISCONNECTED = ConnectionState.DISCONNECTED
ERROR = ConnectionState.ERROR

_Phase = Literal["new", "running", "stopping", "stopped"]


def _copier(error: PoolError) -> Callable[[str], BaseException]:
    # One instance per waiter, so that their tracebacks do not mix.
    return lambda _phone: error.__class__(str(error))


class PoolBook(abc.ABC):
    """The state every layer of ``ConnectionPool`` shares, and the decisions on it.

    The layers above add, in order: ``PoolReturns`` (taking borrowed connections back),
    ``PoolNetwork`` (connect, check, close, keep_online fills), ``PoolWaiters`` (queueing and
    the acquire deadline), ``PoolSweeper`` (expiry and leaks) and ``ConnectionPool`` itself
    (the public interface, start and stop).
    """

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
        # Accounts below their keep_online / min_idle target, in the order they fell short
        # (at start: the order they were registered); the sweeper retries them. A dict, not a
        # set: a set's order follows string hashes, which PYTHONHASHSEED changes per process.
        self._needs_fill: dict[str, None] = {}
        # Accounts whose queue of waiters was empty when someone queued: the stats count the
        # waiting from these (dropping those found empty), so that queueing and serving
        # a waiter update no global count.
        self._queued: dict[str, AccountEntry] = {}
        self._counters = PoolCounters(window=self.config.wait_window)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._phase: _Phase = "new"
        self._open = True  # False once stop() began; read on every acquire
        self._skip_window = self.config.liveness_skip_window
        self._leak_threshold = self.config.leak_detection_threshold
        self._borrow_events = False
        self._plain = True
        self._set_borrow_events(event_callback is not None)
        # A finished future with the result None, made on the loop by the first lease to end:
        # what a lease's __aexit__ returns to be awaited.
        self._finished: asyncio.Future[None] | None = None
        # Set by stop() while it waits for borrowed connections to come back.
        self._borrowed_gone: asyncio.Event | None = None

    def _set_borrow_events(self, on: bool) -> None:
        # Whether the callback gets "reused" and "returned", one per borrow.
        self._borrow_events = on and self._callback is not None
        # Neither per-borrow events to emit nor leak reports to prepare: the hot paths' shortcut.
        self._plain = not self._borrow_events and self._leak_threshold is None

    @abc.abstractmethod
    async def _disconnect(self, entry: AccountEntry, conn: PooledConnection) -> None:
        """Close a retired connection's client (``_retire`` runs it in a task)."""

    def _entry(self, phone: str) -> AccountEntry:
        entry = self._accounts.get(phone)
        if entry is None:
            entry = self._accounts[phone] = AccountEntry(phone, [phone])
        return entry

    def _take(self, entry: AccountEntry, now: float, borrower: str | None) -> Grant | None:
        """Lend an idle connection, or reserve a slot for a new one, or None.

        An idle connection not used for ``liveness_skip_window`` is marked ``needs_check``
        here, once, so that its borrower (now or after a wake-up) reads no clock to decide.
        """
        if entry.idle:
            _, conn = entry.idle.popitem(last=not self._lru)
            if now - conn.last_used >= self._skip_window:
                conn.needs_check = True
            serial = conn.serial
            self._idle_lru.pop(serial, None)
            counters = self._counters
            counters.idle -= 1
            counters.total_reused += 1
            if self._leak_threshold is None:  # _lend, inlined: this is the hot path
                conn.state = ACTIVE
                conn.generation += 1
                conn.borrower = borrower
                entry.active[serial] = conn
                counters.active += 1
            else:
                self._lend(entry, conn, now, borrower)
            if self._borrow_events:
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
        conn.borrower = borrower
        conn.borrowed_at = now
        entry.active[conn.serial] = conn
        self._counters.active += 1
        threshold = self._leak_threshold
        if threshold is not None:
            conn.leak_reported = False
            conn.borrower_stack = "".join(traceback.format_stack(limit=16)[:-3])
            heapq.heappush(self._leak_heap, (now + threshold, conn.serial, conn.generation, conn))

    def _pin(self, entry: AccountEntry, conn: PooledConnection) -> None:
        conn.pinned = True
        entry.pinned = conn
        self._idle_lru.pop(conn.serial, None)

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
                self._needs_fill[entry.phone] = None
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

    def _dispatch(self, entry: AccountEntry) -> None:
        """Serve the account's waiters in order while something can be lent or reserved."""
        waiters = entry.waiters
        if not waiters:
            return
        now = self._clock()
        while waiters:
            fut = waiters[0][0]
            if fut.done():  # cancelled; its owner's cleanup finds it gone
                waiters.popleft()
                continue
            grant = self._take(entry, now, None)
            if grant is None:
                error = self._hopeless(entry)
                if error is not None:
                    self._fail_waiters(entry, _copier(error))
                return
            waiters.popleft()
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
            fut = entry.waiters.popleft()[0]
            if not fut.done():
                fut.set_exception(make(entry.phone))

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

    def _forget_if_empty(self, entry: AccountEntry) -> None:
        if entry.is_empty() and self._accounts.get(entry.phone) is entry:
            del self._accounts[entry.phone]
            self._global_blocked.pop(entry.phone, None)
            if entry.deadline_timer is not None:
                entry.deadline_timer.cancel()
                entry.deadline_timer = None

    def _after_count_change(self) -> None:
        drained = self._borrowed_gone
        if drained is not None and not (self._counters.active or self._counters.connecting):
            drained.set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
