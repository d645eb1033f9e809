"""The pool against the simplest things that do part of its job, side by side in one run.

(a) uncontended acquire+return: tgfleet's pool vs a minimal ``asyncio.Queue`` pool;
(b) 1,000 tasks on one account with 3 connections vs a bare ``asyncio.Semaphore(3)``;
(c) a sweep when nothing has expired, at 300 and at 30,000 connections;
(d) the same workloads on a naive dict-of-lists pool that scans linearly (the seed's design).

Every figure is a median over interleaved rounds (the machine is shared and noisy); the
ratios, taken within each round, are what to read.
Run: ``.venv/bin/python bench/pool_bench.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tgfleet.pool import ConnectionPool, PoolConfig


class BenchClient:
    """A client that costs nothing: the bench measures the pool, not the network."""

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        return None

    async def is_alive(self) -> bool:
        return True


async def connector(phone: str, authorization_id: str) -> BenchClient:
    return BenchClient()


# --- the baselines ---------------------------------------------------------------------------


class QueuePool:
    """The minimal pool: a queue of ready clients, no limits, no bookkeeping."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[BenchClient] = asyncio.Queue()
        for _ in range(size):
            self.queue.put_nowait(BenchClient())

    async def acquire(self) -> BenchClient:
        return await self.queue.get()

    def release(self, client: BenchClient) -> None:
        self.queue.put_nowait(client)


@dataclass
class NaiveConn:
    client: BenchClient
    last_used: float
    created_at: float
    in_use: bool = False


