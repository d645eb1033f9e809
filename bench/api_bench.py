"""API benchmark: one daemon (`tgfleet serve --sandbox`) with 1,000 accounts in its store.

    .venv/bin/python bench/api_bench.py [--accounts 1000] [--seconds 5] [--rounds 3]
                                        [--connections 32] [--sends 300]
                                        [--out bench/results/api.md]

1. Throughput, with ``wrk`` (Debian: ``apt-get install wrk``): ``GET /healthz`` (no sign-in, a
   constant answer) and ``GET /api/v1/pool/stats`` with ``Authorization: Bearer <token>`` (the
   token checked, the pool's counters read), same threads, connections and duration, in
   ``--rounds`` alternating rounds against the same process. Reported: the median requests/s
   of each and the median of the per-round ratios stats / healthz.
2. Send-message round trip: ``--sends`` sequential ``POST /api/v1/accounts/{carol}/messages``
   (httpx, one keep-alive connection) through the API, the pool and the daemon's embedded
   sandbox, against the same number of ``send_message`` calls by a bare Kurigram client in
   this process, logged in to the same sandbox. Interleaved in blocks of ``--block`` so a noisy
   neighbour slows both alike. Reported: median and p95 of each and the difference.

The 1,000 accounts are written to the store while the daemon is stopped (they are not logged
in and not keep_online: they are the store's and the pool's bookkeeping, not connections); the
demo fleet is filed and logged in by the daemon's own first start. Nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tgfleet.sandbox.keys import load_or_create_key
from tgfleet.store.store import Store
from tgfleet.store.vault import Vault, load_or_create_master_key
from tgfleet.telegram.server import ServerEndpoint, build_client

PHONE_BASE = 15556000000  # +1 555 600 xxxx: the seeded accounts
CAROL = "+15550000003"  # a demo account (not keep_online: its client comes from the pool)
PEER = "demo_bob"
BARE_PHONE = "+15558880001"  # the bare client's own account, signed up on the sandbox
ADMIN_PASSWORD = "bench-admin-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- set-up ------------------------------------------------------------------------------------


async def seed_accounts(data: Path, count: int) -> None:
    # one transaction: 1,000 commits (each an fsync) would take longer than the benchmark
    store = await Store.open(data / "tgfleet.db", Vault(load_or_create_master_key(data, None)))
    try:
        async with store.db.transaction() as tx:
            for i in range(count):
                await store.accounts.create(f"+{PHONE_BASE + i}", label=f"bench {i}", tx=tx)
    finally:
        await store.aclose()


@dataclass
class Daemon:
    proc: subprocess.Popen[str]
    base: str
    token: str
    endpoint: ServerEndpoint
    output: Path

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def start_daemon(root: Path, accounts: int) -> Daemon:
    """The daemon, started twice: first on an empty store, so that it files and logs in the
    demo fleet (it does only then), stopped; then the accounts are seeded and it starts again
    on the same data dir (the sandbox keeps its world across restarts)."""
    data = root / "data"
    data.mkdir(mode=0o700)
    # the embedded sandbox keeps its RSA key in data/sandbox: made here, so the bare client
    # knows the key the daemon's sandbox proves itself with
    key = load_or_create_key(data / "sandbox")
    sandbox_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLEET_")}
    env["TGFLEET_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    env["TGFLEET_SANDBOX__PORT"] = str(sandbox_port)
    made = subprocess.run(
        [sys.executable, "-m", "tgfleet.cli", "tokens", "create", "--name", "bench",
         "--data-dir", str(data)],
        env=env, cwd=root, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    endpoint = ServerEndpoint("127.0.0.1", sandbox_port, key.public_pem)
    first = _launch(root, data, env, made.stdout.strip(), endpoint)
    if first.stop() != 0:
        raise SystemExit(f"the first start did not stop cleanly:\n{first.output.read_text()}")
    asyncio.run(seed_accounts(data, accounts))
    return _launch(root, data, env, made.stdout.strip(), endpoint)


def _launch(
    root: Path, data: Path, env: dict[str, str], token: str, endpoint: ServerEndpoint
) -> Daemon:
    port = free_port()
    output = root / "daemon.out"
    with output.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tgfleet.cli", "serve", "--sandbox", "--port", str(port),
             "--data-dir", str(data)],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the daemon did not start:\n{output.read_text()[-3000:]}")
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return Daemon(proc, base, token, endpoint, output)


# --- 1. throughput -----------------------------------------------------------------------------


def wrk(url: str, args: argparse.Namespace, headers: dict[str, str]) -> tuple[float, int]:
    """Requests/s and the count of non-2xx/3xx answers over one wrk run."""
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections),
               "-d", f"{args.seconds}s"]  # fmt: skip
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if rate is None:
        raise SystemExit(f"cannot read wrk's output:\n{done.stdout}{done.stderr}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", done.stdout)
    return float(rate.group(1)), int(bad.group(1)) if bad else 0


@dataclass
class Throughput:
    healthz: list[float]
    stats: list[float]
    ratios: list[float]
    errors: int


def throughput(daemon: Daemon, args: argparse.Namespace) -> Throughput:
    bearer = {"Authorization": f"Bearer {daemon.token}"}
    check = httpx.get(daemon.base + "/api/v1/pool/stats", headers=bearer, timeout=10)
    check.raise_for_status()
    # a short warm-up of both, so neither round 1 pays for first-request imports
    wrk_args = argparse.Namespace(**{**vars(args), "seconds": 1})
    wrk(daemon.base + "/healthz", wrk_args, {})
    wrk(daemon.base + "/api/v1/pool/stats", wrk_args, bearer)
    result = Throughput([], [], [], 0)
    for n in range(args.rounds):
        order = ("healthz", "stats") if n % 2 == 0 else ("stats", "healthz")
        rates: dict[str, float] = {}
        for name in order:
            if name == "healthz":
                rates[name], bad = wrk(daemon.base + "/healthz", args, {})
            else:
                rates[name], bad = wrk(daemon.base + "/api/v1/pool/stats", args, bearer)
            result.errors += bad
        result.healthz.append(rates["healthz"])
        result.stats.append(rates["stats"])
        result.ratios.append(rates["stats"] / rates["healthz"])
        print(
            f"round {n + 1}: healthz {rates['healthz']:.0f}/s, pool/stats {rates['stats']:.0f}/s,"
            f" ratio {result.ratios[-1]:.2f}",
            flush=True,
        )
    return result


# --- 2. send-message round trip ----------------------------------------------------------------


async def round_trips(daemon: Daemon, args: argparse.Namespace) -> tuple[list[float], list[float]]:
    """Milliseconds per send: through the daemon's API, and by a bare Kurigram client."""
    bare = build_client("bench-bare", daemon.endpoint, api_id=1, api_hash="0" * 32, no_updates=True)
    await bare.connect()
    sent = await bare.send_code(BARE_PHONE)
    await bare.sign_in(BARE_PHONE, sent.phone_code_hash, "12345")
    api_ms: list[float] = []
    bare_ms: list[float] = []
    url = f"/api/v1/accounts/{CAROL}/messages"
    async with httpx.AsyncClient(
        base_url=daemon.base,
        headers={"Authorization": f"Bearer {daemon.token}"},
        limits=httpx.Limits(max_connections=1),
        timeout=30,
    ) as api:

        async def via_api(i: int) -> float:
            started = time.perf_counter()
            response = await api.post(url, json={"peer": PEER, "text": f"api {i}"})
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 201:
                raise SystemExit(f"send through the API failed: {response.text}")
            return elapsed

        async def via_bare(i: int) -> float:
            started = time.perf_counter()
            await bare.send_message(PEER, f"bare {i}")
            return (time.perf_counter() - started) * 1000

        try:
            for i in range(20):  # warm-up: peers resolved, the pool's client connected
                await via_api(i)
                await via_bare(i)
            done = 0
            while done < args.sends:
                block = min(args.block, args.sends - done)
                for i in range(block):
                    api_ms.append(await via_api(done + i))
                for i in range(block):
                    bare_ms.append(await via_bare(done + i))
                done += block
        finally:
            await bare.disconnect()
    return api_ms, bare_ms


