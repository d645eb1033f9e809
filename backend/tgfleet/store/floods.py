"""FloodStore: every FLOOD_WAIT an account received (DESIGN fact 4: a flood is a signal)."""

from __future__ import annotations

from datetime import datetime

from tgfleet.errors import AccountNotFound
from tgfleet.store.database import Database, Queryable, Row, Transaction
from tgfleet.store.records import FloodRecord, to_datetime, to_timestamp
from tgfleet.store.validation import check_int, check_text


class FloodStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        account_id: int,
        seconds: int,
        *,
        method: str = "",
        tx: Transaction | None = None,
    ) -> FloodRecord:
        """Record a flood that starts now. Pass the ``tx`` that also sets the account's
        flood_wait status, so the two never disagree."""
        check_int(seconds, field="seconds", minimum=0, maximum=10 * 365 * 86_400)
        check_text(method, field="method", max_len=200)
        async with self._db.within(tx) as t:
            if await t.fetchone("SELECT id FROM accounts WHERE id = ?", (account_id,)) is None:
                raise AccountNotFound(f"no account with id {account_id}")
            now = t.clock()
            row = await t.fetchone(
                "INSERT INTO flood_records (account_id, method, seconds, until, at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id, account_id, method, seconds, until, at",
                (account_id, method, seconds, now + seconds, now),
            )
            assert row is not None
            return _flood(row)

    async def list_for_account(
        self, account_id: int, *, limit: int = 50, tx: Transaction | None = None
    ) -> tuple[FloodRecord, ...]:
        """Newest first."""
        check_int(limit, field="limit", minimum=1, maximum=1000)
        q: Queryable = tx or self._db
        rows = await q.fetchall(
            "SELECT id, account_id, method, seconds, until, at FROM flood_records "
            "WHERE account_id = ? ORDER BY id DESC LIMIT ?",
            (account_id, limit),
        )
        return tuple(_flood(row) for row in rows)

    async def active_until(
        self, account_id: int, *, tx: Transaction | None = None
    ) -> datetime | None:
        """When the account's longest running flood ends, or None if none runs now."""
        q: Queryable = tx or self._db
        row = await q.fetchone(
            "SELECT MAX(until) FROM flood_records WHERE account_id = ? AND until > ?",
            (account_id, q.clock()),
        )
        return None if row is None or row[0] is None else to_datetime(float(row[0]))

    async def prune(self, older_than: datetime, *, tx: Transaction | None = None) -> int:
        """Forget floods that ended before ``older_than``; return how many."""
        async with self._db.within(tx) as t:
            return await t.execute(
                "DELETE FROM flood_records WHERE until < ?", (to_timestamp(older_than),)
            )


def _flood(row: Row) -> FloodRecord:
    return FloodRecord(
        id=int(row["id"]),
        account_id=int(row["account_id"]),
        method=str(row["method"]),
        seconds=int(row["seconds"]),
        until=to_datetime(float(row["until"])),
        at=to_datetime(float(row["at"])),
    )
