"""A real ``tgfleet serve --sandbox`` process, for the tests that need a socket: the event
stream, the schema fuzzing, SIGTERM under load, the browser.

It runs on a free loopback port with a known admin password and none of the caller's
``TGFLEET_*`` variables, its output in a file under ``root``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@dataclass
class ServedDaemon:
    proc: subprocess.Popen[str]
    base_url: str
    data_dir: Path
    output: Path
    env: dict[str, str]
    cwd: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``tgfleet <args> --data-dir <this daemon's>``, e.g. ``tokens create --name x``."""
        return subprocess.run(
            [sys.executable, "-m", "tgfleet.cli", *args, "--data-dir", str(self.data_dir)],
            env=self.env, cwd=self.cwd, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def token(self, name: str) -> str:
        made = self.cli("tokens", "create", "--name", name)
        assert made.returncode == 0, made.stderr
        return made.stdout.strip()

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit status (killed if it outlives ``timeout``)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(
                f"the daemon outlived SIGTERM by {timeout} s:\n{self.log_tail()}"
            ) from None


def start_daemon(root: Path, password: str, *, ready_within: float = 60) -> ServedDaemon:
    """Start the daemon with its data under ``root/data`` and wait until /readyz says ready."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLEET_")}
    env["TGFLEET_ADMIN_PASSWORD"] = password
    port = free_port()
    output = root / "daemon.out"
    data = root / "data"
    with output.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tgfleet.cli", "serve", "--sandbox", "--host", LOOPBACK,
             "--port", str(port), "--data-dir", str(data)],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    daemon = ServedDaemon(proc, f"http://{LOOPBACK}:{port}", data, output, env, root)
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the daemon exited {proc.returncode}:\n{daemon.log_tail()}")
        try:
            if httpx.get(f"{daemon.base_url}/readyz", timeout=2).status_code == 200:
                return daemon
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    proc.wait(timeout=10)
    raise AssertionError(f"the daemon was not ready within {ready_within} s:\n{daemon.log_tail()}")
