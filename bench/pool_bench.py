"""The pool against the simplest things that do part of its job, side by side in one run.

(a) uncontended acquire+return: tgfleet's pool vs a minimal ``asyncio.Queue`` pool;
(b) 1,000 tasks on one account with 3 connections vs a bare ``asyncio.Semaphore(3)``;
(c) a sweep when nothing has expired, at 300 and at 30,000 connections;
(d) the same workloads on a naive dict-of-lists pool that scans linearly (the seed's design).

Every figure is a median over interleaved rounds of the process's CPU time (the machine is
shared and noisy); the ratios, taken within each round, are what to read.
Run: ``.venv/bin/python bench/pool_bench.py [--repeats N]``; ``--profile`` prints where the
time goes instead (bytecodes per task for (b), (a)'s cycle taken apart); ``--instructions``
counts (b)'s CPU instructions under valgrind, the same on every run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

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

# CPU time of this process, not wall time: on a shared machine (load 6-7 on 2 cores while the
# other engineers' tests run) wall time mostly measures how long the process waited for a core.
# Every implementation is timed with the same clock, so the ratios compare like with like.
cpu_clock = time.process_time


CYCLES = 20_000


async def a_tgfleet() -> float:
    pool = ConnectionPool(PoolConfig(), connector=connector)
    async with pool.acquire("+1"):
        pass
    started = cpu_clock()
    for _ in range(CYCLES):
        async with pool.acquire("+1"):
            pass
    elapsed = cpu_clock() - started
    await pool.stop()
    return elapsed / CYCLES * 1e6


async def a_tgfleet_seed_calls() -> float:
    pool = ConnectionPool(PoolConfig(), connector=connector)
    started = cpu_clock()
    for _ in range(CYCLES):
        conn = await pool.get_connection("+1")
        await pool.return_connection("+1", conn)
    elapsed = cpu_clock() - started
    await pool.stop()
    return elapsed / CYCLES * 1e6


async def a_queue() -> float:
    pool = QueuePool(1)
    started = cpu_clock()
    for _ in range(CYCLES):
        client = await pool.acquire()
        pool.release(client)
    return (cpu_clock() - started) / CYCLES * 1e6


async def a_naive() -> float:
    pool = NaivePool()
    started = cpu_clock()
    for _ in range(CYCLES):
        conn = await pool.get_connection("+1")
        await pool.return_connection("+1", conn)
    return (cpu_clock() - started) / CYCLES * 1e6


TASKS = 1_000


async def b_tgfleet(config: PoolConfig | None = None) -> float:
    pool = ConnectionPool(config or PoolConfig(), connector=connector)
    pool.set_account("+1", authorizations=["a", "b", "c"])

    async def work() -> None:
        async with pool.acquire("+1"):
            await asyncio.sleep(0)

    started = cpu_clock()
    await asyncio.gather(*(work() for _ in range(TASKS)))
    elapsed = cpu_clock() - started
    assert pool.get_pool_stats()["total_connections_created"] == 3
    await pool.stop()
    return TASKS / elapsed


async def b_tgfleet_no_timeout() -> float:
    """(b) without acquire deadlines: no deadline timer sits in the loop's schedule."""
    return await b_tgfleet(PoolConfig(acquire_timeout=None))


async def b_tgfleet_seed_calls() -> float:
    pool = ConnectionPool(PoolConfig(), connector=connector)
    pool.set_account("+1", authorizations=["a", "b", "c"])

    async def work() -> None:
        conn = await pool.get_connection("+1")
        try:
            await asyncio.sleep(0)
        finally:
            await pool.return_connection("+1", conn)

    started = cpu_clock()
    await asyncio.gather(*(work() for _ in range(TASKS)))
    elapsed = cpu_clock() - started
    await pool.stop()
    return TASKS / elapsed


async def b_semaphore() -> float:
    sem = asyncio.Semaphore(3)

    async def work() -> None:
        async with sem:
            await asyncio.sleep(0)

    started = cpu_clock()
    await asyncio.gather(*(work() for _ in range(TASKS)))
    return TASKS / (cpu_clock() - started)


async def b_naive() -> float:
    pool = NaivePool()

    async def work() -> None:
        conn = await pool.get_connection("+1")
        try:
            await asyncio.sleep(0)
        finally:
            await pool.return_connection("+1", conn)

    started = cpu_clock()
    await asyncio.gather(*(work() for _ in range(TASKS)))
    return TASKS / (cpu_clock() - started)


SWEEPS = 200


