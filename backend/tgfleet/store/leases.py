"""LeaseStore: which daemon owns each live authorization, as data (DESIGN "Growth path").

A lease is a row: owner, expiry, fencing number. Only the owner may open a client on the
authorization (DESIGN fact 1). A lease not renewed before its expiry may be taken over by
another owner, and every new acquisition increments the fencing number, so a daemon that
was paused past its expiry (GC, suspended VM) finds ``LeaseLost`` on its next guarded write
instead of acting on an authorization that another daemon now drives.

Owner ids name one process incarnation (host, pid and a random part), not just a host: a
restarted daemon must not mistake its dead predecessor's lease for its own.

Each step is one conditional statement, so it stays atomic on PostgreSQL without the
single-writer lock SQLite gives us.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime
from typing import Final

from tgfleet.errors import AuthorizationNotFound, InvalidInput, LeaseHeld, LeaseLost
from tgfleet.store.database import Database, Queryable, Row, Transaction
from tgfleet.store.records import Lease, to_datetime
from tgfleet.store.validation import check_text

MAX_TTL: Final = 86_400.0
_COLUMNS: Final = "authorization_id, owner, expires_at, fencing, acquired_at"


def new_owner_id() -> str:
    """An owner id for this process incarnation: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeaseStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def acquire(
        self, authorization_id: int, owner: str, ttl: float, *, tx: Transaction | None = None
    ) -> Lease:
        """Take the lease, or raise ``LeaseHeld`` naming its live owner."""
        lease = await self.try_acquire(authorization_id, owner, ttl, tx=tx)
        if lease is None:
            current = await self.get(authorization_id, tx=tx)
            holder = "another owner" if current is None else repr(current.owner)
            until = "" if current is None else f" until {current.expires_at.isoformat()}"
            raise LeaseHeld(
                f"authorization {authorization_id} is leased by {holder}{until}; "
                f"pick another authorization or wait for the lease to expire"
            )
        return lease

    async def try_acquire(
        self, authorization_id: int, owner: str, ttl: float, *, tx: Transaction | None = None
    ) -> Lease | None:
        """Take a free, released or expired lease (fencing + 1), or refresh our own live one
        (fencing kept); None if another owner holds it live."""
        _check_owner(owner)
        _check_ttl(ttl)
        async with self._db.within(tx) as t:
            exists = await t.fetchone(
                "SELECT id FROM authorizations WHERE id = ?", (authorization_id,)
            )
            if exists is None:
                raise AuthorizationNotFound(f"no authorization with id {authorization_id}")
            now = t.clock()
            expires = now + ttl
            taken = await t.execute(
                "INSERT INTO leases (authorization_id, owner, expires_at, fencing, acquired_at) "
                "VALUES (?, ?, ?, 1, ?) ON CONFLICT (authorization_id) DO NOTHING",
                (authorization_id, owner, expires, now),
            )
            if taken == 0:
                # all SET expressions read the old row, so "ours and live" is judged before
                # the owner is overwritten
                taken = await t.execute(
                    "UPDATE leases SET "
                    "fencing = fencing + CASE WHEN owner = ? AND expires_at > ? THEN 0 ELSE 1 END, "
                    "acquired_at = CASE WHEN owner = ? AND expires_at > ? "
                    "THEN acquired_at ELSE ? END, "
                    "owner = ?, expires_at = ? "
                    "WHERE authorization_id = ? AND (owner = ? OR expires_at <= ?)",
                    (
                        owner,
                        now,
                        owner,
                        now,
                        now,
                        owner,
                        expires,
                        authorization_id,
                        owner,
                        now,
                    ),
                )
            if taken == 0:
                return None
            return await self.get(authorization_id, tx=t)

    async def acquire_free(
        self, account_id: int, owner: str, ttl: float, *, tx: Transaction | None = None
    ) -> Lease | None:
        """Lease one active authorization of the account that nobody holds live, this owner
        included (a second client on a key we already drive would break DESIGN fact 1);
        None when every active authorization is taken."""
        _check_owner(owner)
        _check_ttl(ttl)
        async with self._db.within(tx) as t:
            rows = await t.fetchall(
                "SELECT a.id FROM authorizations a "
                "LEFT JOIN leases l ON l.authorization_id = a.id "
                "WHERE a.account_id = ? AND a.state = 'active' "
                "AND (l.authorization_id IS NULL OR l.owner = '' OR l.expires_at <= ?) "
                "ORDER BY a.id",
                (account_id, t.clock()),
            )
            for row in rows:
                lease = await self.try_acquire(int(row["id"]), owner, ttl, tx=t)
                if lease is not None:
                    return lease
            return None

    async def renew(self, lease: Lease, ttl: float, *, tx: Transaction | None = None) -> Lease:
        """Extend our lease; ``LeaseLost`` if it was released or anyone else acquired it since.

        A lease that expired but that nobody took is still ours to renew: the fencing number
        proves no other owner acted in between.
        """
        _check_ttl(ttl)
        async with self._db.within(tx) as t:
            changed = await t.execute(
                "UPDATE leases SET expires_at = ? "
                "WHERE authorization_id = ? AND owner = ? AND fencing = ?",
                (t.clock() + ttl, lease.authorization_id, lease.owner, lease.fencing),
            )
            if changed == 0:
                raise await self._lost(lease, t)
            renewed = await self.get(lease.authorization_id, tx=t)
            assert renewed is not None
            return renewed

    async def check(self, lease: Lease, *, tx: Transaction | None = None) -> None:
        """Raise ``LeaseLost`` unless ``lease`` is still held and live. Call it inside the
        transaction of a write it guards."""
        q: Queryable = tx or self._db
        row = await q.fetchone(
            f"SELECT {_COLUMNS} FROM leases WHERE authorization_id = ?",
            (lease.authorization_id,),
        )
        if (
            row is None
            or row["owner"] != lease.owner
            or int(row["fencing"]) != lease.fencing
            or float(row["expires_at"]) <= q.clock()
        ):
            raise await self._lost(lease, q)

    async def release(self, lease: Lease, *, tx: Transaction | None = None) -> bool:
        """Give the lease up; False if it was no longer ours. The row stays, so the fencing
        number keeps growing across owners."""
        async with self._db.within(tx) as t:
            changed = await t.execute(
                "UPDATE leases SET owner = '', expires_at = 0 "
                "WHERE authorization_id = ? AND owner = ? AND fencing = ?",
                (lease.authorization_id, lease.owner, lease.fencing),
            )
            return changed > 0

    async def release_all(self, owner: str, *, tx: Transaction | None = None) -> int:
        """Release every lease of ``owner`` (a clean shutdown); return how many."""
        _check_owner(owner)
        async with self._db.within(tx) as t:
            return await t.execute(
                "UPDATE leases SET owner = '', expires_at = 0 WHERE owner = ?", (owner,)
            )

    async def get(self, authorization_id: int, *, tx: Transaction | None = None) -> Lease | None:
        """The lease row as it is, live, expired or released (owner '')."""
        q: Queryable = tx or self._db
        row = await q.fetchone(
            f"SELECT {_COLUMNS} FROM leases WHERE authorization_id = ?", (authorization_id,)
        )
        return None if row is None else _lease(row)

    async def held_by(self, owner: str, *, tx: Transaction | None = None) -> tuple[Lease, ...]:
        """Live leases of ``owner``."""
        q: Queryable = tx or self._db
        rows = await q.fetchall(
            f"SELECT {_COLUMNS} FROM leases WHERE owner = ? AND expires_at > ? "
            "ORDER BY authorization_id",
            (owner, q.clock()),
        )
        return tuple(_lease(row) for row in rows)

    async def live_for_account(
        self, account_id: int, *, tx: Transaction | None = None
    ) -> tuple[Lease, ...]:
        """Live leases on the authorizations of one account, whoever holds them."""
        q: Queryable = tx or self._db
        rows = await q.fetchall(
            "SELECT l.authorization_id, l.owner, l.expires_at, l.fencing, l.acquired_at "
            "FROM leases l JOIN authorizations a ON a.id = l.authorization_id "
            "WHERE a.account_id = ? AND l.expires_at > ? ORDER BY l.authorization_id",
            (account_id, q.clock()),
        )
        return tuple(_lease(row) for row in rows)

    async def _lost(self, lease: Lease, q: Queryable) -> LeaseLost:
        row = await q.fetchone(
            f"SELECT {_COLUMNS} FROM leases WHERE authorization_id = ?",
            (lease.authorization_id,),
        )
        mine = f"authorization {lease.authorization_id}: lease of {lease.owner!r} " + (
            f"(fencing {lease.fencing})"
        )
        if row is None:
            return LeaseLost(f"{mine} is gone: the authorization was removed")
        current = _lease(row)
        if current.owner == "":
            return LeaseLost(f"{mine} was released")
        if current.owner != lease.owner or current.fencing != lease.fencing:
            return LeaseLost(
                f"{mine} was taken over by {current.owner!r} (fencing {current.fencing})"
            )
        return LeaseLost(f"{mine} expired at {current.expires_at.isoformat()}")


def _check_owner(owner: str) -> None:
    check_text(owner, field="owner", max_len=200, allow_empty=False)


def _check_ttl(ttl: float) -> None:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= MAX_TTL:
        raise InvalidInput(f"ttl: expected seconds in (0, {MAX_TTL:g}], got {ttl!r}")


def _lease(row: Row) -> Lease:
    return Lease(
        authorization_id=int(row["authorization_id"]),
        owner=str(row["owner"]),
        expires_at=to_datetime(float(row["expires_at"])),
        fencing=int(row["fencing"]),
        acquired_at=to_datetime(float(row["acquired_at"])),
    )


def lease_is_live(lease: Lease, now: datetime) -> bool:
    return lease.owner != "" and lease.expires_at > now
