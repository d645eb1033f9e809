"""Every column the vault seals, and the row identity each ciphertext is bound to.

The repositories and the key rotation both build contexts here, so they can never disagree
about the associated data. A new sealed column is added to ``SEALED_COLUMNS`` or rotation
would leave it under the old key (a test checks the list against the schema).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tgfleet.store.database import Params, Row
from tgfleet.store.vault import SealedContext


def account_context(column: str, account_id: int) -> SealedContext:
    return SealedContext("accounts", column, str(account_id))


def authorization_context(authorization_id: int, account_id: int) -> SealedContext:
    # bound to the account too: moving an auth key row to another account breaks it
    return SealedContext(
        "authorizations", "auth_key_sealed", f"{authorization_id}/account={account_id}"
    )


def secret_context(account_id: int, name: str) -> SealedContext:
    return SealedContext("account_secrets", "value_sealed", f"{account_id}/{name}")


@dataclass(frozen=True, slots=True)
class SealedColumn:
    table: str
    column: str
    select_sql: str
    update_sql: str
    context_of: Callable[[Row], SealedContext]
    key_params: Callable[[Row], Params]


SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(
        "accounts",
        "proxy_url_sealed",
        "SELECT id, proxy_url_sealed AS sealed FROM accounts WHERE proxy_url_sealed IS NOT NULL",
        "UPDATE accounts SET proxy_url_sealed = ? WHERE id = ?",
        lambda row: account_context("proxy_url_sealed", int(row["id"])),
        lambda row: (int(row["id"]),),
    ),
    SealedColumn(
        "accounts",
        "api_hash_sealed",
        "SELECT id, api_hash_sealed AS sealed FROM accounts WHERE api_hash_sealed IS NOT NULL",
        "UPDATE accounts SET api_hash_sealed = ? WHERE id = ?",
        lambda row: account_context("api_hash_sealed", int(row["id"])),
        lambda row: (int(row["id"]),),
    ),
    SealedColumn(
        "authorizations",
        "auth_key_sealed",
        "SELECT id, account_id, auth_key_sealed AS sealed FROM authorizations",
        "UPDATE authorizations SET auth_key_sealed = ? WHERE id = ?",
        lambda row: authorization_context(int(row["id"]), int(row["account_id"])),
        lambda row: (int(row["id"]),),
    ),
    SealedColumn(
        "account_secrets",
        "value_sealed",
        "SELECT account_id, name, value_sealed AS sealed FROM account_secrets",
        "UPDATE account_secrets SET value_sealed = ? WHERE account_id = ? AND name = ?",
        lambda row: secret_context(int(row["account_id"]), str(row["name"])),
        lambda row: (int(row["account_id"]), str(row["name"])),
    ),
)
