"""The pool's network edges: connecting, the liveness check, closing, and keep_online fills.

Each runs after a decision of ``book.py`` and outside it: the bookkeeping has already reserved
the slot and the authorization (or taken the connection out of service), so these awaits never
hold anything another account waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from typing import Any

from tgfleet.errors import ConnectFailed, PoolClosed, TgfleetError
from tgfleet.pool.account import AccountEntry
from tgfleet.pool.book import ACTIVE, log
from tgfleet.pool.client import Connector, PoolClient
from tgfleet.pool.connection import PooledConnection
from tgfleet.pool.gate import ConnectGate
from tgfleet.pool.returns import PoolReturns


class PoolNetwork(PoolReturns):
    """``PoolReturns`` plus the awaits that open, check and close clients."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = self.config.max_concurrent_connects
        self._gate = ConnectGate(limit) if limit is not None else None

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
                self._needs_fill[entry.phone] = None
        self._release_reservation(entry, conn)

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

    def _top_up(self, entry: AccountEntry) -> None:
        """Open the connections ``keep_online`` / ``min_idle_per_account`` ask for, in tasks
        the pool owns. Only with a constructor connector and while running."""
        want = entry.deficit(self.config.min_idle_per_account)
        if not want:
            self._needs_fill.pop(entry.phone, None)
            return
        if self._phase != "running" or self._connector is None or entry.waiters:
            if self._phase == "running" or self._phase == "new":
                self._needs_fill[entry.phone] = None
            return
        now = self._clock()
        for _ in range(want):
            grant = self._reserve(entry, now)
            if grant is None:
                self._needs_fill[entry.phone] = None
                return
            self._spawn(self._fill_in_background(entry, grant, self._connector))
        self._needs_fill.pop(entry.phone, None)

    def _top_up_all(self) -> None:
        for phone in list(self._needs_fill):
            entry = self._accounts.get(phone)
            if entry is None:
                self._needs_fill.pop(phone, None)
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


class _Withdrawn(Exception):
    """A queued background fill is no longer wanted (the pool is stopping)."""
