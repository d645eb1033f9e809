"""The store: one SQLite database (aiosqlite) and the vault that seals its secrets.

``Store.open(path, vault)`` gives every repository; ``open_database`` the bare database.
Repository writes take ``tx=`` so that writes which belong together commit as one.
"""

from __future__ import annotations

from tgfleet.store.account_secrets import SecretsStore
from tgfleet.store.accounts import UNSET, AccountsStore
from tgfleet.store.audit import AuditLog
from tgfleet.store.authorizations import AuthorizationsStore, auth_key_id_of
from tgfleet.store.database import Database, Transaction, open_database
from tgfleet.store.floods import FloodStore
from tgfleet.store.leases import LeaseStore, new_owner_id
from tgfleet.store.login_attempts import LoginAttempts
from tgfleet.store.records import (
    Account,
    AccountKind,
    AccountStatus,
    AuditEntry,
    Authorization,
    AuthorizationState,
    DeviceParams,
    FloodRecord,
    Lease,
    LoginAttempt,
    LoginResult,
    Page,
    SecretKind,
    SessionRecord,
)
from tgfleet.store.secret_values import SecretBytes, SecretStr
from tgfleet.store.store import Store
from tgfleet.store.vault import Vault, load_or_create_master_key, rotate_master_key

__all__ = [
    "UNSET",
    "Account",
    "AccountKind",
    "AccountStatus",
    "AccountsStore",
    "AuditEntry",
    "AuditLog",
    "Authorization",
    "AuthorizationState",
    "AuthorizationsStore",
    "Database",
    "DeviceParams",
    "FloodRecord",
    "FloodStore",
    "Lease",
    "LeaseStore",
    "LoginAttempt",
    "LoginAttempts",
    "LoginResult",
    "Page",
    "SecretBytes",
    "SecretKind",
    "SecretStr",
    "SecretsStore",
    "SessionRecord",
    "Store",
    "Transaction",
    "Vault",
    "auth_key_id_of",
    "load_or_create_master_key",
    "new_owner_id",
    "open_database",
    "rotate_master_key",
]
