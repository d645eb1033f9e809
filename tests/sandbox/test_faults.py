"""Each fault, and what a real Kurigram client sees of it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from protocol_kit import logged_in, sandbox_with_world
from pyrogram import Client, raw
from pyrogram.errors import AuthKeyUnregistered, FloodWait, UserDeactivatedBan

from tgfleet.sandbox.server import Sandbox

ANN, BO = "+15550001", "+15550002"


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with sandbox_with_world() as running:
        yield running


@pytest.fixture
async def pair(sandbox: Sandbox) -> AsyncIterator[tuple[Client, Client]]:
    # sleep_threshold=0: Kurigram raises every FloodWait instead of sleeping through short ones.
    ann = await logged_in(sandbox, "ann", ANN, sleep_threshold=0)
    bo = await logged_in(sandbox, "bo", BO, sleep_threshold=0)
    yield ann, bo
    for client in (ann, bo):
        if client.is_connected:
            await client.disconnect()


async def me(client: Client) -> int:
    users = await client.invoke(raw.functions.users.GetUsers(id=[raw.types.InputUserSelf()]))
    return int(users[0].id)


async def timed(client: Client) -> float:
    start = time.perf_counter()
    await me(client)
    return time.perf_counter() - start


async def test_latency_for_one_account(sandbox: Sandbox, pair: tuple[Client, Client]) -> None:
    ann, bo = pair
    sandbox.faults.add_latency(0.4, phone=ANN)
    assert await timed(ann) >= 0.4
    assert await timed(bo) < 0.3
    sandbox.faults.clear()
    assert await timed(ann) < 0.3


async def test_flood_wait_for_an_account(sandbox: Sandbox, pair: tuple[Client, Client]) -> None:
    ann, bo = pair
    sandbox.faults.flood_wait(30, phone=ANN)
    with pytest.raises(FloodWait) as caught:
        await me(ann)
    assert 29 <= caught.value.value <= 30
    await me(bo)
    assert sandbox.counters["FLOOD_WAIT"] == 1


async def test_flood_wait_for_a_method(sandbox: Sandbox, pair: tuple[Client, Client]) -> None:
    ann, bo = pair
    sandbox.faults.flood_wait(45, method="users.getUsers")
    for client in (ann, bo):
        with pytest.raises(FloodWait):
            await me(client)
    assert isinstance(await ann.invoke(raw.functions.help.GetConfig()), raw.types.Config)


async def test_a_flood_wait_ends(sandbox: Sandbox, pair: tuple[Client, Client]) -> None:
    ann, _ = pair
    sandbox.faults.flood_wait(1, phone=ANN)
    with pytest.raises(FloodWait):
        await me(ann)
    await asyncio.sleep(1.1)
    await me(ann)


async def test_dropped_connections_reconnect_without_a_handshake(
    sandbox: Sandbox, pair: tuple[Client, Client]
) -> None:
    ann, _ = pair
    before = sandbox.counters
    assert sandbox.faults.drop_connections(ANN) == 1
    await asyncio.sleep(0.3)  # Kurigram notices the closed socket and restarts its session
    await me(ann)
    after = sandbox.counters
    assert after["dropped"] == 1
    assert after["connections"] == before["connections"] + 1  # only Ann reconnected
    assert after["handshakes"] == before["handshakes"]


def ann_connections(sandbox: Sandbox) -> list[int]:
    return [c["conn_id"] for c in sandbox.connections() if c["phone"] == ANN.lstrip("+")]


async def test_drop_only_the_newest_connection(
    sandbox: Sandbox, pair: tuple[Client, Client]
) -> None:
    second = await logged_in(sandbox, "ann-2", ANN)  # a second authorization of Ann
    try:
        older, _newer = ann_connections(sandbox)
        assert sandbox.faults.drop_connections(ANN, limit=1) == 1
        assert ann_connections(sandbox) == [older]
    finally:
        await second.disconnect()


async def test_refused_connections_delay_the_reconnect(
    sandbox: Sandbox, pair: tuple[Client, Client]
) -> None:
    ann, _ = pair
    sandbox.faults.refuse_connections(2.0)
    sandbox.faults.drop_connections(ANN)
    start = time.monotonic()
    await asyncio.sleep(0.3)  # let Kurigram see the drop before it sends on the dead socket
    await me(ann)  # Kurigram retries the session until the sandbox takes connections again
    assert time.monotonic() - start >= 1.0
    assert sandbox.counters["refused"] >= 1


async def test_revoked_authorization_gets_auth_key_unregistered(
    sandbox: Sandbox, pair: tuple[Client, Client]
) -> None:
    ann, bo = pair
    key_id = next(c["auth_key_id"] for c in sandbox.connections() if c["phone"] == ANN.lstrip("+"))
    sandbox.faults.revoke_authorization(key_id)
    with pytest.raises(AuthKeyUnregistered):
        await me(ann)
    await me(bo)
    assert sandbox.counters["AUTH_KEY_UNREGISTERED"] >= 1


async def test_banned_user_gets_user_deactivated_ban(
    sandbox: Sandbox, pair: tuple[Client, Client]
) -> None:
    ann, bo = pair
    sandbox.faults.ban_user(ANN)
    with pytest.raises(UserDeactivatedBan):
        await me(ann)
    await me(bo)
    assert sandbox.counters["USER_DEACTIVATED_BAN"] >= 1


async def test_restart_keeps_the_world_and_the_port(
    sandbox: Sandbox, pair: tuple[Client, Client]
) -> None:
    ann, _ = pair
    ann_id = await me(ann)
    port, handshakes = sandbox.port, sandbox.counters["handshakes"]
    await sandbox.restart()
    assert sandbox.port == port
    await asyncio.sleep(0.3)
    assert await me(ann) == ann_id  # same key, same user: the world kept both
    assert sandbox.counters["handshakes"] == handshakes


def test_fault_arguments_are_checked(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="flood wait"):
        sandbox.faults.flood_wait(0)
    with pytest.raises(ValueError, match="needs a phone"):
        sandbox.faults.drop_connections()
    sandbox.faults.add_latency(0.5, method="messages.SendMessage")
    assert sandbox.faults.describe()["latency"] == [
        {"phone": None, "method": "messages.sendMessage", "seconds": 0.5}
    ]
