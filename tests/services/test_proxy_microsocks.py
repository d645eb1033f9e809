"""The same account-behind-a-proxy story with Debian's ``microsocks``, a proxy we did not write:
username/password auth, it logs each relayed connection, it dies and comes back on its port."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ANN, log_in

from tgfleet.errors import TgfleetError
from tgfleet.sandbox.server import Sandbox
from tgfleet.services.actions import Actions
from tgfleet.services.runtime import FleetRuntime
from tgfleet.store import Store
from tgfleet.store.records import AccountStatus

MICROSOCKS = shutil.which("microsocks")
pytestmark = pytest.mark.skipif(
    MICROSOCKS is None, reason="Debian's microsocks is installed by `make test` (apt-get)"
)
USER, PASSWORD = "fleet", "m1cro-s3cret"


class Microsocks:
    def __init__(self, log: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"socks5://{USER}:{PASSWORD}@127.0.0.1:{self.port}"

    def start(self) -> None:
        assert MICROSOCKS is not None
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [MICROSOCKS, "-i", "127.0.0.1", "-p", str(self.port), "-u", USER, "-P", PASSWORD],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                subprocess.run(["sleep", "0.02"], check=True)
        raise RuntimeError("microsocks did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None

    def relayed_to(self, port: int) -> int:
        """How many connections microsocks logged as relayed to that port."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return sum(1 for line in text.splitlines() if f":{port}" in line and "connected" in line)


@pytest.fixture
def microsocks(tmp_path: Path) -> Iterator[Microsocks]:
    proxy = Microsocks(tmp_path / "microsocks.log")
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


async def test_microsocks_relays_the_account_dies_and_comes_back(
    runtime: FleetRuntime, microsocks: Microsocks, sandbox: Sandbox, store: Store
) -> None:
    await log_in(runtime, ANN, proxy_url=microsocks.url)
    actions = Actions(runtime.pool, runtime.fleet)
    me = await actions.get_me(ANN)
    assert me.first_name == "Ann"
    assert microsocks.relayed_to(sandbox.port) >= 1  # the proxy saw the connection

    microsocks.stop()
    await runtime.pool.close_all_for_account(ANN)  # force a new connection through it
    for _ in range(40):
        try:
            await actions.get_me(ANN)
        except TgfleetError:
            if (await store.accounts.get_by_key(ANN)).status is AccountStatus.ERROR:
                break
        await asyncio.sleep(0.1)
    account = await store.accounts.get_by_key(ANN)
    assert account.status is AccountStatus.ERROR
    assert "proxy" in account.status_detail and PASSWORD not in account.status_detail

    microsocks.start()
    for _ in range(60):
        try:
            me = await actions.get_me(ANN)
            break
        except TgfleetError:
            await asyncio.sleep(0.1)
    else:
        pytest.fail("the account did not recover after microsocks came back")
    assert (await store.accounts.get_by_key(ANN)).status is AccountStatus.ACTIVE
