"""Store: the database and every repository over it, built in one place."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tgfleet.store.account_secrets import SecretsStore
from tgfleet.store.accounts import AccountsStore
from tgfleet.store.audit import AuditLog
from tgfleet.store.authorizations import AuthorizationsStore
from tgfleet.store.database import Clock, Database
from tgfleet.store.floods import FloodStore
from tgfleet.store.leases import LeaseStore
from tgfleet.store.login_attempts import LoginAttempts
from tgfleet.store.vault import Vault


@dataclass(frozen=True, slots=True)
class Store:
    db: Database
    vault: Vault
    accounts: AccountsStore
    authorizations: AuthorizationsStore
    floods: FloodStore
    audit: AuditLog
    login_attempts: LoginAttempts
    leases: LeaseStore
    secrets: SecretsStore

    @classmethod
    def over(cls, db: Database, vault: Vault) -> Store:
        return cls(
            db=db,
            vault=vault,
            accounts=AccountsStore(db, vault),
            authorizations=AuthorizationsStore(db, vault),
            floods=FloodStore(db),
            audit=AuditLog(db),
            login_attempts=LoginAttempts(db),
            leases=LeaseStore(db),
            secrets=SecretsStore(db, vault),
        )

    @classmethod
    async def open(cls, path: Path | str, vault: Vault, *, clock: Clock = time.time) -> Store:
        return cls.over(await Database.open(path, clock=clock), vault)

    async def aclose(self) -> None:
        await self.db.aclose()
