"""API tokens managed from the command line (``tgfleet tokens ...``), on the daemon's database.

The daemon may be running: the store is SQLite in WAL mode with one write transaction at a
time across processes, so a token created here works at once in the running daemon, and one
revoked here stops working at its next request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from tgfleet.api.access import REVOCATION_MARKER, Access
from tgfleet.runtime import DATABASE_FILE
from tgfleet.settings import Settings
from tgfleet.store.database import Database
from tgfleet.store.users import ApiToken, UsersStore


@dataclass(frozen=True, slots=True)
class CreatedToken:
    token: ApiToken
    plain: str
    # set when there was no user yet and this command created ``admin`` with a new password
    generated_admin_password: str | None


@asynccontextmanager
async def open_access(settings: Settings) -> AsyncIterator[tuple[Access, str | None]]:
    """Access over the daemon's database, the admin ensured (its generated password or None)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with await Database.open(settings.data_dir / DATABASE_FILE) as db:
        access = Access(UsersStore(db), revocation_marker=settings.data_dir / REVOCATION_MARKER)
        given = settings.admin_password.get_secret_value() if settings.admin_password else None
        generated = await access.ensure_admin(given)
        yield access, generated


async def create_token(settings: Settings, name: str) -> CreatedToken:
    async with open_access(settings) as (access, generated):
        token, plain = await access.create_api_token(name)
        return CreatedToken(token, plain, generated)


async def revoke_token(settings: Settings, name: str) -> ApiToken | None:
    async with open_access(settings) as (access, _):
        return await access.revoke_api_token(name)


async def list_tokens(settings: Settings) -> tuple[ApiToken, ...]:
    async with open_access(settings) as (access, _):
        return await access.users.list_tokens()
