"""The world as a JSON-able dict and back, so a state dir survives a restart.

Kept: users and bots (passwords as salts and verifier, never in clear), message boxes, read
marks and update logs, basic groups, auth keys (hex) and who they are logged in as. Not kept:
pending login codes and QR tokens (short-lived on Telegram too) and live connections.
"""

from __future__ import annotations

from collections import Counter
from io import BytesIO
from typing import Any

from pyrogram.raw.core import TLObject

from tgfleet.sandbox.world.srp import PasswordRecord
from tgfleet.sandbox.world.state import (
    Authorization,
    Chat,
    Message,
    PeerKey,
    UpdateEvent,
    User,
    WorldState,
)

VERSION = 1


def _peer(value: list[Any] | None) -> PeerKey | None:
    if value is None:
        return None
    kind, peer_id = value
    if kind not in ("user", "chat"):
        raise ValueError(f"snapshot: unknown peer kind {kind!r}")
    return (kind, int(peer_id))


def _dump_user(user: User) -> dict[str, Any]:
    password = user.password
    return {
        "id": user.id,
        "access_hash": user.access_hash,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "username": user.username,
        "phone": user.phone,
        "bot": user.bot,
        "bot_secret": user.bot_secret,
        "password": None
        if password is None
        else {
            "salt1": password.salt1.hex(),
            "salt2": password.salt2.hex(),
            "verifier": password.verifier.hex(),
            "hint": password.hint,
        },
        "banned": user.banned,
        "about": user.about,
        "created": user.created,
        "was_online": user.was_online,
        "pts": user.pts,
        "next_message_id": user.next_message_id,
        "messages": [
            [
                m.id,
                list(m.peer),
                m.from_id,
                m.out,
                m.date,
                m.text,
                m.origin_id,
                m.action,
                m.action_title,
                list(m.action_users),
                m.reply_to,
                [e.write().hex() for e in m.entities],
                m.edit_date,
            ]
            for m in user.messages.values()
        ],
        "dialogs": [
            [list(d.peer), d.read_inbox_max_id, d.read_outbox_max_id] for d in user.dialogs.values()
        ],
        "contacts": [[uid, first, last] for uid, (first, last) in user.contacts.items()],
        "log": [
            [
                e.pts,
                e.kind,
                e.date,
                e.message_id,
                None if e.peer is None else list(e.peer),
                e.max_id,
                e.still_unread,
                list(e.message_ids),
            ]
            for e in user.log
        ],
    }


def _load_user(data: dict[str, Any]) -> User:
    pw = data["password"]
    user = User(
        id=data["id"],
        access_hash=data["access_hash"],
        first_name=data["first_name"],
        last_name=data["last_name"],
        username=data["username"],
        phone=data["phone"],
        bot=data["bot"],
        bot_secret=data["bot_secret"],
        password=None
        if pw is None
        else PasswordRecord(
            salt1=bytes.fromhex(pw["salt1"]),
            salt2=bytes.fromhex(pw["salt2"]),
            verifier=bytes.fromhex(pw["verifier"]),
            hint=pw["hint"],
        ),
        banned=data["banned"],
        about=data["about"],
        created=data["created"],
        was_online=data["was_online"],
        pts=data["pts"],
        next_message_id=data["next_message_id"],
    )
    for row in data["messages"]:
        mid, peer, from_id, out, date, text, origin, action, title, members, reply, ents, edited = (
            row
        )
        key = _peer(peer)
        assert key is not None
        user.messages[mid] = Message(
            id=mid, peer=key, from_id=from_id, out=out, date=date, text=text, origin_id=origin,
            action=action, action_title=title, action_users=tuple(members), reply_to=reply,
            entities=tuple(TLObject.read(BytesIO(bytes.fromhex(e))) for e in ents),
            edit_date=edited,
        )  # fmt: skip
        user.dialog(key).message_ids.append(mid)
        user.copies[(from_id, origin)] = mid
    for peer, read_in, read_out in data["dialogs"]:
        key = _peer(peer)
        assert key is not None
        dialog = user.dialog(key)
        dialog.read_inbox_max_id, dialog.read_outbox_max_id = read_in, read_out
    for dialog in user.dialogs.values():
        dialog.message_ids.sort()
        user.recount_unread(dialog)
    user.contacts = {uid: (first, last) for uid, first, last in data["contacts"]}
    user.log = [
        UpdateEvent(
            pts=pts,
            kind=kind,
            date=date,
            message_id=mid,
            peer=_peer(peer),
            max_id=max_id,
            still_unread=unread,
            message_ids=tuple(ids),
        )
        for pts, kind, date, mid, peer, max_id, unread, ids in data["log"]
    ]
    return user


_AUTH_FIELDS = (
    "auth_key_id", "created", "hash", "user_id", "logged_in_at", "active", "revoked",
    "device_model", "system_version", "app_version", "api_id", "lang_code", "ip",
    "password_pending_user",
)  # fmt: skip


def dump(st: WorldState) -> dict[str, Any]:
    return {
        "version": VERSION,
        "login_code": st.login_code,
        "dc_id": st.dc_id,
        "next_user_id": st.next_user_id,
        "next_chat_id": st.next_chat_id,
        "users": [_dump_user(u) for u in st.users.values()],
        "chats": [
            {
                "id": c.id,
                "title": c.title,
                "creator_id": c.creator_id,
                "date": c.date,
                "members": c.members,
                "version": c.version,
            }
            for c in st.chats.values()
        ],
        "auths": [
            {**{f: getattr(a, f) for f in _AUTH_FIELDS}, "auth_key": a.auth_key.hex()}
            for a in st.auths.values()
        ],
        "counters": dict(st.counters),
    }


def load(data: dict[str, Any], st: WorldState) -> None:
    """Fill an empty ``st`` from ``dump``'s output."""
    if data.get("version") != VERSION:
        raise ValueError(
            f"snapshot: version {data.get('version')!r} is not supported (expected {VERSION})"
        )
    st.next_user_id = data["next_user_id"]
    st.next_chat_id = data["next_chat_id"]
    for entry in data["users"]:
        st.add_user(_load_user(entry))
    for entry in data["chats"]:
        st.chats[entry["id"]] = Chat(**entry)
    for entry in data["auths"]:
        auth = Authorization(
            auth_key=bytes.fromhex(entry["auth_key"]),
            **{f: entry[f] for f in _AUTH_FIELDS},
        )
        st.auths[auth.auth_key_id] = auth
    st.counters = Counter(data.get("counters", {}))
