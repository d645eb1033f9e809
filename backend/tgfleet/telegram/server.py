"""Point an unmodified Kurigram ``Client`` at any MTProto server: the sandbox, or a
self-hosted test server, given its address and RSA public key.

Two things make that work without patching Kurigram: the server's public key is registered in
``pyrogram.crypto.rsa.server_public_keys`` under its fingerprint (Kurigram looks the
fingerprint from ``resPQ`` up there), and the client gets a :class:`MemoryStorage` that pins
the address (``Client`` would otherwise fill a new session with Telegram's production address,
and it ignores ``storage_engine`` when ``in_memory`` or ``session_string`` is passed, so neither
is).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa
from pyrogram import Client
from pyrogram.crypto import rsa

from tgfleet.telegram.storage import MemoryStorage, SessionRecord


def _tl_bytes(value: bytes) -> bytes:
    n = len(value)
    if n <= 253:
        return bytes((n,)) + value + bytes(-(n + 1) % 4)
    return b"\xfe" + n.to_bytes(3, "little") + value + bytes(-n % 4)


def public_key_numbers(pem: str) -> tuple[int, int]:
    """(modulus, exponent) of a PEM RSA public key, PKCS#1 or SubjectPublicKeyInfo."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as e:
        raise ValueError(f"not a PEM RSA public key: {e}") from e
    if not isinstance(key, crypto_rsa.RSAPublicKey):
        raise ValueError("the PEM holds a public key that is not RSA")
    numbers = key.public_numbers()
    return numbers.n, numbers.e


def fingerprint_of(modulus: int, exponent: int) -> int:
    """Telegram's key fingerprint: low 64 bits of SHA1 over the TL-serialized n and e."""

    def as_bytes(v: int) -> bytes:
        return v.to_bytes((v.bit_length() + 7) // 8, "big")

    digest = hashlib.sha1(_tl_bytes(as_bytes(modulus)) + _tl_bytes(as_bytes(exponent))).digest()
    return int.from_bytes(digest[-8:], "little", signed=True)


def register_server_key(pem: str) -> int:
    """Make Kurigram trust this server key; returns its fingerprint. Idempotent."""
    n, e = public_key_numbers(pem)
    fingerprint = fingerprint_of(n, e)
    rsa.server_public_keys[fingerprint] = rsa.PublicKey(n, e)
    return fingerprint


@dataclass(frozen=True)
class ServerEndpoint:
    """Where an MTProto server listens and the key it proves itself with."""

    host: str
    port: int
    rsa_public_key_pem: str
    dc_id: int = 2
    test_mode: bool = False

    @classmethod
    def from_sandbox_json(cls, path: str | Path) -> ServerEndpoint:
        """Read the ``sandbox.json`` that ``tgfleet sandbox`` writes."""
        info = json.loads(Path(path).read_text())
        return cls(
            host=info["host"],
            port=int(info["port"]),
            rsa_public_key_pem=info["rsa_public_key_pem"],
            dc_id=int(info.get("dc_id", 2)),
        )

    @classmethod
    def of(cls, server: Any) -> ServerEndpoint:
        """From anything with host, port, rsa_public_key_pem and dc_id (e.g. a Sandbox)."""
        return cls(
            host=server.host,
            port=server.port,
            rsa_public_key_pem=server.rsa_public_key_pem,
            dc_id=server.dc_id,
        )

    def new_record(self, api_id: int | None = None) -> SessionRecord:
        """The record of a not-yet-created authorization on this server."""
        return SessionRecord(
            dc_id=self.dc_id,
            server_address=self.host,
            port=self.port,
            test_mode=self.test_mode,
            api_id=api_id,
        )


def build_client(
    name: str,
    endpoint: ServerEndpoint,
    *,
    api_id: int,
    api_hash: str,
    record: SessionRecord | None = None,
    **client_kwargs: Any,
) -> Client:
    """A Kurigram ``Client`` that talks to ``endpoint``.

    ``record`` resumes a stored authorization (no new handshake, no login); without it the
    client creates a new auth key on first connect. The record's address is replaced by the
    endpoint's, so a moved server (a restarted sandbox on a new port) is still reached.
    Any other ``Client`` argument passes through (``protocol_factory``, ``no_updates``,
    ``device_model``, ...), except ``in_memory``/``session_string``, which would make the
    client drop this storage.
    """
    for banned in ("in_memory", "session_string", "storage_engine"):
        if client_kwargs.get(banned):
            raise ValueError(
                f"build_client: {banned!r} cannot be combined with a pinned server; pass the "
                "session as a SessionRecord instead"
            )
        client_kwargs.pop(banned, None)
    register_server_key(endpoint.rsa_public_key_pem)
    if record is None:
        record = endpoint.new_record(api_id)
    else:
        record = replace(record, server_address=endpoint.host, port=endpoint.port)
    storage = MemoryStorage(record, pin_server=True)
    return Client(
        name,
        api_id=api_id,
        api_hash=api_hash,
        storage_engine=storage,
        **client_kwargs,
    )


def export_record(client: Client) -> SessionRecord:
    """The session record of a client built by :func:`build_client`."""
    storage = client.storage
    if not isinstance(storage, MemoryStorage):
        raise TypeError(f"client {client.name!r} does not use a MemoryStorage")
    return storage.export_record()
