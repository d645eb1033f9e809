"""messages.editMessage and messages.deleteMessages: changing what was sent, in every box.

A message lives as one copy per box; the copies of one message share (sender id, id of the
sender's copy), which each box indexes in ``User.copies``. An edit or a deletion finds the copies
through it, changes each box and logs a pts step there.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import replace

from pyrogram.raw import functions, types

from tgfleet.sandbox.rpc import RpcError
from tgfleet.sandbox.world import peers, render, updates
from tgfleet.sandbox.world.messages import MESSAGE_LENGTH_MAX, entities_of
from tgfleet.sandbox.world.registry import route
from tgfleet.sandbox.world.state import Call, Message, User, WorldState


def copies_of(st: WorldState, owner: User, msg: Message) -> list[tuple[User, Message]]:
    """Every box's copy of ``msg`` (found in ``owner``'s box), the owner's first."""
    key = (msg.from_id, msg.origin_id)
    kind, peer_id = msg.peer
    if kind == "user":
        candidates = [st.users[peer_id]]
    else:
        chat = st.chats.get(peer_id)
        candidates = [st.users[uid] for uid in chat.members] if chat is not None else []
    found = [(owner, msg)]
    for user in candidates:
        local = user.copies.get(key)
        if user is not owner and local is not None and local in user.messages:
            found.append((user, user.messages[local]))
    return found


def _remove(user: User, msg: Message) -> None:
    del user.messages[msg.id]
    user.copies.pop((msg.from_id, msg.origin_id), None)
    dialog = user.dialogs[msg.peer]
    index = bisect_left(dialog.message_ids, msg.id)
    if index < len(dialog.message_ids) and dialog.message_ids[index] == msg.id:
        del dialog.message_ids[index]
    user.recount_unread(dialog)


@route(functions.messages.EditMessage)
def edit_message(st: WorldState, call: Call, q: functions.messages.EditMessage) -> types.Updates:
    me = call.me
    target = peers.input_peer(st, me, q.peer)
    msg = me.messages.get(q.id)
    if msg is None or msg.peer != target:
        raise RpcError(400, "MESSAGE_ID_INVALID")
    if not msg.out or msg.action:
        raise RpcError(403, "MESSAGE_AUTHOR_REQUIRED")
    text = msg.text if q.message is None else q.message
    if not text.strip():
        raise RpcError(400, "MESSAGE_EMPTY")
    if len(text) > MESSAGE_LENGTH_MAX:
        raise RpcError(400, "MESSAGE_TOO_LONG")
    entities = entities_of(st, me, q.entities, text) if q.entities is not None else ()
    if text == msg.text and entities == msg.entities:
        raise RpcError(400, "MESSAGE_NOT_MODIFIED")
    own_pts = 0
    for owner, copy in copies_of(st, me, msg):
        owner.messages[copy.id] = replace(copy, text=text, entities=entities, edit_date=st.now())
        event = st.log_event(owner, "edit_message", message_id=copy.id)
        if owner is me:
            own_pts = event.pts
        updates.push_event(st, owner, event, skip_conn=call.ctx.conn_id if owner is me else None)
    edited = me.messages[msg.id]
    return updates.wrap(
        st,
        me,
        [types.UpdateEditMessage(message=render.message(edited), pts=own_pts, pts_count=1)],
        render.peers_of([edited], me.id),
    )


@route(functions.messages.DeleteMessages)
def delete_messages(
    st: WorldState, call: Call, q: functions.messages.DeleteMessages
) -> types.messages.AffectedMessages:
    me = call.me
    # Decide first: every copy to remove, grouped by box.
    doomed: dict[int, list[Message]] = {}
    for msg_id in q.id:
        msg = me.messages.get(msg_id)
        if msg is None:
            continue  # Telegram ignores ids that are already gone
        # "Delete for everyone" reaches others' copies; in a group only for one's own messages.
        everyone = q.revoke and (msg.peer[0] == "user" or msg.out)
        for owner, copy in copies_of(st, me, msg) if everyone else [(me, msg)]:
            doomed.setdefault(owner.id, []).append(copy)
    if not doomed:
        return types.messages.AffectedMessages(pts=me.pts, pts_count=0)
    for owner_id, gone in doomed.items():
        owner = st.users[owner_id]
        for copy in gone:
            _remove(owner, copy)
        event = st.log_event(
            owner, "delete_messages", message_ids=tuple(sorted(c.id for c in gone))
        )
        updates.push_event(st, owner, event, skip_conn=call.ctx.conn_id if owner is me else None)
    return types.messages.AffectedMessages(pts=me.pts, pts_count=1 if me.id in doomed else 0)
