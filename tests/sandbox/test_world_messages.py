"""Messages, dialogs, history, read marks, updates and basic groups in the world."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from pyrogram.raw import functions, types
from pyrogram.raw.core import TLObject
from test_world_kit import Conn, logged_in, peer_of, send

from tgfleet.sandbox.world import World


@pytest.fixture
def world() -> World:
    return World(
        seed={
            "users": [
                {"phone": "+15550001", "first_name": "Ann", "username": "annie"},
                {"phone": "+15550002", "first_name": "Bo"},
                {"phone": "+15550003", "first_name": "Cy"},
            ],
            "bots": [{"token": "7000001:tok", "username": "echo_bot"}],
        }
    )


def uid(world: World, phone: str) -> int:
    return world.state.phones[phone]


def history(
    peer: types.InputPeerUser | types.InputPeerChat, **kw: int
) -> functions.messages.GetHistory:
    args = {"offset_id": 0, "offset_date": 0, "add_offset": 0, "limit": 100, "max_id": 0,
            "min_id": 0, "hash": 0} | kw  # fmt: skip
    return functions.messages.GetHistory(peer=peer, **args)


def dialogs(limit: int = 100, offset_id: int = 0) -> functions.messages.GetDialogs:
    return functions.messages.GetDialogs(
        offset_date=0,
        offset_id=offset_id,
        offset_peer=types.InputPeerEmpty(),
        limit=limit,
        hash=0,
    )


async def test_a_message_reaches_the_recipient_live_and_answers_with_full_updates(
    world: World,
) -> None:
    a = await logged_in(world, "15550001")
    a_other = a.sibling()  # a second live connection of the same authorization
    b = await logged_in(world, "15550002")
    b_id = uid(world, "15550002")

    result = await send(a, peer_of(a, b_id), "hello Bo")

    msg_id_update, new_message = result.updates
    assert isinstance(msg_id_update, types.UpdateMessageID)
    assert isinstance(new_message, types.UpdateNewMessage)
    assert msg_id_update.id == new_message.message.id == 1
    assert new_message.message.out and new_message.message.message == "hello Bo"
    assert new_message.message.peer_id == types.PeerUser(user_id=b_id)
    assert new_message.pts == 1
    assert {u.id for u in result.users} == {b_id, uid(world, "15550001")}
    assert all(u.access_hash for u in result.users)

    assert a.pushed == []  # the sending connection has its answer; no echo
    [own_copy] = a_other.pushed_updates()
    assert own_copy.message.id == 1 and own_copy.message.out

    [incoming] = b.pushed_updates()
    assert isinstance(incoming, types.UpdateNewMessage)
    msg = incoming.message
    assert (msg.out, msg.message, msg.peer_id) == (
        False,
        "hello Bo",
        types.PeerUser(user_id=uid(world, "15550001")),
    )
    assert incoming.pts == 1
    [pushed] = b.pushed
    assert uid(world, "15550001") in {u.id for u in pushed.users}


async def test_message_to_self_is_stored_once(world: World) -> None:
    a = await logged_in(world, "15550001")
    result = await send(a, types.InputPeerSelf(), "note to self")
    assert [type(u) for u in result.updates] == [types.UpdateMessageID, types.UpdateNewMessage]
    me = world.state.users[uid(world, "15550001")]
    assert len(me.messages) == 1 and me.pts == 1
    listed = await a.call(dialogs())
    assert [d.peer for d in listed.dialogs] == [types.PeerUser(user_id=me.id)]


async def test_dialogs_history_and_read_marks(world: World) -> None:
    a = await logged_in(world, "15550001")
    b = await logged_in(world, "15550002")
    a_id, b_id = uid(world, "15550001"), uid(world, "15550002")
    for i in range(3):
        await send(a, peer_of(a, b_id), f"m{i}")
    await send(b, peer_of(b, a_id), "reply")

    listed = await b.call(dialogs())
    assert isinstance(listed, types.messages.Dialogs)
    [dialog] = listed.dialogs
    assert (dialog.peer, dialog.top_message, dialog.unread_count) == (
        types.PeerUser(user_id=a_id),
        4,
        3,
    )
    assert [m.message for m in listed.messages] == ["reply"]
    assert {u.id for u in listed.users} >= {a_id, b_id}

    page = await b.call(history(peer_of(b, a_id)))
    assert [m.message for m in page.messages] == ["reply", "m2", "m1", "m0"]

    a.pushed.clear()
    read = await b.call(functions.messages.ReadHistory(peer=peer_of(b, a_id), max_id=2))
    assert read.pts_count == 1
    assert (await b.call(dialogs())).dialogs[0].unread_count == 1
    [outbox] = a.pushed_updates()
    assert isinstance(outbox, types.UpdateReadHistoryOutbox)
    assert (outbox.peer, outbox.max_id) == (types.PeerUser(user_id=b_id), 2)
    a_dialog = (await a.call(dialogs())).dialogs[0]
    assert a_dialog.read_outbox_max_id == 2

    await b.call(functions.messages.ReadHistory(peer=peer_of(b, a_id), max_id=0))
    assert (await b.call(dialogs())).dialogs[0].unread_count == 0
    unchanged = await b.call(functions.messages.ReadHistory(peer=peer_of(b, a_id), max_id=0))
    assert unchanged.pts_count == 0
    state = await b.call(functions.updates.GetState())
    assert (state.pts, state.unread_count) == (b.world.state.users[b_id].pts, 0)


async def test_history_paging_follows_telegram_offsets(world: World) -> None:
    a = await logged_in(world, "15550001")
    b_id = uid(world, "15550002")
    peer = peer_of(a, b_id)
    for i in range(1, 11):
        await send(a, peer, f"m{i}")  # ids 1..10

    async def ids(**kw: int) -> list[int]:
        return [m.id for m in (await a.call(history(peer, **kw))).messages]

    assert await ids(limit=3) == [10, 9, 8]
    assert await ids(limit=3, offset_id=8) == [7, 6, 5]
    assert await ids(limit=3, offset_id=3) == [2, 1]
    assert await ids(limit=3, offset_id=1) == []
    assert await ids(limit=3, offset_id=5, add_offset=-3) == [7, 6, 5]  # Kurigram's reverse
    assert await ids(limit=10, min_id=7) == [10, 9, 8]
    assert await ids(limit=10, max_id=3) == [2, 1]
    sliced = await a.call(history(peer, limit=3))
    assert isinstance(sliced, types.messages.MessagesSlice) and sliced.count == 10
    whole = await a.call(history(peer))
    assert isinstance(whole, types.messages.Messages)


async def test_dialog_paging_ends(world: World) -> None:
    a = await logged_in(world, "15550001")
    for phone in ("15550002", "15550003"):
        await send(a, peer_of(a, uid(world, phone)), "hi")
    await send(a, types.InputPeerSelf(), "me")
    first = await a.call(dialogs(limit=2))
    assert isinstance(first, types.messages.DialogsSlice) and first.count == 3
    assert [m.id for m in first.messages] == [3, 2]
    rest = await a.call(dialogs(limit=2, offset_id=2))
    assert [m.id for m in rest.messages] == [1]
    assert (await a.call(dialogs(limit=2, offset_id=1))).dialogs == []


async def test_get_difference_replays_what_a_client_missed(world: World) -> None:
    a = await logged_in(world, "15550001")
    b = await logged_in(world, "15550002")
    b_id = uid(world, "15550002")
    start = await b.call(functions.updates.GetState())
    for i in range(3):
        await send(a, peer_of(a, b_id), f"while away {i}")
    await b.call(functions.messages.ReadHistory(peer=peer_of(b, uid(world, "15550001")), max_id=1))

    diff = await b.call(functions.updates.GetDifference(pts=start.pts, date=start.date, qts=0))
    assert isinstance(diff, types.updates.Difference)
    assert [m.message for m in diff.new_messages] == [f"while away {i}" for i in range(3)]
    [read] = diff.other_updates
    assert isinstance(read, types.UpdateReadHistoryInbox) and read.max_id == 1
    assert diff.state.pts == start.pts + 4
    assert uid(world, "15550001") in {u.id for u in diff.users}

    empty = await b.call(functions.updates.GetDifference(pts=diff.state.pts, date=0, qts=0))
    assert isinstance(empty, types.updates.DifferenceEmpty)

    sliced = await b.call(
        functions.updates.GetDifference(pts=start.pts, date=0, qts=0, pts_total_limit=2)
    )
    assert isinstance(sliced, types.updates.DifferenceSlice)
    assert len(sliced.new_messages) == 2 and sliced.intermediate_state.pts == start.pts + 2


async def test_send_errors(world: World) -> None:
    a = await logged_in(world, "15550001")
    b_id = uid(world, "15550002")
    good = peer_of(a, b_id)
    empty = await a.error(functions.messages.SendMessage(peer=good, message="  ", random_id=1))
    assert empty.message == "MESSAGE_EMPTY"
    long = await a.error(functions.messages.SendMessage(peer=good, message="x" * 4097, random_id=2))
    assert long.message == "MESSAGE_TOO_LONG"
    wrong_hash = types.InputPeerUser(user_id=b_id, access_hash=12345)
    bad = await a.error(functions.messages.SendMessage(peer=wrong_hash, message="x", random_id=3))
    assert bad.message == "PEER_ID_INVALID"
    await a.call(functions.messages.SendMessage(peer=good, message="once", random_id=7))
    dup = await a.error(functions.messages.SendMessage(peer=good, message="twice", random_id=7))
    assert (dup.code, dup.message) == (500, "RANDOM_ID_DUPLICATE")
    chan = types.InputPeerChannel(channel_id=1, access_hash=1)
    assert (await a.error(history(chan))).message == "CHANNEL_INVALID"


async def test_bots_answer_only_users_who_wrote_first(world: World) -> None:
    bot = Conn(world)
    await bot.call(functions.auth.ImportBotAuthorization(
        flags=0, api_id=1, api_hash="x", bot_auth_token="7000001:tok"
    ))  # fmt: skip
    a = await logged_in(world, "15550001")
    a_id = uid(world, "15550001")
    first = await bot.error(functions.messages.SendMessage(
        peer=peer_of(bot, a_id), message="hi", random_id=1
    ))  # fmt: skip
    assert first.message == "PEER_ID_INVALID"
    await send(a, peer_of(a, 7000001), "/start")
    [incoming] = bot.pushed_updates()
    assert incoming.message.message == "/start"
    await send(bot, peer_of(bot, a_id), "welcome")
    assert a.pushed_updates()[-1].message.message == "welcome"
    world.add_bot("other_bot")
    other_id = world.state.usernames["other_bot"]
    to_bot = await bot.error(functions.messages.SendMessage(
        peer=peer_of(bot, other_id), message="hi", random_id=2
    ))  # fmt: skip
    assert to_bot.message == "USER_IS_BOT"


async def test_basic_group_fans_out_to_every_member(world: World) -> None:
    a = await logged_in(world, "15550001")
    b = await logged_in(world, "15550002")
    c = await logged_in(world, "15550003")
    b_id, c_id = uid(world, "15550002"), uid(world, "15550003")
    invited = await a.call(
        functions.messages.CreateChat(
            users=[
                peer_of(a, b_id),
                types.InputUser(user_id=c_id, access_hash=peer_of(a, c_id).access_hash),
            ],
            title="Trio",
        )
    )
    [chat] = invited.updates.chats
    assert (chat.title, chat.participants_count, chat.creator) == ("Trio", 3, True)
    created = invited.updates.updates[0].message
    assert isinstance(created, types.MessageService)
    assert isinstance(created.action, types.MessageActionChatCreate)

    await send(b, types.InputPeerChat(chat_id=chat.id), "hi all")
    for member in (a, c):
        last = member.pushed_updates()[-1]
        assert last.message.message == "hi all"
        assert last.message.peer_id == types.PeerChat(chat_id=chat.id)
        assert last.message.from_id == types.PeerUser(user_id=b_id)
    full = await c.call(functions.messages.GetFullChat(chat_id=chat.id))
    assert len(full.full_chat.participants.participants) == 3
    chats = await c.call(functions.messages.GetChats(id=[chat.id, 999]))
    assert [x.id for x in chats.chats] == [chat.id]

    await c.call(
        functions.messages.ReadHistory(peer=types.InputPeerChat(chat_id=chat.id), max_id=0)
    )
    b_dialog = world.state.users[b_id].dialogs[("chat", chat.id)]
    assert b_dialog.read_outbox_max_id == b_dialog.message_ids[-1]

    outsider = Conn(world)
    await outsider.call(functions.auth.ImportBotAuthorization(
        flags=0, api_id=1, api_hash="x", bot_auth_token="7000001:tok"
    ))  # fmt: skip
    closed = await outsider.error(functions.messages.SendMessage(
        peer=types.InputPeerChat(chat_id=chat.id), message="x", random_id=5
    ))  # fmt: skip
    assert closed.message == "CHAT_WRITE_FORBIDDEN"
    no_title = await a.error(functions.messages.CreateChat(users=[peer_of(a, b_id)], title=" "))
    assert no_title.message == "CHAT_TITLE_EMPTY"


async def test_get_messages_by_id(world: World) -> None:
    a = await logged_in(world, "15550001")
    await send(a, types.InputPeerSelf(), "keep")
    got = await a.call(
        functions.messages.GetMessages(id=[types.InputMessageID(id=1), types.InputMessageID(id=9)])
    )
    assert isinstance(got.messages[0], types.Message) and got.messages[0].message == "keep"
    assert isinstance(got.messages[1], types.MessageEmpty)


def over_the_wire(query: Any) -> Any:
    """The query as the protocol side hands it over: written, then read by Kurigram's reader."""
    return TLObject.read(BytesIO(query.write()))


