"""What the pool holds: any client that can connect, disconnect and say cheaply if it is alive."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class PoolClient(Protocol):
    """A client bound to one authorization (``tgfleet.telegram.connection`` adapts Kurigram).

    The connector returns it already connected; the pool calls ``disconnect()`` exactly once
    when it closes the connection, and ``is_alive()`` before lending one that sat idle.
    """

    async def connect(self) -> None: ...

    async def disconnect(self) -> None: ...

    async def is_alive(self) -> bool:
        """A cheap check (no network round trip) that the client can carry a request."""
        ...


# create_func(phone, authorization_id) -> a connected client for exactly that authorization.
Connector = Callable[[str, str], Awaitable[PoolClient]]
