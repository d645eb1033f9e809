"""Auth-key creation, server side (core.telegram.org/mtproto/auth_key).

``req_pq_multi`` -> ``resPQ``; ``req_DH_params`` (RSA-encrypted ``p_q_inner_data*`` in either
the legacy SHA1 padding or RSA_PAD) -> ``server_DH_params_ok``; ``set_client_DH_params`` ->
``dh_gen_ok`` and a new 2048-bit auth key over Telegram's standard DH prime with g = 3.

State lives per TCP connection, keyed by the client's nonce, as Telegram keeps it.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import tgcrypto
from pyrogram import raw
from pyrogram.crypto import prime
from pyrogram.raw.core import TLObject

from tgfleet.sandbox.keys import ServerKey

DH_PRIME: int = prime.CURRENT_DH_PRIME
DH_G = 3  # valid for this prime: it is ≡ 2 mod 3, the condition Telegram's docs give for g = 3
_DH_PRIME_BYTES = DH_PRIME.to_bytes(256, "big")
_G_A_MARGIN = 1 << (2048 - 64)

_INNER_TYPES = (
    raw.types.PQInnerData,
    raw.types.PQInnerDataDc,
    raw.types.PQInnerDataTemp,
    raw.types.PQInnerDataTempDc,
)


class HandshakeError(Exception):
    """The client broke the handshake; Telegram answers with transport error -404."""


@dataclass(frozen=True, slots=True)
class NewAuthKey:
    auth_key: bytes
    server_salt: int  # new_nonce[:8] XOR server_nonce[:8], the salt the client may start with


@dataclass
class _Pending:
    server_nonce: int
    pq: bytes
    p: int
    q: int
    new_nonce: bytes = b""
    a: int = 0
    tmp_key: bytes = b""
    tmp_iv: bytes = b""


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
    for p in small:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in small:  # deterministic for n < 3.3e24
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _random_prime(bits: int, rng: random.Random) -> int:
    while True:
        n = rng.getrandbits(bits) | (1 << (bits - 1)) | 1
        if _is_prime(n):
            return n


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


class Handshaker:
    """Answers the three handshake requests of one connection.

    ``insecure_fast_handshake`` is for tests and benchmarks only: a 32-bit pq (so the client
    factors it in microseconds instead of tens of milliseconds) and a 256-bit server DH
    exponent. Keys made this way are as usable, but not as strong.
    """

    def __init__(self, key: ServerKey, *, insecure_fast_handshake: bool = False) -> None:
        self._key = key
        self._fast = insecure_fast_handshake
        self._pending: dict[int, _Pending] = {}
        self._rng = random.SystemRandom()

    def handle(self, query: Any) -> tuple[TLObject, NewAuthKey | None]:
        if isinstance(query, raw.functions.ReqPqMulti | raw.functions.ReqPq):
            return self._res_pq(query.nonce), None
        if isinstance(query, raw.functions.ReqDHParams):
            return self._server_dh_params(query), None
        if isinstance(query, raw.functions.SetClientDHParams):
            return self._dh_gen(query)
        raise HandshakeError(f"{type(query).__name__} is not allowed before an auth key exists")

    # --- step 1: resPQ --------------------------------------------------------------------

    def _res_pq(self, nonce: int) -> TLObject:
        bits = 16 if self._fast else 31
        p, q = sorted((_random_prime(bits, self._rng), _random_prime(bits, self._rng)))
        while p == q:
            q = _random_prime(bits, self._rng)
            p, q = sorted((p, q))
        pq = (p * q).to_bytes(8, "big")
        server_nonce = int.from_bytes(os.urandom(16), "little", signed=True)
        if len(self._pending) > 8:  # a client restarting handshakes forever must not grow this
            self._pending.clear()
        self._pending[nonce] = _Pending(server_nonce=server_nonce, pq=pq, p=p, q=q)
        return raw.types.ResPQ(
            nonce=nonce,
            server_nonce=server_nonce,
            pq=pq,
            server_public_key_fingerprints=[self._key.fingerprint],
        )

    # --- step 2: server_DH_params ---------------------------------------------------------

    def _server_dh_params(self, query: Any) -> TLObject:
        pending = self._expect(query.nonce, query.server_nonce)
        if query.public_key_fingerprint != self._key.fingerprint:
            raise HandshakeError(f"unknown RSA key fingerprint {query.public_key_fingerprint}")
        p, q = int.from_bytes(query.p, "big"), int.from_bytes(query.q, "big")
        if (p, q) != (pending.p, pending.q):
            raise HandshakeError("p and q do not factor the pq the server sent")
        inner = self._decrypt_inner(query.encrypted_data)
        if (
            inner.nonce != query.nonce
            or inner.server_nonce != pending.server_nonce
            or inner.pq != pending.pq
        ):
            raise HandshakeError("p_q_inner_data does not match this handshake")
        new_nonce = inner.new_nonce.to_bytes(32, "little", signed=True)
        server_nonce = pending.server_nonce.to_bytes(16, "little", signed=True)
        pending.new_nonce = new_nonce
        pending.tmp_key = (
            hashlib.sha1(new_nonce + server_nonce).digest()
            + hashlib.sha1(server_nonce + new_nonce).digest()[:12]
        )
        pending.tmp_iv = (
            hashlib.sha1(server_nonce + new_nonce).digest()[12:]
            + hashlib.sha1(new_nonce + new_nonce).digest()
            + new_nonce[:4]
        )
        exponent_bits = 256 if self._fast else 2048
        while True:
            a = self._rng.getrandbits(exponent_bits)
            g_a = pow(DH_G, a, DH_PRIME)
            if _G_A_MARGIN < g_a < DH_PRIME - _G_A_MARGIN:
                break
        pending.a = a
        answer = raw.types.ServerDHInnerData(
            nonce=query.nonce,
            server_nonce=pending.server_nonce,
            g=DH_G,
            dh_prime=_DH_PRIME_BYTES,
            g_a=g_a.to_bytes(256, "big"),
            server_time=int(time.time()),
        ).write()
        with_hash = hashlib.sha1(answer).digest() + answer
        with_hash += os.urandom(-len(with_hash) % 16)
        encrypted = tgcrypto.ige256_encrypt(with_hash, pending.tmp_key, pending.tmp_iv)
        return raw.types.ServerDHParamsOk(
            nonce=query.nonce, server_nonce=pending.server_nonce, encrypted_answer=encrypted
        )

    def _decrypt_inner(self, encrypted: bytes) -> Any:
        if len(encrypted) != 256:
            raise HandshakeError(f"encrypted_data is {len(encrypted)} bytes, not 256")
        try:
            plain = self._key.decrypt(encrypted)
        except ValueError as e:
            raise HandshakeError(str(e)) from e
        inner = _open_rsa_pad(plain)
        if inner is None:
            inner = _open_legacy(plain)
        if inner is None:
            raise HandshakeError("encrypted_data is neither RSA_PAD nor legacy-padded")
        return inner

    # --- step 3: dh_gen_ok ----------------------------------------------------------------

    def _dh_gen(self, query: Any) -> tuple[TLObject, NewAuthKey]:
        pending = self._expect(query.nonce, query.server_nonce)
        if not pending.new_nonce:
            raise HandshakeError("set_client_DH_params before req_DH_params")
        plain = tgcrypto.ige256_decrypt(query.encrypted_data, pending.tmp_key, pending.tmp_iv)
        try:
            inner = TLObject.read(BytesIO(plain[20:]))
        except Exception as e:
            raise HandshakeError(f"client_DH_inner_data does not parse: {e}") from e
        if not isinstance(inner, raw.types.ClientDHInnerData):
            raise HandshakeError(f"expected client_DH_inner_data, got {type(inner).__name__}")
        if hashlib.sha1(inner.write()).digest() != plain[:20]:
            raise HandshakeError("client_DH_inner_data fails its SHA1 check")
        if inner.nonce != query.nonce or inner.server_nonce != pending.server_nonce:
            raise HandshakeError("client_DH_inner_data does not match this handshake")
        g_b = int.from_bytes(inner.g_b, "big")
        if not _G_A_MARGIN < g_b < DH_PRIME - _G_A_MARGIN:
            raise HandshakeError("g_b is outside the range the security guidelines allow")
        auth_key = pow(g_b, pending.a, DH_PRIME).to_bytes(256, "big")
        del self._pending[query.nonce]
        aux_hash = hashlib.sha1(auth_key).digest()[:8]
        new_nonce_hash1 = hashlib.sha1(pending.new_nonce + b"\x01" + aux_hash).digest()[-16:]
        server_nonce = pending.server_nonce.to_bytes(16, "little", signed=True)
        salt = int.from_bytes(_xor(pending.new_nonce[:8], server_nonce[:8]), "little", signed=True)
        answer = raw.types.DhGenOk(
            nonce=query.nonce,
            server_nonce=pending.server_nonce,
            new_nonce_hash1=int.from_bytes(new_nonce_hash1, "little", signed=True),
        )
        return answer, NewAuthKey(auth_key=auth_key, server_salt=salt)

    def _expect(self, nonce: int, server_nonce: int) -> _Pending:
        pending = self._pending.get(nonce)
        if pending is None or pending.server_nonce != server_nonce:
            raise HandshakeError("nonce or server_nonce belongs to no handshake on this connection")
        return pending


def _read_inner(data: bytes) -> Any:
    try:
        inner = TLObject.read(BytesIO(data))
    except Exception:
        return None
    return inner if isinstance(inner, _INNER_TYPES) else None


def _open_rsa_pad(plain: bytes) -> Any:
    """RSA_PAD, step 4.1 of core.telegram.org/mtproto/auth_key."""
    temp_key = _xor(plain[:32], hashlib.sha256(plain[32:]).digest())
    data_with_hash = tgcrypto.ige256_decrypt(plain[32:], temp_key, bytes(32))
    data_with_padding = data_with_hash[:192][::-1]
    if hashlib.sha256(temp_key + data_with_padding).digest() != data_with_hash[192:]:
        return None
    return _read_inner(data_with_padding)


def _open_legacy(plain: bytes) -> Any:
    """The older form: SHA1(data) + data + random padding to 255 bytes."""
    if plain[0] != 0:
        return None
    body = plain[1:]
    inner = _read_inner(body[20:])
    if inner is None or hashlib.sha1(inner.write()).digest() != body[:20]:
        return None
    return inner
