"""The keyed connection pool: per-account connections, one per authorization (DESIGN fact 1)."""

from __future__ import annotations

from tgfleet.pool.client import Connector, PoolClient
from tgfleet.pool.config import PoolConfig
from tgfleet.pool.connection import ConnectionInfo, ConnectionState, PooledConnection
from tgfleet.pool.events import EventCallback, PoolEvent
from tgfleet.pool.lease import Lease
from tgfleet.pool.pool import ConnectionPool
from tgfleet.pool.registry import get_connection_pool, init_connection_pool

__all__ = [
    "ConnectionInfo",
    "ConnectionPool",
    "ConnectionState",
    "Connector",
    "EventCallback",
    "Lease",
    "PoolClient",
    "PoolConfig",
    "PoolEvent",
    "PooledConnection",
    "get_connection_pool",
    "init_connection_pool",
]
