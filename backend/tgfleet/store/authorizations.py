"""AuthorizationsStore: one row per auth key of an account (DESIGN facts 1 and 9)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Final

from tgfleet.errors import AccountNotFound, AuthorizationNotFound, Conflict, InvalidInput
from tgfleet.store.database import Database, Queryable, Row, Transaction
from tgfleet.store.records import (
    Authorization,
    AuthorizationState,
    SessionRecord,
    to_datetime,
    to_optional_datetime,
    to_timestamp,
)
from tgfleet.store.sealed_columns import authorization_context
from tgfleet.store.secret_values import SecretBytes
from tgfleet.store.validation import check_int, check_text
from tgfleet.store.vault import Vault

AUTH_KEY_BYTES: Final = 256
_COLUMNS: Final = (
    "id, account_id, dc_id, server_address, port, api_id, test_mode, auth_key_id, user_id, "
    "is_bot, state, state_detail, created_at, last_used_at"
)
# an authorization leaves ACTIVE once and for all: a revoked or duplicated key is dead
# (DESIGN facts 1 and 5); bringing it back would invite a reconnect loop
_ALLOWED: Final = {
    AuthorizationState.ACTIVE: {AuthorizationState.REVOKED, AuthorizationState.DUPLICATED},
    AuthorizationState.REVOKED: set[AuthorizationState](),
    AuthorizationState.DUPLICATED: {AuthorizationState.REVOKED},
}


def auth_key_id_of(auth_key: bytes) -> int:
    """MTProto's public auth_key_id (the low 64 bits of SHA-1), as a signed 64-bit integer."""
    return int.from_bytes(hashlib.sha1(auth_key).digest()[-8:], "little", signed=True)


