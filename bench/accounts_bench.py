"""Fleet-scale benchmark: memory per connected idle client and per account in the daemon, and
the time to bring N stored accounts online after a restart, bounded vs unbounded connects.

    .venv/bin/python bench/accounts_bench.py [--accounts 100] [--rounds 3]
                                             [--out bench/results/accounts.md]

Three kinds of process, so that nothing measured shares an interpreter with the harness:

* the sandbox, in its own process (``open_sandbox(insecure_fast_handshake=True)`` plus the
  admin endpoint; ``tgfleet sandbox`` has no flag for the fast handshake, and without it the
  100 logins spend most of a minute factoring pq in Python);
* one daemon runtime (``open_runtime`` with ``telegram.server = "custom"``) that logs N new
  numbers in through ``LoginService`` and then brings them online, reading its own VmRSS
  before and after each step;
* per restart round, a fresh runtime on the same data dir: the clock runs from the call to
  ``open_runtime`` until every account's pinned keep_online connection is up. Rounds alternate
  ``pool.max_concurrent_connects = 10`` and unbounded, so a noisy neighbour slows both alike.

The clients are real Kurigram clients over loopback TCP; only the server is ours.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve()
CONTAINER_BUDGET_MB = 512
PHONE_BASE = 15557000000  # +1 555 700 xxxx: one number per benched account

SANDBOX_CODE = """
import asyncio, json, sys
from pathlib import Path
from tgfleet.sandbox.admin import open_admin_endpoint
from tgfleet.sandbox.server import open_sandbox

async def main(state: Path) -> None:
    async with open_sandbox("127.0.0.1", 0, state, insecure_fast_handshake=True) as sandbox:
        admin = await open_admin_endpoint(sandbox, "127.0.0.1", 0)
        info = sandbox.info()
        info["admin_port"] = admin.sockets[0].getsockname()[1]
        tmp = state / "sandbox.json.tmp"
        tmp.write_text(json.dumps(info))
        tmp.replace(state / "sandbox.json")
        await asyncio.Event().wait()

