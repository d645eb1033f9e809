"""Small, explicit fakes the pool tests need: a clock, and clients that record what happens.

The pool is generic over its client; the real Kurigram client is exercised by the telegram
and integration tests. Here a client is a few flags, so each guarantee can be forced.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import pytest

from tgfleet.pool import ConnectionPool, PoolConfig, PoolEvent


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeClient:
    def __init__(self, world: World, phone: str, authorization_id: str) -> None:
        self.world = world
        self.phone = phone
        self.authorization_id = authorization_id
        self.alive = True
        self.connected = False
        self.disconnects = 0
        self.alive_checks = 0

    async def connect(self) -> None:
        key = (self.phone, self.authorization_id)
        if self.world.live[key]:
            # What Telegram answers with 406 AUTH_KEY_DUPLICATED (DESIGN fact 1).
            self.world.duplicates.append(key)
        self.world.live[key] += 1
        self.connected = True

    async def disconnect(self) -> None:
        self.disconnects += 1
        if self.world.disconnect_delay:
            await asyncio.sleep(self.world.disconnect_delay)
        if self.connected:
            self.connected = False
            self.world.live[(self.phone, self.authorization_id)] -= 1

    async def is_alive(self) -> bool:
        self.alive_checks += 1
        if self.world.alive_delay:
            await asyncio.sleep(self.world.alive_delay)
        return self.alive and self.connected


@dataclass
class World:
    """Every client the connector made, and what a server would have seen."""

    clients: list[FakeClient] = field(default_factory=list)
    live: Counter[tuple[str, str]] = field(default_factory=Counter)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0
    connect_delay: float = 0.0
    disconnect_delay: float = 0.0
    alive_delay: float = 0.0
    slow_phones: dict[str, float] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def connector(self, phone: str, authorization_id: str) -> FakeClient:
        self.calls.append((phone, authorization_id))
        delay = self.slow_phones.get(phone, self.connect_delay)
        if delay:
            await asyncio.sleep(delay)
        if self.fail_next:
            self.fail_next -= 1
            raise OSError(f"connection refused for {phone}")
        client = FakeClient(self, phone, authorization_id)
        await client.connect()
        self.clients.append(client)
        return client

    def connected(self) -> int:
        return sum(self.live.values())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def events() -> list[PoolEvent]:
    return []


def make_pool(
    world: World,
    clock: FakeClock,
    events: list[PoolEvent] | None = None,
    **settings: object,
) -> ConnectionPool:
    config = PoolConfig(**settings)  # type: ignore[arg-type]
    return ConnectionPool(
        config,
        connector=world.connector,
        clock=clock,
        event_callback=events.append if events is not None else None,
    )


def recount(pool: ConnectionPool) -> None:
    """Count every connection by state and compare with the stats and the limits."""
    cfg = pool.config
    stats = pool.get_pool_stats()
    idle = active = connecting = 0
    for phone, entry in pool._accounts.items():
        e_idle = len(entry.idle)
        e_active = len(entry.active)
        states = Counter(c.state.value for c in entry.bound.values())
        assert states["idle"] == e_idle, (phone, states, e_idle)
        assert states["active"] == e_active, (phone, states, e_active)
        assert states["connecting"] == entry.connecting, (phone, states)
        # A connection on an authorization just removed keeps working until it is returned
        # (never closed mid-use), so only the ones not marked for retirement fit the new limit.
        staying = sum(
            1
            for c in entry.bound.values()
            if c.state.value in ("idle", "active", "connecting") and c.retire_reason is None
        )
        assert staying <= entry.limit(cfg.max_connections_per_account), phone
        assert e_idle + e_active + entry.connecting <= cfg.max_connections_per_account, phone
        # one live client per authorization (DESIGN fact 1)
        assert len({c.authorization_id for c in entry.bound.values()}) == len(entry.bound)
        per = pool.get_pool_stats(phone)
        assert per["pool_size"] == e_idle + e_active + entry.connecting
        assert per["active_connections"] == e_active
        idle += e_idle
        active += e_active
        connecting += entry.connecting
        assert all(not f.done() for f, _ in entry.waiters), phone
    assert idle + active + connecting <= cfg.max_total_connections
    assert stats["idle_connections"] == idle
    assert stats["current_active_connections"] == active
    assert stats["connecting"] == connecting
    assert stats["current_pool_size"] == idle + active + connecting
    assert stats["waiting"] == sum(len(e.waiters) for e in pool._accounts.values())
    assert len(pool._idle_lru) == sum(
        1 for e in pool._accounts.values() for c in e.idle.values() if not c.pinned
    )
