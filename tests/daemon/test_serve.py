"""``tgfleet serve --sandbox``: starts, logs its pool settings, brings the demo fleet up,
answers /healthz and /readyz, and exits 0 on SIGTERM with its data intact."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tgfleet.store.records import AccountStatus
from tgfleet.store.store import Store
from tgfleet.store.vault import Vault, load_or_create_master_key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_with_sandbox_brings_up_the_demo_fleet_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLEET_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tgfleet.cli", "serve", "--sandbox", "--port", str(port),
         "--data-dir", str(data)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200, "daemon never became ready"
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert (
        "connection pool configured: max_per_account=3 max_total=300 idle=300s age=3600s "
        "sweep=60s acquire_timeout=30s" in output
    )
    assert "demo fleet ready" in output
    log_file = (data / "tgfleet.log").read_text()
    assert "connection pool configured" in log_file  # the rotating file gets the same lines

    async def accounts() -> dict[str, str]:
        store = await Store.open(data / "tgfleet.db", Vault(load_or_create_master_key(data, None)))
        try:
            page = await store.accounts.list()
            return {a.key: a.status.value for a in page.items}
        finally:
            await store.aclose()

    found = asyncio.run(accounts())
    assert len(found) == 4 and sum(k.startswith("bot:") for k in found) == 1
    assert set(found.values()) == {AccountStatus.ACTIVE.value}
