"""API benchmark: one daemon (`tgfleet serve --sandbox`) with 1,000 accounts in its store.

    .venv/bin/python bench/api_bench.py [--accounts 1000] [--seconds 5] [--rounds 3]
                                        [--connections 32] [--sends 300] [--nice -15]
                                        [--daemon-pythonpath DIR] [--out bench/results/api.md]

1. Throughput, with ``wrk`` (Debian: ``apt-get install wrk``): ``GET /healthz`` (no sign-in, a
   constant answer) and ``GET /api/v1/pool/stats`` with ``Authorization: Bearer <token>`` (the
   token checked, the pool's counters read), same threads, connections and duration, in
   ``--rounds`` alternating rounds against the same process. Reported: the median requests/s
   of each and the median of the per-round ratios stats / healthz.
2. Send-message round trip: ``--sends`` sequential ``POST /api/v1/accounts/{carol}/messages``
   (httpx, one keep-alive connection) through the API, the pool and the sandbox, against the
   same number of ``send_message`` calls by a bare Kurigram client in this process, logged in
   to the same sandbox. Interleaved in blocks of ``--block`` so a noisy neighbour slows both
   alike. Reported: median and p95 of each and the difference. By default the sandbox runs in
   its own process (``tgfleet sandbox``), as Telegram is remote to a real daemon, and the
   daemon talks to it as a custom server; with ``--embedded-sandbox`` the daemon's own
   ``--sandbox`` serves both paths, which puts the server's CPU on the daemon's event loop (the
   API path then also waits for the sandbox's work, the bare client runs beside it).

The 1,000 accounts are written to the store while the daemon is stopped (they are not logged
in and not keep_online: they are the store's and the pool's bookkeeping, not connections); the
demo fleet is filed and logged in by the daemon's own first start. Nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
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
from pyrogram.enums import ParseMode

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


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads (from /proc: Linux only)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def start_daemon(root: Path, accounts: int, pythonpath: str | None = None) -> Daemon:
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
    if pythonpath:
        # e.g. a directory holding httptools and uvloop, which uvicorn picks up when present
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (pythonpath, env.get("PYTHONPATH"))))
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


SEPARATE_PEER = "bench_peer"  # on the separate sandbox only: its updates reach no client


def start_sandbox(root: Path) -> tuple[subprocess.Popen[str], ServerEndpoint, Path]:
    """``tgfleet sandbox`` in its own process; returns it, its endpoint and its key file."""
    state = root / "sandbox"
    seed = root / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "users": [
                    {"phone": CAROL, "first_name": "Carol", "username": "bench_carol"},
                    {"phone": "+15550000009", "first_name": "Peer", "username": SEPARATE_PEER},
                ],
                "auto_sign_up": True,  # the bare client's own number
            }
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "tgfleet.cli", "sandbox", "--state-dir", str(state),
         "--port", "0", "--seed", str(seed)],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    key_file = root / "sandbox.pem"
    key_file.write_text(info["rsa_public_key_pem"])
    return (
        proc,
        ServerEndpoint("127.0.0.1", int(info["port"]), info["rsa_public_key_pem"]),
        key_file,
    )


def start_daemon_on(
    root: Path, accounts: int, endpoint: ServerEndpoint, key_file: Path, pythonpath: str | None
) -> Daemon:
    """The daemon against the separate sandbox as a custom Telegram server; carol is logged in
    through the API's own login steps."""
    data = root / "data"
    data.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLEET_")}
    env.update(
        TGFLEET_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TGFLEET_TELEGRAM__SERVER="custom",
        TGFLEET_TELEGRAM__SERVER_HOST=endpoint.host,
        TGFLEET_TELEGRAM__SERVER_PORT=str(endpoint.port),
        TGFLEET_TELEGRAM__RSA_PUBLIC_KEY_FILE=str(key_file),
        TGFLEET_TELEGRAM__API_ID="1",
        TGFLEET_TELEGRAM__API_HASH="0" * 32,
    )
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (pythonpath, env.get("PYTHONPATH"))))
    made = subprocess.run(
        [sys.executable, "-m", "tgfleet.cli", "tokens", "create", "--name", "bench",
         "--data-dir", str(data)],
        env=env, cwd=root, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    asyncio.run(seed_accounts(data, accounts))
    daemon = _launch(root, data, env, made.stdout.strip(), endpoint, embedded=False)
    bearer = {"Authorization": f"Bearer {daemon.token}"}
    with httpx.Client(base_url=daemon.base, headers=bearer, timeout=30) as api:
        flow = api.post("/api/v1/logins", json={"phone": CAROL})
        flow.raise_for_status()
        done = api.post(f"/api/v1/logins/{flow.json()['id']}/code", json={"code": "12345"})
        done.raise_for_status()
    return daemon


def _launch(
    root: Path,
    data: Path,
    env: dict[str, str],
    token: str,
    endpoint: ServerEndpoint,
    *,
    embedded: bool = True,
) -> Daemon:
    port = free_port()
    output = root / "daemon.out"
    sandbox_flag = ["--sandbox"] if embedded else []
    with output.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tgfleet.cli", "serve", *sandbox_flag, "--port", str(port),
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


def wrk(url: str, args: argparse.Namespace, headers: dict[str, str]) -> tuple[float, int, int]:
    """Requests/s, requests and the count of non-2xx/3xx answers over one wrk run."""
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections),
               "-d", f"{args.seconds}s"]  # fmt: skip
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if rate is None:
        raise SystemExit(f"cannot read wrk's output:\n{done.stdout}{done.stderr}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", done.stdout)
    count = re.search(r"(\d+) requests in", done.stdout)
    assert count is not None, done.stdout
    return float(rate.group(1)), int(count.group(1)), int(bad.group(1)) if bad else 0


