"""``async with pool.acquire(phone) as conn:``: the form that always gives the connection back."""

from __future__ import annotations

from collections.abc import Awaitable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from tgfleet.pool.client import Connector
from tgfleet.pool.connection import PooledConnection

if TYPE_CHECKING:
    from tgfleet.pool.pool import ConnectionPool


class _Done:
    """An awaitable that is already finished: ``__aexit__`` has nothing left to wait for."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        # An empty iterator: ``await`` finishes at once without creating a coroutine.
        return cast("Generator[Any, None, None]", iter(()))


_DONE = _Done()


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

    async def __aenter__(self) -> PooledConnection:
        pool = self._pool
        entry, conn, ready = pool._begin(self._phone, self._use_cache, self._borrower)
        if not ready or conn is None:
            conn = await pool._acquire_slow(
                entry, conn, self._create, self._use_cache, self._borrower
            )
        self._conn = conn
        self._generation = conn.generation
        return conn

    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Awaitable[None]:
        # Synchronous, before anything is awaited: a cancellation cannot interrupt the release
        # (what asyncpg gets from shielding its release).
        conn = self._conn
        if conn is not None:
            self._conn = None
            self._pool._release(conn, self._generation, True, exc)
        return _DONE
