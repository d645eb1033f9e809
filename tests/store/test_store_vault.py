"""The vault: AES-GCM sealing, row binding, wrong keys, tampering, rotation, key files."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from tgfleet.errors import ConfigError, StoreError, VaultError
from tgfleet.store import SecretKind, SecretStr, Store, Vault, rotate_master_key
from tgfleet.store.database import Database
from tgfleet.store.sealed_columns import SEALED_COLUMNS
from tgfleet.store.vault import (
    KEY_FILE_NAME,
    SealedContext,
    decode_master_key,
    load_or_create_master_key,
    write_key_file,
)

CTX = SealedContext("authorizations", "auth_key_sealed", "7/account=3")


def test_round_trip_and_fresh_nonce(vault: Vault) -> None:
    sealed_a = vault.seal(b"secret auth key", CTX)
    sealed_b = vault.seal(b"secret auth key", CTX)
    assert sealed_a != sealed_b  # a fresh nonce per value
    assert b"secret auth key" not in sealed_a
    assert vault.open(sealed_a, CTX) == b"secret auth key"
    assert vault.open(sealed_b, CTX) == b"secret auth key"
    assert sealed_a[0] == 1 and sealed_a[1:9].hex() == vault.key_id


def test_wrong_key_is_named_as_such(vault: Vault) -> None:
    sealed = vault.seal(b"x", CTX)
    with pytest.raises(VaultError, match=r"sealed under master key .* TGFLEET_SECRET_KEY"):
        Vault(os.urandom(32)).open(sealed, CTX)


@pytest.mark.parametrize("position", [0, 1, 9, 20, -1])
def test_any_flipped_byte_is_refused(vault: Vault, position: int) -> None:
    sealed = bytearray(vault.seal(b"bot token 123:abc", CTX))
    sealed[position] ^= 0x01
    with pytest.raises(VaultError):
        vault.open(bytes(sealed), CTX)


def test_truncated_ciphertext_is_refused(vault: Vault) -> None:
    with pytest.raises(VaultError, match="truncated"):
        vault.open(vault.seal(b"x", CTX)[:20], CTX)


def test_ciphertext_is_bound_to_its_row(vault: Vault) -> None:
    sealed = vault.seal(b"x", CTX)
    for other in (
        SealedContext("authorizations", "auth_key_sealed", "8/account=3"),
        SealedContext("authorizations", "auth_key_sealed", "7/account=4"),
        SealedContext("accounts", "api_hash_sealed", "7"),
    ):
        with pytest.raises(VaultError, match="altered or moved from another row"):
            vault.open(sealed, other)


async def test_swapping_auth_keys_between_rows_in_the_database_is_refused(store: Store) -> None:
    one = await store.accounts.create("+15550001001")
    two = await store.accounts.create("+15550001002")
    a = await store.authorizations.add(one.id, dc_id=2, auth_key=b"A" * 256, api_id=1)
    b = await store.authorizations.add(two.id, dc_id=2, auth_key=b"B" * 256, api_id=1)
    # an attacker with write access to the file moves account two's key into account one
    async with store.db.transaction() as tx:
        await tx.execute(
            "UPDATE authorizations SET auth_key_sealed = "
            "(SELECT auth_key_sealed FROM authorizations WHERE id = ?) WHERE id = ?",
            (b.id, a.id),
        )
    with pytest.raises(VaultError, match="moved from another row"):
        await store.authorizations.session(a.id)
    assert (await store.authorizations.session(b.id)).auth_key.reveal() == b"B" * 256


async def test_swapping_proxy_urls_between_accounts_is_refused(store: Store) -> None:
    one = await store.accounts.create("+15550001003", proxy_url="socks5://u:p1@127.0.0.1:1")
    two = await store.accounts.create("+15550001004", proxy_url="socks5://u:p2@127.0.0.1:2")
    async with store.db.transaction() as tx:
        await tx.execute(
            "UPDATE accounts SET proxy_url_sealed = "
            "(SELECT proxy_url_sealed FROM accounts WHERE id = ?) WHERE id = ?",
            (two.id, one.id),
        )
    with pytest.raises(VaultError):
        await store.accounts.get(one.id)


async def test_opening_with_the_wrong_master_key_fails_loudly(store: Store) -> None:
    account = await store.accounts.create("+15550001005")
    auth = await store.authorizations.add(account.id, dc_id=2, auth_key=b"C" * 256, api_id=1)
    wrong = Store.over(store.db, Vault(os.urandom(32)))
    with pytest.raises(VaultError, match="TGFLEET_SECRET_KEY"):
        await wrong.authorizations.session(auth.id)


async def _fill(store: Store) -> dict[str, object]:
    account = await store.accounts.create(
        "+15550001006",
        proxy_url="socks5://user:proxy-pass-9f2@127.0.0.1:1080",
        api_id=12345,
        api_hash="0123456789abcdef0123456789abcdef",
    )
    bot = await store.accounts.create("bot:4242")
    auth = await store.authorizations.add(account.id, dc_id=2, auth_key=b"K" * 256, api_id=1)
    await store.secrets.put(bot.id, SecretKind.BOT_TOKEN, SecretStr("4242:BOT-TOKEN-plaintext"))
    await store.secrets.put(account.id, SecretKind.TWO_FA_PASSWORD, SecretStr("hunter2-2fa"))
    return {"account": account.id, "bot": bot.id, "auth": auth.id}


async def _assert_readable(store: Store, ids: dict[str, object]) -> None:
    account = await store.accounts.get(int(str(ids["account"])))
    assert account.proxy_url is not None
    assert account.proxy_url.reveal() == "socks5://user:proxy-pass-9f2@127.0.0.1:1080"
    assert account.api_hash is not None
    assert account.api_hash.reveal() == "0123456789abcdef0123456789abcdef"
    session = await store.authorizations.session(int(str(ids["auth"])))
    assert session.auth_key.reveal() == b"K" * 256
    token = await store.secrets.get(int(str(ids["bot"])), SecretKind.BOT_TOKEN)
    assert token is not None and token.reveal() == "4242:BOT-TOKEN-plaintext"


async def test_rotation_reseals_everything_in_one_transaction(store: Store) -> None:
    ids = await _fill(store)
    new = Vault(os.urandom(32))
    count = await rotate_master_key(store.db, store.vault, new)
    assert count == 5  # proxy url, api hash, auth key, bot token, 2fa password
    rotated = Store.over(store.db, new)
    await _assert_readable(rotated, ids)
    with pytest.raises(VaultError):
        await store.authorizations.session(int(str(ids["auth"])))
    # running it again is harmless: everything is already under the new key
    assert await rotate_master_key(store.db, store.vault, new) == 0


async def test_rotation_with_a_wrong_old_key_changes_nothing(store: Store) -> None:
    ids = await _fill(store)
    with pytest.raises(VaultError):
        await rotate_master_key(store.db, Vault(os.urandom(32)), Vault(os.urandom(32)))
    await _assert_readable(store, ids)


async def test_every_sealed_column_of_the_schema_is_rotated(store: Store) -> None:
    rows = await store.db.fetchall(
        "SELECT m.name AS tbl, p.name AS col FROM sqlite_master m "
        "JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND p.name LIKE '%sealed'"
    )
    in_schema = {(r["tbl"], r["col"]) for r in rows}
    assert in_schema == {(c.table, c.column) for c in SEALED_COLUMNS}


async def test_secrets_never_reach_the_database_file_in_clear(db_path: Path, vault: Vault) -> None:
    store = await Store.open(db_path, vault)
    try:
        await _fill(store)
        account = await store.accounts.get_by_key("+15550001006")
        printed = repr(account) + str(account) + f"{account}"
        session = await store.authorizations.session(
            (await store.authorizations.list_for_account(account.id))[0].id
        )
        printed += repr(session) + str(session.auth_key)
    finally:
        await store.aclose()
    for secret in ("proxy-pass-9f2", "0123456789abcdef0123456789abcdef", "hunter2-2fa"):
        assert secret not in printed
    assert "KKKKKKKK" not in printed
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert len(raw) > 4096
    for secret_bytes in (
        b"proxy-pass-9f2",
        b"0123456789abcdef0123456789abcdef",
        b"hunter2-2fa",
        b"BOT-TOKEN-plaintext",
        b"K" * 32,
    ):
        assert secret_bytes not in raw, secret_bytes
    # the masked display form of the proxy is there, so the grep looked at real content
    assert b"socks5://user:***@127.0.0.1:1080" in raw


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    key = load_or_create_master_key(data_dir, None)
    path = data_dir / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert len(key) == 32
    assert load_or_create_master_key(data_dir, "") == key  # second start reads the same key
    assert decode_master_key(path.read_text()) == key


def test_env_key_wins_and_accepts_both_base64_alphabets(tmp_path: Path) -> None:
    key = bytes(range(250, 256)) + os.urandom(26)  # bytes that need + / or - _
    for text in (
        base64.urlsafe_b64encode(key).decode(),
        base64.b64encode(key).decode(),
        base64.urlsafe_b64encode(key).decode().rstrip("="),
    ):
        assert load_or_create_master_key(tmp_path, text) == key
    assert not (tmp_path / KEY_FILE_NAME).exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [("not base64 at all!", "not valid base64"), (base64.b64encode(b"short").decode(), "5 bytes")],
)
def test_malformed_env_key_names_the_variable(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"TGFLEET_SECRET_KEY: .*{problem}"):
        load_or_create_master_key(tmp_path, text)


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_or_create_master_key(tmp_path, None)
    path = tmp_path / KEY_FILE_NAME
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_master_key(tmp_path, None)


def test_write_key_file_replaces_atomically_with_0600(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    old = load_or_create_master_key(tmp_path, None)
    new = os.urandom(32)
    write_key_file(path, new)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_master_key(tmp_path, None) == new != old


def test_vault_refuses_a_short_key() -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        Vault(b"too short")


async def test_secrets_store_refuses_plain_strings_and_unknown_kinds(store: Store) -> None:
    bot = await store.accounts.create("bot:77")
    with pytest.raises(ValueError, match="SecretStr"):
        await store.secrets.put(bot.id, SecretKind.BOT_TOKEN, "77:plain")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind: 'cookie'"):
        await store.secrets.put(bot.id, "cookie", SecretStr("x"))
    await store.secrets.put(bot.id, "session_string", SecretStr("BQAAA"))
    assert await store.secrets.kinds(bot.id) == {SecretKind.SESSION_STRING}
    assert await store.secrets.delete(bot.id, SecretKind.SESSION_STRING)
    assert await store.secrets.get(bot.id, SecretKind.SESSION_STRING) is None


async def test_rotation_on_a_closed_database_is_a_store_error(db_path: Path, vault: Vault) -> None:
    db = await Database.open(db_path)
    await db.aclose()
    with pytest.raises(StoreError):
        await rotate_master_key(db, vault, Vault(os.urandom(32)))
