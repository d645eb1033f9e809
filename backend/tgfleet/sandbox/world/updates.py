"""updates.*: each user's pts-numbered update log, its replay, and pushes to live connections.

Every change to a user's message box (a new message, a read mark) takes one pts step and is
logged; updates.getDifference replays the steps after the client's pts, and the same update goes
out at once to the user's live connections. Updates carry ``seq=0`` because every update the
sandbox makes is ordered by pts, which Telegram allows.
"""

from __future__ import annotations

from typing import Any

from pyrogram.raw import functions, types

from tgfleet.sandbox.world import render
from tgfleet.sandbox.world.registry import route
from tgfleet.sandbox.world.state import Call, Message, PeerKey, UpdateEvent, User, WorldState

DIFFERENCE_LIMIT = 1000  # pts steps per getDifference answer before it is sliced


def event_update(user: User, event: UpdateEvent) -> Any:
    """The TL update for one logged step, as the log's owner sees it; None for a message that
    was deleted since (its deletion is a later step of the log)."""
    if event.kind in ("new_message", "edit_message"):
        msg = user.messages.get(event.message_id)
        if msg is None:
            return None
        kind = types.UpdateNewMessage if event.kind == "new_message" else types.UpdateEditMessage
        return kind(message=render.message(msg), pts=event.pts, pts_count=1)
    if event.kind == "delete_messages":
        return types.UpdateDeleteMessages(
            messages=list(event.message_ids), pts=event.pts, pts_count=1
        )
    assert event.peer is not None  # read events always name their dialog
    if event.kind == "read_inbox":
        return types.UpdateReadHistoryInbox(
            peer=render.peer(event.peer),
            max_id=event.max_id,
            still_unread_count=event.still_unread,
            pts=event.pts,
            pts_count=1,
        )
    return types.UpdateReadHistoryOutbox(
        peer=render.peer(event.peer), max_id=event.max_id, pts=event.pts, pts_count=1
    )


def wrap(st: WorldState, user: User, updates: list[Any], keys: set[PeerKey]) -> types.Updates:
    users, chats = render.users_and_chats(st, keys, user.id)
    return types.Updates(updates=updates, users=users, chats=chats, date=st.now(), seq=0)


def push_event(
    st: WorldState, user: User, event: UpdateEvent, *, skip_conn: int | None = None
) -> None:
    """Send one logged step to the user's live connections (all but ``skip_conn``)."""
    if not st.listeners(user.id, skip_conn):
        return  # nobody online: getDifference will replay it; rendering now would be waste
    update = event_update(user, event)
    if update is None:
        return
    keys: set[PeerKey] = {("user", user.id)}
    if event.peer is not None:
        keys.add(event.peer)
    if event.message_id in user.messages:
        keys |= render.peers_of([user.messages[event.message_id]], user.id)
    st.push(user.id, wrap(st, user, [update], keys), skip_conn=skip_conn)


def unread_total(user: User) -> int:
    return sum(d.unread for d in user.dialogs.values())


def state_of(st: WorldState, user: User) -> types.updates.State:
    return types.updates.State(
        pts=user.pts, qts=0, date=st.now(), seq=0, unread_count=unread_total(user)
    )


@route(functions.updates.GetState)
def get_state(st: WorldState, call: Call, q: functions.updates.GetState) -> types.updates.State:
    return state_of(st, call.me)


@route(functions.updates.GetDifference)
def get_difference(st: WorldState, call: Call, q: functions.updates.GetDifference) -> Any:
    me = call.me
    if q.pts >= me.pts:
        return types.updates.DifferenceEmpty(date=st.now(), seq=0)
    # pts starts at 1 and steps by one, so the log index of pts n is n - 1.
    start = max(q.pts, 0)
    limit = min(q.pts_total_limit or DIFFERENCE_LIMIT, DIFFERENCE_LIMIT)
    events = me.log[start : start + limit]
    new_messages: list[Any] = []
    other: list[Any] = []
    shown: list[Message] = []
    for event in events:
        msg = me.messages.get(event.message_id) if event.message_id else None
        if event.kind == "new_message":
            if msg is not None:  # deleted since: the deletion follows in this or a later step
                shown.append(msg)
                new_messages.append(render.message(msg))
            continue
        update = event_update(me, event)
        if update is not None:
            other.append(update)
            if msg is not None:
                shown.append(msg)
    keys = render.peers_of(shown, me.id)
    keys.update(e.peer for e in events if e.peer is not None)
    users, chats = render.users_and_chats(st, keys, me.id)
    last = events[-1]
    if last.pts < me.pts:
        intermediate = types.updates.State(
            pts=last.pts, qts=0, date=last.date, seq=0, unread_count=unread_total(me)
        )
        return types.updates.DifferenceSlice(
            new_messages=new_messages,
            new_encrypted_messages=[],
            other_updates=other,
            chats=chats,
            users=users,
            intermediate_state=intermediate,
        )
    return types.updates.Difference(
        new_messages=new_messages,
        new_encrypted_messages=[],
        other_updates=other,
        chats=chats,
        users=users,
        state=state_of(st, me),
    )
