"""The API of a real daemon process (`tgfleet serve --sandbox`): the generated admin password,
sign-in with CSRF, a token made by `tgfleet tokens create` while it runs, revocation, and
a clean exit; neither the password nor the token reaches the log."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tgfleet.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_real_daemon_sign_in_csrf_and_cli_token_lifecycle(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGFLEET_")}
    output = tmp_path / "daemon.out"
    with output.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tgfleet.cli", "serve", "--sandbox", "--port", str(port),
             "--data-dir", str(data)],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            else:
                raise AssertionError(f"daemon never became ready:\n{output.read_text()}")
            found = re.findall(r"with password (\S+)", output.read_text())
            assert len(found) == 1, output.read_text()
            password = found[0]

            assert http.get("/api/v1/pool/stats").status_code == 401
            signed = http.post(
                "/api/v1/auth/login", json={"username": "admin", "password": password}
            )
            assert signed.status_code == 200
            csrf = signed.json()["csrf_token"]
            stats = http.get("/api/v1/pool/stats").json()
            assert stats["accounts"] == 4 and stats["state"] == "running"
            url = "/api/v1/accounts/+15550000003/close-connections"
            assert http.post(url).status_code == 403
            assert http.post(url, headers={"X-CSRF-Token": csrf}).status_code == 200
            assert http.get("/api/v1/pool/stats/+15550000099").status_code == 404

            made = _cli("tokens", "create", "--name", "ci", "--data-dir", str(data),
                        env=env, cwd=tmp_path)  # fmt: skip
            assert made.returncode == 0, made.stderr
            token = made.stdout.strip()
            with httpx.Client(base_url=base, timeout=10) as script:
                bearer = {"Authorization": f"Bearer {token}"}
                assert script.get("/api/v1/auth/me", headers=bearer).status_code == 200
                assert script.post(url, headers=bearer).status_code == 200
                revoked = _cli("tokens", "revoke", "--name", "ci", "--data-dir", str(data),
                               env=env, cwd=tmp_path)  # fmt: skip
                assert revoked.returncode == 0, revoked.stderr
                assert script.get("/api/v1/auth/me", headers=bearer).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    text = output.read_text()
    assert proc.returncode == 0, text
    assert " 500 " not in text and "unexpected error" not in text
    log_file = (data / "tgfleet.log").read_text()
    assert password not in log_file and token not in log_file and token not in text
    # the password appears once in the output, on the line that announces it
    assert text.count(password) == 1
