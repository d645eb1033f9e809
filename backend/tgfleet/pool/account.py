"""One account's share of the pool: its authorizations, connections, waiters and backoff."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from tgfleet.pool.connection import PooledConnection

# What a waiter's future receives: a connection lent to it (ACTIVE) or a reserved slot
# (a CONNECTING record) it must fill by calling the connector.
Grant = PooledConnection

# A queued borrower: the future it waits on and when its acquire began (``time.monotonic()``).
# Its deadline rides in the queue itself, so that queueing costs one append and the account's
# one timer finds who expired by looking at the front.
Waiter = tuple[asyncio.Future[Grant | None], float]


@dataclass(slots=True)
class AccountEntry:
    phone: str
    # Oldest first; an account never registered has one authorization named after its phone.
    authorizations: list[str]
    registered: bool = False
    keep_online: bool = False
    pinned: PooledConnection | None = None  # the keep_online connection, if one is live
    # Idle connections by serial, least recently returned first.
    idle: OrderedDict[int, PooledConnection] = field(default_factory=OrderedDict)
    active: dict[int, PooledConnection] = field(default_factory=dict)
    connecting: int = 0
    # authorization id -> the one live client on it, including one still disconnecting
    # (DESIGN fact 1: a new client on that authorization waits until the old one is gone).
    bound: dict[str, PooledConnection] = field(default_factory=dict)
    waiters: deque[Waiter] = field(default_factory=deque)
    # The account's acquire-deadline timer: armed at or before the earliest deadline in
    # ``waiters`` whenever one is finite, and moved on lazily when it fires.
    deadline_timer: asyncio.TimerHandle | None = None
    deadline_at: float = 0.0  # when deadline_timer fires (time.monotonic())
    # Set when a borrower queued again (after a failed check or connect) behind later
    # deadlines than its own: the timer then looks at the whole queue, not just its front.
    deadlines_unordered: bool = False
    connect_failures: int = 0
    backoff_until: float = 0.0
    total_created: int = 0
    errors: int = 0
    timeouts: int = 0

    @property
    def size(self) -> int:
        return len(self.idle) + len(self.active) + self.connecting

    def limit(self, max_per_account: int) -> int:
        return min(max_per_account, len(self.authorizations))

    def free_authorization(self) -> str | None:
        for authorization in self.authorizations:
            if authorization not in self.bound:
                return authorization
        return None

    def is_empty(self) -> bool:
        # An account backing off is kept, or forgetting it would forget the backoff.
        return (
            not self.registered
            and not self.bound
            and not self.waiters
            and not self.connect_failures
        )

    def deficit(self, min_idle: int) -> int:
        """How many connections the account should open on its own right now."""
        want = 0
        if self.keep_online and self.pinned is None:
            want = 1
        if self.registered and len(self.idle) < min_idle:
            want = max(want, min_idle - len(self.idle))
        return want

    def stats(self) -> dict[str, Any]:
        return {
            "pool_size": self.size,
            "active_connections": len(self.active),
            "idle_connections": len(self.idle),
            "connecting": self.connecting,
            "total_connections": self.total_created,
            "waiting": len(self.waiters),
            "authorizations": len(self.authorizations),
            "keep_online": self.keep_online,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "backoff_until": self.backoff_until,
        }
