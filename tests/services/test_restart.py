"""A stopped daemon's accounts come back from the database file alone: no new login, no new
auth key (the SIGKILL variant with a real process is tests/daemon/test_restart.py)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from conftest import ANN, BO, Calls, log_in

from tgfleet.pool.config import PoolConfig
from tgfleet.sandbox.server import Sandbox
from tgfleet.services.events import EventBus
from tgfleet.services.runtime import open_fleet_runtime
from tgfleet.store import Store, Vault
from tgfleet.telegram.factory import ClientFactory


async def test_accounts_reconnect_from_the_store_after_a_restart(
    tmp_path: Path,
    factory: ClientFactory,
    pool_config: PoolConfig,
    sandbox: Sandbox,
    calls: Calls,
) -> None:
    vault_key = os.urandom(32)
    path = tmp_path / "restart.db"
    store = await Store.open(path, Vault(vault_key))
    async with open_fleet_runtime(
        store, factory, pool_config, EventBus(), health_interval=None
    ) as rt:
        await log_in(rt, ANN, keep_online=True)
        await log_in(rt, BO)
    await store.aclose()

    handshakes, sign_ins = sandbox.counters["handshakes"], calls["functions.auth.SignIn"]
    store = await Store.open(path, Vault(vault_key))
    try:
        async with open_fleet_runtime(
            store, factory, pool_config, EventBus(), health_interval=None
        ) as rt:
            for _ in range(200):  # the keep_online account comes up by itself
                if rt.pool.get_pool_stats(ANN)["pool_size"]:
                    break
                await asyncio.sleep(0.02)
            assert rt.pool.get_pool_stats(ANN)["pool_size"] == 1
            assert (await rt.actions.get_me(ANN)).first_name == "Ann"
            assert (await rt.actions.get_me(BO)).first_name == "Bo"
    finally:
        await store.aclose()
    assert sandbox.counters["handshakes"] == handshakes  # the stored auth keys were reused
    assert calls["functions.auth.SignIn"] == sign_ins
