"""One test (or a few) per guarantee of DESIGN.md's pool contract, with an injectable clock."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from tgfleet.errors import ConnectFailed, NoAuthorizationAvailable, PoolClosed, PoolTimeout
from tgfleet.pool import ConnectionPool, ConnectionState, PoolEvent

from .conftest import FakeClock, World, make_pool, recount


async def settle(rounds: int = 5) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


# --- 1. a cancelled or timed-out acquire never leaks a slot, never strands a waiter ----------


async def test_1_cancelled_and_timed_out_waiters_leave_no_trace(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, max_connections_per_account=1, acquire_timeout=0.2)
    held = await pool.get_connection("+1")
    timed_out = asyncio.create_task(pool.get_connection("+1"))
    cancelled = asyncio.create_task(pool.get_connection("+1"))
    await asyncio.sleep(0.12)
    patient = asyncio.create_task(pool.get_connection("+1"))  # its deadline is 0.12 s later
    await settle()
    assert pool.get_pool_stats()["waiting"] == 3
    cancelled.cancel()
    with pytest.raises(PoolTimeout):
        await timed_out
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    recount(pool)
    # the one still waiting is served when the connection comes back
    await pool.return_connection("+1", held)
    conn = await asyncio.wait_for(patient, 1)
    assert conn is held
    recount(pool)
    assert pool.get_pool_stats()["waiting"] == 0
    await pool.return_connection("+1", conn)
    await pool.stop()


async def test_1_waiter_served_then_cancelled_gives_the_connection_on(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, max_connections_per_account=1, acquire_timeout=None)
    held = await pool.get_connection("+1")
    first = asyncio.create_task(pool.get_connection("+1"))
    second = asyncio.create_task(pool.get_connection("+1"))
    await settle()
    # Hand the connection to `first`, and cancel it before it runs: it must pass it on.
    await pool.return_connection("+1", held)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    conn = await asyncio.wait_for(second, 1)
    assert conn is held and conn.state is ConnectionState.ACTIVE
    recount(pool)
    await pool.return_connection("+1", conn)
    assert pool.get_pool_stats()["idle_connections"] == 1
    await pool.stop()


# --- 2. limits hold and stats equal a recount after every operation --------------------------


async def test_2_limits_and_recount_after_every_step(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock, max_connections_per_account=2, max_total_connections=3)
    for phone in ("+1", "+2", "+3"):
        pool.set_account(phone, authorizations=[f"{phone}a", f"{phone}b", f"{phone}c"])
    gate = asyncio.Event()

    async def borrow(phone: str) -> None:
        async with pool.acquire(phone):
            await gate.wait()

    tasks = [asyncio.create_task(borrow(p)) for p in ("+1", "+1", "+1", "+2", "+3", "+2")]
    for _ in range(10):
        await asyncio.sleep(0)
        recount(pool)
    stats = pool.get_pool_stats()
    assert stats["current_pool_size"] == 3
    assert stats["waiting"] == 3
    assert pool.get_pool_stats("+1")["pool_size"] == 2
    gate.set()
    for task in tasks:
        await task
        recount(pool)
    assert pool.get_pool_stats()["current_active_connections"] == 0
    await pool.stop()
    recount(pool)


# --- 3. FIFO per account, no cross-account blocking, global LRU eviction ---------------------


async def test_3_waiters_are_served_first_in_first_out(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock, max_connections_per_account=1, acquire_timeout=None)
    held = await pool.get_connection("+1")
    served: list[int] = []

    async def wait(i: int) -> None:
        async with pool.acquire("+1"):
            served.append(i)
            await asyncio.sleep(0)

    tasks = []
    for i in range(8):
        tasks.append(asyncio.create_task(wait(i)))
        await asyncio.sleep(0)  # arrival order is creation order
    await pool.return_connection("+1", held)
    await asyncio.gather(*tasks)
    assert served == list(range(8))
    await pool.stop()


async def test_3_a_blocked_account_does_not_block_another(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock, max_connections_per_account=1, acquire_timeout=None)
    await pool.get_connection("+blocked")
    stuck = asyncio.create_task(pool.get_connection("+blocked"))
    await settle()
    conn = await asyncio.wait_for(pool.get_connection("+free"), 1)
    assert conn.phone == "+free"
    assert not stuck.done()
    stuck.cancel()
    await pool.return_connection("+free", conn)
    await pool.terminate()


async def test_3_global_limit_evicts_least_recently_used_idle_of_another_account(
    world: World, clock: FakeClock, events: list[PoolEvent]
) -> None:
    pool = make_pool(world, clock, events, max_total_connections=2)
    a = await pool.get_connection("+a")
    b = await pool.get_connection("+b")
    await pool.return_connection("+a", a)
    clock.advance(1)
    await pool.return_connection("+b", b)
    c = await pool.get_connection("+c")  # full: +a's idle one is the least recently used
    assert c.phone == "+c"
    assert a.state is ConnectionState.DISCONNECTED and b.state is ConnectionState.IDLE
    evicted = [e for e in events if e.kind == "evicted"]
    assert [(e.phone, e.reason) for e in evicted] == [("+a", "global_limit")]
    assert pool.get_pool_stats()["evictions"] == {"global_limit": 1}
    recount(pool)
    await pool.return_connection("+c", c)
    await pool.stop()
    assert world.connected() == 0


async def test_3_global_limit_waiter_gets_the_next_returned_connection_slot(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, max_total_connections=1, acquire_timeout=None)
    a = await pool.get_connection("+a")
    waiting = asyncio.create_task(pool.get_connection("+b"))
    await settle()
    assert pool.get_pool_stats()["waiting"] == 1
    await pool.return_connection("+a", a)  # goes idle, then is evicted for +b
    b = await asyncio.wait_for(waiting, 1)
    assert b.phone == "+b" and a.state is ConnectionState.DISCONNECTED
    recount(pool)
    await pool.return_connection("+b", b)
    await pool.stop()


# --- 4. the acquire deadline is hard, covers connecting, and says what was busy -------------


async def test_4_deadline_covers_connecting_and_names_the_problem(
    world: World, clock: FakeClock, events: list[PoolEvent]
) -> None:
    pool = make_pool(world, clock, events, acquire_timeout=0.05)
    world.connect_delay = 30
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(PoolTimeout) as raised:
        await pool.get_connection("+15550001")
    assert loop.time() - started < 1
    message = str(raised.value)
    assert "account +15550001" in message and "pool.acquire_timeout" in message
    assert re.search(r"waited \d+\.\d s", message)
    recount(pool)
    assert pool.get_pool_stats()["connecting"] == 0
    assert pool.get_pool_stats()["timeouts"] == 1
    assert [e.kind for e in events].count("timeout") == 1
    await pool.stop()


async def test_4_timeout_message_counts_busy_and_waiting(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock, max_connections_per_account=1, acquire_timeout=0.05)
    await pool.get_connection("+1")
    other = asyncio.create_task(pool.get_connection("+1"))
    await settle()
    with pytest.raises(PoolTimeout) as raised:
        await pool.get_connection("+1")
    error = raised.value
    assert error.phone == "+1" and error.busy == 1 and error.waiting >= 1
    assert "1 of 1 connections busy" in str(error)
    assert isinstance(error, TimeoutError)
    with pytest.raises(PoolTimeout):
        await other
    await pool.terminate()


async def test_4_every_queued_borrower_times_out_at_its_own_deadline(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, max_connections_per_account=1, acquire_timeout=0.3)
    held = [await pool.get_connection("+1"), await pool.get_connection("+2")]
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def borrow(phone: str) -> float:
        with pytest.raises(PoolTimeout):
            await pool.get_connection(phone)
        return loop.time() - began

    first = [asyncio.create_task(borrow("+1")) for _ in range(3)]
    await asyncio.sleep(0.2)
    later = [asyncio.create_task(borrow("+2")), asyncio.create_task(borrow("+1"))]
    await settle()
    assert pool.get_pool_stats()["waiting"] == 5
    for waited in await asyncio.gather(*first):
        assert 0.3 <= waited < 0.45  # on time, not at a later one's deadline (0.5)
    for waited in await asyncio.gather(*later):
        assert 0.5 <= waited < 0.65
    assert pool.get_pool_stats()["timeouts"] == 5
    recount(pool)
    for conn in held:
        await pool.return_connection(conn.phone, conn)
    await pool.stop()


async def test_4_a_borrower_queued_again_keeps_its_earlier_deadline(
    world: World, clock: FakeClock
) -> None:
    # The first waiter is lent a connection that fails its check, and queues again, behind
    # borrowers that came later: its deadline is earlier than theirs and must still be kept.
    pool = make_pool(world, clock, max_connections_per_account=1, acquire_timeout=0.5)
    loop = asyncio.get_running_loop()
    began = loop.time()
    holder = pool.acquire("+1")
    await holder.__aenter__()

    async def borrow() -> float:
        with pytest.raises(PoolTimeout):
            await pool.get_connection("+1")
        return loop.time() - began

    first = asyncio.create_task(borrow())
    await asyncio.sleep(0.2)
    second = asyncio.create_task(pool.get_connection("+1"))  # gets the reconnected one, keeps it
    later = asyncio.create_task(borrow())
    await settle()
    world.clients[0].alive = False
    await holder.__aexit__(RuntimeError, RuntimeError("mid-request"), None)  # check before reuse
    await settle(20)
    assert pool._accounts["+1"].deadlines_unordered  # the first one queued behind the later one
    kept = await second
    # on time, not at the later one's deadline (0.7); the margins allow a busy machine
    assert 0.5 <= await first < 0.68
    assert 0.7 <= await later < 1.0
    assert pool.get_pool_stats()["timeouts"] == 2
    recount(pool)
    await pool.return_connection("+1", kept)
    await pool.terminate()


# --- 5. no network I/O under the lock: one slow account never stalls the others -------------


async def test_5_slow_connects_and_closes_do_not_stall_other_accounts(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, acquire_timeout=None)
    world.slow_phones["+slow"] = 30
    slow = asyncio.create_task(pool.get_connection("+slow"))
    await settle()
    assert pool.get_pool_stats()["connecting"] == 1
    world.disconnect_delay = 30
    fast = await asyncio.wait_for(pool.get_connection("+fast"), 1)
    closing = asyncio.create_task(pool.close_connection("+fast", fast))  # hangs 30 s
    await settle()
    other = await asyncio.wait_for(pool.get_connection("+other"), 1)
    assert other.phone == "+other" and not slow.done()
    slow.cancel()
    closing.cancel()
    world.disconnect_delay = 0
    await pool.return_connection("+other", other)
    await pool.stop(drain_timeout=0)


# --- 6. release is shielded and idempotent; failed or cancelled use is never handed on -------


async def test_6_release_is_idempotent(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock)
    conn = await pool.get_connection("+1")
    await pool.return_connection("+1", conn)
    await pool.return_connection("+1", conn)
    recount(pool)
    assert pool.get_pool_stats()["idle_connections"] == 1
    again = await pool.get_connection("+1")
    # a stale lease from an earlier borrow must not release the current borrower's connection
    stale = pool.acquire("+1")
    stale._conn, stale._generation = conn, again.generation - 1
    await stale.__aexit__(None, None, None)
    assert again.state is ConnectionState.ACTIVE
    await pool.return_connection("+1", again)
    await pool.stop()


async def test_6_release_survives_cancellation_of_the_body(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock)
    entered = asyncio.Event()

    async def work() -> None:
        async with pool.acquire("+1"):
            entered.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(work())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    recount(pool)
    # cancelled mid-request: closed, not handed to the next borrower
    assert pool.get_pool_stats()["current_pool_size"] == 0
    await settle()
    assert world.clients[0].disconnects == 1
    fresh = await pool.get_connection("+1")
    assert fresh.client is world.clients[1]
    await pool.return_connection("+1", fresh)
    await pool.stop()


async def test_6_failed_use_is_checked_before_the_next_borrow(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock)
    with pytest.raises(ValueError):
        async with pool.acquire("+1"):
            raise ValueError("the request failed")
    client = world.clients[0]
    assert client.alive_checks == 0
    # used a moment ago, so normally unchecked; after a failure it is checked anyway
    async with pool.acquire("+1") as conn:
        assert conn.client is client
    assert client.alive_checks == 1
    # ...and a dead one is replaced, not lent
    with pytest.raises(ValueError):
        async with pool.acquire("+1"):
            raise ValueError("again")
    client.alive = False
    async with pool.acquire("+1") as conn:
        assert conn.client is world.clients[1]
    assert pool.get_pool_stats()["errors"] == 1
    await pool.stop()


async def test_6_liveness_check_skipped_only_within_the_window(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, liveness_skip_window=0.5)
    async with pool.acquire("+1"):
        pass
    async with pool.acquire("+1"):
        pass
    assert world.clients[0].alive_checks == 0
    clock.advance(0.6)
    async with pool.acquire("+1"):
        pass
    assert world.clients[0].alive_checks == 1
    await pool.stop()


async def test_6_a_borrower_retrying_after_a_failed_check_checks_the_next_stale_one(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, liveness_skip_window=0.5)
    pool.set_account("+1", authorizations=["a", "b"])
    first, second = await pool.get_connection("+1"), await pool.get_connection("+1")
    await pool.return_connection("+1", first)
    await pool.return_connection("+1", second)
    clock.advance(0.6)  # both idle past the skip window
    assert first.client is not None and second.client is not None
    world.clients[0].alive = False
    async with pool.acquire("+1") as conn:
        assert conn is second
    # The first failed its check and closed; the second, just as stale, was checked too.
    assert (world.clients[0].alive_checks, world.clients[1].alive_checks) == (1, 1)
    assert not conn.needs_check
    recount(pool)
    await pool.stop()


async def test_6_a_connection_handed_over_on_return_is_not_checked(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, liveness_skip_window=0.5)
    held = await pool.get_connection("+1")
    waiter = asyncio.create_task(pool.get_connection("+1"))
    await settle()
    clock.advance(5.0)  # borrowed long ago, but in use until this very return
    await pool.return_connection("+1", held)
    assert await waiter is held
    assert world.clients[0].alive_checks == 0
    await pool.return_connection("+1", held)
    await pool.stop()


# --- 7. age retirement has jitter, happens on return; reconnects back off -----------------


async def test_7_ages_are_jittered(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock, max_connection_age=100.0, age_jitter=0.1)
    conns = [await pool.get_connection(f"+{i}") for i in range(40)]
    ages = [c.expires_at - c.created_at for c in conns]
    assert all(90.0 <= a <= 110.0 for a in ages)
    assert len({round(a, 6) for a in ages}) > 30
    for c in conns:
        await pool.return_connection(c.phone, c)
    clock.advance(100)
    closed = await pool.sweep_now()
    assert 0 < closed < 40  # some expired, not the whole fleet at once
    await pool.stop()


async def test_7_an_aged_connection_in_use_is_retired_on_return(
    world: World, clock: FakeClock, events: list[PoolEvent]
) -> None:
    pool = make_pool(world, clock, events, max_connection_age=100.0, age_jitter=0.0)
    conn = await pool.get_connection("+1")
    clock.advance(150)
    assert await pool.sweep_now() == 0
    assert conn.state is ConnectionState.ACTIVE  # never closed mid-use
    await pool.return_connection("+1", conn)
    assert conn.state is ConnectionState.DISCONNECTED
    assert [e.reason for e in events if e.kind == "closed"] == ["max_age"]
    await pool.stop()


async def test_7_an_aged_connection_is_not_handed_to_the_next_waiter(
    world: World, clock: FakeClock
) -> None:
    # The hand-over reads no clock: the sweep marks a borrowed connection past its age, and
    # the return closes it instead of handing it on; the waiter gets a new connection. (No
    # event callback: with one, returns take the general path, which reads the clock.)
    pool = make_pool(
        world,
        clock,
        max_connections_per_account=1,
        max_connection_age=100.0,
        age_jitter=0.0,
    )
    old = await pool.get_connection("+1")
    waiter = asyncio.create_task(pool.get_connection("+1"))
    await settle()
    clock.advance(150)
    await pool.sweep_now()
    await pool.return_connection("+1", old)
    new = await asyncio.wait_for(waiter, 1)
    assert new is not old and new.state is ConnectionState.ACTIVE
    await settle()
    assert old.state is ConnectionState.DISCONNECTED
    assert pool.get_pool_stats()["evictions"] == {"max_age": 1}
    recount(pool)
    await pool.return_connection("+1", new)
    await pool.stop()


async def test_7_failed_connects_back_off_exponentially(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock, reconnect_backoff_base=1.0, reconnect_backoff_max=60.0)
    world.fail_next = 2
    with pytest.raises(ConnectFailed, match="connection refused"):
        await pool.get_connection("+1")
    first = pool.get_pool_stats("+1")["backoff_until"] - clock.now
    assert 0.5 <= first <= 1.0
    # inside the backoff: refused at once, without calling the connector
    with pytest.raises(ConnectFailed, match="next try in"):
        await pool.get_connection("+1")
    assert len(world.calls) == 1
    clock.advance(first)
    with pytest.raises(ConnectFailed):
        await pool.get_connection("+1")
    second = pool.get_pool_stats("+1")["backoff_until"] - clock.now
    assert 1.0 <= second <= 2.0
    clock.advance(second)
    conn = await pool.get_connection("+1")
    assert pool.get_pool_stats("+1")["backoff_until"] == 0.0
    await pool.return_connection("+1", conn)
    recount(pool)
    await pool.stop()


# --- 8. the sweeper claims atomically, uses the pool's clock, costs what expires -------------


async def test_8_sweep_closes_idle_expired_but_not_borrowed(
    world: World, clock: FakeClock, events: list[PoolEvent]
) -> None:
    pool = make_pool(world, clock, events, max_idle_time=300.0)
    pool.set_account("+1", authorizations=["a", "b"])
    a = await pool.get_connection("+1")
    b = await pool.get_connection("+1")
    await pool.return_connection("+1", a)
    clock.advance(299)
    assert await pool.sweep_now() == 0
    clock.advance(2)
    assert await pool.sweep_now() == 1
    assert a.state is ConnectionState.DISCONNECTED and b.state is ConnectionState.ACTIVE
    assert pool.get_pool_stats()["evictions"] == {"max_idle": 1}
    assert [e.reason for e in events if e.kind == "closed"] == ["max_idle"]
    await pool.return_connection("+1", b)
    await pool.stop()


async def test_8_swept_connection_is_claimed_before_its_slow_close(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, max_idle_time=10.0)
    conn = await pool.get_connection("+1")
    await pool.return_connection("+1", conn)
    clock.advance(11)
    world.disconnect_delay = 0.05
    sweep = asyncio.create_task(pool.sweep_now())
    await asyncio.sleep(0)
    # the closing one is never lent; the new borrower waits for its authorization to be free
    fresh = await asyncio.wait_for(pool.get_connection("+1"), 1)
    assert fresh is not conn and fresh.client is world.clients[1]
    assert world.duplicates == []
    await sweep
    await pool.return_connection("+1", fresh)
    await pool.stop()


async def test_8_sweep_cost_follows_expired_count_not_fleet(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock, max_idle_time=100.0, max_total_connections=2000)
    conns = [await pool.get_connection(f"+{i}") for i in range(1000)]
    for i, c in enumerate(conns):
        if i < 10:
            await pool.return_connection(c.phone, c)
    clock.advance(50)
    for c in conns[10:]:
        await pool.return_connection(c.phone, c)
    await pool.sweep_now()
    assert pool.get_pool_stats()["last_sweep"]["examined"] == 1
    clock.advance(60)  # the first 10 are now over 100 s idle
    assert await pool.sweep_now() == 10
    assert pool.get_pool_stats()["last_sweep"]["examined"] == 11
    await pool.stop()


async def test_8_sweeper_task_runs_on_its_interval(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock, cleanup_interval=0.01, max_idle_time=5.0)
    await pool.start()
    conn = await pool.get_connection("+1")
    await pool.return_connection("+1", conn)
    clock.advance(6)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if conn.state is ConnectionState.DISCONNECTED:
            break
    assert conn.state is ConnectionState.DISCONNECTED
    await pool.stop()
    assert pool._sweeper is not None and pool._sweeper.done()


# --- 9. an authorization has at most one live client ---------------------------------------


async def test_9_never_two_clients_on_one_authorization(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock, max_connections_per_account=3, acquire_timeout=None)
    pool.set_account("+1", authorizations=["a", "b"])  # limit: min(3, 2) = 2

    async def work() -> None:
        async with pool.acquire("+1") as conn:
            await asyncio.sleep(0.001)
            assert conn.authorization_id in ("a", "b")

    await asyncio.gather(*(work() for _ in range(30)))
    assert sorted(world.calls) == [("+1", "a"), ("+1", "b")]
    assert world.duplicates == []
    await pool.stop()


async def test_9_removed_authorization_closes_on_return_and_frees_nothing_early(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, acquire_timeout=0.05)
    pool.set_account("+1", authorizations=["a"])
    conn = await pool.get_connection("+1")
    pool.set_account("+1", authorizations=["b"])
    assert conn.state is ConnectionState.ACTIVE  # still in use: not closed under the borrower
    await pool.return_connection("+1", conn)
    assert conn.state is ConnectionState.DISCONNECTED
    nxt = await pool.get_connection("+1")
    assert nxt.authorization_id == "b"
    await pool.return_connection("+1", nxt)
    pool.set_account("+1", authorizations=[])
    with pytest.raises(NoAuthorizationAvailable, match="no usable authorization"):
        await pool.get_connection("+1")
    await pool.stop()
    assert world.duplicates == [] and world.connected() == 0


async def test_9_unregistered_account_has_a_pool_of_one(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock, acquire_timeout=0.05)
    conn = await pool.get_connection("+1")
    assert conn.authorization_id == "+1"
    with pytest.raises(PoolTimeout):
        await pool.get_connection("+1")
    await pool.return_connection("+1", conn)
    await pool.stop()


# --- 10. observable, and stop() drains ------------------------------------------------------


async def test_10_events_stats_and_repr(
    world: World, clock: FakeClock, events: list[PoolEvent]
) -> None:
    pool = make_pool(world, clock, events)
    async with pool.acquire("+1"):
        pass
    async with pool.acquire("+1"):
        pass
    await pool.close_all_for_account("+1")
    assert [e.kind for e in events] == ["created", "returned", "reused", "returned", "closed"]
    assert events[-1].reason == "closed_by_request" and events[-1].at == clock.now
    stats = pool.get_pool_stats()
    assert stats["total_connections_created"] == 1
    assert stats["total_connections_reused"] == 1
    assert stats["total_connections_closed"] == 1
    assert set(stats["acquire_wait_seconds"]) == {"p50", "p95", "p99"}
    assert pool.get_pool_stats("+nobody")["pool_size"] == 0
    assert repr(pool) == (
        "<ConnectionPool new size=0/300 idle=0 active=0 connecting=0 closing=0 waiting=0 "
        "created=1 reused=1 closed=1 errors=0 timeouts=0>"
    )
    await pool.stop()


async def test_10_borrow_events_can_be_turned_off_and_on(
    world: World, clock: FakeClock, events: list[PoolEvent]
) -> None:
    pool = make_pool(world, clock, events, max_connections_per_account=1)
    pool.set_borrow_events(False)  # what the daemon does while no event stream wants them
    held = await pool.get_connection("+1")
    waiter = asyncio.create_task(pool.get_connection("+1"))
    await settle()
    await pool.return_connection("+1", held)  # handed over: the short path
    again = await waiter
    await pool.return_connection("+1", again)  # put idle: the short path
    async with pool.acquire("+1"):
        pass
    assert [e.kind for e in events] == ["created"]  # the rest still come: only borrows are quiet
    assert pool.get_pool_stats()["total_connections_reused"] == 2
    pool.set_borrow_events(True)
    async with pool.acquire("+1"):
        pass
    await pool.close_all_for_account("+1")
    assert [e.kind for e in events] == ["created", "reused", "returned", "closed"]
    recount(pool)
    await pool.stop()


async def test_10_acquire_histogram_counts_every_completed_acquire(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, max_connections_per_account=1, acquire_timeout=0.2)

    def histogram() -> tuple[dict[float, int], int, float]:
        hist = pool.get_pool_stats()["acquire_seconds"]
        return dict((le, n) for le, n in hist["buckets"]), hist["count"], hist["sum"]

    conn = await pool.get_connection("+1")  # connected on the way: a short wait
    await pool.return_connection("+1", conn)
    first, count, _ = histogram()
    assert count == 1
    async with pool.acquire("+1") as conn:  # lent at once: counts as no wait
        pass
    buckets, count, _ = histogram()
    assert count == 2 and buckets[0.0005] == first[0.0005] + 1
    # A borrower that waits for a return.
    held = await pool.get_connection("+1")
    waiter = asyncio.create_task(pool.get_connection("+1"))
    await asyncio.sleep(0.02)
    await pool.return_connection("+1", held)
    conn = await waiter
    before = buckets
    buckets, count, total = histogram()
    assert count == 4
    assert buckets[0.01] == before[0.01] + 1  # the immediate borrow of `held` above
    assert buckets[30.0] == count and total >= 0.02
    # A timeout counts in timeouts, not in the histogram.
    with pytest.raises(PoolTimeout):
        await pool.get_connection("+1")
    assert histogram()[1] == 4 and pool.get_pool_stats()["timeouts"] == 1
    await pool.return_connection("+1", conn)
    await pool.stop()


async def test_10_a_failing_event_callback_is_swallowed(
    world: World, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: PoolEvent) -> None:
        raise RuntimeError("observer bug")

    pool = ConnectionPool(
        make_pool(world, clock).config,
        connector=world.connector,
        clock=clock,
        event_callback=broken,
    )
    async with pool.acquire("+1"):
        pass
    assert "pool event callback failed" in caplog.text
    await pool.stop()


async def test_10_stop_fails_waiters_closes_idle_and_borrowed_on_return(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, max_connections_per_account=1, acquire_timeout=None)
    await pool.start()
    pool.set_account("+2", authorizations=["x"])
    idle = await pool.get_connection("+2")
    await pool.return_connection("+2", idle)
    borrowed = await pool.get_connection("+1")
    waiter = asyncio.create_task(pool.get_connection("+1"))
    await settle()
    stopping = asyncio.create_task(pool.stop(drain_timeout=5))
    with pytest.raises(PoolClosed):
        await waiter
    await settle()
    assert idle.state is ConnectionState.DISCONNECTED
    assert borrowed.state is ConnectionState.ACTIVE and not stopping.done()
    with pytest.raises(PoolClosed):
        await pool.get_connection("+3")
    await pool.return_connection("+1", borrowed)
    await asyncio.wait_for(stopping, 1)
    assert borrowed.state is ConnectionState.DISCONNECTED
    assert world.connected() == 0 and not pool._tasks
    recount(pool)


async def test_10_stop_cancels_the_acquire_deadline_timers(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock, max_connections_per_account=1, acquire_timeout=30)
    pool.set_account("+1", authorizations=["a"])  # registered: its entry outlives its clients
    held = await pool.get_connection("+1")
    waiter = asyncio.create_task(pool.get_connection("+1"))
    await settle()
    timer = pool._accounts["+1"].deadline_timer
    assert timer is not None and not timer.cancelled()
    await pool.terminate()
    with pytest.raises(PoolClosed):
        await waiter
    assert timer.cancelled()  # nothing of the pool stays in the loop's schedule
    assert held.state is ConnectionState.DISCONNECTED


async def test_10_drain_deadline_closes_what_was_not_returned(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock)
    await pool.start()
    borrowed = await pool.get_connection("+1")
    await pool.stop(drain_timeout=0.02)
    assert borrowed.state is ConnectionState.DISCONNECTED
    assert world.connected() == 0
    await pool.return_connection("+1", borrowed)  # late return: nothing happens
    recount(pool)


async def test_10_leak_detection_warns_once_with_the_borrowers_stack(
    world: World, clock: FakeClock, events: list[PoolEvent], caplog: pytest.LogCaptureFixture
) -> None:
    pool = make_pool(world, clock, events, leak_detection_threshold=5.0)
    caplog.set_level(logging.WARNING, logger="tgfleet.pool.pool")
    conn = await pool.get_connection("+1", borrower="worker-7")
    clock.advance(6)
    await pool.sweep_now()
    await pool.sweep_now()
    assert [e.kind for e in events].count("leak_suspected") == 1
    assert pool.get_pool_stats()["leaks_suspected"] == 1
    assert "worker-7" in caplog.text
    assert "test_10_leak_detection_warns_once" in caplog.text  # the borrower's stack
    await pool.return_connection("+1", conn)
    await pool.stop()


# --- keep_online and min_idle --------------------------------------------------------------


async def test_keep_online_pins_one_connection_through_idle_sweeps(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, max_idle_time=10.0)
    pool.set_account("+1", authorizations=["a", "b"], keep_online=True)
    await pool.start()
    await settle()
    assert world.calls == [("+1", "a")]
    pinned = pool._accounts["+1"].pinned
    assert pinned is not None and pinned.state is ConnectionState.IDLE
    clock.advance(60)
    assert await pool.sweep_now() == 0
    # the pinned one dies: the pin passes to its replacement
    pinned.client.alive = False  # type: ignore[union-attr]
    async with pool.acquire("+1") as conn:
        assert conn is not pinned
    await settle()
    assert pool._accounts["+1"].pinned is not None
    pool.set_keep_online("+1", False)
    clock.advance(60)
    assert await pool.sweep_now() >= 1
    await pool.stop()
    assert world.duplicates == []


async def test_min_idle_keeps_registered_accounts_warm(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock, min_idle_per_account=1, max_idle_time=10.0)
    pool.set_account("+1", authorizations=["a", "b"])
    await pool.start()
    await settle()
    assert pool.get_pool_stats("+1")["idle_connections"] == 1
    clock.advance(60)
    assert await pool.sweep_now() == 0
    assert pool.get_pool_stats("+1")["idle_connections"] == 1
    await pool.stop()


async def test_connections_snapshot(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock)
    conn = await pool.get_connection("+1", borrower="api")
    clock.advance(3)
    [info] = pool.connections()
    assert (info.phone, info.authorization_id, info.state, info.borrower) == (
        "+1",
        "+1",
        "active",
        "api",
    )
    assert info.age == 3 and info.use_count == 1
    await pool.return_connection("+1", conn)
    await pool.stop()


# --- options and edges -----------------------------------------------------------------------


@pytest.mark.parametrize(("order", "expected"), [("lru", "a"), ("mru", "b")])
async def test_reuse_order(world: World, clock: FakeClock, order: str, expected: str) -> None:
    pool = make_pool(world, clock, reuse_order=order)
    pool.set_account("+1", authorizations=["a", "b"])
    first = await pool.get_connection("+1")
    second = await pool.get_connection("+1")
    assert (first.authorization_id, second.authorization_id) == ("a", "b")
    await pool.return_connection("+1", first)
    clock.advance(0.1)
    await pool.return_connection("+1", second)
    conn = await pool.get_connection("+1")
    assert conn.authorization_id == expected
    await pool.return_connection("+1", conn)
    await pool.stop()


async def test_use_cache_false_always_checks(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock)
    conn = await pool.get_connection("+1")
    await pool.return_connection("+1", conn)
    again = await pool.get_connection("+1", use_cache=False)
    assert again is conn and world.clients[0].alive_checks == 1
    await pool.return_connection("+1", again)
    await pool.stop()


async def test_waiters_fail_when_the_last_authorization_goes(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, acquire_timeout=None)
    pool.set_account("+1", authorizations=["a"])
    held = await pool.get_connection("+1")
    waiter = asyncio.create_task(pool.get_connection("+1"))
    await settle()
    pool.set_account("+1", authorizations=[])
    await pool.return_connection("+1", held)  # closes: its authorization is gone
    with pytest.raises(NoAuthorizationAvailable):
        await asyncio.wait_for(waiter, 1)
    recount(pool)
    await pool.stop()


async def test_connect_failure_fails_waiters_that_nothing_else_could_serve(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, acquire_timeout=None, max_connections_per_account=1)
    world.connect_delay = 0.01
    world.fail_next = 1
    first = asyncio.create_task(pool.get_connection("+1"))
    await settle()
    second = asyncio.create_task(pool.get_connection("+1"))
    with pytest.raises(ConnectFailed):
        await first
    with pytest.raises(ConnectFailed, match="next try in"):
        await asyncio.wait_for(second, 1)  # not left waiting forever behind a backoff
    recount(pool)
    await pool.stop()


async def test_close_during_connect_closes_on_return(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock)
    world.connect_delay = 0.01
    task = asyncio.create_task(pool.get_connection("+1"))
    await settle()
    assert await pool.close_all_for_account("+1") == 1
    conn = await task
    assert conn.state is ConnectionState.ACTIVE  # the borrower still gets to use it
    await pool.return_connection("+1", conn)
    assert conn.state is ConnectionState.DISCONNECTED
    await pool.stop()


async def test_return_to_the_wrong_account_is_refused(world: World, clock: FakeClock) -> None:
    pool = make_pool(world, clock)
    conn = await pool.get_connection("+1")
    with pytest.raises(ValueError, match="belongs to"):
        await pool.return_connection("+2", conn)
    await pool.return_connection("+1", conn)
    await pool.stop()


async def test_a_thousand_waiters_time_out_together_and_leave_clean_books(
    world: World, clock: FakeClock
) -> None:
    pool = make_pool(world, clock, acquire_timeout=0.05)
    held = await pool.get_connection("+1")
    waiters = [asyncio.create_task(pool.get_connection("+1")) for _ in range(1000)]
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, PoolTimeout) for r in results)
    stats = pool.get_pool_stats()
    assert stats["waiting"] == 0 and stats["timeouts"] == 1000
    recount(pool)
    await pool.return_connection("+1", held)
    assert (await pool.get_connection("+1")) is held
    await pool.terminate()
