"""The session vault: AES-GCM encryption of every secret the store keeps.

Each value is sealed with a fresh random 96-bit nonce under the master key. The associated data
names the table, column and row the value belongs to, so a ciphertext copied into another row
(another account's auth key, say) fails to open instead of silently handing over the wrong
secret. The stored form carries a format version and a key id, so a rotation can tell which
values are already under the new key and a wrong ``TGFLEET_SECRET_KEY`` is reported as such
rather than as "tampered".

Stored form (bytes)::

    b"\\x01" | key id (8 bytes) | nonce (12 bytes) | ciphertext + GCM tag (16 bytes)

The header is part of the associated data, so it cannot be edited either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tgfleet.errors import ConfigError, VaultError

if TYPE_CHECKING:
    from tgfleet.store.database import Database

FORMAT_V1: Final = 1
KEY_BYTES: Final = 32
KEY_ID_BYTES: Final = 8
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
HEADER_BYTES: Final = 1 + KEY_ID_BYTES
KEY_FILE_NAME: Final = "secret.key"
ENV_NAME: Final = "TGFLEET_SECRET_KEY"


@dataclass(frozen=True, slots=True)
class SealedContext:
    """Where a ciphertext lives: it opens only in the same table, column and row."""

    table: str
    column: str
    row: str

    def associated_data(self) -> bytes:
        return f"tgfleet:{self.table}.{self.column}:{self.row}".encode()


def key_id_of(key: bytes) -> bytes:
    """A short public name of a master key: an HMAC of a constant, so it reveals nothing."""
    return hmac.new(key, b"tgfleet vault key id", hashlib.sha256).digest()[:KEY_ID_BYTES]


class Vault:
    """Seals and opens secrets under one master key.

    The key material is passed in; reading ``TGFLEET_SECRET_KEY`` or the key file is the
    caller's business (see ``load_or_create_master_key``).
    """

    __slots__ = ("_aead", "_key_id")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            size = len(key) if isinstance(key, bytes) else type(key).__name__
            raise ConfigError(f"vault master key must be {KEY_BYTES} bytes, got {size}")
        self._aead = AESGCM(key)
        self._key_id = key_id_of(key)

    @property
    def key_id(self) -> str:
        """Hex key id, safe to log: it tells which key sealed a value."""
        return self._key_id.hex()

    def __repr__(self) -> str:
        return f"Vault(key_id={self.key_id})"

    def seal(self, plaintext: bytes, context: SealedContext) -> bytes:
        header = bytes([FORMAT_V1]) + self._key_id
        nonce = os.urandom(NONCE_BYTES)
        body = self._aead.encrypt(nonce, plaintext, header + context.associated_data())
        return header + nonce + body

    def is_sealed_by_me(self, sealed: bytes) -> bool:
        return len(sealed) > HEADER_BYTES and sealed[1:HEADER_BYTES] == self._key_id

    def open(self, sealed: bytes, context: SealedContext) -> bytes:
        where = f"{context.table}.{context.column} of row {context.row}"
        if len(sealed) < HEADER_BYTES + NONCE_BYTES + TAG_BYTES:
            raise VaultError(f"{where}: ciphertext is truncated ({len(sealed)} bytes)")
        if sealed[0] != FORMAT_V1:
            raise VaultError(f"{where}: unknown ciphertext format {sealed[0]}")
        key_id = sealed[1:HEADER_BYTES]
        if key_id != self._key_id:
            raise VaultError(
                f"{where}: sealed under master key {key_id.hex()}, but the vault holds key "
                f"{self.key_id}; is {ENV_NAME} (or the key file) the one this database was "
                f"written with?"
            )
        header = sealed[:HEADER_BYTES]
        nonce = sealed[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
        try:
            return self._aead.decrypt(
                nonce, sealed[HEADER_BYTES + NONCE_BYTES :], header + context.associated_data()
            )
        except InvalidTag:
            raise VaultError(
                f"{where}: ciphertext does not authenticate: it was altered or moved from "
                f"another row"
            ) from None


def generate_master_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def encode_master_key(key: bytes) -> str:
    """The text form used in the key file and in ``TGFLEET_SECRET_KEY``: urlsafe base64."""
    return base64.urlsafe_b64encode(key).decode("ascii")


def decode_master_key(text: str, *, source: str = ENV_NAME) -> bytes:
    """Accept standard or urlsafe base64 of 32 bytes, padded or not."""
    value = text.strip()
    padded = value + "=" * (-len(value) % 4)
    try:
        # urlsafe_b64decode silently skips characters outside the alphabet; refuse them
        if not re.fullmatch(r"[A-Za-z0-9+/_-]+=*", value):
            raise ValueError("characters outside base64")
        if "+" in value or "/" in value:
            key = base64.b64decode(padded, validate=True)
        else:
            key = base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ConfigError(
            f"{source}: not valid base64; expected 32 random bytes in base64, e.g. the output "
            f'of python -c "import secrets,base64;print(base64.urlsafe_b64encode('
            f'secrets.token_bytes(32)).decode())"'
        ) from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{source}: decodes to {len(key)} bytes; expected {KEY_BYTES}")
    return key


def load_or_create_master_key(data_dir: Path | str, env_value: str | None) -> bytes:
    """The master key: from ``env_value`` if set, else ``<data_dir>/secret.key``, created once.

    The file is created with mode 0600 (and the directory with 0700 if it is new); an existing
    key file readable by group or others is refused, as ssh refuses such a private key.
    """
    if env_value is not None and env_value.strip():
        return decode_master_key(env_value, source=ENV_NAME)
    directory = Path(data_dir)
    path = directory / KEY_FILE_NAME
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_key_file(path)
    key = generate_master_key()
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(encode_master_key(key) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return key


def read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{path}: master key file is readable by others (mode {mode:04o}); run chmod 600 {path}"
        )
    return decode_master_key(path.read_text(encoding="ascii"), source=str(path))


def write_key_file(path: Path | str, key: bytes) -> None:
    """Write a key file atomically with mode 0600 (used after a rotation)."""
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(encode_master_key(key) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)


async def rotate_master_key(db: Database, old: Vault, new: Vault) -> int:
    """Re-seal every secret under ``new`` in one transaction; return how many were re-sealed.

    Values already under ``new`` are left alone, so a repeated run is harmless. If any value
    fails to open under ``old`` nothing changes. Persist the new key (``write_key_file`` to a
    separate path, or the new environment value) *before* calling this, and make it the only
    key after: a crash in between must never leave data under a key nobody holds.
    """
    # imported here: sealed_columns imports this module for SealedContext
    from tgfleet.store.sealed_columns import SEALED_COLUMNS

    count = 0
    async with db.transaction() as tx:
        for column in SEALED_COLUMNS:
            for row in await tx.fetchall(column.select_sql):
                sealed = bytes(row["sealed"])
                if new.is_sealed_by_me(sealed):
                    continue
                context = column.context_of(row)
                resealed = new.seal(old.open(sealed, context), context)
                await tx.execute(column.update_sql, (resealed, *column.key_params(row)))
                count += 1
    return count
