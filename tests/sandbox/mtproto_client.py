"""A small MTProto client for protocol-level tests, independent of the server's code.

It speaks through Kurigram's own transport classes and Kurigram's client-side crypto
(``pyrogram.crypto.mtproto.pack/unpack``), and does the auth-key handshake itself so a test can
choose the RSA padding (Kurigram always uses the legacy one). Tests use it where a full
``Client`` cannot show a case: a bad salt, a container, a wrong msg_id, a duplicate connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
import time
from io import BytesIO
from typing import Any

import tgcrypto
from cryptography.hazmat.primitives import serialization
from pyrogram import raw
from pyrogram.connection.transport import TCP, TCPIntermediate
from pyrogram.crypto import mtproto, prime
from pyrogram.raw.core import Message, MsgContainer, TLObject


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def rsa_numbers(pem: str) -> tuple[int, int]:
    key: Any = serialization.load_pem_public_key(pem.encode())
    numbers = key.public_numbers()
    return numbers.n, numbers.e


def rsa_pad_encrypt(data: bytes, n: int, e: int) -> bytes:
    """RSA_PAD from core.telegram.org/mtproto/auth_key, step 4.1."""
    assert len(data) <= 144
    with_padding = data + os.urandom(192 - len(data))
    reversed_data = with_padding[::-1]
    while True:
        temp_key = os.urandom(32)
        with_hash = reversed_data + hashlib.sha256(temp_key + with_padding).digest()
        aes_encrypted = tgcrypto.ige256_encrypt(with_hash, temp_key, bytes(32))
        key_aes = _xor(temp_key, hashlib.sha256(aes_encrypted).digest()) + aes_encrypted
        value = int.from_bytes(key_aes, "big")
        if value < n:
            return pow(value, e, n).to_bytes(256, "big")


def legacy_encrypt(data: bytes, n: int, e: int) -> bytes:
    sha = hashlib.sha1(data).digest()
    padded = sha + data + os.urandom(255 - len(data) - 20)
    return pow(int.from_bytes(padded, "big"), e, n).to_bytes(256, "big")


class RawClient:
    def __init__(self, transport: type[TCP] = TCPIntermediate) -> None:
        self.transport = transport(ipv6=False, dc_id=2)
        self.auth_key = b""
        self.auth_key_id = b""
        self.session_id = os.urandom(8)
        self.salt = 0
        self._last_msg_id = 0
        self._content_sent = 0
        self.seen: list[Message] = []
        self.last_packet_size = 0

    async def connect(self, host: str, port: int) -> None:
        await self.transport.connect((host, port))

    async def close(self) -> None:
        await self.transport.close()

    def msg_id(self) -> int:
        value = int(time.time() * 2**32) & ~3
        if value <= self._last_msg_id:
            value = self._last_msg_id + 4
        self._last_msg_id = value
        return value

    # --- unencrypted, for the handshake ---------------------------------------------------

    async def plain(self, query: TLObject) -> Any:
        body = query.write()
        await self.transport.send(bytes(8) + struct.pack("<qi", self.msg_id(), len(body)) + body)
        packet = await self.transport.recv()
        assert packet is not None, "the server closed the connection during the handshake"
        assert len(packet) > 4, f"transport error {struct.unpack('<i', packet[:4])[0]}"
        return TLObject.read(BytesIO(packet[20:]))

    async def handshake(self, pem: str, *, rsa_pad: bool = True) -> bytes:
        n, e = rsa_numbers(pem)
        nonce = int.from_bytes(os.urandom(16), "little", signed=True)
        res_pq = await self.plain(raw.functions.ReqPqMulti(nonce=nonce))
        pq = int.from_bytes(res_pq.pq, "big")
        g = prime.decompose(pq)
        while not 1 < g < pq:  # Kurigram's Pollard rho now and then gives pq itself back
            g = prime.decompose(pq)
        p, q = sorted((g, pq // g))
        new_nonce = int.from_bytes(os.urandom(32), "little", signed=True)
        inner_cls = raw.types.PQInnerDataDc if rsa_pad else raw.types.PQInnerData
        extra = {"dc": 2} if rsa_pad else {}
        inner = inner_cls(
            pq=res_pq.pq,
            p=p.to_bytes(4, "big"),
            q=q.to_bytes(4, "big"),
            nonce=nonce,
            server_nonce=res_pq.server_nonce,
            new_nonce=new_nonce,
            **extra,
        ).write()
        encrypted = rsa_pad_encrypt(inner, n, e) if rsa_pad else legacy_encrypt(inner, n, e)
        dh = await self.plain(
            raw.functions.ReqDHParams(
                nonce=nonce,
                server_nonce=res_pq.server_nonce,
                p=p.to_bytes(4, "big"),
                q=q.to_bytes(4, "big"),
                public_key_fingerprint=res_pq.server_public_key_fingerprints[0],
                encrypted_data=encrypted,
            )
        )
        sn = res_pq.server_nonce.to_bytes(16, "little", signed=True)
        nn = new_nonce.to_bytes(32, "little", signed=True)
        tmp_key = hashlib.sha1(nn + sn).digest() + hashlib.sha1(sn + nn).digest()[:12]
        tmp_iv = hashlib.sha1(sn + nn).digest()[12:] + hashlib.sha1(nn + nn).digest() + nn[:4]
        answer = tgcrypto.ige256_decrypt(dh.encrypted_answer, tmp_key, tmp_iv)
        server_dh = TLObject.read(BytesIO(answer[20:]))
        dh_prime = int.from_bytes(server_dh.dh_prime, "big")
        assert dh_prime == prime.CURRENT_DH_PRIME
        b = int.from_bytes(os.urandom(256), "big")
        g_b = pow(server_dh.g, b, dh_prime).to_bytes(256, "big")
        client_inner = raw.types.ClientDHInnerData(
            nonce=nonce, server_nonce=res_pq.server_nonce, retry_id=0, g_b=g_b
        ).write()
        data = hashlib.sha1(client_inner).digest() + client_inner
        data += os.urandom(-len(data) % 16)
        gen = await self.plain(
            raw.functions.SetClientDHParams(
                nonce=nonce,
                server_nonce=res_pq.server_nonce,
                encrypted_data=tgcrypto.ige256_encrypt(data, tmp_key, tmp_iv),
            )
        )
        auth_key = pow(int.from_bytes(server_dh.g_a, "big"), b, dh_prime).to_bytes(256, "big")
        aux = hashlib.sha1(auth_key).digest()[:8]
        expected = hashlib.sha1(nn + b"\x01" + aux).digest()[-16:]
        assert isinstance(gen, raw.types.DhGenOk), gen
        assert gen.new_nonce_hash1 == int.from_bytes(expected, "little", signed=True)
        self.use_key(auth_key)
        self.salt = int.from_bytes(_xor(nn[:8], sn[:8]), "little", signed=True)
        return auth_key

    def use_key(self, auth_key: bytes) -> None:
        self.auth_key = auth_key
        self.auth_key_id = hashlib.sha1(auth_key).digest()[-8:]

    # --- encrypted ------------------------------------------------------------------------

    def message(
        self,
        body: TLObject,
        *,
        content_related: bool = True,
        msg_id: int | None = None,
        seq_no: int | None = None,
    ) -> Message:
        if seq_no is None:
            seq_no = self._content_sent * 2 + (1 if content_related else 0)
            if content_related:
                self._content_sent += 1
        return Message(body, msg_id if msg_id is not None else self.msg_id(), seq_no, len(body))

    async def send(self, message: Message) -> int:
        packet = mtproto.pack(message, self.salt, self.session_id, self.auth_key, self.auth_key_id)
        await self.transport.send(packet)
        return int(message.msg_id)

    async def send_obj(self, body: TLObject, **kwargs: Any) -> int:
        return await self.send(self.message(body, **kwargs))

    async def send_container(self, *bodies: TLObject) -> list[int]:
        inner = [self.message(b) for b in bodies]
        await self.send(self.message(MsgContainer(inner), content_related=False))
        return [m.msg_id for m in inner]

    async def recv(self, wait: float = 5.0) -> list[Message] | bytes:
        """The messages of the next packet (containers flattened), or the raw 4-byte
        transport error."""
        packet = await asyncio.wait_for(self.transport.recv(), wait)
        if packet is None:
            raise ConnectionError("the server closed the connection")
        self.last_packet_size = len(packet)
        if len(packet) == 4:
            return bytes(packet)
        msg = mtproto.unpack(BytesIO(packet), self.session_id, self.auth_key, self.auth_key_id)
        if isinstance(msg.body, MsgContainer):
            return list(msg.body.messages)
        return [msg]

    async def until(self, kind: type | tuple[type, ...], wait: float = 5.0) -> Message:
        """Read until a message whose body is ``kind``; earlier ones go to ``self.seen``."""
        deadline = time.monotonic() + wait
        while True:
            got = await self.recv(max(0.01, deadline - time.monotonic()))
            assert not isinstance(got, bytes), f"transport error {got!r}"
            for msg in got:
                if isinstance(msg.body, kind):
                    return msg
                self.seen.append(msg)

    async def call(self, query: TLObject, wait: float = 5.0) -> Any:
        """Send one query, learning the salt first if needed; the rpc_result's result."""
        msg_id = await self.send_obj(query)
        while True:
            msg = await self.until((raw.types.RpcResult, raw.types.BadServerSalt), wait)
            body = msg.body
            if isinstance(body, raw.types.BadServerSalt) and body.bad_msg_id == msg_id:
                self.salt = body.new_server_salt
                msg_id = await self.send_obj(query)
                continue
            if isinstance(body, raw.types.RpcResult) and body.req_msg_id == msg_id:
                return body.result
