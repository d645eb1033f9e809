"""AccountsStore: the fleet's accounts, keyed by phone (E.164) or 'bot:<id>'."""

from __future__ import annotations

import enum
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Final

from tgfleet.errors import AccountExists, AccountNotFound, InvalidInput
from tgfleet.store.database import Database, Param, Queryable, Row, Transaction
from tgfleet.store.records import (
    Account,
    AccountKind,
    AccountStatus,
    DeviceParams,
    Page,
    to_datetime,
    to_optional_datetime,
    to_timestamp,
)
from tgfleet.store.sealed_columns import account_context
from tgfleet.store.secret_values import SecretStr
from tgfleet.store.validation import (
    check_api_hash,
    check_int,
    check_proxy_url,
    check_text,
    normalize_account_key,
)
from tgfleet.store.vault import Vault

MAX_PAGE: Final = 1000
_COLUMNS: Final = (
    "id, key, kind, label, status, status_detail, flood_until, enabled, keep_online, "
    "device_model, system_version, app_version, lang_code, system_lang_code, proxy_display, "
    "proxy_url_sealed, api_id, api_hash_sealed, created_at, updated_at"
)


class _Unset(enum.Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET


RECENT_MAX_AGE: Final = 1.0  # seconds: how stale a hot path may see another process's write
_RECENT_MAX_ENTRIES: Final = 4096


class AccountsStore:
    def __init__(
        self, db: Database, vault: Vault, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = db
        self._vault = vault
        self._clock = clock
        # accounts read lately by key, for the API's hot paths (every action looks its account
        # up): this store's own writes drop them at once; anything else is bounded by the age
        self._recent: dict[str, tuple[Account, float]] = {}
        self._writes = 0

    async def find_by_key_recent(
        self, key: str, *, max_age: float = RECENT_MAX_AGE
    ) -> Account | None:
        """``find_by_key``, answered from memory if read in the last ``max_age`` seconds and
        not written by this store since (a write by another process, or one still inside an
        open outer transaction, may show up to ``max_age`` late)."""
        normalized, _ = normalize_account_key(key)
        now = self._clock()
        hit = self._recent.get(normalized)
        if hit is not None and now - hit[1] < max_age:
            return hit[0]
        writes = self._writes
        account = await self.find_by_key(normalized)
        # a write that ran while we read may have changed the row: remember nothing then
        if account is not None and writes == self._writes:
            if len(self._recent) >= _RECENT_MAX_ENTRIES:
                self._recent.clear()
            self._recent[normalized] = (account, now)
        return account

    def _forget_recent(self) -> None:
        self._writes += 1
        self._recent.clear()

    @asynccontextmanager
    async def _writing(self, tx: Transaction | None) -> AsyncIterator[Transaction]:
        self._forget_recent()
        try:
            async with self._db.within(tx) as t:
                yield t
        finally:
            # again after the commit: a read between the write and its commit saw the old row
            self._forget_recent()

    async def create(
        self,
        key: str,
        *,
        kind: AccountKind | str | None = None,
        label: str = "",
        device: DeviceParams | None = None,
        keep_online: bool = False,
        enabled: bool = True,
        proxy_url: str | None = None,
        api_id: int | None = None,
        api_hash: str | None = None,
        tx: Transaction | None = None,
    ) -> Account:
        normalized, inferred = normalize_account_key(key)
        if kind is not None and _kind(kind) != inferred:
            raise InvalidInput(
                f"kind: {kind!s} does not match key {normalized!r} (a phone is a user, "
                f"'bot:<id>' is a bot)"
            )
        check_text(label, field="label")
        pinned = _check_device(device or DeviceParams())
        proxy = None if proxy_url is None else check_proxy_url(proxy_url)
        if api_id is not None:
            check_int(api_id, field="api_id", minimum=1, maximum=2**31 - 1)
        hash_value = None if api_hash is None else check_api_hash(api_hash)
        if (api_id is None) != (hash_value is None):
            raise InvalidInput("api_id, api_hash: an override sets both or neither")
        async with self._writing(tx) as t:
            if await t.fetchone("SELECT id FROM accounts WHERE key = ?", (normalized,)):
                raise AccountExists(f"account {normalized} is already in the fleet")
            now = t.clock()
            row = await t.fetchone(
                "INSERT INTO accounts (key, kind, label, enabled, keep_online, device_model, "
                "system_version, app_version, lang_code, system_lang_code, "
                "api_id, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    normalized,
                    inferred,
                    label,
                    int(enabled),
                    int(keep_online),
                    pinned.device_model,
                    pinned.system_version,
                    pinned.app_version,
                    pinned.lang_code,
                    pinned.system_lang_code,
                    api_id,
                    now,
                    now,
                ),
            )
            assert row is not None
            account_id = int(row["id"])
            # sealed after the insert: the ciphertext is bound to the row id it gets
            if proxy is not None or hash_value is not None:
                await t.execute(
                    "UPDATE accounts SET proxy_display = ?, proxy_url_sealed = ?, "
                    "api_hash_sealed = ? WHERE id = ?",
                    (
                        None if proxy is None else proxy[1],
                        self._seal(account_id, "proxy_url_sealed", proxy and proxy[0]),
                        self._seal(account_id, "api_hash_sealed", hash_value),
                        account_id,
                    ),
                )
            return await self.get(account_id, tx=t)

    async def get(self, account_id: int, *, tx: Transaction | None = None) -> Account:
        found = await self.find(account_id, tx=tx)
        if found is None:
            raise AccountNotFound(f"no account with id {account_id}")
        return found

    async def find(self, account_id: int, *, tx: Transaction | None = None) -> Account | None:
        q: Queryable = tx or self._db
        row = await q.fetchone(f"SELECT {_COLUMNS} FROM accounts WHERE id = ?", (account_id,))
        return None if row is None else self._account(row)

    async def get_by_key(self, key: str, *, tx: Transaction | None = None) -> Account:
        found = await self.find_by_key(key, tx=tx)
        if found is None:
            raise AccountNotFound(f"no account {normalize_account_key(key)[0]} in the fleet")
        return found

    async def find_by_key(self, key: str, *, tx: Transaction | None = None) -> Account | None:
        normalized, _ = normalize_account_key(key)
        q: Queryable = tx or self._db
        row = await q.fetchone(f"SELECT {_COLUMNS} FROM accounts WHERE key = ?", (normalized,))
        return None if row is None else self._account(row)

    async def list(
        self,
        *,
        status: AccountStatus | str | None = None,
        kind: AccountKind | str | None = None,
        enabled: bool | None = None,
        keep_online: bool | None = None,
        after: int | None = None,
        limit: int = 100,
        tx: Transaction | None = None,
    ) -> Page[Account]:
        """Accounts in id order; keyset paging (``after`` = the last id seen) stays stable
        while accounts are added or removed, unlike an offset."""
        check_int(limit, field="limit", minimum=1, maximum=MAX_PAGE)
        where: list[str] = []
        params: list[Param] = []
        if status is not None:
            where.append("status = ?")
            params.append(_status(status).value)
        if kind is not None:
            where.append("kind = ?")
            params.append(_kind(kind).value)
        if enabled is not None:
            where.append("enabled = ?")
            params.append(int(enabled))
        if keep_online is not None:
            where.append("keep_online = ?")
            params.append(int(keep_online))
        if after is not None:
            where.append("id > ?")
            params.append(check_int(after, field="after", minimum=0, maximum=2**63 - 1))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        q: Queryable = tx or self._db
        rows = await q.fetchall(
            f"SELECT {_COLUMNS} FROM accounts {clause} ORDER BY id LIMIT ?",
            (*params, limit + 1),
        )
        items = tuple(self._account(row) for row in rows[:limit])
        next_cursor = items[-1].id if len(rows) > limit else None
        return Page(items, next_cursor)

    async def count_by_status(self, *, tx: Transaction | None = None) -> Mapping[str, int]:
        q: Queryable = tx or self._db
        rows = await q.fetchall("SELECT status, COUNT(*) AS n FROM accounts GROUP BY status")
        counts = {status.value: 0 for status in AccountStatus}
        counts.update({str(row["status"]): int(row["n"]) for row in rows})
        return counts

    async def update(
        self,
        account_id: int,
        *,
        label: str | _Unset = UNSET,
        enabled: bool | _Unset = UNSET,
        keep_online: bool | _Unset = UNSET,
        device: DeviceParams | _Unset = UNSET,
        proxy_url: str | _Unset | None = UNSET,
        api_override: tuple[int, str] | _Unset | None = UNSET,
        tx: Transaction | None = None,
    ) -> Account:
        """Change the given fields; ``proxy_url=None`` / ``api_override=None`` clear them."""
        sets: list[str] = []
        params: list[Param] = []
        if not isinstance(label, _Unset):
            sets.append("label = ?")
            params.append(check_text(label, field="label"))
        if not isinstance(enabled, _Unset):
            sets.append("enabled = ?")
            params.append(int(_bool(enabled, "enabled")))
        if not isinstance(keep_online, _Unset):
            sets.append("keep_online = ?")
            params.append(int(_bool(keep_online, "keep_online")))
        if not isinstance(device, _Unset):
            pinned = _check_device(device)
            sets.append(
                "device_model = ?, system_version = ?, app_version = ?, lang_code = ?, "
                "system_lang_code = ?"
            )
            params += [
                pinned.device_model,
                pinned.system_version,
                pinned.app_version,
                pinned.lang_code,
                pinned.system_lang_code,
            ]
        proxy = None if isinstance(proxy_url, _Unset) or proxy_url is None else proxy_url
        checked_proxy = None if proxy is None else check_proxy_url(proxy)
        override: tuple[int, str] | None = None
        if not isinstance(api_override, _Unset) and api_override is not None:
            api_id, api_hash = api_override
            override = (
                check_int(api_id, field="api_id", minimum=1, maximum=2**31 - 1),
                check_api_hash(api_hash),
            )
        async with self._writing(tx) as t:
            await self.get(account_id, tx=t)
            if not isinstance(proxy_url, _Unset):
                sets.append("proxy_display = ?, proxy_url_sealed = ?")
                params += [
                    None if checked_proxy is None else checked_proxy[1],
                    self._seal(account_id, "proxy_url_sealed", checked_proxy and checked_proxy[0]),
                ]
            if not isinstance(api_override, _Unset):
                sets.append("api_id = ?, api_hash_sealed = ?")
                params += [
                    None if override is None else override[0],
                    self._seal(account_id, "api_hash_sealed", override and override[1]),
                ]
            if sets:
                sets.append("updated_at = ?")
                params.append(t.clock())
                await t.execute(
                    f"UPDATE accounts SET {', '.join(sets)} WHERE id = ?", (*params, account_id)
                )
            return await self.get(account_id, tx=t)

    async def set_status(
        self,
        account_id: int,
        status: AccountStatus | str,
        *,
        detail: str = "",
        flood_until: datetime | None = None,
        tx: Transaction | None = None,
    ) -> Account:
        """Set the status; ``flood_until`` is required for flood_wait and only for it."""
        new = _status(status)
        check_text(detail, field="status_detail", max_len=1000)
        if new is AccountStatus.FLOOD_WAIT:
            if flood_until is None:
                raise InvalidInput("flood_until: required when the status is flood_wait")
        elif flood_until is not None:
            raise InvalidInput(f"flood_until: only valid with status flood_wait, not {new}")
        async with self._writing(tx) as t:
            changed = await t.execute(
                "UPDATE accounts SET status = ?, status_detail = ?, flood_until = ?, "
                "updated_at = ? WHERE id = ?",
                (
                    new.value,
                    detail,
                    None if flood_until is None else to_timestamp(flood_until),
                    t.clock(),
                    account_id,
                ),
            )
            if changed == 0:
                raise AccountNotFound(f"no account with id {account_id}")
            return await self.get(account_id, tx=t)

    async def delete(self, account_id: int, *, tx: Transaction | None = None) -> None:
        """Remove the account; its authorizations, leases, floods and secrets go with it."""
        async with self._writing(tx) as t:
            if await t.execute("DELETE FROM accounts WHERE id = ?", (account_id,)) == 0:
                raise AccountNotFound(f"no account with id {account_id}")

    def _seal(self, account_id: int, column: str, value: str | None) -> bytes | None:
        if value is None:
            return None
        return self._vault.seal(value.encode(), account_context(column, account_id))

    def _open(self, account_id: int, column: str, sealed: bytes | None) -> SecretStr | None:
        if sealed is None:
            return None
        plain = self._vault.open(bytes(sealed), account_context(column, account_id))
        return SecretStr(plain.decode())

    def _account(self, row: Row) -> Account:
        account_id = int(row["id"])
        return Account(
            id=account_id,
            key=str(row["key"]),
            kind=AccountKind(row["kind"]),
            label=str(row["label"]),
            status=AccountStatus(row["status"]),
            status_detail=str(row["status_detail"]),
            flood_until=to_optional_datetime(row["flood_until"]),
            enabled=bool(row["enabled"]),
            keep_online=bool(row["keep_online"]),
            device=DeviceParams(
                device_model=str(row["device_model"]),
                system_version=str(row["system_version"]),
                app_version=str(row["app_version"]),
                lang_code=str(row["lang_code"]),
                system_lang_code=str(row["system_lang_code"]),
            ),
            proxy_url=self._open(account_id, "proxy_url_sealed", row["proxy_url_sealed"]),
            proxy_display=row["proxy_display"],
            api_id=row["api_id"],
            api_hash=self._open(account_id, "api_hash_sealed", row["api_hash_sealed"]),
            created_at=to_datetime(row["created_at"]),
            updated_at=to_datetime(row["updated_at"]),
        )


def _kind(value: AccountKind | str) -> AccountKind:
    try:
        return AccountKind(value)
    except ValueError:
        raise InvalidInput(f"kind: {value!r} is not one of user, bot") from None


def _status(value: AccountStatus | str) -> AccountStatus:
    try:
        return AccountStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in AccountStatus)
        raise InvalidInput(f"status: {value!r} is not one of {allowed}") from None


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{field}: expected true or false")
    return value


def _check_device(device: DeviceParams) -> DeviceParams:
    for name in ("device_model", "system_version", "app_version"):
        check_text(getattr(device, name), field=name, max_len=128, allow_empty=False)
    for name in ("lang_code", "system_lang_code"):
        check_text(getattr(device, name), field=name, max_len=16, allow_empty=False)
    return device
