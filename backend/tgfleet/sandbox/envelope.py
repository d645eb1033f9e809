"""MTProto 2.0 encrypted messages, server side, and the server's msg_id clock.

A client encrypts with ``x = 0`` and the server with ``x = 8`` (core.telegram.org/mtproto/
description), so this is the mirror image of ``pyrogram.crypto.mtproto``. tgcrypto's IGE
functions are called directly: these run for every packet.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass
from hashlib import sha1, sha256

import tgcrypto


def auth_key_id_of(auth_key: bytes) -> int:
    """The signed 64-bit id that prefixes every packet encrypted with ``auth_key``."""
    return int.from_bytes(sha1(auth_key).digest()[-8:], "little", signed=True)


class EnvelopeError(Exception):
    """An encrypted packet failed a check; Telegram drops such a packet (and the connection)."""


@dataclass(frozen=True, slots=True)
class Plain:
    """The decrypted header of a client packet plus its undecoded message body."""

    salt: int
    session_id: int
    msg_id: int
    seq_no: int
    body: bytes


class AuthKey:
    """An auth key with the slices the key derivation reads, computed once."""

    __slots__ = ("_in_a", "_in_b", "_in_mk", "_out_a", "_out_b", "_out_mk", "id", "id_bytes", "key")

    def __init__(self, key: bytes) -> None:
        if len(key) != 256:
            raise ValueError(f"an auth key is 256 bytes, got {len(key)}")
        self.key = key
        self.id_bytes = sha1(key).digest()[-8:]
        self.id = int.from_bytes(self.id_bytes, "little", signed=True)
        # Client to server: x = 0; server to client: x = 8.
        self._in_a, self._in_b, self._in_mk = key[0:36], key[40:76], key[88:120]
        self._out_a, self._out_b, self._out_mk = key[8:44], key[48:84], key[96:128]

    @staticmethod
    def _kdf(msg_key: bytes, a: bytes, b: bytes) -> tuple[bytes, bytes]:
        sha_a = sha256(msg_key + a).digest()
        sha_b = sha256(b + msg_key).digest()
        return sha_a[:8] + sha_b[8:24] + sha_a[24:32], sha_b[:8] + sha_a[8:24] + sha_b[24:32]

    def decrypt(self, packet: bytes) -> Plain:
        """Open one client packet (auth_key_id, msg_key, ciphertext)."""
        if len(packet) < 24 + 32 or (len(packet) - 24) % 16:
            raise EnvelopeError(f"encrypted packet of {len(packet)} bytes has a bad length")
        msg_key = packet[8:24]
        aes_key, aes_iv = self._kdf(msg_key, self._in_a, self._in_b)
        data: bytes = tgcrypto.ige256_decrypt(packet[24:], aes_key, aes_iv)
        if sha256(self._in_mk + data).digest()[8:24] != msg_key:
            raise EnvelopeError("msg_key does not match the decrypted data")
        salt, session_id, msg_id, seq_no, length = struct.unpack_from("<qqqii", data)
        padding = len(data) - 32 - length
        if length < 0 or length % 4 or not 12 <= padding <= 1024:
            raise EnvelopeError(f"message length {length} does not fit a {len(data)}-byte packet")
        return Plain(salt, session_id, msg_id, seq_no, data[32 : 32 + length])

    def encrypt(self, salt: int, session_id: int, msg_id: int, seq_no: int, body: bytes) -> bytes:
        """Seal one server message for this key."""
        data = struct.pack("<qqqii", salt, session_id, msg_id, seq_no, len(body)) + body
        data += os.urandom(-(len(data) + 12) % 16 + 12)
        msg_key = sha256(self._out_mk + data).digest()[8:24]
        aes_key, aes_iv = self._kdf(msg_key, self._out_a, self._out_b)
        encrypted: bytes = tgcrypto.ige256_encrypt(data, aes_key, aes_iv)
        return self.id_bytes + msg_key + encrypted


def plain_packet(msg_id: int, body: bytes) -> bytes:
    """An unencrypted packet (auth_key_id 0), as used by the auth-key handshake."""
    return bytes(8) + struct.pack("<qi", msg_id, len(body)) + body


class MsgIdClock:
    """Server msg_ids: current unix time * 2**32, strictly increasing across the server, ≡ 1
    mod 4 for replies and ≡ 3 mod 4 for messages the server starts. Clients set their clock
    from them, so they must stay current."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = 0

    def next(self, *, reply: bool = True) -> int:
        base = int(time.time() * 4294967296.0) & ~3
        if base <= self._last:
            base = (self._last & ~3) + 4
        msg_id = base | (1 if reply else 3)
        self._last = msg_id
        return msg_id


def msg_id_time(msg_id: int) -> float:
    return msg_id / 4294967296.0
