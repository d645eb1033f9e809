"""The sandbox's RSA key: made once, kept in the state dir, and used raw as MTProto wants.

MTProto encrypts ``p_q_inner_data`` with textbook RSA (no PKCS padding; the padding is
MTProto's own), so decryption is a bare modular exponentiation done here with the CRT
parameters; ``cryptography`` only generates the key and reads/writes the PEM file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_FILE = "sandbox_rsa_key.pem"


def _tl_bytes(value: bytes) -> bytes:
    """TL ``bytes`` serialization, as used to compute a key's fingerprint."""
    length = len(value)
    if length <= 253:
        return bytes([length]) + value + bytes(-(length + 1) % 4)
    return bytes([254]) + length.to_bytes(3, "little") + value + bytes(-length % 4)


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def rsa_fingerprint(modulus: int, exponent: int) -> int:
    """Telegram's fingerprint: the low 64 bits of SHA1 of the TL-serialized (n, e), signed."""
    digest = hashlib.sha1(_tl_bytes(_int_bytes(modulus)) + _tl_bytes(_int_bytes(exponent)))
    return int.from_bytes(digest.digest()[-8:], "little", signed=True)


@dataclass(frozen=True)
class ServerKey:
    """An RSA private key in the numbers MTProto needs."""

    n: int
    e: int
    d: int
    p: int
    q: int
    dmp1: int
    dmq1: int
    iqmp: int

    @property
    def fingerprint(self) -> int:
        return rsa_fingerprint(self.n, self.e)

    @property
    def public_pem(self) -> str:
        """PKCS#1 ``BEGIN RSA PUBLIC KEY``, the form Telegram publishes its keys in."""
        public = rsa.RSAPublicNumbers(self.e, self.n).public_key()
        return public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        ).decode()

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Raw RSA: ``ciphertext ** d mod n`` (through the CRT), as 256 big-endian bytes."""
        c = int.from_bytes(ciphertext, "big")
        if c >= self.n:
            raise ValueError("RSA ciphertext is not smaller than the modulus")
        m1 = pow(c, self.dmp1, self.p)
        m2 = pow(c, self.dmq1, self.q)
        h = (self.iqmp * (m1 - m2)) % self.p
        return (m2 + h * self.q).to_bytes(256, "big")

    def to_pem(self) -> bytes:
        return self._private_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )

    def _private_key(self) -> rsa.RSAPrivateKey:
        numbers = rsa.RSAPrivateNumbers(
            self.p,
            self.q,
            self.d,
            self.dmp1,
            self.dmq1,
            self.iqmp,
            rsa.RSAPublicNumbers(self.e, self.n),
        )
        return numbers.private_key()

    @classmethod
    def generate(cls) -> ServerKey:
        return cls._from_private(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def from_pem(cls, pem: bytes) -> ServerKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != 2048:
            raise ValueError("the sandbox key file must hold a 2048-bit RSA private key")
        return cls._from_private(key)

    @classmethod
    def _from_private(cls, key: rsa.RSAPrivateKey) -> ServerKey:
        numbers = key.private_numbers()
        public = numbers.public_numbers
        return cls(
            n=public.n,
            e=public.e,
            d=numbers.d,
            p=numbers.p,
            q=numbers.q,
            dmp1=numbers.dmp1,
            dmq1=numbers.dmq1,
            iqmp=numbers.iqmp,
        )


def load_or_create_key(state_dir: Path | None) -> ServerKey:
    """The key kept in ``state_dir`` (made and saved on first start); a fresh one without it."""
    if state_dir is None:
        return ServerKey.generate()
    path = state_dir / KEY_FILE
    if path.exists():
        return ServerKey.from_pem(path.read_bytes())
    key = ServerKey.generate()
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(key.to_pem())
    tmp.chmod(0o600)
    tmp.replace(path)
    return key
