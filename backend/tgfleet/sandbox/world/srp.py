"""The server side of Telegram's two-step password check (SRP-2048, https://core.telegram.org/api/srp).

Only the verifier ``v = g^x mod p`` is kept, never the password: ``x`` comes from PBKDF2 with
100 000 rounds, so it is computed once per password (on seeding or setting it) and the login
itself costs a few modular exponentiations.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

# Telegram's 2048-bit safe prime and generator, the ones its servers send in
# passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow.
P_BYTES = bytes.fromhex(
    "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F"
    "48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37"
    "20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"
    "2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4"
    "A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754"
    "FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"
    "E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F"
    "0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B"
)
P = int.from_bytes(P_BYTES, "big")
G = 3
G_BYTES = G.to_bytes(256, "big")
K = int.from_bytes(hashlib.sha256(P_BYTES + G_BYTES).digest(), "big")


def _sha256(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def _itob(value: int) -> bytes:
    return value.to_bytes(256, "big")


def _btoi(data: bytes) -> int:
    return int.from_bytes(data, "big")


def password_hash(password: str, salt1: bytes, salt2: bytes) -> bytes:
    """``x`` of the SRP exchange: PH2(password, salt1, salt2) of Telegram's KDF."""
    ph1 = _sha256(salt2, _sha256(salt1, password.encode(), salt1), salt2)
    slow = hashlib.pbkdf2_hmac("sha512", ph1, salt1, 100_000)
    return _sha256(salt2, slow, salt2)


@dataclass(frozen=True, slots=True)
class PasswordRecord:
    """A two-step password as the server keeps it: salts, verifier and hint."""

    salt1: bytes
    salt2: bytes
    verifier: bytes  # v = g^x mod p, 256 bytes big-endian
    hint: str = ""

    @classmethod
    def create(cls, password: str, hint: str = "") -> PasswordRecord:
        if not password:
            raise ValueError("a two-step password must not be empty")
        # Telegram's clients append 32 random bytes to the server's 8-byte salt1; a server that
        # sets the password itself ends with the same 40-byte shape.
        salt1 = os.urandom(40)
        salt2 = os.urandom(16)
        x = _btoi(password_hash(password, salt1, salt2))
        return cls(salt1=salt1, salt2=salt2, verifier=_itob(pow(G, x, P)), hint=hint)


@dataclass(frozen=True, slots=True)
class SrpChallenge:
    """One account.getPassword answer: the server's ephemeral secret ``b`` and public ``B``."""

    srp_id: int
    b: int
    B: bytes

    @classmethod
    def create(cls, record: PasswordRecord) -> SrpChallenge:
        v = _btoi(record.verifier)
        while True:
            b = _btoi(os.urandom(256)) % P
            big_b = (K * v + pow(G, b, P)) % P
            # B ≡ 0 would leak nothing useful but let a client divide by zero; draw again.
            if b > 1 and big_b != 0:
                break
        srp_id = _btoi(os.urandom(8)) >> 1  # a positive int64
        return cls(srp_id=srp_id, b=b, B=_itob(big_b))

    def verify(self, record: PasswordRecord, a_bytes: bytes, m1: bytes) -> bool:
        """True when the client's (A, M1) proves knowledge of the password behind ``record``."""
        a = _btoi(a_bytes)
        # A must be a non-trivial group element; A ≡ 0 mod p would force S = 0 for any password.
        if len(a_bytes) != 256 or not 1 < a < P - 1:
            return False
        u = _btoi(_sha256(_itob(a), self.B))
        if u == 0:
            return False
        v = _btoi(record.verifier)
        s = pow(a * pow(v, u, P) % P, self.b, P)
        k_session = _sha256(_itob(s))
        p_hash, g_hash = _sha256(P_BYTES), _sha256(G_BYTES)
        expected = _sha256(
            bytes(x ^ y for x, y in zip(p_hash, g_hash, strict=True)),
            _sha256(record.salt1),
            _sha256(record.salt2),
            _itob(a),
            self.B,
            k_session,
        )
        return hmac.compare_digest(expected, m1)
