"""API input peers (``InputPeer*``, ``InputUser*``) resolved to world records.

An access hash is checked the way Telegram checks it: a wrong one is an invalid peer. The one
leniency is ``access_hash=0`` in users.getUsers, which Kurigram sends to learn a user it has
only seen by id.
"""

from __future__ import annotations

from typing import Any

from pyrogram.raw import types

from tgfleet.sandbox.rpc import RpcError
from tgfleet.sandbox.world.state import Chat, PeerKey, User, WorldState


def _user_with_hash(st: WorldState, user_id: int, access_hash: int, *, allow_zero: bool) -> User:
    target = st.users.get(user_id)
    if target is None or not (
        access_hash == target.access_hash or (allow_zero and access_hash == 0)
    ):
        raise RpcError(400, "PEER_ID_INVALID")
    return target


def input_user(st: WorldState, me: User, value: Any, *, allow_zero_hash: bool = False) -> User:
    """A user from an InputUser* (or an InputPeerUser*, which some clients send instead)."""
    if isinstance(value, types.InputUserSelf | types.InputPeerSelf):
        return me
    if isinstance(value, types.InputUser | types.InputPeerUser):
        if value.user_id == me.id:
            return me
        return _user_with_hash(st, value.user_id, value.access_hash, allow_zero=allow_zero_hash)
    if isinstance(value, types.InputUserFromMessage | types.InputPeerUserFromMessage):
        # The message proves the caller has seen the user; only check it exists.
        target = st.users.get(value.user_id)
        if target is None:
            raise RpcError(400, "PEER_ID_INVALID")
        return target
    if isinstance(value, types.InputUserEmpty | types.InputPeerEmpty):
        raise RpcError(400, "USER_ID_INVALID")
    raise RpcError(400, "PEER_ID_INVALID")


def member_chat(st: WorldState, me: User, chat_id: int) -> Chat:
    chat = st.chats.get(chat_id)
    if chat is None:
        raise RpcError(400, "CHAT_ID_INVALID")
    if me.id not in chat.members:
        raise RpcError(403, "CHAT_WRITE_FORBIDDEN")
    return chat


def input_peer(st: WorldState, me: User, value: Any) -> PeerKey:
    """The dialog key an InputPeer* names, from the caller's point of view."""
    if isinstance(value, types.InputPeerChat):
        return ("chat", member_chat(st, me, value.chat_id).id)
    if isinstance(value, types.InputPeerChannel | types.InputPeerChannelFromMessage):
        raise RpcError(400, "CHANNEL_INVALID")
    if isinstance(value, types.InputPeerEmpty):
        raise RpcError(400, "PEER_ID_INVALID")
    return ("user", input_user(st, me, value).id)
