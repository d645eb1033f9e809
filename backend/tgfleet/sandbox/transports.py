"""MTProto TCP transports, server side: abridged, intermediate, padded intermediate and full,
the first three also obfuscated (obfuscated2 without a proxy secret).

The client names its transport with its first bytes, so the server sniffs them:
``0xef`` abridged, ``0xeeeeeeee`` intermediate, ``0xdddddddd`` padded intermediate, a length
followed by sequence number 0 for full, and anything else is a 64-byte obfuscated2 header whose
decrypted tag names one of the first three. MTProto defines no tag for an obfuscated *full*
transport (its own CRC and sequence number already make it easy to recognise), so like
Telegram the sandbox does not accept one.

Everything here is synchronous and byte-level: :meth:`StreamDecoder.feed` takes what the socket
gave and returns whole packets; :meth:`StreamDecoder.encode` frames one packet for the wire.
"""

from __future__ import annotations

import abc
import os
import struct
from binascii import crc32

import tgcrypto

ABRIDGED = "abridged"
INTERMEDIATE = "intermediate"
PADDED_INTERMEDIATE = "padded_intermediate"
FULL = "full"

_TAGS = {
    b"\xef\xef\xef\xef": ABRIDGED,
    b"\xee\xee\xee\xee": INTERMEDIATE,
    b"\xdd\xdd\xdd\xdd": PADDED_INTERMEDIATE,
}

# Telegram closes a connection that announces a larger packet; a bound keeps a garbage length
# from making the server buffer without end.
MAX_PACKET = 16 * 1024 * 1024


class TransportViolation(Exception):
    """The byte stream breaks the transport's rules; the connection is closed."""


class _Framing(abc.ABC):
    """One framing: how packet lengths are written. Works on decrypted bytes."""

    name = ""

    @abc.abstractmethod
    def take(self, buf: bytearray) -> bytes | None:
        """Cut one whole packet off the front of ``buf``; None until one has arrived."""

    @abc.abstractmethod
    def frame(self, payload: bytes) -> bytes:
        """``payload`` with this framing's length prefix (and padding)."""


class _Abridged(_Framing):
    name = ABRIDGED

    def take(self, buf: bytearray) -> bytes | None:
        if not buf:
            return None
        first = buf[0] & 0x7F  # the top bit asks for a quick ack, which the sandbox never sends
        if first < 0x7F:
            start, length = 1, first * 4
        else:
            if len(buf) < 4:
                return None
            start, length = 4, int.from_bytes(buf[1:4], "little") * 4
        if length > MAX_PACKET:
            raise TransportViolation(f"abridged packet of {length} bytes is too large")
        end = start + length
        if len(buf) < end:
            return None
        packet = bytes(buf[start:end])
        del buf[:end]
        return packet

    def frame(self, payload: bytes) -> bytes:
        words = len(payload) // 4
        if words < 0x7F:
            return bytes((words,)) + payload
        return b"\x7f" + words.to_bytes(3, "little") + payload


class _Intermediate(_Framing):
    name = INTERMEDIATE

    def take(self, buf: bytearray) -> bytes | None:
        if len(buf) < 4:
            return None
        length = int.from_bytes(buf[:4], "little") & 0x7FFFFFFF  # top bit: quick ack request
        if length > MAX_PACKET:
            raise TransportViolation(f"intermediate packet of {length} bytes is too large")
        end = 4 + length
        if len(buf) < end:
            return None
        packet = bytes(buf[4:end])
        del buf[:end]
        return packet

    def frame(self, payload: bytes) -> bytes:
        return struct.pack("<I", len(payload)) + payload


class _PaddedIntermediate(_Intermediate):
    name = PADDED_INTERMEDIATE

    def take(self, buf: bytearray) -> bytes | None:
        packet = super().take(buf)
        if packet is None:
            return None
        return _strip_padding(packet)

    def frame(self, payload: bytes) -> bytes:
        padding = os.urandom(os.urandom(1)[0] & 0x0F)
        return struct.pack("<I", len(payload) + len(padding)) + payload + padding


