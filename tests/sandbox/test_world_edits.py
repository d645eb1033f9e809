"""Editing and deleting sent messages in every box, and chat actions ("typing…")."""

from __future__ import annotations

import pytest
from pyrogram.raw import functions, types
from test_world_kit import Conn, logged_in, peer_of, send

from tgfleet.sandbox.world import World


@pytest.fixture
def world() -> World:
    return World(
        seed={
            "users": [
                {"phone": "+15550001", "first_name": "Ann"},
                {"phone": "+15550002", "first_name": "Bo"},
                {"phone": "+15550003", "first_name": "Cy"},
            ]
        }
    )


async def pair(world: World) -> tuple[Conn, Conn, int, int]:
    a = await logged_in(world, "15550001")
    b = await logged_in(world, "15550002")
    return a, b, world.state.phones["15550001"], world.state.phones["15550002"]


def edit(peer: object, msg_id: int, text: str) -> functions.messages.EditMessage:
    return functions.messages.EditMessage(peer=peer, id=msg_id, message=text)


async def test_an_edit_reaches_the_other_box(world: World) -> None:
    a, b, a_id, b_id = await pair(world)
    await send(b, types.InputPeerSelf(), "a note")  # so Ann's and Bo's ids differ
    await send(b, peer_of(b, a_id), "from Bo first")
    sent = await send(a, peer_of(a, b_id), "helo")
    a_msg_id = sent.updates[0].id
    b.pushed.clear()
    result = await a.call(edit(peer_of(a, b_id), a_msg_id, "hello"))
    [update] = result.updates
    assert isinstance(update, types.UpdateEditMessage)
    assert update.message.message == "hello" and update.message.edit_date
    [pushed] = b.pushed_updates()
    assert isinstance(pushed, types.UpdateEditMessage)
    assert pushed.message.message == "hello" and pushed.message.id != a_msg_id
    history = await b.call(
        functions.messages.GetHistory(
            peer=peer_of(b, a_id),
            offset_id=0,
            offset_date=0,
            add_offset=0,
            limit=10,
            max_id=0,
            min_id=0,
            hash=0,
        )
    )
    assert [m.message for m in history.messages] == ["hello", "from Bo first"]

    not_mine = await b.error(edit(peer_of(b, a_id), pushed.message.id, "mine now"))
    assert (not_mine.code, not_mine.message) == (403, "MESSAGE_AUTHOR_REQUIRED")
    same = await a.error(edit(peer_of(a, b_id), a_msg_id, "hello"))
    assert same.message == "MESSAGE_NOT_MODIFIED"
    missing = await a.error(edit(peer_of(a, b_id), 999, "x"))
    assert missing.message == "MESSAGE_ID_INVALID"


async def test_delete_for_me_and_for_everyone(world: World) -> None:
    a, b, a_id, b_id = await pair(world)
    first = (await send(a, peer_of(a, b_id), "one")).updates[0].id
    second = (await send(a, peer_of(a, b_id), "two")).updates[0].id
    b_state = await b.call(functions.updates.GetState())

    mine = await a.call(functions.messages.DeleteMessages(id=[first], revoke=False))
    assert mine.pts_count == 1
    assert first not in world.state.users[a_id].messages
    assert len(world.state.users[b_id].messages) == 2  # Bo keeps his copy

    b.pushed.clear()
    both = await a.call(functions.messages.DeleteMessages(id=[second, 12345], revoke=True))
    assert both.pts_count == 1
    [gone] = b.pushed_updates()
    assert isinstance(gone, types.UpdateDeleteMessages)
    assert gone.messages == [2]  # Bo's own id for "two"
    assert list(world.state.users[b_id].messages) == [1]
    dialogs = await a.call(functions.messages.GetDialogs(
        offset_date=0, offset_id=0, offset_peer=types.InputPeerEmpty(), limit=10, hash=0
    ))  # fmt: skip
    assert dialogs.dialogs == []  # nothing left on Ann's side

    diff = await b.call(functions.updates.GetDifference(pts=b_state.pts, date=0, qts=0))
    assert diff.new_messages == []
    assert [type(u) for u in diff.other_updates] == [types.UpdateDeleteMessages]
    nothing = await a.call(functions.messages.DeleteMessages(id=[777], revoke=True))
    assert nothing.pts_count == 0


async def test_group_deletes_reach_everyone_only_for_own_messages(world: World) -> None:
    a, b, a_id, b_id = await pair(world)
    await logged_in(world, "15550003")
    c_id = world.state.phones["15550003"]
    made = await a.call(
        functions.messages.CreateChat(users=[peer_of(a, b_id), peer_of(a, c_id)], title="G")
    )
    group = types.InputPeerChat(chat_id=made.updates.chats[0].id)
    from_bo = (await send(b, group, "Bo's")).updates[0].id
    ann_copy = world.state.users[a_id].copies[(b_id, from_bo)]
    await a.call(functions.messages.DeleteMessages(id=[ann_copy], revoke=True))
    assert ann_copy not in world.state.users[a_id].messages
    assert from_bo in world.state.users[b_id].messages  # not Ann's message: only her copy goes
    own = (await send(a, group, "Ann's")).updates[0].id
    await a.call(functions.messages.DeleteMessages(id=[own], revoke=True))
    for uid in (b_id, c_id):
        assert all(m.text != "Ann's" for m in world.state.users[uid].messages.values())

    restored = World.restore(world.snapshot())
    last = restored.state.users[c_id].log[-1]
    assert last.kind == "delete_messages" and last.message_ids


async def test_typing_is_shown_to_the_other_side(world: World) -> None:
    a, b, a_id, b_id = await pair(world)
    ok = await a.call(
        functions.messages.SetTyping(peer=peer_of(a, b_id), action=types.SendMessageTypingAction())
    )
    assert bool(ok)
    [typing] = b.pushed_updates()
    assert isinstance(typing, types.UpdateUserTyping) and typing.user_id == a_id
    assert world.state.users[b_id].pts == 0  # not logged: no pts step
