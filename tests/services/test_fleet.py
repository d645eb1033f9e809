"""Pooled Kurigram clients of logged-in accounts: what errors do to accounts, and updates."""

from __future__ import annotations

import asyncio

import pytest
from conftest import ANN, BO, EXPECTED_DUPLICATES, log_in

from tgfleet.errors import (
    AccountDisabled,
    AuthKeyDuplicated,
    FloodWait,
    NoAuthorizationAvailable,
    TgfleetError,
)
from tgfleet.sandbox.server import Sandbox
from tgfleet.sandbox.world import World
from tgfleet.services.actions import Actions
from tgfleet.services.events import EventBus
from tgfleet.services.health import check_fleet
from tgfleet.services.runtime import FleetRuntime
from tgfleet.store import Store
from tgfleet.store.records import AccountStatus, AuthorizationState
from tgfleet.telegram.connection import TelegramConnection


@pytest.fixture
def actions(runtime: FleetRuntime) -> Actions:
    return Actions(runtime.pool, runtime.fleet)


async def test_a_pooled_client_after_login_works(
    runtime: FleetRuntime, actions: Actions, sandbox: Sandbox, store: Store
) -> None:
    await log_in(runtime, ANN)
    await log_in(runtime, BO)
    me = await actions.get_me(ANN)
    assert (me.first_name, me.username, me.is_bot) == ("Ann", "annie", False)
    sent = await actions.send_message(ANN, "bobby", "hello from the pool")
    assert sent.text == "hello from the pool"
    history = await actions.history(BO, "annie", limit=5)
    assert [m.text for m in history][:1] == ["hello from the pool"]
    dialogs = await actions.dialogs(BO)
    assert any(d.title == "Ann" for d in dialogs)
    assert await actions.read(BO, "annie")
    handshakes = sandbox.counters["handshakes"]
    for _ in range(5):
        await actions.get_me(ANN)
    # one pooled connection per account, reused: no new auth key, no new TCP connection
    assert sandbox.counters["handshakes"] == handshakes
    assert runtime.pool.get_pool_stats(ANN)["total_connections"] == 1
    account = await store.accounts.get_by_key(ANN)
    [auth] = await store.authorizations.list_for_account(account.id)
    assert auth.last_used_at is not None


async def test_a_revoked_authorization_is_not_redialled(
    runtime: FleetRuntime, actions: Actions, sandbox: Sandbox, world: World, store: Store
) -> None:
    auth_id = await log_in(runtime, ANN)
    await actions.get_me(ANN)
    [key_id] = world.auth_keys_of(ANN)
    sandbox.faults.revoke_authorization(key_id)
    connections = sandbox.counters["connections"]
    failures: list[type[BaseException]] = []
    for _ in range(20):
        with pytest.raises(TgfleetError) as caught:
            await actions.get_me(ANN)
        failures.append(type(caught.value))
        await asyncio.sleep(0.01)
    account = await store.accounts.get_by_key(ANN)
    assert account.status is AccountStatus.REVOKED
    assert (await store.authorizations.get(auth_id)).state is AuthorizationState.REVOKED
    assert set(failures[1:]) <= {AccountDisabled, NoAuthorizationAvailable}
    # the borrowed connection learnt it first; nothing dialled the dead key again
    assert sandbox.counters["connections"] - connections <= 1
    assert runtime.fleet.connect_attempts[ANN] <= 2
    assert sandbox.counters["AUTH_KEY_UNREGISTERED"] <= 2


async def test_revoked_while_idle_costs_one_connection(
    runtime: FleetRuntime, sandbox: Sandbox, world: World, store: Store
) -> None:
    """Revoked while no client is open: the pool's connect learns it once, then refuses."""
    actions = Actions(runtime.pool, runtime.fleet)
    await log_in(runtime, ANN)
    [key_id] = world.auth_keys_of(ANN)
    sandbox.faults.revoke_authorization(key_id)
    connections = sandbox.counters["connections"]
    for _ in range(20):
        with pytest.raises(TgfleetError):
            await actions.get_me(ANN)
    assert sandbox.counters["connections"] - connections == 1
    assert runtime.fleet.connect_attempts[ANN] == 1
    assert (await store.accounts.get_by_key(ANN)).status is AccountStatus.REVOKED


