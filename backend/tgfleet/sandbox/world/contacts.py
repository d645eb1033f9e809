"""contacts.*: each user's address book (saved names, mutual flags, who sees whose number)."""

from __future__ import annotations

import re

from pyrogram.raw import functions, types

from tgfleet.sandbox.rpc import RpcError
from tgfleet.sandbox.world import peers, render, wire
from tgfleet.sandbox.world.registry import route
from tgfleet.sandbox.world.state import Call, User, WorldState


def _save(me: User, target: User, first_name: str, last_name: str) -> None:
    if not first_name.strip():
        raise RpcError(400, "FIRSTNAME_INVALID")
    me.contacts[target.id] = (first_name.strip(), last_name.strip())


def _updates(st: WorldState, me: User, touched: list[User]) -> types.Updates:
    return types.Updates(
        updates=[
            types.UpdatePeerSettings(
                peer=types.PeerUser(user_id=u.id), settings=types.PeerSettings()
            )
            for u in touched
        ],
        users=[render.user(st, u, me.id) for u in touched],
        chats=[],
        date=st.now(),
        seq=0,
    )


@route(functions.contacts.GetContacts, users_only=True)
def get_contacts(
    st: WorldState, call: Call, q: functions.contacts.GetContacts
) -> types.contacts.Contacts:
    me = call.me
    listed = [st.users[uid] for uid in me.contacts if uid in st.users]
    return types.contacts.Contacts(
        contacts=[types.Contact(user_id=u.id, mutual=me.id in u.contacts) for u in listed],
        saved_count=0,
        users=[render.user(st, u, me.id) for u in listed],
    )


@route(functions.contacts.ImportContacts, users_only=True)
def import_contacts(
    st: WorldState, call: Call, q: functions.contacts.ImportContacts
) -> types.contacts.ImportedContacts:
    me = call.me
    imported: list[types.ImportedContact] = []
    found: list[User] = []
    for entry in wire.objects_of(q.contacts):
        if not isinstance(entry, types.InputPhoneContact):
            raise RpcError(400, "CONTACT_ID_INVALID")
        target = st.user_by_phone(re.sub(r"\D", "", entry.phone or ""))
        # Numbers nobody registered are not an error on Telegram: they are just not imported.
        if target is None or target.id == me.id or target.bot:
            continue
        _save(me, target, entry.first_name or target.first_name, entry.last_name or "")
        imported.append(types.ImportedContact(user_id=target.id, client_id=entry.client_id))
        found.append(target)
    return types.contacts.ImportedContacts(
        imported=imported,
        popular_invites=[],
        retry_contacts=[],
        users=[render.user(st, u, me.id) for u in found],
    )


@route(functions.contacts.AddContact, users_only=True)
def add_contact(st: WorldState, call: Call, q: functions.contacts.AddContact) -> types.Updates:
    me = call.me
    target = peers.input_user(st, me, q.id)
    if target.id == me.id:
        raise RpcError(400, "CONTACT_ID_INVALID")
    _save(me, target, q.first_name or "", q.last_name or "")
    return _updates(st, me, [target])


@route(functions.contacts.DeleteContacts, users_only=True)
def delete_contacts(
    st: WorldState, call: Call, q: functions.contacts.DeleteContacts
) -> types.Updates:
    me = call.me
    removed: list[User] = []
    for value in wire.objects_of(q.id):
        target = peers.input_user(st, me, value)
        if me.contacts.pop(target.id, None) is not None:
            removed.append(target)
    return _updates(st, me, removed)
