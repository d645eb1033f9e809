"""Cancel an acquire at each of its await points, then recount (STYLE habit 3)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tgfleet.pool import ConnectionPool, PoolConfig

from .conftest import FakeClock, recount


class SteppingClient:
    """A client whose calls take a few loop iterations, so a cancel can land inside them."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.connected = True

    async def connect(self) -> None:
        self.connected = True

    async def disconnect(self) -> None:
        for _ in range(self.steps):
            await asyncio.sleep(0)
        self.connected = False

    async def is_alive(self) -> bool:
        for _ in range(self.steps):
            await asyncio.sleep(0)
        return self.connected


SCENARIOS = ["wait_then_connect", "wait_then_check", "connect", "check"]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_cancel_at_every_await_point(scenario: str, clock: FakeClock) -> None:
    steps = 4
    made: list[SteppingClient] = []

    async def connector(phone: str, authorization_id: str) -> SteppingClient:
        for _ in range(steps):
            await asyncio.sleep(0)
        client = SteppingClient(steps)
        made.append(client)
        return client

    points_hit = 0
    for cancel_after in range(0, 30):
        pool = ConnectionPool(
            PoolConfig(max_connections_per_account=1, acquire_timeout=None),
            connector=connector,
            clock=clock,
        )
        holder = None
        if scenario in ("wait_then_check", "check"):
            # an idle connection old enough to be checked before it is lent
            warm = await pool.get_connection("+1")
            await pool.return_connection("+1", warm)
            clock.advance(10)
        if scenario.startswith("wait"):
            holder = await pool.get_connection("+1")
        task = asyncio.create_task(pool.get_connection("+1"))
        for i in range(cancel_after):
            await asyncio.sleep(0)
            if i == 1 and holder is not None:
                await pool.return_connection("+1", holder)
                holder = None
        got = None
        if task.done():
            got = task.result()
        else:
            points_hit += 1
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                got = await task
        if holder is not None:  # cancelled before the holder gave it back
            await pool.return_connection("+1", holder)
        for _ in range(3 * steps):
            await asyncio.sleep(0)
        recount(pool)
        stats = pool.get_pool_stats()
        assert stats["waiting"] == 0 and stats["connecting"] == 0
        if got is not None:
            assert stats["current_active_connections"] == 1
            await pool.return_connection("+1", got)
        assert stats["current_pool_size"] <= 1
        # nothing leaked: the only slot can be had again at once
        conn = await asyncio.wait_for(pool.get_connection("+1"), 1)
        await pool.return_connection("+1", conn)
        await pool.stop()
        recount(pool)
        assert all(not c.connected for c in made)
    assert points_hit >= 3  # the loop really cancelled inside the acquire


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_cancel_async_with_acquire_at_every_point(scenario: str, clock: FakeClock) -> None:
    """The same through ``async with pool.acquire()``: a cancel while acquiring leaves
    nothing behind; a cancel inside the body closes the connection (bytes may be on the wire)."""
    steps = 4
    made: list[SteppingClient] = []

    async def connector(phone: str, authorization_id: str) -> SteppingClient:
        for _ in range(steps):
            await asyncio.sleep(0)
        client = SteppingClient(steps)
        made.append(client)
        return client

    inside = 0
    for cancel_after in range(0, 30):
        pool = ConnectionPool(
            PoolConfig(max_connections_per_account=1, acquire_timeout=None),
            connector=connector,
            clock=clock,
        )
        holder = None
        if scenario in ("wait_then_check", "check"):
            warm = await pool.get_connection("+1")
            await pool.return_connection("+1", warm)
            clock.advance(10)
        if scenario.startswith("wait"):
            holder = await pool.get_connection("+1")
        entered = asyncio.Event()

        async def use(pool: ConnectionPool = pool, entered: asyncio.Event = entered) -> None:
            async with pool.acquire("+1"):
                entered.set()
                await asyncio.sleep(30)

        task = asyncio.create_task(use())
        for i in range(cancel_after):
            await asyncio.sleep(0)
            if i == 1 and holder is not None:
                await pool.return_connection("+1", holder)
                holder = None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        inside += entered.is_set()
        if holder is not None:
            await pool.return_connection("+1", holder)
        for _ in range(3 * steps):
            await asyncio.sleep(0)
        recount(pool)
        stats = pool.get_pool_stats()
        assert stats["waiting"] == 0 and stats["connecting"] == 0
        assert stats["current_active_connections"] == 0
        conn = await asyncio.wait_for(pool.get_connection("+1"), 1)
        await pool.return_connection("+1", conn)
        await pool.stop()
        assert all(not c.connected for c in made)
    assert 0 < inside < 30  # both kinds of cancel happened
