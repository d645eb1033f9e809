"""Real, unmodified Kurigram clients against the world, over the real sandbox on loopback."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pyrogram import Client, filters, handlers
from pyrogram.errors import (
    AuthKeyUnregistered,
    PasswordHashInvalid,
    PhoneCodeInvalid,
    SessionPasswordNeeded,
    UserDeactivatedBan,
)
from pyrogram.qrlogin import QRLogin
from pyrogram.raw import functions, types

from tgfleet.sandbox.server import Sandbox, open_sandbox
from tgfleet.sandbox.world import World
from tgfleet.telegram.server import ServerEndpoint, build_client, export_record

BOT_TOKEN = "7000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SEED = {
    "users": [
        {"phone": "+15550001", "first_name": "Ann", "username": "annie"},
        {"phone": "+15550002", "first_name": "Bo"},
        {"phone": "+15550003", "first_name": "Cy", "password": "correct horse", "hint": "horse"},
    ],
    "bots": [{"token": BOT_TOKEN, "username": "echo_bot", "first_name": "Echo"}],
}


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    world = World(seed=SEED)
    async with open_sandbox(world=world, insecure_fast_handshake=True) as running:
        yield running


@pytest.fixture
def world(sandbox: Sandbox) -> World:
    assert isinstance(sandbox.world, World)
    return sandbox.world


class Clients:
    """Builds clients for one sandbox and stops every one of them at the end."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.endpoint = ServerEndpoint.of(sandbox)
        self.made: list[Client] = []
        self.n = 0

    def new(self, **kwargs: Any) -> Client:
        self.n += 1
        client = build_client(
            f"c{self.n}",
            self.endpoint,
            api_id=12345,
            api_hash="0123456789abcdef0123456789abcdef",
            device_model=f"Test device {self.n}",
            **kwargs,
        )
        self.made.append(client)
        return client

    async def started(self, phone: str, **kwargs: Any) -> Client:
        client = self.new(phone_number=phone, phone_code="12345", **kwargs)
        await client.start()
        return client

    async def close(self) -> None:
        for client in self.made:
            if client.is_initialized:
                await client.stop()
            elif client.is_connected:
                await client.disconnect()


@pytest.fixture
async def clients(sandbox: Sandbox) -> AsyncIterator[Clients]:
    made = Clients(sandbox)
    try:
        yield made
    finally:
        await made.close()


async def key_id_of(client: Client) -> int:
    key = await client.storage.auth_key()
    return int.from_bytes(hashlib.sha1(key).digest()[-8:], "little", signed=True)


async def test_login_with_code(clients: Clients, world: World, sandbox: Sandbox) -> None:
    ann = await clients.started("+15550001")
    me = await ann.get_me()
    assert (me.first_name, me.username, me.phone_number, me.is_self) == (
        "Ann",
        "annie",
        "15550001",
        True,
    )
    assert world.phone_of(await key_id_of(ann)) == "15550001"
    config = await ann.invoke(functions.help.GetConfig())
    assert [(o.ip_address, o.port) for o in config.dc_options] == [(sandbox.host, sandbox.port)]


async def test_new_number_signs_up_through_kurigram(clients: Clients, world: World) -> None:
    client = clients.new()
    await client.connect()
    sent = await client.send_code("+15557777")
    with pytest.raises(PhoneCodeInvalid):
        await client.sign_in("+15557777", sent.phone_code_hash, "99999")
    assert await client.sign_in("+15557777", sent.phone_code_hash, "12345") is False
    user = await client.sign_up("+15557777", sent.phone_code_hash, "Nova", "Kim")
    assert (user.first_name, user.last_name) == ("Nova", "Kim")
    assert world.phone_of(await key_id_of(client)) == "15557777"


async def test_login_with_two_step_password(clients: Clients) -> None:
    cy = await clients.started("+15550003", password="correct horse")
    assert (await cy.get_me()).first_name == "Cy"


