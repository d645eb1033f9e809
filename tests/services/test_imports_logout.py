"""Importing Pyrogram and Telethon session strings; logging out (on the server too) and removing."""

from __future__ import annotations

import pytest
from conftest import ANN, API_HASH, API_ID, BO, Calls, log_in
from pyrogram import Client, raw

from tgfleet.errors import (
    AccountExists,
    AccountNotFound,
    AuthorizationRevoked,
    Conflict,
    InvalidInput,
    NoAuthorizationAvailable,
)
from tgfleet.sandbox.server import Sandbox
from tgfleet.sandbox.world import World
from tgfleet.services.actions import Actions
from tgfleet.services.imports import SessionImporter
from tgfleet.services.logout import Logout
from tgfleet.services.runtime import FleetRuntime
from tgfleet.store import Store
from tgfleet.telegram.connection import TelegramConnection
from tgfleet.telegram.server import ServerEndpoint, build_client, export_record
from tgfleet.telegram.session_strings import telethon_string

SIGN_IN = "functions.auth.SignIn"


@pytest.fixture
def importer(runtime: FleetRuntime) -> SessionImporter:
    return runtime.importer


@pytest.fixture
def logout(runtime: FleetRuntime) -> Logout:
    return runtime.logout


async def logged_in_elsewhere(sandbox: Sandbox, phone: str) -> Client:
    """A client of another tool, logged in, then stopped (its key handed over to tgfleet)."""
    client = build_client(
        "elsewhere", ServerEndpoint.of(sandbox), api_id=API_ID, api_hash=API_HASH, no_updates=True
    )
    await client.connect()
    sent = await client.send_code(phone)
    await client.sign_in(phone, sent.phone_code_hash, "12345")
    return client


async def test_import_a_pyrogram_session_string(
    runtime: FleetRuntime, importer: SessionImporter, sandbox: Sandbox, store: Store, calls: Calls
) -> None:
    other = await logged_in_elsewhere(sandbox, ANN)
    text = await other.export_session_string()
    await other.disconnect()
    sign_ins = calls[SIGN_IN]
    done = await importer.import_session_string(text, label="from pyrogram")
    assert done.account.key == ANN
    assert calls[SIGN_IN] == sign_ins  # an import is not a login
    me = await Actions(runtime.pool, runtime.fleet).get_me(ANN)
    assert me.first_name == "Ann"
    with pytest.raises(Conflict):  # the same key twice would be two clients on one key
        await importer.import_session_string(text)


async def test_import_a_telethon_string_session(
    runtime: FleetRuntime, importer: SessionImporter, sandbox: Sandbox, store: Store
) -> None:
    other = await logged_in_elsewhere(sandbox, BO)
    record = export_record(other)
    await other.disconnect()
    assert record.auth_key is not None
    text = telethon_string(record.dc_id, sandbox.host, sandbox.port, record.auth_key)
    done = await importer.import_session_string(text)
    assert done.account.key == BO
    [auth] = await store.authorizations.list_for_account(done.account.id)
    assert auth.user_id is not None and auth.dc_id == record.dc_id
    me = await Actions(runtime.pool, runtime.fleet).get_me(BO)
    assert me.first_name == "Bo"


async def test_import_adds_to_an_existing_account_only_when_asked(
    runtime: FleetRuntime, importer: SessionImporter, sandbox: Sandbox, store: Store
) -> None:
    await log_in(runtime, ANN)
    other = await logged_in_elsewhere(sandbox, ANN)
    text = await other.export_session_string()
    await other.disconnect()
    with pytest.raises(AccountExists):
        await importer.import_session_string(text)
    done = await importer.import_session_string(text, add_to_existing=True)
    assert len(await store.authorizations.list_for_account(done.account.id)) == 2


async def test_import_refuses_garbage_and_dead_keys(
    runtime: FleetRuntime, importer: SessionImporter, sandbox: Sandbox, world: World
) -> None:
    with pytest.raises(InvalidInput, match="session_string"):
        await importer.import_session_string("not a session")
    other = await logged_in_elsewhere(sandbox, ANN)
    text = await other.export_session_string()
    await other.invoke(raw.functions.auth.LogOut())
    await other.disconnect()
    with pytest.raises(AuthorizationRevoked):
        await importer.import_session_string(text)


async def test_log_out_ends_the_key_on_the_server(
    runtime: FleetRuntime, logout: Logout, store: Store, world: World, sandbox: Sandbox
) -> None:
    first = await log_in(runtime, ANN)
    second = await log_in(runtime, ANN, add_to_existing=True)
    actions = Actions(runtime.pool, runtime.fleet)
    await actions.get_me(ANN)  # a pooled client is open on the first authorization
    session = await store.authorizations.session(first)
    key_id = session.authorization.auth_key_id
    assert key_id in world.auth_keys_of(ANN)
    await logout.log_out(ANN, first)
    assert key_id not in world.auth_keys_of(ANN)
    assert len(world.auth_keys_of(ANN)) == 1
    assert [
        a.id for a in await store.authorizations.list_for_account(session.authorization.account_id)
    ] == [second]
    # the key is dead on the server: a client on it is refused
    account = await store.accounts.get_by_key(ANN)
    dead = TelegramConnection(
        runtime.fleet._factory.for_authorization(account, session, receive_updates=False),
        account=ANN,
        authorization_id=first,
        connect_timeout=5.0,
    )
    with pytest.raises(AuthorizationRevoked):
        await dead.connect()
    # the account goes on with the other one
    assert (await actions.get_me(ANN)).first_name == "Ann"
    assert sandbox.counters["AUTH_KEY_DUPLICATED"] == 0


async def test_remove_logs_out_everywhere_and_forgets_the_account(
    runtime: FleetRuntime, logout: Logout, store: Store, world: World
) -> None:
    await log_in(runtime, ANN, keep_online=True)
    await log_in(runtime, ANN, add_to_existing=True)
    await Actions(runtime.pool, runtime.fleet).get_me(ANN)
    assert len(world.auth_keys_of(ANN)) == 2
    assert await logout.remove(ANN) == 2
    assert world.auth_keys_of(ANN) == []
    with pytest.raises(AccountNotFound):
        await store.accounts.get_by_key(ANN)
    with pytest.raises(NoAuthorizationAvailable):
        async with runtime.pool.acquire(ANN):
            pass
    assert (await store.audit.page(target=ANN, limit=1)).items[0].action == "account.removed"
