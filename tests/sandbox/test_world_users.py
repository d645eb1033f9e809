"""Finding users (by self, id, username, phone), profiles, usernames, presence."""

from __future__ import annotations

import pytest
from pyrogram.raw import functions, types
from pyrogram.raw.core import BoolTrue
from test_world_kit import Conn, logged_in, peer_of

from tgfleet.sandbox.world import World


@pytest.fixture
def world() -> World:
    return World(
        seed={
            "users": [
                {"phone": "+15550001", "first_name": "Ann", "username": "annie"},
                {"phone": "+15550002", "first_name": "Bo", "last_name": "Jo"},
            ],
            "bots": [{"token": "7000001:tok", "username": "echo_bot", "first_name": "Echo"}],
        }
    )


async def test_get_users_self_by_hash_and_by_bare_id(world: World) -> None:
    a = await logged_in(world, "15550001")
    b_id = world.state.phones["15550002"]
    hashed = peer_of(a, b_id).access_hash
    found = await a.call(
        functions.users.GetUsers(
            id=[
                types.InputUserSelf(),
                types.InputUser(user_id=b_id, access_hash=hashed),
                types.InputUser(user_id=b_id, access_hash=0),  # how Kurigram learns a bare id
                types.InputUser(user_id=b_id, access_hash=hashed + 1),  # wrong: left out
                types.InputUser(user_id=424242, access_hash=0),  # unknown: left out
            ]
        )
    )
    assert [u.id for u in found] == [world.state.phones["15550001"], b_id, b_id]
    me, other = found[0], found[1]
    assert me.is_self and me.phone == "15550001"
    assert not other.is_self and other.phone is None and other.access_hash == hashed


async def test_full_user_and_presence(world: World) -> None:
    a = await logged_in(world, "15550001")
    full = await a.call(functions.users.GetFullUser(id=types.InputUserSelf()))
    assert full.full_user.id == full.users[0].id
    assert isinstance(full.users[0].status, types.UserStatusOnline)
    b_id = world.state.phones["15550002"]
    other = await a.call(functions.users.GetFullUser(id=peer_of(a, b_id)))
    assert other.users[0].last_name == "Jo"
    assert isinstance(other.users[0].status, types.UserStatusRecently)  # never online
    bad = await a.error(
        functions.users.GetFullUser(id=types.InputUser(user_id=b_id, access_hash=1))
    )
    assert bad.message == "USER_ID_INVALID"
    world.detach(a.ctx)
    offline = Conn(world, a.auth_key_id, attach=False)
    me = (await offline.call(functions.users.GetUsers(id=[types.InputUserSelf()])))[0]
    assert isinstance(me.status, types.UserStatusOffline)


async def test_resolve_username_and_phone(world: World) -> None:
    b = await logged_in(world, "15550002")
    resolved = await b.call(functions.contacts.ResolveUsername(username="AnNiE"))
    assert resolved.peer == types.PeerUser(user_id=world.state.phones["15550001"])
    assert resolved.users[0].access_hash != 0
    missing = await b.error(functions.contacts.ResolveUsername(username="nobody_here"))
    assert missing.message == "USERNAME_NOT_OCCUPIED"
    invalid = await b.error(functions.contacts.ResolveUsername(username="bad name!"))
    assert invalid.message == "USERNAME_INVALID"
    bot = await b.call(functions.contacts.ResolveUsername(username="echo_bot"))
    assert bot.users[0].bot and bot.users[0].first_name == "Echo"
    by_phone = await b.call(functions.contacts.ResolvePhone(phone="+1 555 000 1"))
    assert by_phone.users[0].phone == "15550001"
    no_phone = await b.error(functions.contacts.ResolvePhone(phone="19999999"))
    assert no_phone.message == "PHONE_NOT_OCCUPIED"
    contacts = await b.call(functions.contacts.GetContacts(hash=0))
    assert contacts.contacts == [] and contacts.saved_count == 0