@dataclass
class NaivePool:
    """The seed's design: ``dict[phone, list[conn]]`` under one lock, linear scans for a free
    connection, for the sweep and for the stats; waiters poll a condition."""

    max_per_account: int = 3
    max_idle_time: float = 300.0
    pools: dict[str, list[NaiveConn]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    freed: asyncio.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.freed = asyncio.Condition(self.lock)

    async def get_connection(self, phone: str) -> NaiveConn:
        async with self.freed:
            while True:
                conns = self.pools.setdefault(phone, [])
                for conn in conns:
                    if not conn.in_use:
                        conn.in_use = True
                        return conn
                if len(conns) < self.max_per_account:
                    now = time.monotonic()
                    conn = NaiveConn(await connector(phone, phone), now, now, in_use=True)
                    conns.append(conn)
                    return conn
                await self.freed.wait()

    async def return_connection(self, phone: str, conn: NaiveConn) -> None:
        async with self.freed:
            conn.in_use = False
            conn.last_used = time.monotonic()
            self.freed.notify()

    def stats(self) -> dict[str, int]:
        conns = [c for conns in self.pools.values() for c in conns]
        active = sum(1 for c in conns if c.in_use)
        return {"current_pool_size": len(conns), "current_active_connections": active}

    def sweep(self, now: float) -> int:
        closed = 0
        for conns in self.pools.values():
            for conn in list(conns):
                if not conn.in_use and now - conn.last_used > self.max_idle_time:
                    conns.remove(conn)
                    closed += 1
        return closed


# --- measurements ----------------------------------------------------------------------------


CYCLES = 20_000


async def a_tgfleet() -> float:
    pool = ConnectionPool(PoolConfig(), connector=connector)
    async with pool.acquire("+1"):
        pass
    started = time.perf_counter()
    for _ in range(CYCLES):
        async with pool.acquire("+1"):
            pass
    elapsed = time.perf_counter() - started
    await pool.stop()
    return elapsed / CYCLES * 1e6


async def a_tgfleet_seed_calls() -> float:
    pool = ConnectionPool(PoolConfig(), connector=connector)
    started = time.perf_counter()
    for _ in range(CYCLES):
        conn = await pool.get_connection("+1")
        await pool.return_connection("+1", conn)
    elapsed = time.perf_counter() - started
    await pool.stop()
    return elapsed / CYCLES * 1e6


async def a_queue() -> float:
    pool = QueuePool(1)
    started = time.perf_counter()
    for _ in range(CYCLES):
        client = await pool.acquire()
        pool.release(client)
    return (time.perf_counter() - started) / CYCLES * 1e6


async def a_naive() -> float:
    pool = NaivePool()
    started = time.perf_counter()
    for _ in range(CYCLES):
        conn = await pool.get_connection("+1")
        await pool.return_connection("+1", conn)
    return (time.perf_counter() - started) / CYCLES * 1e6


TASKS = 1_000


async def b_tgfleet() -> float:
    pool = ConnectionPool(PoolConfig(), connector=connector)
    pool.set_account("+1", authorizations=["a", "b", "c"])

    async def work() -> None:
        async with pool.acquire("+1"):
            await asyncio.sleep(0)

    started = time.perf_counter()
    await asyncio.gather(*(work() for _ in range(TASKS)))
    elapsed = time.perf_counter() - started
    assert pool.get_pool_stats()["total_connections_created"] == 3
    await pool.stop()
    return TASKS / elapsed


async def b_tgfleet_seed_calls() -> float:
    pool = ConnectionPool(PoolConfig(), connector=connector)
    pool.set_account("+1", authorizations=["a", "b", "c"])

    async def work() -> None:
        conn = await pool.get_connection("+1")
        try:
            await asyncio.sleep(0)
        finally:
            await pool.return_connection("+1", conn)

    started = time.perf_counter()
    await asyncio.gather(*(work() for _ in range(TASKS)))
    elapsed = time.perf_counter() - started
    await pool.stop()
    return TASKS / elapsed


async def b_semaphore() -> float:
    sem = asyncio.Semaphore(3)

    async def work() -> None:
        async with sem:
            await asyncio.sleep(0)

    started = time.perf_counter()
    await asyncio.gather(*(work() for _ in range(TASKS)))
    return TASKS / (time.perf_counter() - started)


async def b_naive() -> float:
    pool = NaivePool()

    async def work() -> None:
        conn = await pool.get_connection("+1")
        try:
            await asyncio.sleep(0)
        finally:
            await pool.return_connection("+1", conn)

    started = time.perf_counter()
    await asyncio.gather(*(work() for _ in range(TASKS)))
    return TASKS / (time.perf_counter() - started)


SWEEPS = 200


def c_tgfleet(size: int) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        pool = ConnectionPool(PoolConfig(max_total_connections=size), connector=connector)
        for i in range(size):
            conn = await pool.get_connection(f"+{i}")
            await pool.return_connection(conn.phone, conn)
        now = time.monotonic()
        started = time.perf_counter()
        for _ in range(SWEEPS):
            assert pool._sweep(now) == 0
        elapsed = time.perf_counter() - started
        await pool.terminate()
        return elapsed / SWEEPS * 1e6

    return run


def c_naive(size: int) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        pool = NaivePool()
        for i in range(size):
            conn = await pool.get_connection(f"+{i}")
            await pool.return_connection(f"+{i}", conn)
        now = time.monotonic()
        sweeps = max(5, SWEEPS * 300 // size)
        started = time.perf_counter()
        for _ in range(sweeps):
            assert pool.sweep(now) == 0
        return (time.perf_counter() - started) / sweeps * 1e6

    return run


def e_stats(size: int, naive: bool) -> Callable[[], Awaitable[float]]:
    """Reading the global stats: counters kept as things happen vs a scan of every list."""

    async def run() -> float:
        reads = 2_000
        if naive:
            npool = NaivePool()
            for i in range(size):
                conn = await npool.get_connection(f"+{i}")
                await npool.return_connection(f"+{i}", conn)
            started = time.perf_counter()
            for _ in range(reads):
                npool.stats()
            return (time.perf_counter() - started) / reads * 1e6
        pool = ConnectionPool(PoolConfig(max_total_connections=size), connector=connector)
        for i in range(size):
            conn = await pool.get_connection(f"+{i}")
            await pool.return_connection(conn.phone, conn)
        started = time.perf_counter()
        for _ in range(reads):
            pool.get_pool_stats()
        elapsed = time.perf_counter() - started
        await pool.terminate()
        return elapsed / reads * 1e6

    return run


def interleaved(
    repeats: int, runs: list[Callable[[], Awaitable[float]]]
) -> tuple[list[float], list[float]]:
    """Run the implementations of one workload in turn, ``repeats`` times, so that a noisy
    neighbour slows all of them alike. Returns each one's median and the median, over the
    rounds, of its ratio to the first (the baseline) measured in the same round."""
    samples: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for i, run in enumerate(runs):
            samples[i].append(asyncio.run(run()))
    medians = [statistics.median(x) for x in samples]
    ratios = [statistics.median(a / b for a, b in zip(x, samples[0], strict=True)) for x in samples]
    return medians, ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    r = args.repeats
    rows: list[tuple[str, str, str, str]] = []

    # (a) and (b) are short: three times the rounds, to steady them on a shared machine.
    (qa, ta, sa, na), (_, rta, rsa, rna) = interleaved(
        3 * r, [a_queue, a_tgfleet, a_tgfleet_seed_calls, a_naive]
    )
    rows.append(("(a) acquire+return, µs/cycle", "asyncio.Queue pool", f"{qa:.2f}", "1.00x"))
    rows.append(("", "tgfleet `async with acquire`", f"{ta:.2f}", f"{rta:.2f}x (target ≤1.5x)"))
    rows.append(("", "tgfleet get/return_connection", f"{sa:.2f}", f"{rsa:.2f}x"))
    rows.append(("", "naive dict-of-lists", f"{na:.2f}", f"{rna:.2f}x"))

    (sb, tb, tsb, nb), (_, rtb, rtsb, rnb) = interleaved(
        3 * r, [b_semaphore, b_tgfleet, b_tgfleet_seed_calls, b_naive]
    )
    rows.append(
        ("(b) 1,000 tasks / 3 conns, tasks/s", "asyncio.Semaphore(3)", f"{sb:,.0f}", "1.00x")
    )
    rows.append(("", "tgfleet `async with acquire`", f"{tb:,.0f}", f"{rtb:.2f}x (target ≥0.9x)"))
    rows.append(("", "tgfleet get/return_connection", f"{tsb:,.0f}", f"{rtsb:.2f}x"))
    rows.append(("", "naive dict-of-lists", f"{nb:,.0f}", f"{rnb:.2f}x"))

    (t300, t30k, n300, n30k), (_, rt30k, rn300, rn30k) = interleaved(
        r, [c_tgfleet(300), c_tgfleet(30_000), c_naive(300), c_naive(30_000)]
    )
    rows.append(("(c) sweep, nothing expired, µs", "tgfleet, 300 conns", f"{t300:.2f}", "1.00x"))
    rows.append(("", "tgfleet, 30,000 conns", f"{t30k:.2f}", f"{rt30k:.2f}x (target ≤2x)"))
    rows.append(("", "naive, 300 conns", f"{n300:.2f}", f"{rn300:.0f}x"))
    rows.append(("", "naive, 30,000 conns", f"{n30k:.2f}", f"{rn30k:.0f}x"))

    (s300, s30k, ns300, ns30k), (_, rs30k, rns300, rns30k) = interleaved(
        r, [e_stats(300, False), e_stats(30_000, False), e_stats(300, True), e_stats(30_000, True)]
    )
    rows.append(("(e) get_pool_stats(), µs", "tgfleet, 300 conns", f"{s300:.2f}", "1.00x"))
    rows.append(("", "tgfleet, 30,000 conns", f"{s30k:.2f}", f"{rs30k:.2f}x"))
    rows.append(("", "naive, 300 conns", f"{ns300:.2f}", f"{rns300:.1f}x"))
    rows.append(("", "naive, 30,000 conns", f"{ns30k:.2f}", f"{rns30k:.0f}x"))

    version = sys.version.split()[0]
    print(
        f"pool benchmark: {3 * r} interleaved rounds for (a) and (b), {r} for (c) and (e); "
        "medians and median per-round ratios, "
        f"Python {version}"
    )
    print()
    print("| workload | implementation | median | ratio to the first row |")
    print("|---|---|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
