"""World records rendered as API (TL) objects, as one viewer sees them.

Telegram tailors every object to who asks: ``is_self``, ``out``, the phone number, the peer a
private message lives under. These functions do that tailoring in one place, so handlers only
decide what to answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyrogram.raw import types

from tgfleet.sandbox.world.state import SERVICE_USER_ID, Chat, Message, PeerKey, User, WorldState

ONLINE_FOR = 300  # seconds a connected user counts as online, like Telegram's status expiry


def peer(key: PeerKey) -> Any:
    kind, peer_id = key
    if kind == "user":
        return types.PeerUser(user_id=peer_id)
    return types.PeerChat(chat_id=peer_id)


def status(st: WorldState, user: User) -> Any:
    if user.bot:
        return None
    if st.is_online(user.id):
        return types.UserStatusOnline(expires=st.now() + ONLINE_FOR)
    if user.was_online:
        return types.UserStatusOffline(was_online=user.was_online)
    return types.UserStatusRecently()


def user(st: WorldState, target: User, viewer_id: int, *, show_phone: bool = False) -> types.User:
    is_self = target.id == viewer_id
    viewer = st.users.get(viewer_id)
    saved = viewer.contacts.get(target.id) if viewer is not None else None
    knows_viewer = viewer_id in target.contacts
    first_name, last_name = saved if saved is not None else (target.first_name, target.last_name)
    return types.User(
        id=target.id,
        is_self=is_self,
        contact=saved is not None,
        mutual_contact=saved is not None and knows_viewer,
        access_hash=target.access_hash,
        # A contact shows under the name its viewer saved it with, as in Telegram's apps.
        first_name=first_name,
        last_name=last_name or None,
        username=target.username,
        # Telegram's default phone privacy is "my contacts": the owner, the owner's contacts, and
        # whoever saved or found the user by that number see it.
        phone=target.phone if (is_self or show_phone or knows_viewer or saved) else None,
        bot=target.bot,
        bot_info_version=1 if target.bot else None,
        bot_nochats=False,
        status=status(st, target),
        verified=target.id == SERVICE_USER_ID,
        support=target.id == SERVICE_USER_ID,
        deleted=False,
    )


def chat(target: Chat, viewer_id: int) -> types.Chat:
    return types.Chat(
        id=target.id,
        title=target.title,
        photo=types.ChatPhotoEmpty(),
        participants_count=len(target.members),
        date=target.date,
        version=target.version,
        creator=target.creator_id == viewer_id,
        left=viewer_id not in target.members,
    )


def message(msg: Message) -> Any:
    from_id = types.PeerUser(user_id=msg.from_id)
    if msg.action == "chat_create":
        return types.MessageService(
            id=msg.id,
            peer_id=peer(msg.peer),
            date=msg.date,
            action=types.MessageActionChatCreate(
                title=msg.action_title, users=list(msg.action_users)
            ),
            out=msg.out,
            from_id=from_id,
        )
    private = msg.peer[0] == "user"
    return types.Message(
        id=msg.id,
        peer_id=peer(msg.peer),
        date=msg.date,
        message=msg.text,
        out=msg.out,
        # In a private chat the peer of an incoming message is its sender; Telegram omits from_id.
        from_id=None if private and not msg.out else from_id,
        entities=list(msg.entities),
        reply_to=types.MessageReplyHeader(reply_to_msg_id=msg.reply_to) if msg.reply_to else None,
        edit_date=msg.edit_date or None,
    )


def peers_of(messages: Iterable[Message], owner_id: int) -> set[PeerKey]:
    keys: set[PeerKey] = {("user", owner_id)}
    for msg in messages:
        keys.add(msg.peer)
        keys.add(("user", msg.from_id))
        keys.update(("user", uid) for uid in msg.action_users)
    return keys


def users_and_chats(
    st: WorldState, keys: Iterable[PeerKey], viewer_id: int
) -> tuple[list[types.User], list[types.Chat]]:
    """The ``users`` and ``chats`` vectors that must accompany objects mentioning ``keys``."""
    users: dict[int, types.User] = {}
    chats: dict[int, types.Chat] = {}
    for kind, peer_id in keys:
        if kind == "user" and peer_id not in users and peer_id in st.users:
            users[peer_id] = user(st, st.users[peer_id], viewer_id)
        elif kind == "chat" and peer_id not in chats and peer_id in st.chats:
            target = st.chats[peer_id]
            chats[peer_id] = chat(target, viewer_id)
            for member in target.members:
                if member not in users:
                    users[member] = user(st, st.users[member], viewer_id)
    return list(users.values()), list(chats.values())