def c_tgfleet(size: int) -> Callable[[], Awaitable[float]]:
    async def run() -> float:
        pool = ConnectionPool(PoolConfig(max_total_connections=size), connector=connector)
        for i in range(size):
            conn = await pool.get_connection(f"+{i}")
            await pool.return_connection(conn.phone, conn)
        now = time.monotonic()
        started = cpu_clock()
        for _ in range(SWEEPS):
            assert pool._sweep(now) == 0
        elapsed = cpu_clock() - started
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
        started = cpu_clock()
        for _ in range(sweeps):
            assert pool.sweep(now) == 0
        return (cpu_clock() - started) / sweeps * 1e6

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
            started = cpu_clock()
            for _ in range(reads):
                npool.stats()
            return (cpu_clock() - started) / reads * 1e6
        pool = ConnectionPool(PoolConfig(max_total_connections=size), connector=connector)
        for i in range(size):
            conn = await pool.get_connection(f"+{i}")
            await pool.return_connection(conn.phone, conn)
        started = cpu_clock()
        for _ in range(reads):
            pool.get_pool_stats()
        elapsed = cpu_clock() - started
        await pool.terminate()
        return elapsed / reads * 1e6

    return run


# --- where the time goes --------------------------------------------------------------------


class _Done(tuple[()]):
    __slots__ = ()
    __await__ = tuple.__iter__


class _FloorLease:
    """``async with`` at its cheapest: a synchronous __aenter__ returning a finished future
    and an __aexit__ returning a finished awaitable, as ``Lease`` does; no bookkeeping."""

    __slots__ = ("_fut",)

    def __init__(self, fut: asyncio.Future[BenchClient]) -> None:
        self._fut = fut

    def __aenter__(self) -> asyncio.Future[BenchClient]:
        return self._fut

    def __aexit__(self, *exc: object) -> _Done:
        return _Done()


async def breakdown() -> list[tuple[str, float]]:
    """(a)'s cycle taken apart, µs per operation, each measured alone."""
    n = CYCLES
    rows: list[tuple[str, float]] = []

    def per_op(started: float) -> float:
        return (cpu_clock() - started) / n * 1e6

    queue = QueuePool(1)
    t = cpu_clock()
    for _ in range(n):
        queue.release(await queue.acquire())
    rows.append(("asyncio.Queue pool: get + put_nowait", per_op(t)))

    fut: asyncio.Future[BenchClient] = asyncio.get_running_loop().create_future()
    fut.set_result(BenchClient())
    t = cpu_clock()
    for _ in range(n):
        async with _FloorLease(fut):
            pass
    rows.append(("`async with` protocol, object + finished future, no work", per_op(t)))

    pool = ConnectionPool(PoolConfig(), connector=connector)
    conn = await pool.get_connection("+1")
    await pool.return_connection("+1", conn)
    t = cpu_clock()
    for _ in range(n):
        pool.acquire("+1")
    rows.append(("tgfleet: build the Lease object (`pool.acquire(phone)`)", per_op(t)))
    t = cpu_clock()
    for _ in range(n):
        _, got, _ = pool._begin("+1", True, None)
        assert got is not None
        pool._give_back(got, got.generation)
    rows.append(("tgfleet: synchronous take + return (the bookkeeping)", per_op(t)))
    counters = pool._counters
    t = cpu_clock()
    for _ in range(n):
        counters.record_wait(0.0)
    rows.append(("  of which: recording the wait (window + histogram)", per_op(t)))
    t = cpu_clock()
    for _ in range(n):
        async with pool.acquire("+1"):
            pass
    rows.append(("tgfleet: whole `async with pool.acquire()` cycle", per_op(t)))
    t = cpu_clock()
    for _ in range(n):
        conn = await pool.get_connection("+1")
        await pool.return_connection("+1", conn)
    rows.append(("tgfleet: whole get_connection + return_connection cycle", per_op(t)))
    await pool.stop()
    return rows


def count_bytecodes(
    workload: Callable[[], Awaitable[float]],
) -> tuple[float, list[tuple[str, float]]]:
    """Python bytecodes executed per task of a (b) workload, by function: deterministic, unlike
    timings on a shared machine (C calls are not counted, so it is a guide, not a clock)."""
    import collections

    counts: collections.Counter[str] = collections.Counter()

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False

        def local(frame: Any, event: str, arg: Any) -> Any:
            if event == "opcode":
                code = frame.f_code
                counts[f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_name}"] += 1
            return local

        return local

    async def traced() -> None:
        await workload()  # warm up
        sys.settrace(tracer)
        try:
            await workload()
        finally:
            sys.settrace(None)

    asyncio.run(traced())
    per_task = [(name, n / TASKS) for name, n in counts.most_common()]
    return sum(counts.values()) / TASKS, per_task


