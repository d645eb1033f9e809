"""The event bus: fan-out, filters, bounded queues and history."""

from __future__ import annotations

import asyncio

from tgfleet.services.events import EventBus


async def test_subscribers_receive_what_they_asked_for() -> None:
    bus = EventBus()
    everything = bus.subscribe()
    pool_only = bus.subscribe(["pool"])
    bus.publish("pool.created", "+1", authorization="a1")
    bus.publish("message.incoming", "+2", text="hi")

    first = await everything.get(timeout=1)
    second = await everything.get(timeout=1)
    assert first is not None and second is not None
    assert [first.kind, second.kind] == ["pool.created", "message.incoming"]
    only = await pool_only.get(timeout=1)
    assert only is not None and only.kind == "pool.created"
    assert await pool_only.get(timeout=0.01) is None
    assert first.as_dict()["authorization"] == "a1"


async def test_live_events_reach_readers_but_not_the_history() -> None:
    bus = EventBus()
    assert bus.publish_live("pool.reused", "+1") is None  # nobody listens: not even built
    messages = bus.subscribe(["message"])
    assert bus.publish_live("pool.reused", "+1") is None  # nobody wants this kind
    pool = bus.subscribe(["pool"])
    live = bus.publish_live("pool.reused", "+1", reason="borrowed")
    kept = bus.publish("pool.created", "+1")
    assert live is not None and kept.id > live.id  # one sequence of ids for both
    got = await pool.get(timeout=1)
    assert got is live and (await pool.get(timeout=1)) is kept
    assert await messages.get(timeout=0.01) is None
    assert [e.kind for e in bus.history()] == ["pool.created"]


def test_interest_listeners_hear_readers_come_and_go() -> None:
    bus = EventBus()
    heard: list[bool] = []
    bus.on_interest_change(lambda: heard.append(bus.wants("pool.reused")))
    messages = bus.subscribe(["message"])
    pool = bus.subscribe(["pool.reused"])
    pool.close()
    everything = bus.subscribe()
    everything.close()
    messages.close()
    assert heard == [False, True, False, True, False, False]


async def test_a_slow_subscriber_loses_oldest_events_not_memory() -> None:
    bus = EventBus(subscriber_queue=10)
    slow = bus.subscribe()
    for i in range(25):
        bus.publish("pool.reused", "+1", n=i)
    assert slow.dropped == 15
    got = [await slow.get(timeout=1) for _ in range(10)]
    assert [e.data["n"] for e in got if e is not None] == list(range(15, 25))


async def test_close_ends_iteration_and_unsubscribes() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    received: list[str] = []

    async def reader() -> None:
        async for event in sub:
            received.append(event.kind)

    task = asyncio.create_task(reader())
    bus.publish("a.one")
    await asyncio.sleep(0)
    bus.close()
    await asyncio.wait_for(task, 1)
    assert received == ["a.one"]
    assert bus.subscriber_count == 0


def test_history_pages_filters_and_stays_bounded() -> None:
    bus = EventBus(history=50)
    for i in range(120):
        bus.publish("pool.created" if i % 2 else "account.status", f"+{i % 3}")
    recent = bus.history(limit=1000)
    assert len(recent) == 50 and recent[0].id == 71
    page = bus.history(after_id=100, limit=5, kind="pool")
    assert [e.id for e in page] == [102, 104, 106, 108, 110]
    assert all(e.account == "+0" for e in bus.history(account="+0"))
