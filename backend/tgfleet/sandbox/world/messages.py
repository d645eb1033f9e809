"""messages.*: sending, history, dialogs and read marks in private chats and basic groups.

As on Telegram, private chats and basic groups live in each user's own message box: a message
sent to a chat of three is stored three times, under three ids, one per member.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from pyrogram.raw import functions, types

from tgfleet.sandbox.rpc import RpcError
from tgfleet.sandbox.world import peers, render, updates, wire
from tgfleet.sandbox.world.registry import route
from tgfleet.sandbox.world.state import Call, Chat, Message, PeerKey, User, WorldState

MESSAGE_LENGTH_MAX = 4096
RANDOM_IDS_KEPT = 4096
PAGE_MAX = 100  # most messages or dialogs one call returns, as on Telegram


def _store(
    st: WorldState,
    owner: User,
    sender: User,
    peer: PeerKey,
    text: str,
    origin_id: int,
    reply_key: tuple[int, int] | None,
    **kw: Any,
) -> Message:
    msg = Message(
        id=owner.next_message_id,
        peer=peer,
        from_id=sender.id,
        out=owner.id == sender.id,
        date=st.now(),
        text=text,
        origin_id=origin_id or owner.next_message_id,
        reply_to=owner.copies.get(reply_key, 0) if reply_key is not None else 0,
        **kw,
    )
    owner.next_message_id += 1
    owner.messages[msg.id] = msg
    owner.copies[(sender.id, msg.origin_id)] = msg.id
    dialog = owner.dialog(peer)
    dialog.message_ids.append(msg.id)
    if not msg.out:
        dialog.unread += 1
    return msg


def deliver(
    st: WorldState,
    sender: User,
    target: PeerKey,
    text: str,
    *,
    skip_conn: int | None,
    reply_to: Message | None = None,
    **kw: Any,
) -> tuple[Message, int]:
    """Store a message in every box it belongs to, log it, push it to everyone but the sending
    connection; returns the sender's copy and the sender's new pts. ``reply_to`` is the
    sender's copy of the message answered."""
    reply_key = None if reply_to is None else (reply_to.from_id, reply_to.origin_id)
    kind, target_id = target
    if kind == "user":
        recipient = st.users[target_id]
        boxes = [(sender, target)]
        if recipient.id != sender.id:
            boxes.append((recipient, ("user", sender.id)))
    else:
        members = [st.users[uid] for uid in st.chats[target_id].members]
        boxes = [(sender, target)] + [(m, target) for m in members if m.id != sender.id]
    own = _store(st, sender, sender, boxes[0][1], text, 0, reply_key, **kw)
    own_event = st.log_event(sender, "new_message", message_id=own.id)
    updates.push_event(st, sender, own_event, skip_conn=skip_conn)
    for owner, peer in boxes[1:]:
        copy = _store(st, owner, sender, peer, text, own.id, reply_key, **kw)
        updates.push_event(st, owner, st.log_event(owner, "new_message", message_id=copy.id))
    return own, own_event.pts


def _check_can_write(st: WorldState, me: User, target: PeerKey) -> None:
    kind, target_id = target
    if kind != "user" or target_id == me.id:
        return
    other = st.users[target_id]
    if me.bot and other.bot:
        raise RpcError(400, "USER_IS_BOT")
    if other.banned:
        raise RpcError(400, "INPUT_USER_DEACTIVATED")
    # A bot may answer a user only after that user wrote to it, as on Telegram.
    if me.bot and ("user", me.id) not in other.dialogs:
        raise RpcError(400, "PEER_ID_INVALID")


def _replied(me: User, target: PeerKey, reply_to: Any) -> Message | None:
    if reply_to is None:
        return None
    if not isinstance(reply_to, types.InputReplyToMessage):
        raise RpcError(400, "REPLY_TO_INVALID")  # story replies and the like: not in the sandbox
    replied = me.messages.get(reply_to.reply_to_msg_id)
    if replied is None or replied.peer != target:
        raise RpcError(400, "REPLY_MESSAGE_ID_INVALID")
    return replied