def profile() -> None:
    for name, workload in [
        ("asyncio.Semaphore(3)", b_semaphore),
        ("tgfleet `async with acquire`", b_tgfleet),
        ("tgfleet get/return_connection", b_tgfleet_seed_calls),
    ]:
        total, rows = count_bytecodes(workload)
        print(f"(b) {name}: {total:.0f} Python bytecodes per task; the largest shares:")
        for fn, n in rows[:14]:
            print(f"  {n:7.1f}  {fn}")
        print()
    print("(a) one uncontended cycle, taken apart (µs per operation, median of 9 runs):")
    samples: dict[str, list[float]] = {}
    for _ in range(9):
        for label, us in asyncio.run(breakdown()):
            samples.setdefault(label, []).append(us)
    for label, values in samples.items():
        print(f"  {statistics.median(values):6.2f}  {label}")


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


# (b)'s workloads by name, for --one (what --instructions runs under callgrind).
B_WORKLOADS: dict[str, Callable[[], Awaitable[float]]] = {
    "semaphore": b_semaphore,
    "tgfleet": b_tgfleet,
    "tgfleet-no-timeout": b_tgfleet_no_timeout,
    "tgfleet-seed-calls": b_tgfleet_seed_calls,
}


def run_one(name: str, times: int) -> None:
    async def run() -> None:
        for _ in range(times):
            await B_WORKLOADS[name]()

    asyncio.run(run())


def instructions() -> None:
    """(b) in CPU instructions counted by valgrind's callgrind: the same on every run, where
    CPU time on a shared machine moves by a few percent from one run to the next. Each
    workload runs 1 and 21 times in a process of its own; the difference over 20 is one run,
    free of the interpreter's start-up."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("--instructions needs valgrind: apt-get install -y valgrind")

    def count(name: str, times: int) -> int:
        done = subprocess.run(
            [
                *(valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null"),
                *(sys.executable, __file__, "--one", name, str(times)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        found = re.search(r"Collected : (\d+)", done.stderr)
        if found is None:
            sys.exit(f"no instruction count in callgrind's output:\n{done.stderr[-2000:]}")
        return int(found.group(1))

    jobs = [(name, times) for name in B_WORKLOADS for times in (1, 21)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counts = dict(zip(jobs, pool.map(lambda job: count(*job), jobs), strict=True))
    per_task = {name: (counts[name, 21] - counts[name, 1]) / 20 / TASKS for name in B_WORKLOADS}
    base = per_task["semaphore"]
    print("(b) 1,000 tasks / 3 conns, CPU instructions per task (callgrind)")
    print()
    print("| implementation | instructions per task | throughput ratio to the Semaphore |")
    print("|---|---:|---:|")
    for name, n in per_task.items():
        print(f"| {name} | {n:,.0f} | {base / n:.3f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the table: bytecodes per task for (b), (a)'s cycle taken apart",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="instead of the table: (b) in CPU instructions under callgrind (needs valgrind)",
    )
    parser.add_argument("--one", nargs=2, metavar=("WORKLOAD", "TIMES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        run_one(args.one[0], int(args.one[1]))
        return
    if args.profile:
        profile()
        return
    if args.instructions:
        instructions()
        return
    r = args.repeats
    rows: list[tuple[str, str, str, str]] = []

    # (a) and (b) are short: ten times the rounds, to steady them on a shared machine (with 27
    # rounds (b) still moved between 0.80x and 0.90x from one run to the next).
    (qa, ta, sa, na), (_, rta, rsa, rna) = interleaved(
        10 * r, [a_queue, a_tgfleet, a_tgfleet_seed_calls, a_naive]
    )
    rows.append(("(a) acquire+return, µs/cycle", "asyncio.Queue pool", f"{qa:.2f}", "1.00x"))
    rows.append(("", "tgfleet `async with acquire`", f"{ta:.2f}", f"{rta:.2f}x (target ≤1.5x)"))
    rows.append(("", "tgfleet get/return_connection", f"{sa:.2f}", f"{rsa:.2f}x"))
    rows.append(("", "naive dict-of-lists", f"{na:.2f}", f"{rna:.2f}x"))

    (sb, tb, tnb, tsb, nb), (_, rtb, rtnb, rtsb, rnb) = interleaved(
        10 * r, [b_semaphore, b_tgfleet, b_tgfleet_no_timeout, b_tgfleet_seed_calls, b_naive]
    )
    rows.append(
        ("(b) 1,000 tasks / 3 conns, tasks/s", "asyncio.Semaphore(3)", f"{sb:,.0f}", "1.00x")
    )
    rows.append(("", "tgfleet `async with acquire`", f"{tb:,.0f}", f"{rtb:.2f}x (target ≥0.9x)"))
    rows.append(("", "the same, acquire_timeout=none", f"{tnb:,.0f}", f"{rtnb:.2f}x"))
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
        f"pool benchmark: {10 * r} interleaved rounds for (a) and (b), {r} for (c) and (e); "
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