async def test_wrong_two_step_password_is_refused(clients: Clients, world: World) -> None:
    client = clients.new()
    await client.connect()
    sent = await client.send_code("+15550003")
    with pytest.raises(SessionPasswordNeeded):
        await client.sign_in("+15550003", sent.phone_code_hash, "12345")
    assert await client.get_password_hint() == "horse"
    with pytest.raises(PasswordHashInvalid):
        await client.check_password("wrong horse")
    assert world.phone_of(await key_id_of(client)) is None
    user = await client.check_password("correct horse")
    assert user.first_name == "Cy"
    assert world.counters["PASSWORD_HASH_INVALID"] == 1


async def test_bot_token_login(clients: Clients) -> None:
    bot = clients.new(bot_token=BOT_TOKEN)
    await bot.start()
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username, me.first_name) == (7000001, True, "echo_bot", "Echo")


async def test_qr_login_hands_a_second_authorization_to_a_logged_in_user(
    clients: Clients, world: World
) -> None:
    ann = await clients.started("+15550001")
    newcomer = clients.new()
    await newcomer.connect()
    qr = QRLogin(newcomer)
    await qr.recreate()
    assert qr.url.startswith("tg://login?token=")

    waiting = asyncio.ensure_future(qr.wait(timeout=10))
    await asyncio.sleep(0.05)  # let wait() install its handler before the token is accepted
    accepted = await ann.invoke(functions.auth.AcceptLoginToken(token=qr.r.token))
    assert isinstance(accepted, types.Authorization)
    assert accepted.device_model == "Test device 2"
    user = await waiting
    assert user is not None and user.first_name == "Ann"

    sessions = await ann.get_active_sessions()
    assert len(sessions.active_sessions) == 2
    assert world.phone_of(await key_id_of(newcomer)) == "15550001"
    assert await key_id_of(newcomer) != await key_id_of(ann)


async def test_a_sends_to_b_and_bs_handler_receives_it(clients: Clients) -> None:
    ann = await clients.started("+15550001")
    bo = await clients.started("+15550002")
    received: asyncio.Queue[Any] = asyncio.Queue()

    async def on_message(_: Client, message: Any) -> None:
        await received.put(message)

    bo.add_handler(handlers.MessageHandler(on_message, filters.private & filters.incoming))
    sent = await ann.send_message(bo.me.id, "hello Bo")
    assert (sent.text, sent.outgoing, sent.chat.id) == ("hello Bo", True, bo.me.id)
    message = await asyncio.wait_for(received.get(), 5)
    assert (message.text, message.from_user.id, message.from_user.first_name) == (
        "hello Bo",
        ann.me.id,
        "Ann",
    )
    assert message.chat.id == ann.me.id

    fetched = await ann.get_messages(bo.me.id, sent.id)
    assert fetched.text == "hello Bo"

    to_self = await ann.send_message("me", "note to self")
    assert to_self.chat.id == ann.me.id and to_self.text == "note to self"

    dialogs = [d async for d in bo.get_dialogs()]
    assert [(d.chat.id, d.unread_messages_count) for d in dialogs] == [(ann.me.id, 1)]
    assert await bo.read_chat_history(ann.me.id) is True
    dialogs = [d async for d in bo.get_dialogs()]
    assert dialogs[0].unread_messages_count == 0


async def test_edits_and_deletions_reach_the_other_client(clients: Clients) -> None:
    ann = await clients.started("+15550001")
    bo = await clients.started("+15550002")
    edited: asyncio.Queue[Any] = asyncio.Queue()
    deleted: asyncio.Queue[Any] = asyncio.Queue()

    async def on_edit(_: Client, message: Any) -> None:
        await edited.put(message)

    async def on_delete(_: Client, messages: Any) -> None:
        await deleted.put(messages)

    bo.add_handler(handlers.EditedMessageHandler(on_edit))
    bo.add_handler(handlers.DeletedMessagesHandler(on_delete))
    sent = await ann.send_message(bo.me.id, "helo")
    changed = await ann.edit_message_text(bo.me.id, sent.id, "hello")
    assert changed.text == "hello" and changed.edit_date is not None
    seen = await asyncio.wait_for(edited.get(), 5)
    assert seen.text == "hello" and seen.from_user.id == ann.me.id
    assert await ann.delete_messages(bo.me.id, sent.id) == 1
    gone = await asyncio.wait_for(deleted.get(), 5)
    assert [m.id for m in gone] == [seen.id]
    assert [m async for m in bo.get_chat_history(ann.me.id)] == []