def entities_of(st: WorldState, me: User, values: Any, text: str) -> tuple[Any, ...]:
    """The entities of a message to store; offsets and lengths count UTF-16 code units."""
    units = len(text.encode("utf-16-le")) // 2
    kept: list[Any] = []
    for entity in wire.objects_of(values):
        offset, length = getattr(entity, "offset", -1), getattr(entity, "length", -1)
        if offset < 0 or length <= 0 or offset + length > units:
            raise RpcError(400, "ENTITY_BOUNDS_INVALID")
        if isinstance(entity, types.InputMessageEntityMentionName):
            # The input form names a user by InputUser; stored messages name it by id.
            try:
                user = peers.input_user(st, me, entity.user_id)
            except RpcError as error:
                raise RpcError(400, "ENTITY_MENTION_USER_INVALID") from error
            entity = types.MessageEntityMentionName(offset=offset, length=length, user_id=user.id)
        kept.append(entity)
    return tuple(kept)


@route(functions.messages.SendMessage)
def send_message(st: WorldState, call: Call, q: functions.messages.SendMessage) -> types.Updates:
    me = call.me
    target = peers.input_peer(st, me, q.peer)
    text = q.message or ""
    if not text.strip():
        raise RpcError(400, "MESSAGE_EMPTY")
    if len(text) > MESSAGE_LENGTH_MAX:
        raise RpcError(400, "MESSAGE_TOO_LONG")
    if q.random_id in me.random_ids:
        raise RpcError(500, "RANDOM_ID_DUPLICATE")
    _check_can_write(st, me, target)
    own, pts = deliver(
        st,
        me,
        target,
        text,
        skip_conn=call.ctx.conn_id,
        reply_to=_replied(me, target, q.reply_to),
        entities=entities_of(st, me, q.entities, text),
    )
    me.random_ids[q.random_id] = own.id
    if len(me.random_ids) > RANDOM_IDS_KEPT:  # Telegram, too, only remembers recent ones
        del me.random_ids[next(iter(me.random_ids))]
    # Full updates, not updateShortSentMessage: Kurigram cannot build a message to self from it.
    return updates.wrap(
        st,
        me,
        [
            types.UpdateMessageID(id=own.id, random_id=q.random_id),
            types.UpdateNewMessage(message=render.message(own), pts=pts, pts_count=1),
        ],
        render.peers_of([own], me.id),
    )


def _history_page(
    ids: list[int], q: functions.messages.GetHistory, box: dict[int, Message]
) -> list[int]:
    """Telegram's paging: newest first, starting below offset_id (or before offset_date),
    shifted by add_offset (negative reaches newer messages), then bounded by min_id/max_id."""
    if q.offset_id > 0:
        end = bisect_left(ids, q.offset_id)
    elif q.offset_date > 0:
        end = len(ids)
        while end > 0 and box[ids[end - 1]].date >= q.offset_date:
            end -= 1
    else:
        end = len(ids)
    limit = min(q.limit, PAGE_MAX) if q.limit > 0 else PAGE_MAX
    newest_first = ids[::-1]
    start = len(ids) - end + q.add_offset
    page = newest_first[max(start, 0) : max(start + limit, 0)]
    return [i for i in page if (q.max_id <= 0 or i < q.max_id) and (q.min_id <= 0 or i > q.min_id)]


@route(functions.messages.GetHistory, users_only=True)
def get_history(st: WorldState, call: Call, q: functions.messages.GetHistory) -> Any:
    me = call.me
    target = peers.input_peer(st, me, q.peer)
    dialog = me.dialogs.get(target)
    ids = dialog.message_ids if dialog is not None else []
    page = [me.messages[i] for i in _history_page(ids, q, me.messages)]
    users, chats = render.users_and_chats(st, render.peers_of(page, me.id) | {target}, me.id)
    rendered = [render.message(m) for m in page]
    if len(page) == len(ids):
        return types.messages.Messages(messages=rendered, topics=[], chats=chats, users=users)
    return types.messages.MessagesSlice(
        count=len(ids), messages=rendered, topics=[], chats=chats, users=users
    )