# --- report ------------------------------------------------------------------------------------


def report(
    args: argparse.Namespace, tp: Throughput, api_ms: list[float], bare_ms: list[float]
) -> str:
    med_h, med_s = statistics.median(tp.healthz), statistics.median(tp.stats)
    ratio = statistics.median(tp.ratios)
    api_med, bare_med = statistics.median(api_ms), statistics.median(bare_ms)
    api_p95, bare_p95 = percentile(api_ms, 0.95), percentile(bare_ms, 0.95)
    added = api_med - bare_med
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rounds = ", ".join(f"{r:.2f}" for r in tp.ratios)
    per_h = ", ".join(f"{r:,.0f}" for r in tp.healthz)
    per_s = ", ".join(f"{r:,.0f}" for r in tp.stats)
    wrk_line = f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s"
    return f"""# API benchmark (`bench/api_bench.py`)

Run: {now}, Python {platform.python_version()}, {os.cpu_count()} cores,
`bench/api_bench.py --accounts {args.accounts} --seconds {args.seconds} --rounds {args.rounds}
--connections {args.connections} --sends {args.sends}`. One daemon process (`tgfleet serve
--sandbox`, uvicorn, one event loop) with {args.accounts} accounts seeded in its store plus the
demo fleet; wrk and the bench share the machine's 2 cores with it.

## 1. Throughput: `{wrk_line}`, {args.rounds} alternating rounds

| route | requests/s (median) | per round |
|---|---:|---|
| `GET /healthz` | {med_h:,.0f} | {per_h} |
| `GET /api/v1/pool/stats` (bearer token) | {med_s:,.0f} | {per_s} |
| ratio stats / healthz | **{ratio:.2f}x** (target >= 0.5x) | {rounds} |

Non-2xx answers during the runs: {tp.errors}.

## 2. Send-message round trip, {args.sends} sequential sends each, blocks of {args.block}

| path | median | p95 |
|---|---:|---:|
| HTTP -> API -> pool -> Kurigram -> sandbox | {api_med:.2f} ms | {api_p95:.2f} ms |
| bare Kurigram `send_message` -> sandbox | {bare_med:.2f} ms | {bare_p95:.2f} ms |
| added by the daemon | **{added:+.2f} ms** (target <= 2 ms) | {api_p95 - bare_p95:+.2f} ms |
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--out", type=Path, default=None, help="write the report here too")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench/api_bench.py needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tgfleet-api-bench-") as tmp:
        daemon = start_daemon(Path(tmp), args.accounts)
        try:
            stats = httpx.get(
                daemon.base + "/api/v1/pool/stats",
                headers={"Authorization": f"Bearer {daemon.token}"},
            ).json()
            print(f"daemon ready: {stats.get('accounts')} accounts in the pool's view", flush=True)
            tp = throughput(daemon, args)
            api_ms, bare_ms = asyncio.run(round_trips(daemon, args))
        finally:
            code = daemon.stop()
        if code != 0:
            print(daemon.output.read_text()[-3000:], file=sys.stderr)
            raise SystemExit(f"the daemon exited {code}")
    text = report(args, tp, api_ms, bare_ms)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
