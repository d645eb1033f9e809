"""Every login flow and every listed error, against the sandbox with real Kurigram clients."""

from __future__ import annotations

import pytest
from conftest import ANN, BOT_TOKEN, CY, PASSWORD, Calls, WorldClock, log_in

from tgfleet.errors import (
    AccountBanned,
    AccountExists,
    FloodWait,
    InvalidInput,
    LoginError,
)
from tgfleet.sandbox.server import Sandbox
from tgfleet.sandbox.world import World
from tgfleet.services.login import LoginStep
from tgfleet.services.runtime import FleetRuntime
from tgfleet.store import Store
from tgfleet.store.records import AccountStatus, AuthorizationState, LoginResult

SIGN_IN = "functions.auth.SignIn"
SEND_CODE = "functions.auth.SendCode"


async def test_code_login_of_an_existing_user(
    runtime: FleetRuntime, store: Store, world: World, calls: Calls
) -> None:
    flow = await runtime.login.start_code_login(ANN, label="ann", keep_online=False)
    assert flow.step is LoginStep.CODE_SENT
    done = await runtime.login.submit_code(flow.id, "12345")
    assert done.step is LoginStep.DONE
    account = await store.accounts.get_by_key(ANN)
    assert account.status is AccountStatus.ACTIVE
    [auth] = await store.authorizations.list_for_account(account.id)
    assert auth.state is AuthorizationState.ACTIVE
    assert auth.user_id == world.user_id_of(auth.auth_key_id)
    assert world.auth_keys_of(ANN) == [auth.auth_key_id]
    assert (calls[SEND_CODE], calls[SIGN_IN]) == (1, 1)
    attempts = await store.login_attempts.list_for(ANN)
    assert [(a.step, a.result) for a in attempts] == [
        ("done", LoginResult.OK),
        ("send_code", LoginResult.PENDING),
    ]


async def test_a_new_number_signs_up(runtime: FleetRuntime, store: Store, world: World) -> None:
    flow = await runtime.login.start_code_login("+1 555 777 0001", first_name="Nova")
    await runtime.login.submit_code(flow.id, "12345")
    account = await store.accounts.get_by_key("+15557770001")
    [auth] = await store.authorizations.list_for_account(account.id)
    assert world.phone_of(auth.auth_key_id) == "15557770001"


async def test_two_step_password_wrong_then_right(
    runtime: FleetRuntime, store: Store, calls: Calls
) -> None:
    flow = await runtime.login.start_code_login(CY)
    flow = await runtime.login.submit_code(flow.id, "12345")
    assert flow.step is LoginStep.PASSWORD_NEEDED
    assert flow.password_hint == "horse"
    with pytest.raises(LoginError) as wrong:
        await runtime.login.submit_password(flow.id, "battery staple")
    assert wrong.value.name == "PASSWORD_HASH_INVALID"
    assert runtime.login.get(flow.id).step is LoginStep.PASSWORD_NEEDED
    done = await runtime.login.submit_password(flow.id, PASSWORD)
    assert done.step is LoginStep.DONE
    assert (await store.accounts.get_by_key(CY)).status is AccountStatus.ACTIVE
    assert calls[SIGN_IN] == 1


async def test_malformed_phone_fails_before_any_network(
    runtime: FleetRuntime, sandbox: Sandbox
) -> None:
    before = sandbox.counters["connections"]
    for bad in ("", "12", "+1555abc0001", "not a phone"):
        with pytest.raises(InvalidInput):
            await runtime.login.start_code_login(bad)
    assert sandbox.counters["connections"] == before


async def test_wrong_code_keeps_the_flow_at_the_code_step(
    runtime: FleetRuntime, store: Store, calls: Calls
) -> None:
    flow = await runtime.login.start_code_login(ANN)
    with pytest.raises(LoginError) as wrong:
        await runtime.login.submit_code(flow.id, "54321")
    assert wrong.value.name == "PHONE_CODE_INVALID"
    assert runtime.login.get(flow.id).step is LoginStep.CODE_SENT
    assert calls[SIGN_IN] == 1  # never retried by the flow
    await runtime.login.submit_code(flow.id, "12345")
    assert calls[SIGN_IN] == 2
    assert await store.accounts.find_by_key(ANN) is not None


async def test_expired_code_ends_the_flow(
    runtime: FleetRuntime, store: Store, world_clock: WorldClock, calls: Calls
) -> None:
    flow = await runtime.login.start_code_login(ANN)
    world_clock.now += 301
    with pytest.raises(LoginError) as expired:
        await runtime.login.submit_code(flow.id, "12345")
    assert expired.value.name == "PHONE_CODE_EXPIRED"
    with pytest.raises(LoginError, match="start a new one"):
        runtime.login.get(flow.id)
    assert calls[SIGN_IN] == 1
    assert await store.accounts.find_by_key(ANN) is None


