"""Versioned schema migrations, applied in order at start, each in one transaction.

Rules that keep data safe:

- Steps are only ever appended. A released step is never edited; a change is a new step.
- Each step runs inside one ``BEGIN IMMEDIATE`` transaction together with its row in
  ``schema_version``, so a crash or an error leaves the database at the previous version,
  never between two.
- Before migrating a database that already holds a schema, a consistent copy is written
  beside it (``<file>.v<N>.bak``), because "never lose data" must survive a buggy step too.
- A database whose version is newer than this code knows is refused: writing to it with an
  older schema in mind could corrupt what the newer version keeps there.

DDL here is SQLite's; the repositories' DML stays portable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tgfleet.errors import StoreError

if TYPE_CHECKING:
    from tgfleet.store.database import Database, Transaction

ACCOUNT_STATUSES = (
    "new",
    "login_pending",
    "active",
    "flood_wait",
    "revoked",
    "banned",
    "disabled",
    "error",
)


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: its number, a name for humans, SQL statements, optional data code."""

    version: int
    name: str
    statements: tuple[str, ...] = ()
    apply: Callable[[Transaction], Awaitable[None]] | None = field(default=None, repr=False)


_SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at REAL NOT NULL
)"""

_V1_CORE = (
    f"""
    CREATE TABLE accounts (
        id               INTEGER PRIMARY KEY,
        key              TEXT NOT NULL UNIQUE,
        kind             TEXT NOT NULL CHECK (kind IN ('user', 'bot')),
        label            TEXT NOT NULL DEFAULT '',
        status           TEXT NOT NULL DEFAULT 'new' CHECK (status IN {_in(ACCOUNT_STATUSES)}),
        status_detail    TEXT NOT NULL DEFAULT '',
        flood_until      REAL,
        enabled          INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
        keep_online      INTEGER NOT NULL DEFAULT 0 CHECK (keep_online IN (0, 1)),
        device_model     TEXT NOT NULL,
        system_version   TEXT NOT NULL,
        app_version      TEXT NOT NULL,
        lang_code        TEXT NOT NULL,
        system_lang_code TEXT NOT NULL,
        proxy_display    TEXT,
        proxy_url_sealed BLOB,
        api_id           INTEGER,
        api_hash_sealed  BLOB,
        created_at       REAL NOT NULL,
        updated_at       REAL NOT NULL,
        CHECK ((proxy_display IS NULL) = (proxy_url_sealed IS NULL))
    )""",
    "CREATE INDEX accounts_status ON accounts (status, id)",
    "CREATE INDEX accounts_kind ON accounts (kind, id)",
    """
    CREATE TABLE authorizations (
        id              INTEGER PRIMARY KEY,
        account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        dc_id           INTEGER NOT NULL CHECK (dc_id > 0),
        server_address  TEXT,
        port            INTEGER CHECK (port IS NULL OR port BETWEEN 1 AND 65535),
        api_id          INTEGER NOT NULL,
        test_mode       INTEGER NOT NULL DEFAULT 0 CHECK (test_mode IN (0, 1)),
        auth_key_id     INTEGER NOT NULL UNIQUE,
        auth_key_sealed BLOB NOT NULL,
        user_id         INTEGER,
        is_bot          INTEGER NOT NULL DEFAULT 0 CHECK (is_bot IN (0, 1)),
        state           TEXT NOT NULL DEFAULT 'active'
                        CHECK (state IN ('active', 'revoked', 'duplicated')),
        state_detail    TEXT NOT NULL DEFAULT '',
        created_at      REAL NOT NULL,
        last_used_at    REAL
    )""",
    "CREATE INDEX authorizations_account ON authorizations (account_id, id)",
    """
    CREATE TABLE login_attempts (
        id          INTEGER PRIMARY KEY,
        account_key TEXT NOT NULL,
        kind        TEXT NOT NULL,
        step        TEXT NOT NULL,
        result      TEXT NOT NULL CHECK (result IN ('pending', 'ok', 'failed')),
        error       TEXT NOT NULL DEFAULT '',
        at          REAL NOT NULL
    )""",
    "CREATE INDEX login_attempts_key_at ON login_attempts (account_key, at)",
    """
    CREATE TABLE flood_records (
        id         INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        method     TEXT NOT NULL DEFAULT '',
        seconds    INTEGER NOT NULL CHECK (seconds >= 0),
        until      REAL NOT NULL,
        at         REAL NOT NULL
    )""",
    "CREATE INDEX flood_records_account_until ON flood_records (account_id, until)",
    """
    CREATE TABLE audit_log (
        id     INTEGER PRIMARY KEY,
        at     REAL NOT NULL,
        actor  TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX audit_log_target ON audit_log (target, id)",
    # the audit log is evidence: the database itself refuses to rewrite or erase it
    """
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
)

_V2_LEASES_AND_SECRETS = (
    # the owner of each live authorization, as data (DESIGN "Growth path"); a released lease
    # keeps its row so the fencing number only ever grows
    """
    CREATE TABLE leases (
        authorization_id INTEGER PRIMARY KEY
                         REFERENCES authorizations (id) ON DELETE CASCADE,
        owner            TEXT NOT NULL,
        expires_at       REAL NOT NULL,
        fencing          BIGINT NOT NULL CHECK (fencing > 0),
        acquired_at      REAL NOT NULL
    )""",
    "CREATE INDEX leases_owner ON leases (owner)",
    """
    CREATE TABLE account_secrets (
        account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
        name         TEXT NOT NULL
                     CHECK (name IN ('bot_token', 'two_fa_password', 'session_string')),
        value_sealed BLOB NOT NULL,
        updated_at   REAL NOT NULL,
        PRIMARY KEY (account_id, name)
    )""",
)

_V3_API_ACCESS = (
    """
    CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at    REAL NOT NULL
    )""",
    # only a hash of each session token and API token is kept: a copy of the database does
    # not let anyone sign in
    """
    CREATE TABLE user_sessions (
        token_hash  TEXT PRIMARY KEY,
        user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        created_at  REAL NOT NULL,
        expires_at  REAL NOT NULL
    )""",
    "CREATE INDEX user_sessions_expires ON user_sessions (expires_at)",
    """
    CREATE TABLE api_tokens (
        id          INTEGER PRIMARY KEY,
        user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        token_hash  TEXT NOT NULL UNIQUE,
        created_at  REAL NOT NULL,
        last_used_at REAL,
        revoked_at  REAL
    )""",
    "CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "accounts, authorizations, login attempts, floods, audit log", _V1_CORE),
    Migration(2, "authorization leases and account secrets", _V2_LEASES_AND_SECRETS),
    Migration(3, "API users, browser sessions and API tokens", _V3_API_ACCESS),
)


def check_sequence(migrations: Sequence[Migration]) -> None:
    for expected, step in enumerate(migrations, start=1):
        if step.version != expected:
            raise StoreError(
                f"migration list is out of order: step {expected} has version {step.version}"
            )


async def current_version(db: Database) -> int:
    row = await db.fetchone(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    )
    if row is None:
        return 0
    row = await db.fetchone("SELECT MAX(version) FROM schema_version")
    return 0 if row is None or row[0] is None else int(row[0])


async def migrate(db: Database, migrations: Sequence[Migration], *, backup: bool = True) -> int:
    """Bring ``db`` to the last version in ``migrations``; return the version reached."""
    check_sequence(migrations)
    known = len(migrations)
    found = await current_version(db)
    if found > known:
        raise StoreError(
            f"database {db.path} has schema version {found}, newer than this tgfleet knows "
            f"({known}); run the tgfleet version that wrote it, or restore a backup"
        )
    if found < known and found > 0 and backup:
        await db.backup_to(_backup_path(db.path, found))
    for step in migrations[found:]:
        await _apply(db, step)
    db.schema_version = known
    return known


async def _apply(db: Database, step: Migration) -> None:
    try:
        async with db.transaction() as tx:
            await tx.execute(_SCHEMA_VERSION_TABLE)
            # re-read inside the write lock: another process may have migrated meanwhile
            row = await tx.fetchone("SELECT MAX(version) FROM schema_version")
            done = 0 if row is None or row[0] is None else int(row[0])
            if done >= step.version:
                return
            if done != step.version - 1:
                raise StoreError(
                    f"database {db.path} is at schema version {done}; cannot apply step "
                    f"{step.version} ({step.name})"
                )
            for statement in step.statements:
                await tx.execute(statement)
            if step.apply is not None:
                await step.apply(tx)
            await tx.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (step.version, step.name, tx.clock()),
            )
    except Exception as exc:
        raise StoreError(
            f"database {db.path}: migration {step.version} ({step.name}) failed and was "
            f"rolled back: {exc}"
        ) from exc


def _backup_path(path: Path, version: int) -> Path:
    candidate = path.with_name(f"{path.name}.v{version}.bak")
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.v{version}.{n}.bak")
    return candidate
