"""Store a new authorization, and the account if it is new, in one transaction.

Shared by every way an authorization arrives (code or bot login, QR handoff, an imported
session string), so a crash never leaves an account without its key or a key without its
account, and every arrival is audited the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from tgfleet.store.records import Account, AccountStatus, DeviceParams
from tgfleet.store.store import Store
from tgfleet.telegram.storage import SessionRecord as ClientRecord


@dataclass(frozen=True)
class NewAccount:
    """What an account created by its first authorization starts with."""

    key: str
    label: str = ""
    keep_online: bool = False
    device: DeviceParams | None = None
    proxy_url: str | None = None


@dataclass(frozen=True)
class Completed:
    account: Account
    authorization_id: int


async def enrol(
    store: Store,
    record: ClientRecord,
    *,
    existing_account_id: int | None,
    new_account: NewAccount,
    default_api_id: int,
    via: str,
) -> Completed:
    """Add ``record`` as an authorization of the existing account, or of a new one."""
    if record.auth_key is None:
        raise ValueError("enrol: the session record has no auth key")
    async with store.db.transaction() as tx:
        if existing_account_id is not None:
            account = await store.accounts.get(existing_account_id, tx=tx)
        else:
            account = await store.accounts.create(
                new_account.key,
                label=new_account.label,
                keep_online=new_account.keep_online,
                device=new_account.device,
                proxy_url=new_account.proxy_url,
                tx=tx,
            )
        authorization = await store.authorizations.add(
            account.id,
            dc_id=record.dc_id,
            auth_key=record.auth_key,
            api_id=record.api_id or default_api_id,
            user_id=record.user_id,
            is_bot=bool(record.is_bot),
            test_mode=record.test_mode,
            server_address=record.server_address or None,
            port=record.port or None,
            tx=tx,
        )
        account = await store.accounts.set_status(account.id, AccountStatus.ACTIVE, tx=tx)
        await store.audit.append(
            "system",
            "login.completed",
            account.key,
            {"kind": via, "authorization_id": authorization.id},
            tx=tx,
        )
    return Completed(account, authorization.id)
