"""Who may use the API: users, their browser sessions and their API tokens.

Only hashes of session tokens and API tokens are stored (the callers hash them, see
``tgfleet.api.access``), so a copy of the database is not a way in. Password hashes are
argon2 strings made by the caller; this module never sees a plain secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tgfleet.errors import Conflict, InvalidInput
from tgfleet.store.database import Database, Queryable, Row, Transaction
from tgfleet.store.records import to_datetime
from tgfleet.store.validation import check_text


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    user_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def _user(row: Row) -> User:
    return User(int(row["id"]), str(row["username"]), to_datetime(row["created_at"]))


def _token(row: Row) -> ApiToken:
    last, revoked = row["last_used_at"], row["revoked_at"]
    return ApiToken(
        id=int(row["id"]),
        user_id=int(row["user_id"]),
        name=str(row["name"]),
        created_at=to_datetime(row["created_at"]),
        last_used_at=None if last is None else to_datetime(last),
        revoked_at=None if revoked is None else to_datetime(revoked),
    )


_TOKEN_COLUMNS = "id, user_id, name, created_at, last_used_at, revoked_at"


class UsersStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- users --------------------------------------------------------------------------------

    async def count(self) -> int:
        row = await self._db.fetchone("SELECT COUNT(*) FROM users")
        return 0 if row is None else int(row[0])

    async def create(
        self, username: str, password_hash: str, *, tx: Transaction | None = None
    ) -> User:
        check_text(username, field="username", max_len=64)
        if not username:
            raise InvalidInput("username: must not be empty")
        async with self._db.within(tx) as t:
            if await t.fetchone("SELECT id FROM users WHERE username = ?", (username,)):
                raise Conflict(f"a user named {username!r} already exists")
            row = await t.fetchone(
                "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?) "
                "RETURNING id, username, created_at",
                (username, password_hash, t.clock()),
            )
            assert row is not None
            return _user(row)

    async def find_with_hash(self, username: str) -> tuple[User, str] | None:
        """The user and its password hash, for checking a sign-in."""
        row = await self._db.fetchone(
            "SELECT id, username, created_at, password_hash FROM users WHERE username = ?",
            (username,),
        )
        return None if row is None else (_user(row), str(row["password_hash"]))

    async def get_by_name(self, username: str) -> User | None:
        found = await self.find_with_hash(username)
        return None if found is None else found[0]

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        async with self._db.transaction() as t:
            await t.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
            )

    # --- browser sessions ---------------------------------------------------------------------

    async def create_session(self, user_id: int, token_hash: str, expires_at: float) -> None:
        async with self._db.transaction() as t:
            # a sign-in is a good moment to forget sessions that ended
            await t.execute("DELETE FROM user_sessions WHERE expires_at <= ?", (t.clock(),))
            await t.execute(
                "INSERT INTO user_sessions (token_hash, user_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?)",
                (token_hash, user_id, t.clock(), expires_at),
            )

    async def user_for_session(self, token_hash: str) -> User | None:
        q: Queryable = self._db
        row = await q.fetchone(
            "SELECT u.id, u.username, u.created_at FROM user_sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
            (token_hash, q.clock()),
        )
        return None if row is None else _user(row)

    async def delete_session(self, token_hash: str) -> None:
        async with self._db.transaction() as t:
            await t.execute("DELETE FROM user_sessions WHERE token_hash = ?", (token_hash,))

    # --- API tokens ---------------------------------------------------------------------------

    async def create_token(self, user_id: int, name: str, token_hash: str) -> ApiToken:
        check_text(name, field="name", max_len=100)
        if not name.strip():
            raise InvalidInput("name: a token needs a name (what uses it), e.g. --name ci")
        async with self._db.transaction() as t:
            live = await t.fetchone(
                "SELECT id FROM api_tokens WHERE name = ? AND revoked_at IS NULL", (name,)
            )
            if live is not None:
                raise Conflict(
                    f"a live API token named {name!r} exists; revoke it first or pick another name"
                )
            row = await t.fetchone(
                "INSERT INTO api_tokens (user_id, name, token_hash, created_at) "
                f"VALUES (?, ?, ?, ?) RETURNING {_TOKEN_COLUMNS}",
                (user_id, name, token_hash, t.clock()),
            )
            assert row is not None
            return _token(row)

    async def user_for_token(self, token_hash: str) -> User | None:
        """The owner of a live (not revoked) token."""
        row = await self._db.fetchone(
            "SELECT u.id, u.username, u.created_at FROM api_tokens t "
            "JOIN users u ON u.id = t.user_id WHERE t.token_hash = ? AND t.revoked_at IS NULL",
            (token_hash,),
        )
        if row is None:
            return None
        return _user(row)

    async def touch_token(self, token_hash: str) -> None:
        """Record that a token was used now; a write, so callers throttle it."""
        async with self._db.transaction() as t:
            await t.execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ?",
                (t.clock(), token_hash),
            )

    async def list_tokens(self) -> tuple[ApiToken, ...]:
        rows = await self._db.fetchall(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens ORDER BY id")
        return tuple(_token(row) for row in rows)

    async def revoke_token(self, name: str) -> ApiToken | None:
        """Revoke the live token with that name; None if there is none."""
        async with self._db.transaction() as t:
            row = await t.fetchone(
                f"UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL "
                f"RETURNING {_TOKEN_COLUMNS}",
                (t.clock(), name),
            )
            return None if row is None else _token(row)