@route(functions.messages.GetMessages)
def get_messages(st: WorldState, call: Call, q: functions.messages.GetMessages) -> Any:
    me = call.me
    found: list[Message] = []
    rendered: list[Any] = []
    for item in wire.objects_of(q.id):
        msg_id = getattr(item, "id", None)
        msg = me.messages.get(msg_id) if isinstance(msg_id, int) else None
        if msg is None:
            rendered.append(types.MessageEmpty(id=msg_id if isinstance(msg_id, int) else 0))
        else:
            found.append(msg)
            rendered.append(render.message(msg))
    users, chats = render.users_and_chats(st, render.peers_of(found, me.id), me.id)
    return types.messages.Messages(messages=rendered, topics=[], chats=chats, users=users)


def _dialog_tl(me: User, peer: PeerKey) -> types.Dialog:
    d = me.dialogs[peer]
    return types.Dialog(
        peer=render.peer(peer),
        top_message=d.message_ids[-1],
        read_inbox_max_id=d.read_inbox_max_id,
        read_outbox_max_id=d.read_outbox_max_id,
        unread_count=d.unread,
        unread_mentions_count=0,
        unread_reactions_count=0,
        unread_poll_votes_count=0,
        notify_settings=types.PeerNotifySettings(),
    )


@route(functions.messages.GetDialogs, users_only=True)
def get_dialogs(st: WorldState, call: Call, q: functions.messages.GetDialogs) -> Any:
    me = call.me
    listed = sorted(
        (d for d in me.dialogs.values() if d.message_ids),
        key=lambda d: d.message_ids[-1],
        reverse=True,
    )
    if q.folder_id == 1:  # nothing is ever archived in the sandbox
        listed = []
    total = len(listed)
    if q.offset_id > 0:
        listed = [d for d in listed if d.message_ids[-1] < q.offset_id]
    elif q.offset_date > 0:
        listed = [d for d in listed if me.messages[d.message_ids[-1]].date < q.offset_date]
    limit = min(q.limit, PAGE_MAX) if q.limit > 0 else PAGE_MAX
    page = listed[:limit]
    tops = [me.messages[d.message_ids[-1]] for d in page]
    keys = render.peers_of(tops, me.id) | {d.peer for d in page}
    users, chats = render.users_and_chats(st, keys, me.id)
    dialogs = [_dialog_tl(me, d.peer) for d in page]
    messages = [render.message(m) for m in tops]
    if len(page) == total:
        return types.messages.Dialogs(dialogs=dialogs, messages=messages, chats=chats, users=users)
    return types.messages.DialogsSlice(
        count=total, dialogs=dialogs, messages=messages, chats=chats, users=users
    )


@route(functions.messages.ReadHistory, users_only=True)
def read_history(
    st: WorldState, call: Call, q: functions.messages.ReadHistory
) -> types.messages.AffectedMessages:
    me = call.me
    target = peers.input_peer(st, me, q.peer)
    dialog = me.dialogs.get(target)
    if dialog is None or not dialog.message_ids:
        return types.messages.AffectedMessages(pts=me.pts, pts_count=0)
    top = dialog.message_ids[-1]
    new_max = min(q.max_id, top) if q.max_id > 0 else top
    if new_max <= dialog.read_inbox_max_id:
        return types.messages.AffectedMessages(pts=me.pts, pts_count=0)
    # Decide first: which senders' outboxes this read reaches, and how far.
    read_upto: dict[int, int] = {}
    for msg_id in dialog.message_ids[
        bisect_left(dialog.message_ids, dialog.read_inbox_max_id + 1) :
    ]:
        if msg_id > new_max:
            break
        msg = me.messages[msg_id]
        if not msg.out:
            read_upto[msg.from_id] = max(read_upto.get(msg.from_id, 0), msg.origin_id)
    dialog.read_inbox_max_id = new_max
    me.recount_unread(dialog)
    event = st.log_event(me, "read_inbox", peer=target, max_id=new_max, still_unread=dialog.unread)
    updates.push_event(st, me, event, skip_conn=call.ctx.conn_id)
    for sender_id, origin_id in read_upto.items():
        sender = st.users.get(sender_id)
        if sender is None or sender_id == me.id:
            continue
        their_peer: PeerKey = ("user", me.id) if target[0] == "user" else target
        theirs = sender.dialogs.get(their_peer)
        if theirs is None or origin_id <= theirs.read_outbox_max_id:
            continue
        theirs.read_outbox_max_id = origin_id
        out_event = st.log_event(sender, "read_outbox", peer=their_peer, max_id=origin_id)
        updates.push_event(st, sender, out_event)
    return types.messages.AffectedMessages(pts=me.pts, pts_count=1)


