"""An account behind a SOCKS5 proxy with credentials: a real proxy on loopback, real clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from conftest import ANN, BO, log_in
from socks5_server import Socks5Server

from tgfleet.errors import TgfleetError
from tgfleet.sandbox.server import Sandbox
from tgfleet.services.actions import Actions
from tgfleet.services.runtime import FleetRuntime
from tgfleet.store import Store
from tgfleet.store.records import AccountStatus


@pytest.fixture
async def proxy() -> AsyncIterator[Socks5Server]:
    server = Socks5Server("fleet", "s3cret-pass")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_pooled_client_reaches_the_sandbox_through_the_proxy(
    runtime: FleetRuntime, proxy: Socks5Server, sandbox: Sandbox, store: Store
) -> None:
    await log_in(runtime, ANN, proxy_url=proxy.url)
    account = await store.accounts.get_by_key(ANN)
    assert account.proxy_display is not None and "s3cret" not in account.proxy_display
    await log_in(runtime, BO)  # no proxy: straight to the sandbox
    relayed = proxy.counters["connected"]
    actions = Actions(runtime.pool, runtime.fleet)
    me = await actions.get_me(ANN)
    assert me.first_name == "Ann"
    assert proxy.counters["connected"] == relayed + 1
    assert proxy.targets[-1] == (sandbox.host, sandbox.port)
    await actions.get_me(BO)
    assert proxy.counters["connected"] == relayed + 1  # Bo's client does not use it
    assert proxy.counters["bad_credentials"] == 0


async def test_a_dead_proxy_shows_an_error_and_the_account_recovers(
    runtime: FleetRuntime, proxy: Socks5Server, store: Store
) -> None:
    await log_in(runtime, ANN, proxy_url=proxy.url)
    actions = Actions(runtime.pool, runtime.fleet)
    await actions.get_me(ANN)
    await proxy.stop()
    errors: list[str] = []
    for _ in range(30):
        try:
            await actions.get_me(ANN)
        except TgfleetError as exc:
            errors.append(str(exc))
            if (await store.accounts.get_by_key(ANN)).status is AccountStatus.ERROR:
                break
        await asyncio.sleep(0.1)
    account = await store.accounts.get_by_key(ANN)
    assert account.status is AccountStatus.ERROR, errors
    assert "proxy" in account.status_detail and "s3cret" not in account.status_detail
    assert "127.0.0.1" in account.status_detail
    await proxy.start()  # same port
    for _ in range(50):
        try:
            me = await actions.get_me(ANN)
            break
        except TgfleetError:
            await asyncio.sleep(0.1)
    else:
        pytest.fail("the account did not recover after the proxy came back")
    assert me.first_name == "Ann"
    assert (await store.accounts.get_by_key(ANN)).status is AccountStatus.ACTIVE