async def test_history_pages_through_kurigram(clients: Clients) -> None:
    ann = await clients.started("+15550001")
    bo = await clients.started("+15550002")
    resolved = await ann.get_users("annie")
    assert resolved.id == ann.me.id
    for i in range(130):  # more than one page of 100
        await ann.send_message(bo.me.id, f"m{i}")
    history = [m.text async for m in bo.get_chat_history(ann.me.id)]
    assert history == [f"m{i}" for i in reversed(range(130))]
    assert [m.text async for m in bo.get_chat_history(ann.me.id, limit=3)] == [
        "m129",
        "m128",
        "m127",
    ]
    assert await bo.get_chat_history_count(ann.me.id) == 130


async def test_basic_group_reaches_members_and_replies_quote(clients: Clients) -> None:
    ann = await clients.started("+15550001")
    bo = await clients.started("+15550002")
    to_bo: asyncio.Queue[Any] = asyncio.Queue()
    to_ann: asyncio.Queue[Any] = asyncio.Queue()

    async def bo_hears(_: Client, message: Any) -> None:
        if message.text:
            await to_bo.put(message)

    async def ann_hears(_: Client, message: Any) -> None:
        if message.text and not message.outgoing:
            await to_ann.put(message)

    bo.add_handler(handlers.MessageHandler(bo_hears, filters.group))
    ann.add_handler(handlers.MessageHandler(ann_hears, filters.group))
    group = await ann.create_group("Pair", [bo.me.id])
    assert group.title == "Pair"
    await ann.send_message(group.id, "hi **group**")
    message = await asyncio.wait_for(to_bo.get(), 5)
    assert (message.chat.id, message.chat.title, message.from_user.id) == (
        group.id,
        "Pair",
        ann.me.id,
    )
    assert message.text == "hi group" and message.entities[0].type.name == "BOLD"
    await message.reply("hello Ann")  # Kurigram always quotes the message
    answer = await asyncio.wait_for(to_ann.get(), 5)
    assert answer.text == "hello Ann"
    assert answer.reply_to_message is not None
    assert answer.reply_to_message.text == "hi group"


async def test_revoked_and_banned_accounts_see_401(clients: Clients, world: World) -> None:
    ann = await clients.started("+15550001")
    world.revoke_authorization(await key_id_of(ann))
    with pytest.raises(AuthKeyUnregistered):
        await ann.get_me()
    bo = await clients.started("+15550002")
    world.ban_user("+15550002")
    with pytest.raises(UserDeactivatedBan):
        await bo.get_me()


async def test_world_survives_a_restart_from_its_state_dir(tmp_path: Any) -> None:
    async with open_sandbox(state_dir=tmp_path, seed=SEED, insecure_fast_handshake=True) as first:
        made = Clients(first)
        try:
            ann = await made.started("+15550001")
            bo = await made.started("+15550002")
            await ann.send_message(bo.me.id, "kept across restarts")
            record = export_record(ann)
            ann_id, bo_id = ann.me.id, bo.me.id
        finally:
            await made.close()
    assert (tmp_path / "world.json").exists()

    async with open_sandbox(state_dir=tmp_path, insecure_fast_handshake=True) as second:
        client = build_client(
            "again",
            ServerEndpoint.of(second),
            api_id=12345,
            api_hash="0123456789abcdef0123456789abcdef",
            record=record,
        )
        await client.start()  # the stored authorization: no code, no new login
        try:
            assert (await client.get_me()).id == ann_id
            texts = [m.text async for m in client.get_chat_history(bo_id)]
            assert texts == ["kept across restarts"]
        finally:
            await client.stop()


async def test_kurigram_sets_changes_and_removes_a_cloud_password(clients: Clients) -> None:
    ann = await clients.started("+15550001")
    assert await ann.enable_cloud_password("first", hint="one") is True
    assert await ann.change_cloud_password("first", "second") is True
    again = await clients.started("+15550001", password="second")  # a new login needs it
    assert (await again.get_me()).id == ann.me.id
    with pytest.raises(PasswordHashInvalid):
        await ann.remove_cloud_password("first")
    assert await ann.remove_cloud_password("second") is True
    assert await clients.started("+15550001")  # no password any more