async def test_banned_number(runtime: FleetRuntime, world: World, calls: Calls) -> None:
    world.ban_user(ANN)
    with pytest.raises(AccountBanned) as banned:
        await runtime.login.start_code_login(ANN)
    assert banned.value.name == "PHONE_NUMBER_BANNED"
    assert "+15550001" in str(banned.value)
    assert calls[SIGN_IN] == 0


async def test_flood_wait_on_send_code(
    runtime: FleetRuntime, sandbox: Sandbox, store: Store, calls: Calls
) -> None:
    sandbox.faults.flood_wait(120, method="auth.sendCode")
    with pytest.raises(FloodWait) as flood:
        await runtime.login.start_code_login(ANN)
    assert 119 <= flood.value.seconds <= 120
    assert "120 s" in str(flood.value) or "119 s" in str(flood.value)
    # answered once, before the world saw it; the flow neither retried nor slept through it
    assert sandbox.counters["FLOOD_WAIT"] == 1
    assert calls[SEND_CODE] == 0
    attempts = await store.login_attempts.list_for(ANN)
    assert [(a.result, a.error) for a in attempts] == [(LoginResult.FAILED, "FLOOD_WAIT")]


async def test_bot_token_login(runtime: FleetRuntime, store: Store) -> None:
    done = await runtime.login.login_bot(BOT_TOKEN, label="echo")
    assert done.account.key == "bot:7000001"
    [auth] = await store.authorizations.list_for_account(done.account.id)
    assert auth.is_bot
    async with runtime.pool.acquire("bot:7000001") as pooled:
        me = await pooled.client.client.get_me()
    assert me.is_bot and me.username == "echo_bot"


async def test_bad_bot_token(runtime: FleetRuntime, store: Store) -> None:
    with pytest.raises(InvalidInput):
        await runtime.login.login_bot("nonsense")
    with pytest.raises(LoginError) as bad:
        await runtime.login.login_bot("7000001:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    assert bad.value.name == "ACCESS_TOKEN_INVALID"
    assert await store.accounts.find_by_key("bot:7000001") is None


async def test_a_second_login_adds_an_authorization(
    runtime: FleetRuntime, store: Store, world: World
) -> None:
    first = await log_in(runtime, ANN)
    with pytest.raises(AccountExists):
        await runtime.login.start_code_login(ANN)
    second = await log_in(runtime, ANN, add_to_existing=True)
    account = await store.accounts.get_by_key(ANN)
    listed = await store.authorizations.list_for_account(account.id)
    assert sorted(a.id for a in listed) == sorted([first, second])
    assert sorted(world.auth_keys_of(ANN)) == sorted(a.auth_key_id for a in listed)


async def test_qr_handoff_adds_an_authorization_without_a_code(
    runtime: FleetRuntime, store: Store, world: World, calls: Calls
) -> None:
    first = await log_in(runtime, ANN)
    codes, sign_ins = calls[SEND_CODE], calls[SIGN_IN]
    flow = await runtime.login.add_by_qr_handoff(ANN)
    assert flow.step is LoginStep.DONE
    assert (calls[SEND_CODE], calls[SIGN_IN]) == (codes, sign_ins)  # no login spent
    assert calls["functions.auth.AcceptLoginToken"] == 1
    account = await store.accounts.get_by_key(ANN)
    listed = await store.authorizations.list_for_account(account.id)
    assert sorted(a.id for a in listed) == sorted([first, flow.result_authorization_id])
    assert sorted(world.auth_keys_of(ANN)) == sorted(a.auth_key_id for a in listed)
    # both authorizations now serve the pool, each on its own client
    async with runtime.pool.acquire(ANN) as one, runtime.pool.acquire(ANN) as two:
        assert {one.authorization_id, two.authorization_id} == {str(a.id) for a in listed}
        for pooled in (one, two):
            assert (await pooled.client.client.get_me()).first_name == "Ann"


async def test_qr_handoff_with_a_two_step_password(
    runtime: FleetRuntime, store: Store, world: World
) -> None:
    flow = await runtime.login.start_code_login(CY)
    flow = await runtime.login.submit_code(flow.id, "12345")
    await runtime.login.submit_password(flow.id, PASSWORD)
    qr = await runtime.login.add_by_qr_handoff(CY)
    assert qr.step is LoginStep.PASSWORD_NEEDED
    with pytest.raises(LoginError):
        await runtime.login.submit_password(qr.id, "wrong")
    done = await runtime.login.submit_password(qr.id, PASSWORD)
    assert done.step is LoginStep.DONE
    assert len(world.auth_keys_of(CY)) == 2
