"""MemoryStorage: a Kurigram Storage built from a record, pinned to its server."""

from __future__ import annotations

import time

import pytest
from pyrogram import raw
from pyrogram.storage import UpdateState

from tgfleet.telegram.storage import MemoryStorage, SessionRecord

RECORD = SessionRecord(dc_id=2, server_address="127.0.0.1", port=40001, api_id=7)


async def test_pinned_server_ignores_kurigrams_production_address() -> None:
    storage = MemoryStorage(RECORD)
    # What Client.load_session writes into an empty session:
    await storage.dc_id(2)
    await storage.server_address("149.154.167.51")
    await storage.port(443)
    await storage.auth_key(b"k" * 256)
    await storage.user_id(42)
    await storage.is_bot(False)
    assert await storage.server_address() == "127.0.0.1"
    assert await storage.port() == 40001
    record = storage.export_record()
    assert (record.server_address, record.port, record.auth_key, record.user_id) == (
        "127.0.0.1",
        40001,
        b"k" * 256,
        42,
    )
    assert record.is_bot is False


async def test_unpinned_storage_follows_a_dc_migration() -> None:
    storage = MemoryStorage(RECORD, pin_server=False)
    await storage.dc_id(4)
    await storage.server_address("10.0.0.4")
    assert (storage.export_record().dc_id, await storage.server_address()) == (4, "10.0.0.4")


async def test_an_empty_record_reads_as_an_empty_session() -> None:
    storage = MemoryStorage(RECORD)
    assert await storage.auth_key() is None
    assert await storage.user_id() is None
    assert await storage.is_bot() is None


async def test_peers_usernames_and_phones() -> None:
    storage = MemoryStorage(RECORD)
    await storage.update_peers([(100, 555, "user", "15550001"), (-1001234, 0, "group", None)])
    await storage.update_usernames([(100, ["ann", None])])
    peer = await storage.get_peer_by_id(100)
    assert isinstance(peer, raw.types.InputPeerUser) and peer.access_hash == 555
    assert (await storage.get_peer_by_username("ann")).user_id == 100
    assert (await storage.get_peer_by_phone_number("15550001")).user_id == 100
    assert isinstance(await storage.get_peer_by_id(-1001234), raw.types.InputPeerChat)
    await storage.update_usernames([(100, ["annie"])])
    with pytest.raises(KeyError, match="Username not found: ann"):
        await storage.get_peer_by_username("ann")
    with pytest.raises(KeyError, match="ID not found"):
        await storage.get_peer_by_id(1)


async def test_update_states_merge_like_sqlite_storage() -> None:
    storage = MemoryStorage(RECORD)
    await storage.set_update_state(UpdateState(1, pts=5, qts=1, date=10, seq=2))
    await storage.set_update_state(UpdateState(1, pts=6, qts=None, date=None, seq=None))
    assert await storage.get_update_states(1) == [UpdateState(1, 6, 1, 10, 2)]
    await storage.delete_update_state([1])
    assert await storage.get_update_states() == []


async def test_save_stamps_the_date_and_delete_forgets_the_key() -> None:
    storage = MemoryStorage(RECORD)
    await storage.auth_key(b"k" * 256)
    await storage.save()
    assert abs(storage.export_record().date - time.time()) < 5
    await storage.delete()
    assert storage.export_record().auth_key is None


def test_session_string_round_trip_and_a_clear_error() -> None:
    import base64
    import struct

    from pyrogram.storage import Storage

    key = bytes(range(256))
    packed = struct.pack(Storage.SESSION_STRING_FORMAT, 2, 7, False, key, 42, False)
    text = base64.urlsafe_b64encode(packed).decode().rstrip("=")
    record = SessionRecord.from_session_string(text, server_address="127.0.0.1", port=1)
    assert (record.dc_id, record.api_id, record.auth_key, record.user_id) == (2, 7, key, 42)
    with pytest.raises(ValueError, match="not a current-format Kurigram session string"):
        SessionRecord.from_session_string("AAAA", server_address="h", port=1)