async def test_a_flood_gates_only_that_account(
    runtime: FleetRuntime, actions: Actions, sandbox: Sandbox, store: Store, bus: EventBus
) -> None:
    await log_in(runtime, ANN)
    await log_in(runtime, BO)
    await actions.get_me(ANN)
    sandbox.faults.flood_wait(60, phone=ANN)
    with pytest.raises(FloodWait) as flood:
        await actions.get_me(ANN)
    assert 59 <= flood.value.seconds <= 60
    rpcs = sandbox.counters["rpcs"]
    with pytest.raises(FloodWait) as gated:
        await actions.get_me(ANN)  # refused by the gate, without a request
    assert 58 <= gated.value.seconds <= 60
    assert sandbox.counters["rpcs"] == rpcs
    assert (await actions.get_me(BO)).first_name == "Bo"
    account = await store.accounts.get_by_key(ANN)
    assert account.status is AccountStatus.FLOOD_WAIT
    assert account.flood_until is not None
    [record] = await store.floods.list_for_account(account.id)
    assert record.seconds >= 59 and record.method == "users.getUsers"
    assert (await store.accounts.get_by_key(BO)).status is AccountStatus.ACTIVE
    assert [e.account for e in bus.history() if e.kind == "account.flood"] == [ANN]
    assert sandbox.counters["FLOOD_WAIT"] == 1


async def test_incoming_messages_of_a_keep_online_account_reach_the_bus(
    runtime: FleetRuntime, actions: Actions, bus: EventBus
) -> None:
    events = bus.subscribe(["message.incoming"])
    await log_in(runtime, ANN, keep_online=True)
    await log_in(runtime, BO)
    # the pool brings the keep_online account up by itself
    for _ in range(200):
        if runtime.pool.get_pool_stats(ANN)["pool_size"]:
            break
        await asyncio.sleep(0.02)
    assert runtime.pool.get_pool_stats(ANN)["pool_size"] == 1
    await actions.send_message(BO, "annie", "are you there?")
    event = await events.get(timeout=5)
    assert event is not None
    assert event.account == ANN
    assert event.data["text"] == "are you there?"
    assert event.data["outgoing"] is False


async def test_a_keep_online_account_revoked_and_dropped_does_not_reconnect_in_a_loop(
    runtime: FleetRuntime, actions: Actions, sandbox: Sandbox, world: World, store: Store
) -> None:
    await log_in(runtime, ANN, keep_online=True)
    for _ in range(200):
        if runtime.pool.get_pool_stats(ANN)["pool_size"]:
            break
        await asyncio.sleep(0.02)
    [key_id] = world.auth_keys_of(ANN)
    connections = sandbox.counters["connections"]
    sandbox.faults.revoke_authorization(key_id)
    sandbox.faults.drop_connections(ANN)
    with pytest.raises(TgfleetError):
        await actions.get_me(ANN)
    for _ in range(10):
        with pytest.raises(TgfleetError):
            await actions.get_me(ANN)
    await asyncio.sleep(1.5)  # time for any reconnect loop to show itself
    assert (await store.accounts.get_by_key(ANN)).status is AccountStatus.REVOKED
    assert runtime.pool.get_pool_stats(ANN)["pool_size"] == 0
    # Kurigram's own reconnect of the dropped socket, and at most one more: no loop
    assert sandbox.counters["connections"] - connections <= 2


async def test_a_ban_while_pooled_marks_the_account_banned(
    runtime: FleetRuntime, actions: Actions, sandbox: Sandbox, store: Store
) -> None:
    await log_in(runtime, ANN)
    await actions.get_me(ANN)
    sandbox.faults.ban_user(ANN)
    with pytest.raises(TgfleetError) as caught:
        await actions.get_me(ANN)
    assert getattr(caught.value, "name", "") == "USER_DEACTIVATED_BAN"
    account = await store.accounts.get_by_key(ANN)
    assert account.status is AccountStatus.BANNED
    connects = runtime.fleet.connect_attempts.get(ANN, 0)
    for _ in range(5):
        with pytest.raises(TgfleetError):
            await actions.get_me(ANN)
    assert runtime.fleet.connect_attempts.get(ANN, 0) == connects


async def test_a_flood_that_ended_lets_the_account_work_again(
    runtime: FleetRuntime, actions: Actions, sandbox: Sandbox, store: Store
) -> None:
    await log_in(runtime, ANN)
    sandbox.faults.flood_wait(1, phone=ANN)
    with pytest.raises(FloodWait):
        await actions.get_me(ANN)
    await asyncio.sleep(1.1)
    await runtime.fleet.refresh_statuses()  # the periodic health check
    assert (await store.accounts.get_by_key(ANN)).status is AccountStatus.ACTIVE
    assert (await actions.get_me(ANN)).first_name == "Ann"


