"""Every transport, plain and obfuscated, with real Kurigram clients (and the byte-level
decoder for what Kurigram cannot send)."""

from __future__ import annotations

import os
import struct

import pytest
from protocol_kit import client_for, sandbox_with_world
from pyrogram import raw
from pyrogram.connection.transport import (
    TCP,
    TCPAbridged,
    TCPAbridgedO,
    TCPFull,
    TCPIntermediate,
    TCPIntermediateO,
    TCPIntermediatePadded,
)
from pyrogram.crypto import aes

from tgfleet.sandbox.transports import StreamDecoder, TransportViolation


class TCPIntermediatePaddedO(TCPIntermediatePadded):
    """Obfuscated padded intermediate (tag 0xdddddddd) without a proxy secret, which Kurigram
    only builds for MTProxy; same obfuscation as Kurigram's TCPIntermediateO."""

    async def connect(self, address: tuple[str, int]) -> None:
        self.marker_event.clear()
        await TCP.connect(self, address)
        while True:
            nonce = bytearray(os.urandom(64))
            if nonce[0] != 0xEF and nonce[4:8] != bytes(4) and nonce[:4] != b"\xdd" * 4:
                break
        nonce[56:60] = b"\xdd" * 4
        tail = bytearray(nonce[55:7:-1])
        self.o_encrypt = (bytes(nonce[8:40]), bytearray(nonce[40:56]), bytearray(1))
        self.o_decrypt = (bytes(tail[0:32]), bytearray(tail[32:48]), bytearray(1))
        nonce[56:64] = aes.ctr256_encrypt(bytes(nonce), *self.o_encrypt)[56:64]
        await TCP.send(self, bytes(nonce), wait_for_marker=False)
        self.marker_event.set()

    async def send(self, data: bytes, *args: object) -> None:
        padding = os.urandom(os.urandom(1)[0] & 0x0F)
        framed = struct.pack("<i", len(data) + len(padding)) + data + padding
        await TCP.send(self, aes.ctr256_encrypt(framed, *self.o_encrypt))

    async def recv(self, length: int = 0) -> bytes | None:
        head = await TCP.recv(self, 4)
        if head is None:
            return None
        (size,) = struct.unpack("<i", aes.ctr256_decrypt(head, *self.o_decrypt))
        body = await TCP.recv(self, size)
        if body is None:
            return None
        data = aes.ctr256_decrypt(body, *self.o_decrypt)
        if size >= 24 and data[:8] != bytes(8):
            data = data[: 24 + (size - 24) // 16 * 16]
        return data


TRANSPORTS = {
    "abridged": TCPAbridged,
    "intermediate": TCPIntermediate,
    "padded_intermediate": TCPIntermediatePadded,
    "full": TCPFull,
    "obfuscated_abridged": TCPAbridgedO,
    "obfuscated_intermediate": TCPIntermediateO,
    "obfuscated_padded_intermediate": TCPIntermediatePaddedO,
}


@pytest.mark.parametrize("name", list(TRANSPORTS))
async def test_kurigram_logs_in_over_every_transport(name: str) -> None:
    async with sandbox_with_world() as sandbox:
        client = client_for(
            sandbox, f"t-{name}", protocol_factory=TRANSPORTS[name], no_updates=True
        )
        await client.connect()
        try:
            sent = await client.send_code("+15550001")
            me = await client.sign_in("+15550001", sent.phone_code_hash, sandbox.login_code)
            assert me.phone_number == "15550001"
            # A batch of calls over the same transport.
            for _ in range(20):
                users = await client.invoke(
                    raw.functions.users.GetUsers(id=[raw.types.InputUserSelf()])
                )
                assert users[0].id == me.id
            seen = {c["transport"] for c in sandbox.connections()}
            assert seen == {name}
        finally:
            await client.disconnect()


def test_decoder_refuses_an_obfuscated_header_with_an_unknown_tag() -> None:
    header = bytearray(os.urandom(64))
    header[0] = 0x01
    header[4:8] = b"\x01\x02\x03\x04"
    header[56:60] = b"\xab" * 4  # after decryption this is random: no transport tag
    with pytest.raises(TransportViolation, match="unknown transport"):
        StreamDecoder().feed(bytes(header))


def test_full_transport_checks_crc_and_sequence() -> None:
    decoder = StreamDecoder()
    payload = bytes(8) + os.urandom(20)
    from binascii import crc32

    def packet(seq: int, corrupt: bool = False) -> bytes:
        head = struct.pack("<II", len(payload) + 12, seq) + payload
        crc = crc32(head) ^ (1 if corrupt else 0)
        return head + struct.pack("<I", crc)

    assert decoder.feed(packet(0)) == [payload]
    assert decoder.name == "full"
    with pytest.raises(TransportViolation, match="sequence number 5"):
        decoder.feed(packet(5))
    with pytest.raises(TransportViolation, match="CRC32"):
        StreamDecoder().feed(packet(0, corrupt=True))


def test_abridged_reassembles_split_and_coalesced_packets() -> None:
    decoder = StreamDecoder()
    small, big = os.urandom(8), os.urandom(4 * 200)
    wire = b"\xef" + bytes([2]) + small + b"\x7f" + (200).to_bytes(3, "little") + big
    packets = []
    for i in range(0, len(wire), 7):
        packets += decoder.feed(wire[i : i + 7])
    assert packets == [small, big]
    assert decoder.encode(small) == bytes([2]) + small