def _strip_padding(packet: bytes) -> bytes:
    """Cut the 0-15 random bytes a padded-intermediate client appended to a packet."""
    if len(packet) < 24:
        return packet
    if packet[:8] != bytes(8):  # encrypted: 8 key id + 16 msg key + whole AES blocks
        return packet[: 24 + (len(packet) - 24) // 16 * 16]
    (length,) = struct.unpack_from("<i", packet, 16)  # plain: its own length field says
    return packet[: 20 + length]


class _Full(_Framing):
    name = FULL

    def __init__(self) -> None:
        self.recv_seq = 0
        self.send_seq = 0

    def take(self, buf: bytearray) -> bytes | None:
        if len(buf) < 4:
            return None
        length = int.from_bytes(buf[:4], "little")
        if length < 12 or length > MAX_PACKET:
            raise TransportViolation(f"full-transport packet length {length} is out of range")
        if len(buf) < length:
            return None
        whole = bytes(buf[:length])
        del buf[:length]
        (seq,) = struct.unpack_from("<I", whole, 4)
        (checksum,) = struct.unpack_from("<I", whole, length - 4)
        if crc32(whole[:-4]) != checksum:
            raise TransportViolation("full-transport packet failed its CRC32 check")
        if seq != self.recv_seq:
            raise TransportViolation(
                f"full-transport sequence number {seq}, expected {self.recv_seq}"
            )
        self.recv_seq += 1
        return whole[8:-4]

    def frame(self, payload: bytes) -> bytes:
        head = struct.pack("<II", len(payload) + 12, self.send_seq) + payload
        self.send_seq += 1
        return head + struct.pack("<I", crc32(head))


_FRAMINGS: dict[str, type[_Framing]] = {
    ABRIDGED: _Abridged,
    INTERMEDIATE: _Intermediate,
    PADDED_INTERMEDIATE: _PaddedIntermediate,
}


class _Ctr:
    """One direction of obfuscated2: AES-256-CTR whose counter state lives across calls."""

    __slots__ = ("iv", "key", "state")

    def __init__(self, key: bytes, iv: bytes) -> None:
        self.key = key
        self.iv = bytearray(iv)
        self.state = bytearray(1)

    def __call__(self, data: bytes) -> bytes:
        # CTR is symmetric: encrypting and decrypting are the same keystream XOR.
        result: bytes = tgcrypto.ctr256_encrypt(data, self.key, self.iv, self.state)
        return result


class StreamDecoder:
    """Turns one TCP stream's bytes into packets, and packets into its bytes."""

    def __init__(self) -> None:
        self._raw = bytearray()  # undecided bytes, before the transport is known
        self._buf = bytearray()  # decrypted bytes of the known transport
        self._framing: _Framing | None = None
        self._decrypt: _Ctr | None = None
        self._encrypt: _Ctr | None = None
        self.name = ""

    @property
    def obfuscated(self) -> bool:
        return self._encrypt is not None

    def feed(self, data: bytes) -> list[bytes]:
        if self._framing is None:
            self._raw += data
            if not self._sniff():
                return []
        elif self._decrypt is not None:
            self._buf += self._decrypt(data)
        else:
            self._buf += data
        framing = self._framing
        assert framing is not None
        packets: list[bytes] = []
        while True:
            packet = framing.take(self._buf)
            if packet is None:
                return packets
            packets.append(packet)

    def encode(self, payload: bytes) -> bytes:
        if self._framing is None:
            raise RuntimeError("no transport has been negotiated on this stream yet")
        data = self._framing.frame(payload)
        if self._encrypt is not None:
            data = self._encrypt(data)
        return data

    def _sniff(self) -> bool:
        raw = self._raw
        if not raw:
            return False
        if raw[0] == 0xEF:
            return self._choose(_Abridged(), 1)
        if len(raw) < 8:
            return False
        head = bytes(raw[:4])
        if head in (b"\xee\xee\xee\xee", b"\xdd\xdd\xdd\xdd"):
            return self._choose(_FRAMINGS[_TAGS[head]](), 4)
        if raw[4:8] == b"\x00\x00\x00\x00":
            # An obfuscated2 header never has zeros there; a full-transport packet always does
            # (its first sequence number is 0).
            return self._choose(_Full(), 0)
        if len(raw) < 64:
            return False
        return self._open_obfuscated()

    def _choose(self, framing: _Framing, skip: int) -> bool:
        self._framing = framing
        self.name = framing.name
        self._buf = self._raw[skip:]
        self._raw = bytearray()
        return True

    def _open_obfuscated(self) -> bool:
        header = bytes(self._raw[:64])
        # Without an MTProxy secret the keys are the header's own bytes; a proxy would hash
        # them with its secret first (sha256(key + secret)), which the sandbox does not need.
        decrypt = _Ctr(header[8:40], header[40:56])
        reversed_tail = header[55:7:-1]
        encrypt = _Ctr(reversed_tail[:32], reversed_tail[32:48])
        plain = decrypt(header)
        tag = plain[56:60]
        kind = _TAGS.get(tag)
        if kind is None:
            raise TransportViolation(
                f"unknown transport: first bytes {header[:8].hex()} name no MTProto transport"
            )
        framing = _FRAMINGS[kind]()
        self._framing = framing
        self._decrypt = decrypt
        self._encrypt = encrypt
        self.name = "obfuscated_" + framing.name
        rest = bytes(self._raw[64:])
        self._raw = bytearray()
        self._buf = bytearray(decrypt(rest)) if rest else bytearray()
        return True