@dataclass
class Throughput:
    healthz: list[float]
    stats: list[float]
    ratios: list[float]
    errors: int
    # the daemon's CPU per answered request, µs: what contention on the machine moves least
    healthz_cpu: list[float]
    stats_cpu: list[float]


def throughput(daemon: Daemon, args: argparse.Namespace) -> Throughput:
    bearer = {"Authorization": f"Bearer {daemon.token}"}
    check = httpx.get(daemon.base + "/api/v1/pool/stats", headers=bearer, timeout=10)
    check.raise_for_status()
    # a short warm-up of both, so neither round 1 pays for first-request imports
    wrk_args = argparse.Namespace(**{**vars(args), "seconds": 1})
    wrk(daemon.base + "/healthz", wrk_args, {})
    wrk(daemon.base + "/api/v1/pool/stats", wrk_args, bearer)
    result = Throughput([], [], [], 0, [], [])
    pid = daemon.proc.pid
    for n in range(args.rounds):
        order = ("healthz", "stats") if n % 2 == 0 else ("stats", "healthz")
        rates: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for name in order:
            started = cpu_seconds(pid)
            if name == "healthz":
                rates[name], count, bad = wrk(daemon.base + "/healthz", args, {})
            else:
                rates[name], count, bad = wrk(daemon.base + "/api/v1/pool/stats", args, bearer)
            cpu[name] = (cpu_seconds(pid) - started) / count * 1e6
            result.errors += bad
        result.healthz.append(rates["healthz"])
        result.stats.append(rates["stats"])
        result.ratios.append(rates["stats"] / rates["healthz"])
        result.healthz_cpu.append(cpu["healthz"])
        result.stats_cpu.append(cpu["stats"])
        print(
            f"round {n + 1}: healthz {rates['healthz']:.0f}/s ({cpu['healthz']:.0f} µs CPU), "
            f"pool/stats {rates['stats']:.0f}/s ({cpu['stats']:.0f} µs CPU), "
            f"ratio {result.ratios[-1]:.2f}",
            flush=True,
        )
    return result


# --- 2. send-message round trip ----------------------------------------------------------------


@dataclass
class RoundTrips:
    api_ms: list[float]
    bare_ms: list[float]
    # CPU per send, µs: (daemon process, bench process) for each path; the bare path's daemon
    # share is the embedded sandbox, its bench share the Kurigram client
    api_cpu: tuple[float, float]
    bare_cpu: tuple[float, float]


class RawHttp:
    """HTTP/1.1 keep-alive POSTs on one socket, with next to no client cost: httpx spent
    ~2.5 ms of CPU per request here, which would be charged to the daemon's round trip while
    the bare Kurigram path has no HTTP client at all."""

    def __init__(self, base: str, token: str) -> None:
        self._host, _, port = base.removeprefix("http://").partition(":")
        self._port = int(port)
        self._token = token
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawHttp:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()

    async def post_json(self, path: str, payload: dict[str, str]) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        body = json.dumps(payload).encode()
        self._writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\n"
            f"Authorization: Bearer {self._token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = re.search(rb"(?i)content-length:\s*(\d+)", head)
        if length is None:
            raise SystemExit(f"no Content-Length in the answer: {head!r}")
        return status, await self._reader.readexactly(int(length.group(1)))


