"""Thousands of random operations over dozens of accounts; after every step the limits hold
and a recount equals the stats; at the end nothing is borrowed, waiting or leaked.

Seeded and run on the real event loop: the randomness picks what happens, the loop decides
the interleaving, and a failing seed replays the same way.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tgfleet.errors import ConnectFailed, NoAuthorizationAvailable, PoolClosed, PoolTimeout
from tgfleet.pool import ConnectionPool, PoolConfig

from .conftest import FakeClock, World, recount

EXPECTED = (PoolTimeout, ConnectFailed, NoAuthorizationAvailable, ValueError)


# With leak detection on, every borrow and return takes the general paths; with it off (and no
# event callback) they take the short ones (the hand-over in _give_back, _wait_turn's return).
@pytest.mark.parametrize(
    ("seed", "leak_threshold"), [(1, 20.0), (2, 20.0), (3, 20.0), (4, None), (5, None), (6, None)]
)
async def test_random_operations_keep_the_books(seed: int, leak_threshold: float | None) -> None:
    rng = random.Random(seed)
    clock = FakeClock()
    world = World()
    config = PoolConfig(
        max_connections_per_account=3,
        max_total_connections=15,
        max_idle_time=30.0,
        max_connection_age=120.0,
        acquire_timeout=0.003,
        liveness_skip_window=0.5,
        reconnect_backoff_base=0.5,
        reconnect_backoff_max=4.0,
        leak_detection_threshold=leak_threshold,
    )

    async def connector(phone: str, authorization_id: str) -> object:
        for _ in range(rng.randrange(3)):
            await asyncio.sleep(0)
        return await world.connector(phone, authorization_id)

    pool = ConnectionPool(config, connector=connector, clock=clock, rng=random.Random(seed))  # type: ignore[arg-type]
    phones = [f"+1555000{i:02d}" for i in range(36)]
    for phone in phones[:24]:  # the rest are never registered: a pool of one each
        count = rng.randrange(0, 5)
        pool.set_account(phone, authorizations=[f"{phone}/{k}" for k in range(count)])
    tasks: set[asyncio.Task[None]] = set()
    outcomes = {"ok": 0, "expected_error": 0, "cancelled": 0}

    async def borrower(phone: str) -> None:
        try:
            async with pool.acquire(phone) as conn:
                assert conn.phone == phone and conn.client is not None
                for _ in range(rng.randrange(4)):
                    await asyncio.sleep(0)
                if rng.random() < 0.08 and not finishing:
                    # held for ~200 steps, far longer than the acquire timeout
                    release = asyncio.Event()
                    held.append((step + 200, release))
                    await release.wait()
                if rng.random() < 0.1:
                    raise ValueError("the request failed")
            outcomes["ok"] += 1
        except EXPECTED:
            outcomes["expected_error"] += 1
        except asyncio.CancelledError:
            outcomes["cancelled"] += 1

    recounts = 0
    finishing = False
    held: list[tuple[int, asyncio.Event]] = []
    for step in range(3000):
        for until, release in held:
            if until <= step:
                release.set()
        op = rng.random()
        if op < 0.55:
            task = asyncio.create_task(borrower(rng.choice(phones)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        elif op < 0.65 and tasks:
            rng.choice(list(tasks)).cancel()
        elif op < 0.68:
            world.fail_next += 1
        elif op < 0.75:
            live = [c for c in world.clients if c.connected]
            if live:
                rng.choice(live).alive = False
        elif op < 0.78:
            await pool.close_all_for_account(rng.choice(phones))
        elif op < 0.84:
            clock.advance(rng.choice([0.1, 1.0, 5.0, 40.0]))
            await pool.sweep_now()
        elif op < 0.87:
            phone = rng.choice(phones[:24])
            count = rng.randrange(0, 5)
            pool.set_account(
                phone,
                authorizations=[f"{phone}/{k}" for k in rng.sample(range(6), count)],
                keep_online=False,
            )
        for _ in range(rng.randrange(1, 4)):
            await asyncio.sleep(0)
        # a cancelled waiter leaves the queue when its task runs; let those run, then count
        if not any(f.done() for e in pool._accounts.values() for f, _ in e.waiters):
            recount(pool)
            recounts += 1
        assert world.duplicates == []

    assert recounts > 2500
    finishing = True
    for _, release in held:
        release.set()
    while tasks:
        await asyncio.gather(*list(tasks), return_exceptions=True)
    recount(pool)
    stats = pool.get_pool_stats()
    assert stats["current_active_connections"] == 0
    assert stats["waiting"] == 0 and stats["connecting"] == 0
    assert outcomes["ok"] > 500 and outcomes["expected_error"] > 10 and outcomes["cancelled"] > 10
    # every open client is one the pool still holds idle
    assert world.connected() == stats["idle_connections"] + stats["closing"]
    assert stats["timeouts"] > 0 and stats["evictions"].get("global_limit", 0) > 0
    await pool.stop()
    recount(pool)
    assert world.connected() == 0 and world.duplicates == []
    assert not pool._tasks
    assert stats["total_connections_created"] == len(world.clients)
    with pytest.raises(PoolClosed):
        await pool.get_connection(phones[0])
