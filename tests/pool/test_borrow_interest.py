"""The daemon's wiring: the pool builds per-borrow events only while a stream wants them."""

from __future__ import annotations

from tgfleet.pool import PoolEvent
from tgfleet.runtime import _follow_borrow_interest
from tgfleet.services.events import EventBus

from .conftest import FakeClock, World, make_pool


async def test_borrow_events_follow_the_streams_that_want_them(
    world: World, clock: FakeClock, events: list[PoolEvent]
) -> None:
    bus = EventBus()
    pool = make_pool(world, clock, events)
    _follow_borrow_interest(bus, pool)

    async def borrow() -> list[str]:
        async with pool.acquire("+1"):
            pass
        return [e.kind for e in events]

    assert await borrow() == ["created"]  # nobody listens
    messages_only = bus.subscribe(["message"])
    assert await borrow() == ["created"]  # a stream, but not of pool events
    pool_stream = bus.subscribe(["pool"])
    assert await borrow() == ["created", "reused", "returned"]
    pool_stream.close()
    assert await borrow() == ["created", "reused", "returned"]
    messages_only.close()
    await pool.stop()
