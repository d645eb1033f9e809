"""One pooled connection, its states, and the read-only snapshot the API serves."""

from __future__ import annotations

import asyncio
import enum
import itertools
from dataclasses import dataclass, field

from tgfleet.pool.client import PoolClient

_serials = itertools.count(1)


class ConnectionState(enum.Enum):
    IDLE = "idle"  # in the pool, free to lend
    ACTIVE = "active"  # lent to a borrower
    CONNECTING = "connecting"  # slot and authorization reserved, the connector is running
    DISCONNECTED = "disconnected"  # closed for good; the object is only kept by its holders
    ERROR = "error"  # failed a connect or a liveness check; closing, never lent again


@dataclass(eq=False, slots=True)
class PooledConnection:
    """The pool's record of one client. Only ``ConnectionPool`` changes its state.

    Identity, not value, is what matters: two records are never equal unless they are the same.
    """

    phone: str
    authorization_id: str
    client: PoolClient | None
    state: ConnectionState
    created_at: float
    last_used: float  # when it last went back idle
    idle_timeout: float
    error_count: int = 0
    last_error: str | None = None
    # Bumped at each borrow; a release that carries an older generation is a stale double
    # release and does nothing.
    generation: int = 0
    # Borrows handed back unused (the borrower was cancelled before it could run).
    unused_grants: int = 0
    borrower: str | None = None
    borrowed_at: float = 0.0  # when lent; kept only with leak detection on (its one reader)
    expires_at: float = float("inf")
    # Set when a borrower's work failed mid-request, or when it is lent after sitting idle past
    # liveness_skip_window: the borrower checks it first (is_alive()).
    needs_check: bool = False
    # Set when the connection must close instead of going back idle (age, revoked auth, stop).
    retire_reason: str | None = None
    pinned: bool = False  # the keep_online connection: exempt from idle sweep and eviction
    leak_reported: bool = False
    borrower_stack: str | None = None  # kept only when leak detection is on
    # A finished future whose result is this record: ``async with pool.acquire()`` hands an
    # idle connection out through it, so the common case allocates nothing (set on connect).
    ready: asyncio.Future[PooledConnection] | None = None
    serial: int = field(default_factory=lambda: next(_serials))

    @property
    def connection_id(self) -> int:
        return self.serial

    @property
    def use_count(self) -> int:
        """Times lent (kept as the generation, which every lend bumps anyway)."""
        return self.generation - self.unused_grants

    def __repr__(self) -> str:
        return (
            f"<PooledConnection #{self.serial} {self.phone} auth={self.authorization_id} "
            f"{self.state.value} uses={self.use_count}>"
        )


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """A snapshot of one connection for the API: nothing in it changes the pool."""

    connection_id: int
    phone: str
    authorization_id: str
    state: str
    age: float
    idle_for: float
    use_count: int
    error_count: int
    last_error: str | None
    pinned: bool
    borrower: str | None

    @classmethod
    def of(cls, conn: PooledConnection, now: float) -> ConnectionInfo:
        idle = now - conn.last_used if conn.state is ConnectionState.IDLE else 0.0
        return cls(
            connection_id=conn.serial,
            phone=conn.phone,
            authorization_id=conn.authorization_id,
            state=conn.state.value,
            age=now - conn.created_at,
            idle_for=idle,
            use_count=conn.use_count,
            error_count=conn.error_count,
            last_error=conn.last_error,
            pinned=conn.pinned,
            borrower=conn.borrower,
        )