class AuthorizationsStore:
    def __init__(self, db: Database, vault: Vault) -> None:
        self._db = db
        self._vault = vault

    async def add(
        self,
        account_id: int,
        *,
        dc_id: int,
        auth_key: SecretBytes | bytes,
        api_id: int,
        user_id: int | None = None,
        is_bot: bool = False,
        test_mode: bool = False,
        server_address: str | None = None,
        port: int | None = None,
        tx: Transaction | None = None,
    ) -> Authorization:
        key = auth_key.reveal() if isinstance(auth_key, SecretBytes) else auth_key
        if not isinstance(key, bytes) or len(key) != AUTH_KEY_BYTES:
            size = len(key) if isinstance(key, bytes) else type(key).__name__
            raise InvalidInput(f"auth_key: expected {AUTH_KEY_BYTES} bytes, got {size}")
        check_int(dc_id, field="dc_id", minimum=1, maximum=2**15)
        check_int(api_id, field="api_id", minimum=1, maximum=2**31 - 1)
        if user_id is not None:
            check_int(user_id, field="user_id", minimum=1, maximum=2**63 - 1)
        if server_address is not None:
            check_text(server_address, field="server_address", max_len=253, allow_empty=False)
        if port is not None:
            check_int(port, field="port", minimum=1, maximum=65535)
        key_id = auth_key_id_of(key)
        async with self._db.within(tx) as t:
            if await t.fetchone("SELECT id FROM accounts WHERE id = ?", (account_id,)) is None:
                raise AccountNotFound(f"no account with id {account_id}")
            twin = await t.fetchone(
                "SELECT id, account_id FROM authorizations WHERE auth_key_id = ?", (key_id,)
            )
            if twin is not None:
                # the same key twice would mean two clients on one key (DESIGN fact 1)
                raise Conflict(
                    f"this auth key is already stored as authorization {twin['id']} of "
                    f"account id {twin['account_id']}"
                )
            row = await t.fetchone(
                "INSERT INTO authorizations (account_id, dc_id, server_address, port, api_id, "
                "test_mode, auth_key_id, auth_key_sealed, user_id, is_bot, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    account_id,
                    dc_id,
                    server_address,
                    port,
                    api_id,
                    int(test_mode),
                    key_id,
                    b"",
                    user_id,
                    int(is_bot),
                    t.clock(),
                ),
            )
            assert row is not None
            authorization_id = int(row["id"])
            # sealed once the row id exists, because the ciphertext is bound to it
            sealed = self._vault.seal(key, authorization_context(authorization_id, account_id))
            await t.execute(
                "UPDATE authorizations SET auth_key_sealed = ? WHERE id = ?",
                (sealed, authorization_id),
            )
            return await self.get(authorization_id, tx=t)

    async def get(self, authorization_id: int, *, tx: Transaction | None = None) -> Authorization:
        q: Queryable = tx or self._db
        row = await q.fetchone(
            f"SELECT {_COLUMNS} FROM authorizations WHERE id = ?", (authorization_id,)
        )
        if row is None:
            raise AuthorizationNotFound(f"no authorization with id {authorization_id}")
        return _authorization(row)

    async def list_for_account(
        self,
        account_id: int,
        *,
        state: AuthorizationState | str | None = None,
        tx: Transaction | None = None,
    ) -> tuple[Authorization, ...]:
        q: Queryable = tx or self._db
        if state is None:
            rows = await q.fetchall(
                f"SELECT {_COLUMNS} FROM authorizations WHERE account_id = ? ORDER BY id",
                (account_id,),
            )
        else:
            rows = await q.fetchall(
                f"SELECT {_COLUMNS} FROM authorizations WHERE account_id = ? AND state = ? "
                "ORDER BY id",
                (account_id, _state(state).value),
            )
        return tuple(_authorization(row) for row in rows)

    async def session(
        self, authorization_id: int, *, tx: Transaction | None = None
    ) -> SessionRecord:
        """The authorization with its auth key opened, for the client factory only."""
        q: Queryable = tx or self._db
        row = await q.fetchone(
            f"SELECT {_COLUMNS}, auth_key_sealed FROM authorizations WHERE id = ?",
            (authorization_id,),
        )
        if row is None:
            raise AuthorizationNotFound(f"no authorization with id {authorization_id}")
        record = _authorization(row)
        key = self._vault.open(
            bytes(row["auth_key_sealed"]), authorization_context(record.id, record.account_id)
        )
        return SessionRecord(record, SecretBytes(key))

    async def set_state(
        self,
        authorization_id: int,
        state: AuthorizationState | str,
        *,
        detail: str = "",
        tx: Transaction | None = None,
    ) -> Authorization:
        """Move an authorization out of ACTIVE; setting the state it has is a no-op."""
        new = _state(state)
        check_text(detail, field="state_detail", max_len=1000)
        async with self._db.within(tx) as t:
            current = await self.get(authorization_id, tx=t)
            if current.state is new:
                return current
            if new not in _ALLOWED[current.state]:
                raise Conflict(
                    f"authorization {authorization_id} is {current.state}; it cannot become "
                    f"{new} (a dead auth key never comes back: log in again instead)"
                )
            await t.execute(
                "UPDATE authorizations SET state = ?, state_detail = ? WHERE id = ?",
                (new.value, detail, authorization_id),
            )
            return await self.get(authorization_id, tx=t)

    async def set_user(
        self,
        authorization_id: int,
        *,
        user_id: int,
        is_bot: bool,
        tx: Transaction | None = None,
    ) -> Authorization:
        """Record who the key belongs to once Telegram has said (after a login or import)."""
        check_int(user_id, field="user_id", minimum=1, maximum=2**63 - 1)
        async with self._db.within(tx) as t:
            changed = await t.execute(
                "UPDATE authorizations SET user_id = ?, is_bot = ? WHERE id = ?",
                (user_id, int(is_bot), authorization_id),
            )
            if changed == 0:
                raise AuthorizationNotFound(f"no authorization with id {authorization_id}")
            return await self.get(authorization_id, tx=t)

    async def touch(
        self,
        authorization_id: int,
        *,
        at: datetime | None = None,
        tx: Transaction | None = None,
    ) -> None:
        async with self._db.within(tx) as t:
            when = t.clock() if at is None else to_timestamp(at)
            changed = await t.execute(
                "UPDATE authorizations SET last_used_at = ? WHERE id = ?",
                (when, authorization_id),
            )
            if changed == 0:
                raise AuthorizationNotFound(f"no authorization with id {authorization_id}")

    async def delete(self, authorization_id: int, *, tx: Transaction | None = None) -> None:
        async with self._db.within(tx) as t:
            changed = await t.execute(
                "DELETE FROM authorizations WHERE id = ?", (authorization_id,)
            )
            if changed == 0:
                raise AuthorizationNotFound(f"no authorization with id {authorization_id}")


def _state(value: AuthorizationState | str) -> AuthorizationState:
    try:
        return AuthorizationState(value)
    except ValueError:
        raise InvalidInput(f"state: {value!r} is not one of active, revoked, duplicated") from None


def _authorization(row: Row) -> Authorization:
    return Authorization(
        id=int(row["id"]),
        account_id=int(row["account_id"]),
        dc_id=int(row["dc_id"]),
        server_address=row["server_address"],
        port=row["port"],
        api_id=int(row["api_id"]),
        test_mode=bool(row["test_mode"]),
        auth_key_id=int(row["auth_key_id"]),
        user_id=row["user_id"],
        is_bot=bool(row["is_bot"]),
        state=AuthorizationState(row["state"]),
        state_detail=str(row["state_detail"]),
        created_at=to_datetime(row["created_at"]),
        last_used_at=to_optional_datetime(row["last_used_at"]),
    )
