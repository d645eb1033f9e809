"""The daemon's wiring: the pool builds per-borrow events only while a stream wants them."""

from __future__ import annotations

from tgfleet.pool import ConnectionPool, PoolConfig, PoolEvent
from tgfleet.runtime import _follow_borrow_interest
from tgfleet.services.events import EventBus


class Client:
    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        return None

    async def is_alive(self) -> bool:
        return True


async def connector(phone: str, authorization_id: str) -> Client:
    return Client()


async def test_borrow_events_follow_the_streams_that_want_them() -> None:
    bus = EventBus()
    seen: list[str] = []

    def forward(event: PoolEvent) -> None:
        seen.append(event.kind)

    pool = ConnectionPool(PoolConfig(), connector=connector, event_callback=forward)
    _follow_borrow_interest(bus, pool)

    async def borrow() -> None:
        async with pool.acquire("+1"):
            pass

    await borrow()  # nobody listens
    messages_only = bus.subscribe(["message"])
    await borrow()  # a stream, but not of pool events
    assert seen == ["created"]
    pool_stream = bus.subscribe(["pool"])
    await borrow()
    assert seen == ["created", "reused", "returned"]
    pool_stream.close()
    await borrow()
    assert seen == ["created", "reused", "returned"]
    messages_only.close()
    await pool.stop()
