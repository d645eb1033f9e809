"""A world written to JSON and read back keeps its users, keys, passwords, boxes and logs."""

from __future__ import annotations

import json

import pytest
from pyrogram.raw import functions, types
from pyrogram.utils import compute_password_check
from test_world_kit import Conn, logged_in, peer_of, send

from tgfleet.sandbox.world import World


async def test_restore_keeps_logins_messages_and_passwords() -> None:
    world = World(
        login_code="54321",
        dc_id=4,
        seed={
            "users": [
                {"phone": "+15550001", "first_name": "Ann", "username": "annie"},
                {"phone": "+15550002", "first_name": "Bo", "password": "pw", "hint": "two"},
            ],
            "bots": [{"token": "7000001:tok", "username": "echo_bot"}],
        },
    )
    a = await logged_in(world, "15550001")
    c = await logged_in(world, "15550001")
    b_id = world.state.phones["15550002"]
    await send(a, peer_of(a, b_id), "before the restart")
    chat = await a.call(functions.messages.CreateChat(users=[peer_of(a, b_id)], title="Duo"))
    world.revoke_authorization(c.auth_key_id)
    await Conn(world).error(functions.messages.GetDialogs(
        offset_date=0, offset_id=0, offset_peer=types.InputPeerEmpty(), limit=1, hash=0
    ))  # fmt: skip

    data = json.loads(json.dumps(world.snapshot()))
    again = World.restore(data)

    assert (again.login_code, again.dc_id) == ("54321", 4)
    assert again.auth_key(a.auth_key_id) == world.auth_key(a.auth_key_id)
    assert again.phone_of(a.auth_key_id) == "15550001"
    assert again.phone_of(c.auth_key_id) is None and again.state.auths[c.auth_key_id].revoked
    assert again.counters == world.counters
    a2 = Conn(again, a.auth_key_id)
    state = await a2.call(functions.updates.GetState())
    assert state.pts == world.state.users[world.state.phones["15550001"]].pts
    history = await a2.call(
        functions.messages.GetHistory(
            peer=peer_of(a2, b_id),
            offset_id=0,
            offset_date=0,
            add_offset=0,
            limit=10,
            max_id=0,
            min_id=0,
            hash=0,
        )
    )
    assert [m.message for m in history.messages] == ["before the restart"]
    full = await a2.call(functions.messages.GetFullChat(chat_id=chat.updates.chats[0].id))
    assert full.full_chat.id == chat.updates.chats[0].id
    b_box = again.state.users[b_id]
    a_id = again.state.phones["15550001"]
    assert b_box.dialogs[("user", a_id)].unread == 1  # recounted on load
    resolved = await a2.call(functions.contacts.ResolveUsername(username="annie"))
    assert resolved.users[0].is_self

    # The verifier survived: the password still checks, with a real client-side proof.
    b = Conn(again)
    with pytest.raises(Exception, match="SESSION_PASSWORD_NEEDED"):
        await b.sign_in("15550002", "54321")
    srp = await b.call(functions.account.GetPassword())
    assert srp.hint == "two"
    done = await b.call(functions.auth.CheckPassword(password=compute_password_check(srp, "pw")))
    assert done.user.id == b_id
    # Ids keep counting where they were: no new user reuses an old id.
    again.auto_sign_up = True
    new = await Conn(again).sign_in("15550003", "54321")
    assert new.user.id not in world.state.users


def test_restore_refuses_an_unknown_version() -> None:
    data = World().snapshot()
    data["version"] = 99
    with pytest.raises(ValueError, match="version 99 is not supported"):
        World.restore(data)


def test_snapshot_holds_no_clear_password() -> None:
    world = World(seed={"users": [{"phone": "+15550002", "first_name": "Bo", "password": "pw"}]})
    text = json.dumps(world.snapshot())
    assert '"pw"' not in text and "verifier" in text


async def test_restore_can_take_a_new_login_code() -> None:
    world = World(login_code="11111", seed={"users": [{"phone": "+15550001"}]})
    again = World.restore(world.snapshot(), login_code="22222")
    assert again.login_code == "22222"
    assert isinstance(await Conn(again).sign_in("15550001", "22222"), types.auth.Authorization)
    with pytest.raises(ValueError, match="login_code must be 5 or 6 digits"):
        again.login_code = "abc"
