"""The API-token cache in ``Access``: a repeated token costs no database lookup, and revocation
still bites at the next request, through Access, through ``tgfleet tokens revoke``'s code path
in another Access (another process in production), and, for any other path, after the TTL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tgfleet.api import tokens
from tgfleet.api.access import REVOCATION_MARKER, Access, TokenCache
from tgfleet.runtime import DATABASE_FILE
from tgfleet.settings import load_settings
from tgfleet.store.database import Database
from tgfleet.store.users import User, UsersStore


class CountingUsers(UsersStore):
    """The real store, counting the token lookups that reach the database."""

    lookups = 0

    async def user_for_token(self, token_hash: str) -> User | None:
        self.lookups += 1
        return await super().user_for_token(token_hash)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with await Database.open(tmp_path / DATABASE_FILE) as database:
        yield database


async def _access(db: Database, tmp_path: Path, clock: Clock) -> tuple[Access, CountingUsers]:
    users = CountingUsers(db)
    cache = TokenCache(tmp_path / REVOCATION_MARKER, clock=clock)
    access = Access(users, token_cache=cache)
    await access.ensure_admin("cache test password")
    return access, users


async def test_a_repeated_token_is_looked_up_once_until_the_ttl_ends(
    db: Database, tmp_path: Path
) -> None:
    clock = Clock()
    access, users = await _access(db, tmp_path, clock)
    _, plain = await access.create_api_token("script")
    for _ in range(5):
        user = await access.user_for_api_token(plain)
        assert user is not None and user.username == "admin"
    assert users.lookups == 1
    clock.now += access.tokens.ttl
    assert await access.user_for_api_token(plain) is not None
    assert users.lookups == 2


async def test_unknown_tokens_are_not_remembered(db: Database, tmp_path: Path) -> None:
    access, users = await _access(db, tmp_path, Clock())
    assert await access.user_for_api_token("tgf_not-a-token") is None
    assert await access.user_for_api_token("tgf_not-a-token") is None
    assert users.lookups == 2


async def test_revoking_through_access_bites_at_the_next_request(
    db: Database, tmp_path: Path
) -> None:
    access, _ = await _access(db, tmp_path, Clock())
    _, plain = await access.create_api_token("script")
    _, other = await access.create_api_token("other")
    assert await access.user_for_api_token(plain) is not None
    assert await access.user_for_api_token(other) is not None
    assert await access.revoke_api_token("script") is not None
    assert await access.user_for_api_token(plain) is None  # the clock never moved
    assert await access.user_for_api_token(other) is not None
    assert (tmp_path / REVOCATION_MARKER).exists()


async def test_the_cli_revocation_path_reaches_a_running_daemons_cache(tmp_path: Path) -> None:
    # ``tgfleet tokens revoke`` is ``tokens.revoke_token`` in its own process; here it runs
    # beside a daemon-side Access on the same data dir, whose cache holds the token
    settings = load_settings(env_file=None, data_dir=tmp_path, admin_password="cli test pw")
    created = await tokens.create_token(settings, "ci")
    async with await Database.open(tmp_path / DATABASE_FILE) as db:
        users = CountingUsers(db)
        daemon = Access(users, revocation_marker=tmp_path / REVOCATION_MARKER)
        assert await daemon.user_for_api_token(created.plain) is not None
        assert await daemon.user_for_api_token(created.plain) is not None
        assert users.lookups == 1
        assert await tokens.revoke_token(settings, "ci") is not None
        assert await daemon.user_for_api_token(created.plain) is None
        # a token revoked twice is not found the second time, and the marker stays put
        assert await tokens.revoke_token(settings, "ci") is None


async def test_a_revocation_the_cache_cannot_see_ends_with_the_ttl(
    db: Database, tmp_path: Path
) -> None:
    # a path that bypasses Access (an edited database, a future second daemon): bounded staleness
    clock = Clock()
    access, _ = await _access(db, tmp_path, clock)
    _, plain = await access.create_api_token("script")
    assert await access.user_for_api_token(plain) is not None
    assert await access.users.revoke_token("script") is not None
    assert await access.user_for_api_token(plain) is not None  # still remembered
    clock.now += access.tokens.ttl
    assert await access.user_for_api_token(plain) is None


def test_ttl_is_checked_on_arrival(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ttl must be >= 0"):
        TokenCache(tmp_path / REVOCATION_MARKER, ttl=-1)