async def round_trips(daemon: Daemon, args: argparse.Namespace, peer: str) -> RoundTrips:
    """Milliseconds per send: through the daemon's API, and by a bare Kurigram client."""
    bare = build_client("bench-bare", daemon.endpoint, api_id=1, api_hash="0" * 32, no_updates=True)
    await bare.connect()
    sent = await bare.send_code(BARE_PHONE)
    await bare.sign_in(BARE_PHONE, sent.phone_code_hash, "12345")
    api_ms: list[float] = []
    bare_ms: list[float] = []
    url = f"/api/v1/accounts/{CAROL}/messages"
    async with RawHttp(daemon.base, daemon.token) as api:

        async def via_api(i: int) -> float:
            started = time.perf_counter()
            status, body = await api.post_json(url, {"peer": peer, "text": f"api {i}"})
            elapsed = (time.perf_counter() - started) * 1000
            if status != 201:
                raise SystemExit(f"send through the API failed: {status} {body!r}")
            return elapsed

        async def via_bare(i: int) -> float:
            started = time.perf_counter()
            # plain text, as the daemon sends it (Kurigram's default would parse markdown)
            await bare.send_message(peer, f"bare {i}", parse_mode=ParseMode.DISABLED)
            return (time.perf_counter() - started) * 1000

        try:
            for i in range(20):  # warm-up: peers resolved, the pool's client connected
                await via_api(i)
                await via_bare(i)
            done = 0
            pid = daemon.proc.pid
            cpu = {"api": [0.0, 0.0], "bare": [0.0, 0.0]}
            while done < args.sends:
                block = min(args.block, args.sends - done)
                for path, samples, send in (("api", api_ms, via_api), ("bare", bare_ms, via_bare)):
                    daemon_cpu, own_cpu = cpu_seconds(pid), time.process_time()
                    for i in range(block):
                        samples.append(await send(done + i))
                    cpu[path][0] += cpu_seconds(pid) - daemon_cpu
                    cpu[path][1] += time.process_time() - own_cpu
                done += block
        finally:
            await bare.disconnect()

    def per_send(path: str) -> tuple[float, float]:
        daemon_s, own_s = cpu[path]
        return daemon_s / done * 1e6, own_s / done * 1e6

    return RoundTrips(api_ms, bare_ms, per_send("api"), per_send("bare"))


# --- report ------------------------------------------------------------------------------------