async def test_usernames_and_profile_can_change(world: World) -> None:
    b = await logged_in(world, "15550002")
    taken = await b.error(functions.account.UpdateUsername(username="ANNIE"))
    assert taken.message == "USERNAME_OCCUPIED"
    invalid = await b.error(functions.account.UpdateUsername(username="no"))
    assert invalid.message == "USERNAME_INVALID"
    me = await b.call(functions.account.UpdateUsername(username="bobo_jo"))
    assert me.username == "bobo_jo"
    a = await logged_in(world, "15550001")
    found = await a.call(functions.contacts.ResolveUsername(username="bobo_jo"))
    assert found.users[0].first_name == "Bo"
    await b.call(functions.account.UpdateUsername(username=""))
    gone = await a.error(functions.contacts.ResolveUsername(username="bobo_jo"))
    assert gone.message == "USERNAME_NOT_OCCUPIED"
    renamed = await b.call(functions.account.UpdateProfile(first_name="Bob", about="hi"))
    assert renamed.first_name == "Bob"
    assert (
        await b.call(functions.account.CheckUsername(username="fresh_name"))
    ).write() == BoolTrue()
    assert (await b.call(functions.account.UpdateStatus(offline=False))).write() == BoolTrue()


async def test_vector_and_bool_results_serialize_for_the_wire(world: World) -> None:
    a = await logged_in(world, "15550001")
    found = await a.call(functions.users.GetUsers(id=[types.InputUserSelf()]))
    data = found.write()
    assert data[:4] == (0x1CB5C415).to_bytes(4, "little")  # Vector
    assert int.from_bytes(data[4:8], "little") == 1
    assert data[8:] == found[0].write()
    ok = await a.call(functions.account.UpdateStatus(offline=True))
    assert ok.write() == (0x997275B5).to_bytes(4, "little")  # boolTrue


async def test_contacts_import_rename_mutual_and_delete(world: World) -> None:
    a = await logged_in(world, "15550001")
    b = await logged_in(world, "15550002")
    a_id, b_id = world.state.phones["15550001"], world.state.phones["15550002"]
    result = await a.call(
        functions.contacts.ImportContacts(
            contacts=[
                types.InputPhoneContact(
                    client_id=1, phone="+15550002", first_name="Bobby", last_name=""
                ),
                types.InputPhoneContact(
                    client_id=2, phone="+19990000", first_name="Nobody", last_name=""
                ),
            ]
        )
    )
    assert [(c.user_id, c.client_id) for c in result.imported] == [(b_id, 1)]
    seen = result.users[0]
    assert (seen.first_name, seen.contact, seen.mutual_contact, seen.phone) == (
        "Bobby", True, False, "15550002"
    )  # fmt: skip
    book = await a.call(functions.contacts.GetContacts(hash=0))
    assert [(c.user_id, c.mutual) for c in book.contacts] == [(b_id, False)]
    [ann_for_bo] = await b.call(functions.users.GetUsers(id=[peer_of(b, a_id)]))
    assert ann_for_bo.phone == "15550001"  # Ann saved Bo: "my contacts" lets him see her number
    assert not ann_for_bo.contact
    added = await b.call(
        functions.contacts.AddContact(
            id=peer_of(b, a_id), first_name="Annie", last_name="A", phone=""
        )
    )
    assert added.users[0].mutual_contact and added.users[0].first_name == "Annie"
    book = await a.call(functions.contacts.GetContacts(hash=0))
    assert book.contacts[0].mutual

    restored = World.restore(world.snapshot())
    assert restored.state.users[a_id].contacts == {b_id: ("Bobby", "")}

    gone = await a.call(functions.contacts.DeleteContacts(id=[peer_of(a, b_id)]))
    assert [u.id for u in gone.users] == [b_id] and gone.updates
    assert (await a.call(functions.contacts.GetContacts(hash=0))).contacts == []
    [bo_for_ann] = await a.call(functions.users.GetUsers(id=[peer_of(a, b_id)]))
    assert bo_for_ann.first_name == "Bo" and not bo_for_ann.contact
    assert bo_for_ann.phone == "15550002"  # Bo still has Ann saved, so she still sees his number
    world.state.users[b_id].contacts.clear()
    [hidden] = await a.call(functions.users.GetUsers(id=[peer_of(a, b_id)]))
    assert hidden.phone is None