async def test_vectors_misread_by_the_tl_reader_are_repaired(world: World) -> None:
    a = await logged_in(world, "15550001")
    await send(a, types.InputPeerSelf(), "first")
    query = functions.messages.GetMessages(id=[types.InputMessageID(id=1)])
    assert isinstance(over_the_wire(query).id[0], int)  # the reader's guess: a long
    got = await a.call(over_the_wire(query))
    assert got.messages[0].message == "first"
    selves = await a.call(over_the_wire(functions.users.GetUsers(id=[types.InputUserSelf()])))
    assert [u.is_self for u in selves] == [True]
    b_id = uid(world, "15550002")
    chat = await a.call(
        over_the_wire(functions.messages.CreateChat(users=[peer_of(a, b_id)], title="Wire"))
    )
    assert chat.updates.chats[0].participants_count == 2
    junk = await a.error(functions.users.GetUsers(id=[12345]))
    assert junk.message == "INPUT_CONSTRUCTOR_INVALID"


async def test_replies_and_entities_reach_every_box(world: World) -> None:
    a = await logged_in(world, "15550001")
    b = await logged_in(world, "15550002")
    c = await logged_in(world, "15550003")
    b_id, c_id = uid(world, "15550002"), uid(world, "15550003")
    invited = await a.call(
        functions.messages.CreateChat(users=[peer_of(a, b_id), peer_of(a, c_id)], title="T")
    )
    group = types.InputPeerChat(chat_id=invited.updates.chats[0].id)
    asked = await send(b, group, "question?")
    b_question = asked.updates[1].message.id
    answer = await a.call(
        functions.messages.SendMessage(
            peer=group,
            message="answer with bold and @Bo",
            random_id=99,
            reply_to=types.InputReplyToMessage(
                reply_to_msg_id=world.state.users[uid(world, "15550001")].copies[(b_id, b_question)]
            ),
            entities=[
                types.MessageEntityBold(offset=12, length=4),
                types.InputMessageEntityMentionName(offset=21, length=3, user_id=peer_of(a, b_id)),
            ],
        ),
    )
    a_copy = answer.updates[1].message
    b_copy = b.pushed_updates()[-1].message
    c_copy = c.pushed_updates()[-1].message
    assert b_copy.reply_to.reply_to_msg_id == b_question  # the question's id in Bo's own box
    c_question = world.state.users[c_id].copies[(b_id, b_question)]
    assert c_copy.reply_to.reply_to_msg_id == c_question
    assert a_copy.reply_to is not None
    for copy in (a_copy, b_copy, c_copy):
        bold, mention = copy.entities
        assert isinstance(bold, types.MessageEntityBold) and bold.offset == 12
        assert isinstance(mention, types.MessageEntityMentionName) and mention.user_id == b_id

    bad_reply = await a.error(functions.messages.SendMessage(
        peer=group, message="x", random_id=100,
        reply_to=types.InputReplyToMessage(reply_to_msg_id=999),
    ))  # fmt: skip
    assert bad_reply.message == "REPLY_MESSAGE_ID_INVALID"
    bad_bounds = await a.error(functions.messages.SendMessage(
        peer=group, message="x", random_id=101,
        entities=[types.MessageEntityBold(offset=0, length=50)],
    ))  # fmt: skip
    assert bad_bounds.message == "ENTITY_BOUNDS_INVALID"

    restored = World.restore(world.snapshot())
    kept = restored.state.users[c_id].messages[c_copy.id]
    assert kept.reply_to == c_question and isinstance(kept.entities[0], types.MessageEntityBold)


async def test_connections_that_asked_for_no_updates_get_none(world: World) -> None:
    a = await logged_in(world, "15550001")
    quiet = await logged_in(world, "15550002")
    quiet.ctx.extra["without_updates"] = True  # set by the protocol side on invokeWithoutUpdates
    loud = await logged_in(world, "15550002")
    await send(a, peer_of(a, uid(world, "15550002")), "hi")
    assert quiet.pushed == []
    assert [u.message.message for u in loud.pushed_updates()] == ["hi"]


async def test_entity_bounds_count_utf16_units(world: World) -> None:
    a = await logged_in(world, "15550001")

    def bold(length: int) -> functions.messages.SendMessage:
        return functions.messages.SendMessage(
            peer=types.InputPeerSelf(),
            message="👋 bold",  # the emoji is two UTF-16 units: 7 units in all
            random_id=length,
            entities=[types.MessageEntityBold(offset=3, length=length)],
        )

    sent = await a.call(bold(4))
    assert sent.updates[1].message.entities[0].length == 4
    assert (await a.error(bold(5))).message == "ENTITY_BOUNDS_INVALID"
