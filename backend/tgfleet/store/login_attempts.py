"""LoginAttempts: every login step tried, so operators see why an account is stuck and how
close it is to Telegram's daily login limit (DESIGN fact 6)."""

from __future__ import annotations

from datetime import datetime

from tgfleet.errors import InvalidInput
from tgfleet.store.database import Database, Param, Queryable, Row, Transaction
from tgfleet.store.records import LoginAttempt, LoginResult, to_datetime, to_timestamp
from tgfleet.store.validation import check_int, check_text, normalize_account_key


class LoginAttempts:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        account_key: str,
        kind: str,
        step: str,
        result: LoginResult | str,
        *,
        error: str = "",
        tx: Transaction | None = None,
    ) -> LoginAttempt:
        """``account_key`` may be malformed (that is one reason a login fails): it is then
        kept as typed, so the failed attempt still shows up."""
        key = _key(account_key)
        check_text(kind, field="kind", max_len=64, allow_empty=False)
        check_text(step, field="step", max_len=64, allow_empty=False)
        check_text(error, field="error", max_len=1000)
        outcome = _result(result)
        async with self._db.within(tx) as t:
            row = await t.fetchone(
                "INSERT INTO login_attempts (account_key, kind, step, result, error, at) "
                "VALUES (?, ?, ?, ?, ?, ?) "
                "RETURNING id, account_key, kind, step, result, error, at",
                (key, kind, step, outcome.value, error, t.clock()),
            )
            assert row is not None
            return _attempt(row)

    async def list_for(
        self, account_key: str, *, limit: int = 50, tx: Transaction | None = None
    ) -> tuple[LoginAttempt, ...]:
        """Newest first."""
        check_int(limit, field="limit", minimum=1, maximum=1000)
        q: Queryable = tx or self._db
        rows = await q.fetchall(
            "SELECT id, account_key, kind, step, result, error, at FROM login_attempts "
            "WHERE account_key = ? ORDER BY id DESC LIMIT ?",
            (_key(account_key), limit),
        )
        return tuple(_attempt(row) for row in rows)

    async def count_since(
        self,
        account_key: str,
        since: datetime,
        *,
        result: LoginResult | str | None = None,
        tx: Transaction | None = None,
    ) -> int:
        sql = "SELECT COUNT(*) FROM login_attempts WHERE account_key = ? AND at >= ?"
        params: list[Param] = [_key(account_key), to_timestamp(since)]
        if result is not None:
            sql += " AND result = ?"
            params.append(_result(result).value)
        q: Queryable = tx or self._db
        row = await q.fetchone(sql, params)
        return 0 if row is None else int(row[0])


def _key(account_key: str) -> str:
    try:
        return normalize_account_key(account_key, field="account_key")[0]
    except InvalidInput:
        return check_text(account_key, field="account_key", max_len=64, allow_empty=False)


def _result(value: LoginResult | str) -> LoginResult:
    try:
        return LoginResult(value)
    except ValueError:
        raise InvalidInput(f"result: {value!r} is not one of pending, ok, failed") from None


def _attempt(row: Row) -> LoginAttempt:
    return LoginAttempt(
        id=int(row["id"]),
        account_key=str(row["account_key"]),
        kind=str(row["kind"]),
        step=str(row["step"]),
        result=LoginResult(row["result"]),
        error=str(row["error"]),
        at=to_datetime(float(row["at"])),
    )
