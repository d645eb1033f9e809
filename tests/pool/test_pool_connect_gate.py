"""pool.max_concurrent_connects: a start with many keep_online accounts dials them a few at a
time, borrowers go ahead of background fills, and the acquire deadline covers the wait."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable

import pytest

from tgfleet.errors import PoolTimeout
from tgfleet.pool import ConnectionPool, PoolConfig
from tgfleet.pool.gate import ConnectGate
from tgfleet.runtime import pool_config_from
from tgfleet.settings import PoolSettings, Settings

from .conftest import FakeClock, World, recount


class Switchboard:
    """A connector whose dials hang until the test lets them through; counts them in flight."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.open = asyncio.Event()
        self.in_flight = 0
        self.peak = 0
        self.order: list[str] = []

    async def connector(self, phone: str, authorization_id: str) -> object:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.order.append(phone)
        try:
            await self.open.wait()
            return await self.world.connector(phone, authorization_id)
        finally:
            self.in_flight -= 1


def fleet_pool(board: Switchboard, clock: FakeClock, **settings: object) -> ConnectionPool:
    config = PoolConfig(**settings)  # type: ignore[arg-type]
    return ConnectionPool(config, connector=board.connector, clock=clock)


async def settle(rounds: int = 10) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll: the fills finish in the pool's own tasks, which have nothing to await on."""
    async with asyncio.timeout(timeout):
        for _ in itertools.count():
            if condition():
                return
            await asyncio.sleep(0.005)


def pinned(pool: ConnectionPool) -> int:
    return sum(1 for e in pool._accounts.values() if e.pinned is not None)


@pytest.mark.parametrize(("limit", "expected_peak"), [(10, 10), (None, 50)])
async def test_keep_online_start_dials_at_most_the_limit_at_once(
    world: World, clock: FakeClock, limit: int | None, expected_peak: int
) -> None:
    board = Switchboard(world)
    pool = fleet_pool(board, clock, max_concurrent_connects=limit)
    for i in range(50):
        pool.set_account(f"+1{i:03d}", authorizations=[f"a{i}"], keep_online=True)
    await pool.start()
    await settle()
    # The storm (unbounded) or its first wave (bounded): the rest queue as reserved slots.
    assert board.in_flight == expected_peak
    stats = pool.get_pool_stats()
    assert stats["connecting"] == 50
    assert stats["connects"]["queued"] == 50 - expected_peak
    recount(pool)
    board.open.set()
    await wait_for(lambda: pinned(pool) == 50)
    assert board.peak == expected_peak
    assert world.connected() == 50 and not world.duplicates
    stats = pool.get_pool_stats()
    assert stats["idle_connections"] == 50 and stats["connecting"] == 0
    if limit is not None:
        assert stats["connects"] == {
            "limit": 10,
            "in_flight": 0,
            "queued": 0,
            "peak_in_flight": 10,
        }
    recount(pool)
    await pool.stop()
    assert world.connected() == 0


async def test_a_borrower_goes_ahead_of_queued_background_fills(
    world: World, clock: FakeClock
) -> None:
    board = Switchboard(world)
    pool = fleet_pool(board, clock, max_concurrent_connects=2, acquire_timeout=None)
    for i in range(10):
        pool.set_account(f"+1{i:03d}", authorizations=[f"a{i}"], keep_online=True)
    await pool.start()
    await settle()
    borrower = asyncio.create_task(pool.get_connection("+2000"))
    await settle()
    assert board.in_flight == 2 and "+2000" not in board.order
    board.open.set()
    conn = await asyncio.wait_for(borrower, 5)
    # It was dialled as soon as the first slot came free, before the eight queued fills.
    assert board.order.index("+2000") == 2
    await pool.return_connection("+2000", conn)
    await wait_for(lambda: pinned(pool) == 10)
    recount(pool)
    await pool.stop()


async def test_a_borrower_waiting_for_its_own_queued_fill_moves_it_up(
    world: World, clock: FakeClock
) -> None:
    board = Switchboard(world)
    pool = fleet_pool(board, clock, max_concurrent_connects=1, acquire_timeout=None)
    for i in range(10):
        pool.set_account(f"+1{i:03d}", authorizations=[f"a{i}"], keep_online=True)
    await pool.start()
    await settle()
    # +1009's only slot is its keep_online fill, queued last behind nine others.
    borrower = asyncio.create_task(pool.get_connection("+1009"))
    await settle()
    board.open.set()
    conn = await asyncio.wait_for(borrower, 5)
    # Dialled right after the one connect already in flight (+1000's, registered first).
    assert board.order[:2] == ["+1000", "+1009"]
    assert conn.pinned
    await pool.return_connection("+1009", conn)
    await wait_for(lambda: pinned(pool) == 10)
    recount(pool)
    await pool.stop()


