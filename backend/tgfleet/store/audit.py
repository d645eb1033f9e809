"""AuditLog: what operators did, append-only (the database's triggers refuse edits)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tgfleet.errors import InvalidInput
from tgfleet.store.database import Database, Param, Queryable, Row, Transaction
from tgfleet.store.records import AuditEntry, Page, to_datetime
from tgfleet.store.secret_values import SecretBytes, SecretStr
from tgfleet.store.validation import check_int, check_text

MAX_DETAIL_BYTES = 16_384


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(
        self,
        actor: str,
        action: str,
        target: str = "",
        detail: Mapping[str, Any] | None = None,
        *,
        tx: Transaction | None = None,
    ) -> AuditEntry:
        """Add one entry. Pass the ``tx`` of the change it describes, so an action and its
        record commit together or not at all."""
        check_text(actor, field="actor", allow_empty=False)
        check_text(action, field="action", allow_empty=False)
        check_text(target, field="target")
        text = _detail_json(detail or {})
        async with self._db.within(tx) as t:
            row = await t.fetchone(
                "INSERT INTO audit_log (at, actor, action, target, detail) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id, at, actor, action, target, detail",
                (t.clock(), actor, action, target, text),
            )
            assert row is not None
            return _entry(row)

    async def page(
        self,
        *,
        before: int | None = None,
        limit: int = 50,
        target: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        tx: Transaction | None = None,
    ) -> Page[AuditEntry]:
        """Newest first; pass ``next_cursor`` back as ``before`` for older entries."""
        check_int(limit, field="limit", minimum=1, maximum=1000)
        where: list[str] = []
        params: list[Param] = []
        for column, value in (("target", target), ("action", action), ("actor", actor)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if before is not None:
            where.append("id < ?")
            params.append(check_int(before, field="before", minimum=0, maximum=2**63 - 1))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        q: Queryable = tx or self._db
        rows = await q.fetchall(
            f"SELECT id, at, actor, action, target, detail FROM audit_log {clause} "
            "ORDER BY id DESC LIMIT ?",
            (*params, limit + 1),
        )
        items = tuple(_entry(row) for row in rows[:limit])
        return Page(items, items[-1].id if len(rows) > limit else None)


def _refuse_secret(value: object) -> object:
    if isinstance(value, SecretStr | SecretBytes):
        raise InvalidInput("detail: a secret cannot be written to the audit log")
    raise InvalidInput(f"detail: {type(value).__name__} is not JSON (use str, int, list, dict)")


def _detail_json(detail: Mapping[str, Any]) -> str:
    if not isinstance(detail, Mapping):
        raise InvalidInput("detail: expected a mapping")
    text = json.dumps(dict(detail), default=_refuse_secret, sort_keys=True, ensure_ascii=False)
    if len(text.encode()) > MAX_DETAIL_BYTES:
        raise InvalidInput(f"detail: larger than {MAX_DETAIL_BYTES} bytes as JSON")
    return text


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=int(row["id"]),
        at=to_datetime(float(row["at"])),
        actor=str(row["actor"]),
        action=str(row["action"]),
        target=str(row["target"]),
        detail=json.loads(row["detail"]),
    )
