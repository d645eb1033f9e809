"""After a login the daemon is killed with SIGKILL; restarted, it reconnects with the stored
authorization: no new login and no new auth-key handshake on the (separate) sandbox."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tgfleet.sandbox.admin import admin_call

CHILD = Path(__file__).with_name("child.py")
PHONE = "+15557770001"


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[dict[str, object]]:
    state = tmp_path / "sandbox"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tgfleet.cli", "sandbox", "--state-dir", str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    info_file = state / "sandbox.json"
    deadline = time.monotonic() + 30
    while not info_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert info_file.exists(), "the sandbox did not start"
    time.sleep(0.1)  # the file is written whole, but give the listener its first tick
    info: dict[str, object] = json.loads(info_file.read_text())
    yield info
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


def _config(tmp_path: Path, info: dict[str, object]) -> Path:
    pem = tmp_path / "server.pem"
    pem.write_text(str(info["rsa_public_key_pem"]))
    config = tmp_path / "tgfleet.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        "[telegram]\n"
        'server = "custom"\n'
        f'server_host = "{info["host"]}"\n'
        f"server_port = {info['port']}\n"
        f'rsa_public_key_file = "{pem}"\n'
        "api_id = 1\n"
        f'api_hash = "{"a" * 32}"\n'
        '[logging]\nlevel = "WARNING"\n'
    )
    return config


def _counters(info: dict[str, object]) -> dict[str, int]:
    result = admin_call(int(str(info["admin_port"])), "counters")
    return dict(result)


def test_sigkill_then_restart_reconnects_without_a_new_login(
    tmp_path: Path, sandbox_process: dict[str, object]
) -> None:
    config = _config(tmp_path, sandbox_process)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(
        [sys.executable, str(CHILD), str(config), "login", PHONE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert first.stdout is not None
    line = first.stdout.readline()
    if line.strip() != "READY":
        first.kill()
        pytest.fail(f"login child failed: {line}{first.stderr.read() if first.stderr else ''}")
    after_login = _counters(sandbox_process)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    assert first.returncode == -signal.SIGKILL

    second = subprocess.run(
        [sys.executable, str(CHILD), str(config), "me", PHONE],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    answer = json.loads(second.stdout.strip().splitlines()[-1])
    assert isinstance(answer["user_id"], int) and answer["user_id"] > 0
    after_restart = _counters(sandbox_process)
    # A new login would need a new auth key, hence a handshake; a reconnect needs none.
    assert after_restart["handshakes"] == after_login["handshakes"]
    assert after_restart["connections"] > after_login["connections"]
    assert after_restart.get("AUTH_KEY_DUPLICATED", 0) == 0
