from __future__ import annotations

import asyncio

from tgfleet.pool.deadlines import WaiterDeadlines


async def test_expired_waiters_are_reported_once_and_served_ones_never() -> None:
    expired: list[list[tuple[asyncio.Future[None], object]]] = []
    deadlines: WaiterDeadlines[None] = WaiterDeadlines(expired.append)
    loop = asyncio.get_running_loop()
    now = loop.time()
    futs = [loop.create_future() for _ in range(4)]
    for i, fut in enumerate(futs):
        deadlines.arm(now + 0.02, fut, i, live=4)
    late = loop.create_future()
    deadlines.arm(now + 0.01, late, "late", live=5)  # earlier than the last: takes the heap
    futs[1].set_result(None)  # served before its deadline
    await asyncio.sleep(0.05)
    reported = [tag for batch in expired for _, tag in batch]
    assert sorted(reported, key=str) == sorted([0, 2, 3, "late"], key=str)
    assert len(deadlines) == 0


async def test_entries_of_served_waiters_do_not_pile_up() -> None:
    deadlines: WaiterDeadlines[None] = WaiterDeadlines(lambda expired: None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    live: list[asyncio.Future[None]] = []
    for _ in range(10_000):  # a long busy spell: 3 waiting at a time, each served soon
        fut = loop.create_future()
        live.append(fut)
        deadlines.arm(deadline, fut, None, live=len(live))
        if len(live) > 3:
            live.pop(0).set_result(None)
        assert len(deadlines) <= 2 * (64 + 4 * 4)
    deadlines.clear()