def report(args: argparse.Namespace, tp: Throughput, rt: RoundTrips, load: str) -> str:
    api_ms, bare_ms = rt.api_ms, rt.bare_ms
    med_h, med_s = statistics.median(tp.healthz), statistics.median(tp.stats)
    ratio = statistics.median(tp.ratios)
    api_med, bare_med = statistics.median(api_ms), statistics.median(bare_ms)
    api_p95, bare_p95 = percentile(api_ms, 0.95), percentile(bare_ms, 0.95)
    added = api_med - bare_med
    cpu_h, cpu_s = statistics.median(tp.healthz_cpu), statistics.median(tp.stats_cpu)
    # the Kurigram client's CPU is in the daemon on the API path and in the bench on the bare
    # path; the sandbox's is in the daemon on both
    cpu_added = rt.api_cpu[0] - rt.bare_cpu[0] - rt.bare_cpu[1]
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parser_name = "httptools" if importlib.util.find_spec("httptools") else "h11"
    server = (
        f"uvicorn with {parser_name} and asyncio's loop (the installed dependencies)"
        if args.daemon_pythonpath is None
        else f"uvicorn, the daemon's PYTHONPATH led by `{args.daemon_pythonpath}`"
    )
    setup = (
        "the sandbox embedded in it (`tgfleet serve --sandbox`, the demo fleet; its CPU on the "
        "daemon's loop on both paths)."
        if args.embedded_sandbox
        else "the sandbox in its own process (`tgfleet sandbox`), a custom server to the daemon "
        "and to the bare client alike, as Telegram is remote to a real daemon."
    )
    mode_flag = " --embedded-sandbox" if args.embedded_sandbox else ""
    daemon_share = "its sandbox" if args.embedded_sandbox else "idle"
    rounds = ", ".join(f"{r:.2f}" for r in tp.ratios)
    per_h = ", ".join(f"{r:,.0f}" for r in tp.healthz)
    per_s = ", ".join(f"{r:,.0f}" for r in tp.stats)
    wrk_line = f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s"
    return f"""# API benchmark (`bench/api_bench.py`)

Run: {now}, Python {platform.python_version()}, {os.cpu_count()} cores,
`bench/api_bench.py --accounts {args.accounts} --seconds {args.seconds} --rounds {args.rounds}
--connections {args.connections} --sends {args.sends}{mode_flag}`.
One daemon process (uvicorn, one event loop) with {args.accounts} accounts seeded in its store;
{setup} wrk and the bench share the machine's 2 cores with it. HTTP server: {server}.
Load average (1, 5, 15 min) when the run ended: {load}; niceness {os.nice(0)}. CPU is the
daemon's user + system time from /proc over the same runs, divided by the requests answered:
contention slows requests/s far more than it moves that.

## 1. Throughput: `{wrk_line}`, {args.rounds} alternating rounds

| route | requests/s (median) | per round | daemon CPU per request (median) |
|---|---:|---|---:|
| `GET /healthz` | {med_h:,.0f} | {per_h} | {cpu_h:.0f} µs |
| `GET /api/v1/pool/stats` (bearer token) | {med_s:,.0f} | {per_s} | {cpu_s:.0f} µs |
| ratio stats / healthz | **{ratio:.2f}x** (target >= 0.5x) | {rounds} | {cpu_h / cpu_s:.2f}x |

Non-2xx answers during the runs: {tp.errors}.

## 2. Send-message round trip, {args.sends} sequential sends each, blocks of {args.block}

| path | median | p95 |
|---|---:|---:|
| HTTP -> API -> pool -> Kurigram -> sandbox | {api_med:.2f} ms | {api_p95:.2f} ms |
| bare Kurigram `send_message` -> sandbox | {bare_med:.2f} ms | {bare_p95:.2f} ms |
| added by the daemon | **{added:+.2f} ms** (target <= 2 ms) | {api_p95 - bare_p95:+.2f} ms |

CPU per send: API path {rt.api_cpu[0]:.0f} µs in the daemon + {rt.api_cpu[1]:.0f} µs in the
bench's raw HTTP client; bare path {rt.bare_cpu[0]:.0f} µs in the daemon ({daemon_share}) +
{rt.bare_cpu[1]:.0f} µs in the bench (the Kurigram client). CPU the daemon adds per send (API,
pool, the HTTP server): **{cpu_added:.0f} µs**.
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
    parser.add_argument(
        "--nice", type=int, default=0, help="change niceness first (negative: needs root)"
    )
    parser.add_argument(
        "--daemon-pythonpath",
        default=None,
        help="prepend to the daemon's PYTHONPATH: another checkout's backend/ (before/after), or "
        "a `pip install --target DIR httptools` (uvicorn picks it up)",
    )
    parser.add_argument(
        "--embedded-sandbox",
        action="store_true",
        help="serve both paths from the daemon's own --sandbox (its CPU on the daemon's loop)",
    )
    args = parser.parse_args()
    if args.nice:
        # inherited by the daemon and wrk: on a shared machine the scheduler then runs all the
        # measured processes ahead of the neighbours, API path and bare path alike
        os.nice(args.nice)
    if shutil.which("wrk") is None:
        print("bench/api_bench.py needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tgfleet-api-bench-") as tmp:
        sandbox: subprocess.Popen[str] | None = None
        if args.embedded_sandbox:
            daemon = start_daemon(Path(tmp), args.accounts, args.daemon_pythonpath)
            peer = PEER
        else:
            sandbox, endpoint, key_file = start_sandbox(Path(tmp))
            daemon = start_daemon_on(
                Path(tmp), args.accounts, endpoint, key_file, args.daemon_pythonpath
            )
            peer = SEPARATE_PEER
        try:
            stats = httpx.get(
                daemon.base + "/api/v1/pool/stats",
                headers={"Authorization": f"Bearer {daemon.token}"},
            ).json()
            print(f"daemon ready: {stats.get('accounts')} accounts in the pool's view", flush=True)
            tp = throughput(daemon, args)
            rt = asyncio.run(round_trips(daemon, args, peer))
            load = ", ".join(Path("/proc/loadavg").read_text().split()[:3])
        finally:
            code = daemon.stop()
            if sandbox is not None:
                sandbox.terminate()
                sandbox.wait(timeout=30)
        if code != 0:
            print(daemon.output.read_text()[-3000:], file=sys.stderr)
            raise SystemExit(f"the daemon exited {code}")
    text = report(args, tp, rt, load)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
