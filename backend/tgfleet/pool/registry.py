"""The process-wide pool of the seed interface: ``init_connection_pool`` / ``get_connection_pool``.

Components should take the pool as an argument; these helpers exist for the seed's callers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tgfleet.errors import PoolError
from tgfleet.pool.client import Connector
from tgfleet.pool.config import PoolConfig
from tgfleet.pool.events import EventCallback
from tgfleet.pool.pool import ConnectionPool

_pool: ConnectionPool | None = None


def init_connection_pool(
    config: PoolConfig | None = None,
    *,
    event_callback: EventCallback | None = None,
    connector: Connector | None = None,
    clock: Callable[[], float] | None = None,
) -> ConnectionPool:
    """Create the process-wide pool, replacing a stopped one; ``await pool.start()`` it."""
    global _pool
    if _pool is not None and not _pool.closed:
        raise PoolError("a connection pool is already initialised; stop it first")
    _pool = ConnectionPool(
        config,
        connector=connector,
        event_callback=event_callback,
        clock=clock if clock is not None else time.monotonic,
    )
    return _pool


def get_connection_pool() -> ConnectionPool:
    if _pool is None:
        raise PoolError("no connection pool: call init_connection_pool() first")
    return _pool
