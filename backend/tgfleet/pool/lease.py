"""``async with pool.acquire(phone) as conn:``: the form that always gives the connection back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from types import TracebackType
from typing import TYPE_CHECKING

from tgfleet.pool.client import Connector
from tgfleet.pool.connection import PooledConnection

if TYPE_CHECKING:
    from tgfleet.pool.pool import ConnectionPool


def _finished() -> asyncio.Future[None]:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    fut.set_result(None)
    return fut


async def _ready(conn: PooledConnection) -> PooledConnection:
    return conn


class Lease:
    """The context manager behind ``pool.acquire(phone)``."""

    __slots__ = ("_borrower", "_conn", "_create", "_generation", "_phone", "_pool", "_use_cache")

    def __init__(
        self,
        pool: ConnectionPool,
        phone: str,
        create_func: Connector | None,
        use_cache: bool,
        borrower: str | None,
    ) -> None:
        self._pool = pool
        self._phone = phone
        self._create = create_func
        self._use_cache = use_cache
        self._borrower = borrower
        self._conn: PooledConnection | None = None
        self._generation = 0

    def __aenter__(self) -> Awaitable[PooledConnection]:
        # Not a coroutine itself: the common case (an idle connection used a moment ago) is
        # decided here and handed back through the connection's own finished future (made
        # once at connect: awaiting it runs no Python code and allocates nothing); otherwise
        # the slow path's coroutine is returned as is, one frame shallower, and it binds the
        # lease itself.
        pool = self._pool
        entry = pool._accounts.get(self._phone)
        if entry is not None and entry.waiters and pool._open:
            # Others wait already (FIFO: no overtaking): queue, without the fast path's tries.
            return pool._wait_turn(entry, self._create, self._use_cache, self._borrower, self)
        entry, conn, ready = pool._begin(self._phone, self._use_cache, self._borrower, entry)
        if ready and conn is not None:
            self._conn = conn
            self._generation = conn.generation
            finished = conn.ready
            return finished if finished is not None else _ready(conn)
        if conn is None:
            return pool._wait_turn(entry, self._create, self._use_cache, self._borrower, self)
        return pool._acquire_slow(entry, conn, self._create, self._use_cache, self._borrower, self)

    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Awaitable[None]:
        # Synchronous, before anything is awaited: a cancellation cannot interrupt the release
        # (what asyncpg gets from shielding its release).
        conn = self._conn
        pool = self._pool
        if conn is not None:
            self._conn = None
            if exc is None:
                pool._give_back(conn, self._generation)
            else:
                pool._release(conn, self._generation, True, exc)
        # A finished future (its result, None, lets the exception through): awaiting one runs
        # no Python code. (Cheaper than a coroutine, and than a tuple subclass whose __await__
        # is the tuple's iterator: the slot lookup costs more than it saves.)
        done = pool._finished
        if done is None:
            done = pool._finished = _finished()
        return done
