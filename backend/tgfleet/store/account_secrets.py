"""SecretsStore: bot tokens, two-step passwords and session strings, sealed by the vault.

Kept only when an operator asks (a bot token to log in again, a session string to export);
each value is bound to its account and kind, so it cannot be moved to another account.
"""

from __future__ import annotations

from tgfleet.errors import AccountNotFound, InvalidInput
from tgfleet.store.database import Database, Queryable, Transaction
from tgfleet.store.records import SecretKind
from tgfleet.store.sealed_columns import secret_context
from tgfleet.store.secret_values import SecretStr
from tgfleet.store.vault import Vault

MAX_SECRET_CHARS = 4096


class SecretsStore:
    def __init__(self, db: Database, vault: Vault) -> None:
        self._db = db
        self._vault = vault

    async def put(
        self,
        account_id: int,
        kind: SecretKind | str,
        value: SecretStr,
        *,
        tx: Transaction | None = None,
    ) -> None:
        name = _kind(kind)
        if not isinstance(value, SecretStr):
            # a plain str here has usually passed through code that could log it
            raise InvalidInput(f"{name.value}: pass the value wrapped in SecretStr")
        if not value.reveal() or len(value) > MAX_SECRET_CHARS:
            raise InvalidInput(f"{name.value}: must be 1 to {MAX_SECRET_CHARS} characters")
        sealed = self._vault.seal(value.reveal().encode(), secret_context(account_id, name.value))
        async with self._db.within(tx) as t:
            if await t.fetchone("SELECT id FROM accounts WHERE id = ?", (account_id,)) is None:
                raise AccountNotFound(f"no account with id {account_id}")
            await t.execute(
                "INSERT INTO account_secrets (account_id, name, value_sealed, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (account_id, name) DO UPDATE SET "
                "value_sealed = excluded.value_sealed, updated_at = excluded.updated_at",
                (account_id, name.value, sealed, t.clock()),
            )

    async def get(
        self, account_id: int, kind: SecretKind | str, *, tx: Transaction | None = None
    ) -> SecretStr | None:
        name = _kind(kind)
        q: Queryable = tx or self._db
        row = await q.fetchone(
            "SELECT value_sealed FROM account_secrets WHERE account_id = ? AND name = ?",
            (account_id, name.value),
        )
        if row is None:
            return None
        plain = self._vault.open(bytes(row[0]), secret_context(account_id, name.value))
        return SecretStr(plain.decode())

    async def kinds(
        self, account_id: int, *, tx: Transaction | None = None
    ) -> frozenset[SecretKind]:
        q: Queryable = tx or self._db
        rows = await q.fetchall(
            "SELECT name FROM account_secrets WHERE account_id = ?", (account_id,)
        )
        return frozenset(SecretKind(row[0]) for row in rows)

    async def delete(
        self, account_id: int, kind: SecretKind | str, *, tx: Transaction | None = None
    ) -> bool:
        name = _kind(kind)
        async with self._db.within(tx) as t:
            changed = await t.execute(
                "DELETE FROM account_secrets WHERE account_id = ? AND name = ?",
                (account_id, name.value),
            )
            return changed > 0


def _kind(value: SecretKind | str) -> SecretKind:
    try:
        return SecretKind(value)
    except ValueError:
        allowed = ", ".join(k.value for k in SecretKind)
        raise InvalidInput(f"kind: {value!r} is not one of {allowed}") from None