async def test_a_request_that_works_clears_an_error_status(
    runtime: FleetRuntime, actions: Actions, sandbox: Sandbox, store: Store
) -> None:
    await log_in(runtime, ANN)
    await actions.get_me(ANN)
    sandbox.faults.add_latency(6.0, phone=ANN, duration=6.0)  # beyond request_timeout=5
    with pytest.raises(TgfleetError, match="no answer"):
        await actions.get_me(ANN)
    account = await store.accounts.get_by_key(ANN)
    assert account.status is AccountStatus.ERROR and "no answer" in account.status_detail
    sandbox.faults.clear()
    assert (await actions.get_me(ANN)).first_name == "Ann"
    assert (await store.accounts.get_by_key(ANN)).status is AccountStatus.ACTIVE


async def test_a_duplicated_key_is_marked_and_never_retried(
    runtime: FleetRuntime, actions: Actions, sandbox: Sandbox, store: Store
) -> None:
    """Someone else (an old copy of the session) holds the key: the pool's client is the newer
    connection, Telegram answers 406, and the fleet never dials that authorization again."""
    auth_id = await log_in(runtime, ANN)
    account = await store.accounts.get_by_key(ANN)
    session = await store.authorizations.session(auth_id)
    outsider = TelegramConnection(
        runtime.fleet._factory.for_authorization(account, session, receive_updates=False),
        account=ANN,
        authorization_id=auth_id,
        connect_timeout=5.0,
    )
    await outsider.connect()
    EXPECTED_DUPLICATES[sandbox.port] = 1
    try:
        with pytest.raises(AuthKeyDuplicated):
            await actions.get_me(ANN)
        for _ in range(10):
            with pytest.raises(TgfleetError):
                await actions.get_me(ANN)
    finally:
        await outsider.disconnect()
    assert (await store.authorizations.get(auth_id)).state is AuthorizationState.DUPLICATED
    assert (await store.accounts.get_by_key(ANN)).status is AccountStatus.REVOKED
    assert runtime.fleet.connect_attempts[ANN] == 1
    assert sandbox.counters["AUTH_KEY_DUPLICATED"] == 1


async def test_the_health_check_finds_a_keep_online_key_revoked_while_idle(
    runtime: FleetRuntime, store: Store, sandbox: Sandbox, world: World
) -> None:
    await log_in(runtime, ANN, keep_online=True)
    await log_in(runtime, BO, keep_online=True)
    for _ in range(200):
        if runtime.pool.get_pool_stats(ANN)["pool_size"]:
            break
        await asyncio.sleep(0.02)
    [key_id] = world.auth_keys_of(ANN)
    sandbox.faults.revoke_authorization(key_id)
    report = await check_fleet(store, runtime.fleet, runtime.actions)
    assert (report.checked, report.failed) == (2, 1)
    assert (await store.accounts.get_by_key(ANN)).status is AccountStatus.REVOKED
    assert (await store.accounts.get_by_key(BO)).status is AccountStatus.ACTIVE
    assert runtime.pool.get_pool_stats(ANN)["pool_size"] == 0
    report = await check_fleet(store, runtime.fleet, runtime.actions)
    assert (report.checked, report.failed) == (1, 0)  # a revoked account is not pinged


async def test_a_refused_request_is_not_counted_against_its_connection(
    runtime: FleetRuntime, actions: Actions, sandbox: Sandbox
) -> None:
    await log_in(runtime, ANN)
    await actions.get_me(ANN)
    with pytest.raises(TgfleetError, match="USERNAME_NOT_OCCUPIED"):
        await actions.send_message(ANN, "nobody_has_this_name", "hello?")
    # Telegram answered: the connection is healthy and stays in the pool, unchecked
    [conn] = [c for c in runtime.pool.connections() if c.phone == ANN]
    assert (conn.error_count, conn.last_error) == (0, None)
    assert runtime.pool.get_pool_stats()["errors"] == 0
    rpcs = sandbox.counters["rpcs"]
    await actions.get_me(ANN)
    assert sandbox.counters["rpcs"] == rpcs + 1  # no liveness check went before it


async def test_text_is_sent_as_written_not_as_markdown_or_html(
    runtime: FleetRuntime, actions: Actions
) -> None:
    await log_in(runtime, ANN)
    await log_in(runtime, BO)
    text = "**not bold** __nor italic__ <b>nor html</b> a_b_c `x`"
    sent = await actions.send_message(ANN, "bobby", text)
    assert sent.text == text
    [received] = await actions.history(BO, "annie", limit=1)
    assert received.text == text
