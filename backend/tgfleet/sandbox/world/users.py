"""users.* and contacts.*: finding users by id, username or phone number."""

from __future__ import annotations

import re
from typing import Any

from pyrogram.raw import functions, types

from tgfleet.sandbox.rpc import RpcError
from tgfleet.sandbox.world import peers, render, wire
from tgfleet.sandbox.world.registry import route
from tgfleet.sandbox.world.state import Call, WorldState

USERNAME_LOOKUP_RE = re.compile(r"[A-Za-z0-9_]{1,32}")


@route(functions.users.GetUsers)
def get_users(st: WorldState, call: Call, q: functions.users.GetUsers) -> list[types.User]:
    me = call.me
    found: list[types.User] = []
    for value in wire.objects_of(q.id):
        try:
            target = peers.input_user(st, me, value, allow_zero_hash=True)
        except RpcError:
            continue  # Telegram leaves out the ids it cannot give, it does not fail the call
        found.append(render.user(st, target, me.id))
    return found


@route(functions.users.GetFullUser)
def get_full_user(st: WorldState, call: Call, q: functions.users.GetFullUser) -> Any:
    me = call.me
    try:
        target = peers.input_user(st, me, q.id)
    except RpcError as error:
        raise RpcError(400, "USER_ID_INVALID") from error
    full = types.UserFull(
        id=target.id,
        settings=types.PeerSettings(),
        notify_settings=types.PeerNotifySettings(),
        common_chats_count=sum(
            1 for c in st.chats.values() if me.id in c.members and target.id in c.members
        ),
        about=target.about or None,
        bot_info=types.BotInfo(user_id=target.id, description="") if target.bot else None,
    )
    return types.users.UserFull(full_user=full, chats=[], users=[render.user(st, target, me.id)])


@route(functions.contacts.ResolveUsername)
def resolve_username(
    st: WorldState, call: Call, q: functions.contacts.ResolveUsername
) -> types.contacts.ResolvedPeer:
    if not USERNAME_LOOKUP_RE.fullmatch(q.username or ""):
        raise RpcError(400, "USERNAME_INVALID")
    target = st.user_by_username(q.username)
    if target is None:
        raise RpcError(400, "USERNAME_NOT_OCCUPIED")
    return types.contacts.ResolvedPeer(
        peer=types.PeerUser(user_id=target.id),
        chats=[],
        users=[render.user(st, target, call.me.id)],
    )


@route(functions.contacts.ResolvePhone, users_only=True)
def resolve_phone(
    st: WorldState, call: Call, q: functions.contacts.ResolvePhone
) -> types.contacts.ResolvedPeer:
    phone = re.sub(r"\D", "", q.phone or "")
    target = st.user_by_phone(phone)
    if target is None:
        raise RpcError(400, "PHONE_NOT_OCCUPIED")
    return types.contacts.ResolvedPeer(
        peer=types.PeerUser(user_id=target.id),
        chats=[],
        users=[render.user(st, target, call.me.id, show_phone=True)],
    )
