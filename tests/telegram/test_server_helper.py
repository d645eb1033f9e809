"""Pointing a Kurigram Client at any server: key registration and the pinned storage."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa
from pyrogram.crypto import rsa

from tgfleet.telegram.server import (
    ServerEndpoint,
    build_client,
    fingerprint_of,
    register_server_key,
)
from tgfleet.telegram.storage import MemoryStorage

TELEGRAM_KEY_1 = (
    "-----BEGIN RSA PUBLIC KEY-----\n"
    "MIIBCgKCAQEAwVACPi9w23mF3tBkdZz+zwrzKOaaQdr01vAbU4E1pvkfj4sqDsm6\n"
    "lyDONS789sVoD/xCS9Y0hkkC3gtL1tSfTlgCMOOul9lcixlEKzwKENj1Yz/s7daS\n"
    "an9tqw3bfUV/nqgbhGX81v/+7RFAEd+RwFnK7a+XYl9sluzHRyVVaTTveB2GazTw\n"
    "Efzk2DWgkBluml8OREmvfraX3bkHZJTKX4EQSjBbbdJ2ZXIsRrYOXfaA+xayEGB+\n"
    "8hdlLmAjbCVfaigxX0CDqWeR1yFL9kwd9P0NsZRPsmoqVwMbMu7mStFai6aIhc3n\n"
    "Slv8kg9qv1m6XHVQY3PnEw+QQtqSIXklHwIDAQAB\n"
    "-----END RSA PUBLIC KEY-----\n"
)


def test_fingerprint_matches_kurigrams_table_for_telegrams_own_key() -> None:
    # Kurigram lists this key under -4344800451088585951; computing it must agree.
    assert register_server_key(TELEGRAM_KEY_1) == -4344800451088585951


def test_spki_and_pkcs1_pems_register_the_same_key() -> None:
    key = crypto_rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pkcs1 = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    spki = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fp = register_server_key(pkcs1.decode())
    assert register_server_key(spki.decode()) == fp
    numbers = key.public_numbers()
    assert fp == fingerprint_of(numbers.n, numbers.e)
    assert rsa.server_public_keys[fp] == rsa.PublicKey(numbers.n, numbers.e)


def test_a_non_key_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="not a PEM RSA public key"):
        register_server_key("hello")


def test_build_client_uses_a_pinned_memory_storage() -> None:
    endpoint = ServerEndpoint("127.0.0.1", 40001, TELEGRAM_KEY_1, dc_id=2)
    client = build_client("x", endpoint, api_id=1, api_hash="h")
    assert isinstance(client.storage, MemoryStorage)
    assert client.storage.export_record().port == 40001
    for banned in ("in_memory", "session_string"):
        with pytest.raises(ValueError, match=banned):
            build_client("x", endpoint, api_id=1, api_hash="h", **{banned: True})