@pytest.mark.parametrize("limit", [1, None])
async def test_fills_dial_in_registration_order_and_retry_in_failure_order(
    world: World, clock: FakeClock, limit: int | None
) -> None:
    board = Switchboard(world)
    board.open.set()
    pool = fleet_pool(
        board,
        clock,
        max_concurrent_connects=limit,
        min_idle_per_account=1,
        reconnect_backoff_base=1.0,
        reconnect_backoff_max=1.0,
    )
    phones = [f"+1{i:03d}" for i in range(12)]
    # Neither sorted nor any hash order: a set would dial these in an order PYTHONHASHSEED picks.
    random.Random(2).shuffle(phones)
    for i, phone in enumerate(phones):
        # Half want a connection for keep_online, all of them for min_idle_per_account=1.
        pool.set_account(phone, authorizations=[f"a{i}"], keep_online=i % 2 == 0)
    world.fail_next = len(phones)
    await pool.start()
    await wait_for(lambda: len(board.order) == len(phones) and not pool._tasks)
    assert board.order == phones
    assert pool.get_pool_stats()["errors"] == len(phones)
    # The sweeper retries them once their backoff ends, in the order they failed.
    board.order.clear()
    clock.advance(2.0)
    await pool.sweep_now()
    await wait_for(lambda: pool.get_pool_stats()["idle_connections"] == len(phones))
    assert board.order == phones
    recount(pool)
    await pool.stop()


async def test_the_acquire_deadline_covers_the_wait_for_a_connect_slot(
    world: World, clock: FakeClock
) -> None:
    board = Switchboard(world)
    pool = fleet_pool(board, clock, max_concurrent_connects=1, acquire_timeout=0.2)
    # The one slot goes to +1's keep_online fill, whose connect hangs (no deadline of its own).
    pool.set_account("+1", authorizations=["a1"], keep_online=True)
    await pool.start()
    await settle()
    assert board.in_flight == 1
    with pytest.raises(PoolTimeout, match=r"pool\.max_concurrent_connects=1") as caught:
        await pool.get_connection("+2")
    assert "account +2" in str(caught.value) and "1/1 in flight" in str(caught.value)
    # The timed-out borrower left the gate's queue and its reserved slot.
    assert pool.get_pool_stats()["connects"]["queued"] == 0
    assert pool.get_pool_stats("+2")["pool_size"] == 0
    recount(pool)
    board.open.set()
    await wait_for(lambda: pinned(pool) == 1)
    # The slot is free again: +2 connects now.
    conn2 = await pool.get_connection("+2")
    await pool.return_connection("+2", conn2)
    assert pool.get_pool_stats()["connects"]["in_flight"] == 0
    recount(pool)
    await pool.stop()


async def test_a_borrower_cancelled_in_the_gate_leaves_no_trace(
    world: World, clock: FakeClock
) -> None:
    board = Switchboard(world)
    pool = fleet_pool(board, clock, max_concurrent_connects=1, acquire_timeout=None)
    hog = asyncio.create_task(pool.get_connection("+1"))
    await settle()
    queued = asyncio.create_task(pool.get_connection("+2"))
    await settle()
    assert pool.get_pool_stats()["connects"]["queued"] == 1
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert pool.get_pool_stats()["connects"]["queued"] == 0
    assert pool.get_pool_stats("+2")["pool_size"] == 0
    recount(pool)
    board.open.set()
    conn = await asyncio.wait_for(hog, 5)
    await pool.return_connection("+1", conn)
    conn2 = await asyncio.wait_for(pool.get_connection("+2"), 5)
    await pool.return_connection("+2", conn2)
    assert pool.get_pool_stats()["connects"]["in_flight"] == 0
    recount(pool)
    await pool.stop()
    assert world.connected() == 0


async def test_a_slot_handed_to_a_waiter_cancelled_before_it_ran_is_passed_on() -> None:
    gate = ConnectGate(1)

    async def waiter() -> None:
        async with gate.slot(urgent=True):
            pass

    # The test holds the slot itself, so that it can free it and cancel in one step.
    await gate._acquire(True, "")
    second = asyncio.create_task(waiter())
    third = asyncio.create_task(waiter())
    await settle()
    assert gate.queued == 2
    gate._release()  # hands the slot to `second`, which has not run yet ...
    assert gate.in_flight == 1 and gate.queued == 1
    second.cancel()  # ... and now never will
    with pytest.raises(asyncio.CancelledError):
        await second
    await asyncio.wait_for(third, 1)  # `second` passed the slot on
    assert (gate.in_flight, gate.queued, gate.peak) == (0, 0, 1)


async def test_stop_drops_queued_fills_without_dialling_them(
    world: World, clock: FakeClock
) -> None:
    board = Switchboard(world)
    pool = fleet_pool(board, clock, max_concurrent_connects=2, drain_timeout=1.0)
    for i in range(20):
        pool.set_account(f"+1{i:03d}", authorizations=[f"a{i}"], keep_online=True)
    await pool.start()
    await settle()
    stopping = asyncio.create_task(pool.stop())
    await settle()
    board.open.set()
    await asyncio.wait_for(stopping, 5)
    assert len(board.order) == 2  # the two in flight; the eighteen queued were never dialled
    assert world.connected() == 0
    stats = pool.get_pool_stats()
    assert stats["connecting"] == 0 and stats["connects"]["in_flight"] == 0
    assert not pool._tasks


def test_settings_carry_the_limit_to_the_pool() -> None:
    assert PoolSettings().max_concurrent_connects == PoolConfig().max_concurrent_connects == 10
    assert PoolSettings(max_concurrent_connects="none").max_concurrent_connects is None  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_concurrent_connects"):
        PoolSettings(max_concurrent_connects=0)
    settings = Settings(pool=PoolSettings(max_concurrent_connects=4))
    assert pool_config_from(settings).max_concurrent_connects == 4
