"""Real parts for the services tests: the sandbox on loopback, a SQLite file in tmp_path, real
Kurigram clients built by the factory, the pool wired by ``open_fleet_runtime``."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tgfleet.pool.config import PoolConfig
from tgfleet.sandbox.server import Sandbox, open_sandbox
from tgfleet.sandbox.world import World
from tgfleet.services.events import EventBus
from tgfleet.services.runtime import FleetRuntime, open_fleet_runtime
from tgfleet.store import Store, Vault
from tgfleet.telegram.factory import ClientFactory, TelegramTarget
from tgfleet.telegram.server import ServerEndpoint

API_ID = 12345
API_HASH = "0123456789abcdef0123456789abcdef"
ANN, BO, CY = "+15550001", "+15550002", "+15550003"
PASSWORD = "correct horse"
BOT_TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SEED = {
    "users": [
        {"phone": ANN, "first_name": "Ann", "username": "annie"},
        {"phone": BO, "first_name": "Bo", "username": "bobby"},
        {"phone": CY, "first_name": "Cy", "password": PASSWORD, "hint": "horse"},
    ],
    "bots": [{"token": BOT_TOKEN, "username": "echo_bot", "first_name": "Echo"}],
}


class WorldClock:
    """The world's clock, moved by tests (codes expire without waiting)."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Calls:
    """Counts the API methods the world answered, by TL name (a hook on the world)."""

    def __init__(self, world: World) -> None:
        self.seen: Counter[str] = Counter()
        original = world.dispatch

        async def counting(ctx: Any, query: Any) -> Any:
            self.seen[type(query).QUALNAME] += 1
            return await original(ctx, query)

        world.dispatch = counting  # type: ignore[method-assign]

    def __getitem__(self, name: str) -> int:
        return self.seen[name]


# Tests that provoke AUTH_KEY_DUPLICATED on purpose say how many they expect (by sandbox port).
EXPECTED_DUPLICATES: dict[int, int] = {}


@pytest.fixture
def world_clock() -> WorldClock:
    return WorldClock()


@pytest.fixture
async def sandbox(world_clock: WorldClock) -> AsyncIterator[Sandbox]:
    world = World(seed=SEED, clock=world_clock)
    async with open_sandbox(world=world, insecure_fast_handshake=True) as running:
        yield running
        # DESIGN fact 1, checked after every test of this directory.
        expected = EXPECTED_DUPLICATES.pop(running.port, 0)
        assert running.counters["AUTH_KEY_DUPLICATED"] == expected, dict(running.counters)


@pytest.fixture
def world(sandbox: Sandbox) -> World:
    assert isinstance(sandbox.world, World)
    return sandbox.world


@pytest.fixture
def calls(world: World) -> Calls:
    return Calls(world)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "tgfleet.db", Vault(os.urandom(32)))
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
def target(sandbox: Sandbox) -> TelegramTarget:
    return TelegramTarget(API_ID, API_HASH, endpoint=ServerEndpoint.of(sandbox))


@pytest.fixture
def factory(target: TelegramTarget) -> ClientFactory:
    return ClientFactory(target)


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def pool_config() -> PoolConfig:
    return PoolConfig(
        acquire_timeout=10.0,
        reconnect_backoff_base=0.05,
        reconnect_backoff_max=0.2,
        cleanup_interval=3600.0,
    )


@pytest.fixture
async def runtime(
    store: Store, factory: ClientFactory, pool_config: PoolConfig, bus: EventBus
) -> AsyncIterator[FleetRuntime]:
    async with open_fleet_runtime(
        store,
        factory,
        pool_config,
        bus,
        connect_timeout=5.0,
        request_timeout=5.0,
        health_interval=None,
    ) as running:
        yield running


async def log_in(runtime: FleetRuntime, phone: str, **kwargs: Any) -> int:
    """A full code login through the service; returns the new authorization id."""
    flow = await runtime.login.start_code_login(phone, **kwargs)
    done = await runtime.login.submit_code(flow.id, "12345")
    assert done.result_authorization_id is not None, done.view()
    return done.result_authorization_id