@route(functions.messages.CreateChat, users_only=True)
def create_chat(
    st: WorldState, call: Call, q: functions.messages.CreateChat
) -> types.messages.InvitedUsers:
    me = call.me
    title = (q.title or "").strip()
    if not title:
        raise RpcError(400, "CHAT_TITLE_EMPTY")
    members = [me.id]
    for value in wire.objects_of(q.users):
        invited = peers.input_user(st, me, value)
        if invited.id not in members:
            members.append(invited.id)
    if len(members) < 2:
        raise RpcError(400, "USERS_TOO_FEW")
    chat = Chat(id=st.next_chat_id, title=title, creator_id=me.id, date=st.now(), members=members)
    st.next_chat_id += 1
    st.chats[chat.id] = chat
    own, pts = deliver(
        st,
        me,
        ("chat", chat.id),
        "",
        skip_conn=call.ctx.conn_id,
        action="chat_create",
        action_title=title,
        action_users=tuple(members),
    )
    result = updates.wrap(
        st,
        me,
        [types.UpdateNewMessage(message=render.message(own), pts=pts, pts_count=1)],
        {("chat", chat.id)},
    )
    return types.messages.InvitedUsers(updates=result, missing_invitees=[])


@route(functions.messages.GetChats)
def get_chats(st: WorldState, call: Call, q: functions.messages.GetChats) -> types.messages.Chats:
    me = call.me
    return types.messages.Chats(
        chats=[render.chat(st.chats[i], me.id) for i in q.id if i in st.chats]
    )


def _participants(chat: Chat) -> types.ChatParticipants:
    listed: list[Any] = []
    for uid in chat.members:
        if uid == chat.creator_id:
            listed.append(types.ChatParticipantCreator(user_id=uid))
        else:
            listed.append(
                types.ChatParticipant(user_id=uid, inviter_id=chat.creator_id, date=chat.date)
            )
    return types.ChatParticipants(chat_id=chat.id, participants=listed, version=chat.version)


@route(functions.messages.GetFullChat)
def get_full_chat(
    st: WorldState, call: Call, q: functions.messages.GetFullChat
) -> types.messages.ChatFull:
    me = call.me
    chat = st.chats.get(q.chat_id)
    if chat is None:
        raise RpcError(400, "CHAT_ID_INVALID")
    full = types.ChatFull(
        id=chat.id,
        about="",
        participants=_participants(chat),
        notify_settings=types.PeerNotifySettings(),
    )
    users, chats = render.users_and_chats(st, {("chat", chat.id)}, me.id)
    return types.messages.ChatFull(full_chat=full, chats=chats, users=users)


@route(functions.messages.GetSplitRanges)
def get_split_ranges(
    st: WorldState, call: Call, q: functions.messages.GetSplitRanges
) -> list[types.MessageRange]:
    # Telegram splits huge histories into id ranges; a sandbox box always fits in one.
    return [types.MessageRange(min_id=1, max_id=2**31 - 1)]