asyncio.run(main(Path(sys.argv[1])))
"""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (not Linux?)")


def phones(n: int) -> list[str]:
    return [f"+{PHONE_BASE + i}" for i in range(n)]


# --- the daemon side (runs in a child process) ------------------------------------------------


async def settle_rss() -> float:
    gc.collect()
    await asyncio.sleep(0.5)
    gc.collect()
    return rss_mb()


async def wait_online(runtime: Any, n: int, timeout: float) -> float:
    """Poll the pool until ``n`` pinned connections are up; returns when, in perf_counter."""
    pool = runtime.pool
    deadline = time.perf_counter() + timeout
    while True:
        stats = pool.get_pool_stats()
        up = sum(1 for e in pool._accounts.values() if e.pinned is not None)
        if up >= n and stats["connecting"] == 0:
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {up} of {n} accounts online after {timeout:.0f} s: {pool!r}")
        await asyncio.sleep(0.01)


def count_connects() -> dict[str, Any]:
    """Wrap the fleet's connector (the pool's only way to dial) to see how many run at once."""
    from tgfleet.services.fleet import Fleet

    seen: dict[str, Any] = {"in_flight": 0, "peak": 0, "durations": []}
    original = Fleet.connect

    async def connect(self: Fleet, phone: str, authorization_id: str) -> Any:
        seen["in_flight"] += 1
        seen["peak"] = max(seen["peak"], seen["in_flight"])
        started = time.perf_counter()
        try:
            return await original(self, phone, authorization_id)
        finally:
            seen["in_flight"] -= 1
            seen["durations"].append(time.perf_counter() - started)

    Fleet.connect = connect  # type: ignore[method-assign]
    return seen


async def daemon_login(config: Path, n: int) -> dict[str, Any]:
    from tgfleet.runtime import open_runtime
    from tgfleet.settings import load_settings

    settings = load_settings(config_file=config, env_file=None)
    out: dict[str, Any] = {}
    async with open_runtime(settings) as runtime:
        out["rss_base"] = await settle_rss()
        logins = runtime.logins
        limit = asyncio.Semaphore(8)

        async def login(i: int, phone: str) -> None:
            async with limit:
                flow = await logins.start_code_login(
                    phone, first_name=f"Bench{i}", label="bench", keep_online=False
                )
                await logins.submit_code(flow.id, "12345")

        started = time.perf_counter()
        await asyncio.gather(*(login(i, p) for i, p in enumerate(phones(n))))
        out["login_seconds"] = time.perf_counter() - started
        out["pool_after_login"] = runtime.pool.get_pool_stats()["current_pool_size"]
        out["rss_after_logins"] = await settle_rss()
    return out


async def daemon_memory(config: Path, n: int) -> dict[str, Any]:
    """In a process that never ran a login (whose freed memory the allocator would reuse):
    N stored accounts offline, then each with its pinned keep_online client."""
    from tgfleet.runtime import open_runtime
    from tgfleet.settings import load_settings

    settings = load_settings(config_file=config, env_file=None)
    out: dict[str, Any] = {"rss_imported": await settle_rss()}
    async with open_runtime(settings) as runtime:
        assert runtime.pool.get_pool_stats()["current_pool_size"] == 0, "keep_online is off"
        out["rss_offline"] = await settle_rss()  # N accounts stored and registered, offline
        started = time.perf_counter()
        for phone in phones(n):
            account = await runtime.store.accounts.get_by_key(phone)
            account = await runtime.store.accounts.update(account.id, keep_online=True)
            await runtime.fleet.sync_account(account)
        await wait_online(runtime, n, timeout=120)
        out["online_seconds"] = time.perf_counter() - started
        out["rss_online"] = await settle_rss()  # ... and each with one idle pinned client
        out["pool"] = runtime.pool.get_pool_stats()
    return out


async def daemon_restart(config: Path, n: int) -> dict[str, Any]:
    from tgfleet.runtime import open_runtime
    from tgfleet.settings import load_settings

    settings = load_settings(config_file=config, env_file=None)
    seen = count_connects()
    started = time.perf_counter()
    async with open_runtime(settings) as runtime:
        opened = time.perf_counter()
        online = await wait_online(runtime, n, timeout=120)
        stats = runtime.pool.get_pool_stats()
        out = {
            "open_seconds": opened - started,
            "online_seconds": online - started,
            "connect_peak": seen["peak"],
            "connect_calls": len(seen["durations"]),
            "connect_median": statistics.median(seen["durations"]),
            "connect_max": max(seen["durations"]),
            "gate": stats["connects"],
            "errors": stats["errors"],
            "rss_online": await settle_rss(),
        }
    return out


def child_main(argv: list[str]) -> None:
    mode, config, n = argv[0], Path(argv[1]), int(argv[2])
    run = {"login": daemon_login, "memory": daemon_memory, "restart": daemon_restart}[mode]
    result = asyncio.run(run(config, n))
    print("RESULT " + json.dumps(result), flush=True)


# --- the harness ------------------------------------------------------------------------------


def write_config(path: Path, data_dir: Path, info: dict[str, Any], limit: int | None) -> None:
    pem = path.with_suffix(".pem")
    pem.write_text(info["rsa_public_key_pem"])
    bound = '"none"' if limit is None else str(limit)  # "none": no bound
    path.write_text(
        f'data_dir = "{data_dir}"\n'
        "[pool]\n"
        f"max_concurrent_connects = {bound}\n"
        "[telegram]\n"
        'server = "custom"\n'
        f'server_host = "{info["host"]}"\n'
        f"server_port = {info['port']}\n"
        f"server_dc_id = {info['dc_id']}\n"
        f'rsa_public_key_file = "{pem}"\n'
        "[logging]\n"
        'level = "WARNING"\n'
    )


def run_child(mode: str, config: Path, n: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--child", mode, str(config), str(n)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    raise RuntimeError(
        f"daemon child {mode} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    )


async def admin(info: dict[str, Any], op: str) -> Any:
    from tgfleet.sandbox.admin import admin_request

    return await admin_request(info["admin_port"], op)


def counters(info: dict[str, Any]) -> dict[str, int]:
    result: dict[str, int] = asyncio.run(admin(info, "counters"))
    return result


def start_sandbox(state: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, "-c", SANDBOX_CODE, str(state)])
    info_file = state / "sandbox.json"
    deadline = time.monotonic() + 30
    while not info_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the sandbox did not start")
        time.sleep(0.05)
    return proc, json.loads(info_file.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=10, help="the bounded max_concurrent_connects")
    parser.add_argument("--out", type=Path, default=BENCH.parent / "results" / "accounts.md")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return
    n = args.accounts
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tgfleet-accounts-bench-") as tmp:
        root = Path(tmp)
        (root / "sandbox").mkdir()
        sandbox, info = start_sandbox(root / "sandbox")
        try:
            data = root / "data"
            bounded = root / "bounded.toml"
            unbounded = root / "unbounded.toml"
            write_config(bounded, data, info, args.limit)
            write_config(unbounded, data, info, None)

            print(f"logging in {n} accounts and bringing them online ...", flush=True)
            memory = run_child("login", bounded, n)
            print(json.dumps(memory), flush=True)
            memory.update(run_child("memory", bounded, n))
            print(json.dumps(memory), flush=True)

            before = counters(info)
            rounds: dict[str, list[dict[str, Any]]] = {"bounded": [], "unbounded": []}
            for r in range(args.rounds):
                # Alternate which goes first, so that neither always runs on a warmer machine.
                order = ["bounded", "unbounded"] if r % 2 == 0 else ["unbounded", "bounded"]
                for name in order:
                    config = bounded if name == "bounded" else unbounded
                    c0 = counters(info)
                    result = run_child("restart", config, n)
                    c1 = counters(info)
                    result["sandbox_connections"] = c1.get("connections", 0) - c0.get(
                        "connections", 0
                    )
                    result["sandbox_handshakes"] = c1.get("handshakes", 0) - c0.get("handshakes", 0)
                    rounds[name].append(result)
                    print(name, json.dumps(result), flush=True)
            after = counters(info)
        finally:
            sandbox.kill()
            sandbox.wait()
    handshakes = after.get("handshakes", 0) - before.get("handshakes", 0)
    duplicated = after.get("AUTH_KEY_DUPLICATED", 0)
    if handshakes:
        raise SystemExit(f"restarts made {handshakes} new auth keys: they should reuse the stored")
    elapsed = time.perf_counter() - began
    report = render(n, args, memory, rounds, handshakes, duplicated, elapsed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


def render(
    n: int,
    args: argparse.Namespace,
    memory: dict[str, Any],
    rounds: dict[str, list[dict[str, Any]]],
    handshakes: int,
    duplicated: int,
    elapsed: float,
) -> str:
    base = memory["rss_base"]
    per_account = (memory["rss_offline"] - base) / n
    per_client = (memory["rss_online"] - memory["rss_offline"]) / n
    per_online = per_account + per_client
    fit_online = int((CONTAINER_BUDGET_MB - base) / per_online)
    # 25 % of the budget kept free for bursts (borrowed clients, API requests, GC lag).
    fit_headroom = int((CONTAINER_BUDGET_MB * 0.75 - base) / per_online)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in rounds[name])

    def spread(name: str, key: str) -> str:
        values = sorted(r[key] for r in rounds[name])
        return ", ".join(f"{v:.2f}" for v in values)

    lines = [
        "## Accounts at fleet scale (`bench/accounts_bench.py`)",
        "",
        f"One run of `.venv/bin/python bench/accounts_bench.py --accounts {n} --rounds "
        f"{args.rounds}` ({elapsed:.0f} s) on a shared 2-core machine, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs. Real Kurigram clients (one per "
        "authorization, as the daemon builds them) against the sandbox in another process "
        "over loopback TCP, fast handshake on. The daemon is `open_runtime` in a process of "
        "its own; RSS is its VmRSS after `gc.collect()`.",
        "",
        "### Memory",
        "",
        "| daemon process | VmRSS, MB |",
        "|---|---:|",
        f"| tgfleet imported, runtime not open | {memory['rss_imported']:.1f} |",
        f"| runtime open, store empty (the base) | {base:.1f} |",
        f"| after {n} logins in that process (login clients closed) | "
        f"{memory['rss_after_logins']:.1f} |",
        f"| a fresh runtime with the {n} accounts stored, offline | {memory['rss_offline']:.1f} |",
        f"| the same, each account with its pinned idle client (keep_online) | "
        f"{memory['rss_online']:.1f} |",
        "",
        f"* **per connected idle client: {per_client:.2f} MB** (last row minus the one above, "
        f"/ {n}; a Kurigram `Client` with its session, TCP connection and tasks)",
        f"* **per account without a client: {per_account:.3f} MB** (offline row minus the "
        f"base, / {n}: store rows, vault, pool entry)",
        f"* **per keep_online account: {per_online:.2f} MB**, so **about {fit_online} "
        f"keep_online accounts fit in {CONTAINER_BUDGET_MB} MB** after the {base:.0f} MB "
        f"base process, {fit_headroom} if 25 % of the budget stays free for bursts. Accounts "
        "used on demand hold a client only while connected, so their number is bounded by "
        "`pool.max_total_connections` x the per-client figure, not by how many are stored.",
        f"* {n} logins through `LoginService` (8 at a time, each signing a new number up) "
        f"took {memory['login_seconds']:.1f} s; bringing the {n} online in the fresh runtime "
        f"{memory['online_seconds']:.1f} s. The logins leave "
        f"{memory['rss_after_logins'] - base:.0f} MB of freed-but-kept heap behind, which is "
        "why the memory is measured in a process that did not run them.",
        "",
        f"### {n} stored accounts online after a restart",
        "",
        f"{args.rounds} rounds, alternating; medians (all values in brackets). The clock runs "
        "from the call to `open_runtime` (store open, accounts loaded, pool started) until "
        f"all {n} pinned keep_online connections are up. A 'connect' is one call of the "
        "pool's connector (`Fleet.connect`: build the client, connect, prove it alive).",
        "",
        "| max_concurrent_connects | all online, s | connects in flight at peak | "
        "connect time median / max, s | sandbox TCP connections | new auth keys |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in (("bounded", str(args.limit)), ("unbounded", "none (baseline)")):
        peaks = sorted({r["connect_peak"] for r in rounds[name]})
        lines.append(
            f"| {label} | {med(name, 'online_seconds'):.2f} ({spread(name, 'online_seconds')}) "
            f"| {'/'.join(str(p) for p in peaks)} | {med(name, 'connect_median'):.3f} / "
            f"{med(name, 'connect_max'):.3f} | "
            f"{int(med(name, 'sandbox_connections'))} | "
            f"{sum(r['sandbox_handshakes'] for r in rounds[name])} |"
        )
    lines += [
        "",
        "* The connects in flight are counted around the pool's connector in the daemon; the "
        "sandbox counts accepted TCP connections (`counters.connections`), so one per account "
        "means no retries. The sandbox does not record its own peak of concurrent attempts.",
        f"* New auth keys over all restarts: {handshakes} (the stored authorizations were "
        f"reused, no new login); AUTH_KEY_DUPLICATED over the whole run: {duplicated}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
