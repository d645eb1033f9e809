"""The database: one SQLite file, one writer connection behind a lock, one reader connection.

Why two connections: SQLite in WAL mode lets readers see the last committed state while a
write transaction is open, but only on another connection. Reads that go through the writer
would see another task's uncommitted rows, which may still be rolled back. So plain reads use
the reader; a transaction reads through its own connection and sees its own writes.

Why ``BEGIN IMMEDIATE``: it takes SQLite's write lock at the start. A deferred transaction
that reads first and writes later can fail with "database is locked" when another process
wrote in between, and ``busy_timeout`` cannot help it; an immediate one just waits its turn.

The SQL the repositories write is kept portable (``?`` placeholders, ``RETURNING``,
``ON CONFLICT``), so the growth path to PostgreSQL (DESIGN.md) swaps this module and the
migrations, not the repositories.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import aiosqlite

from tgfleet.errors import StoreError

if TYPE_CHECKING:
    from tgfleet.store.migrations import Migration

Param: TypeAlias = str | int | float | bytes | None
Params: TypeAlias = Sequence[Param]
Row: TypeAlias = sqlite3.Row
Clock: TypeAlias = Callable[[], float]

DEFAULT_BUSY_TIMEOUT_MS = 10_000


class Queryable(Protocol):
    """What a repository reads through: the database itself or an open transaction."""

    @property
    def clock(self) -> Clock: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...


class Transaction:
    """An open write transaction; valid only inside ``async with db.transaction()``."""

    __slots__ = ("_closed", "_conn", "_db")

    def __init__(self, db: Database, conn: aiosqlite.Connection) -> None:
        self._db = db
        self._conn = conn
        self._closed = False

    @property
    def clock(self) -> Clock:
        return self._db.clock

    def _check(self) -> aiosqlite.Connection:
        if self._closed:
            raise StoreError("transaction is already finished; open a new one")
        return self._conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; return the number of rows it changed."""
        conn = self._check()
        try:
            async with conn.execute(sql, params) as cursor:
                return cursor.rowcount
        except sqlite3.Error as exc:
            raise _translate(exc, sql, self._db.path) from exc

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        conn = self._check()
        try:
            await conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise _translate(exc, sql, self._db.path) from exc

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        conn = self._check()
        try:
            async with conn.execute(sql, params) as cursor:
                row: Row | None = await cursor.fetchone()
                return row
        except sqlite3.Error as exc:
            raise _translate(exc, sql, self._db.path) from exc

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        conn = self._check()
        try:
            async with conn.execute(sql, params) as cursor:
                return list(await cursor.fetchall())
        except sqlite3.Error as exc:
            raise _translate(exc, sql, self._db.path) from exc


class Database:
    """An open tgfleet database. Build with ``await Database.open(path)`` or ``open_database``."""

    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        *,
        clock: Clock,
    ) -> None:
        self.path = path
        self.clock = clock
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._writing_task: asyncio.Task[Any] | None = None
        self._closed = False
        self.schema_version = 0

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Database {self.path} schema={self.schema_version} {state}>"

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        clock: Clock = time.time,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        migrations: Sequence[Migration] | None = None,
        backup_before_migrate: bool = True,
    ) -> Database:
        """Open (creating if needed) the file, set the pragmas, run missing migrations."""
        # imported here: migrations imports this module for Transaction
        from tgfleet.store.migrations import MIGRATIONS, migrate

        db_path = Path(path)
        if str(path) == ":memory:":
            raise StoreError("the store needs a file path: readers and the writer share it")
        if not db_path.parent.is_dir():
            raise StoreError(f"database directory {db_path.parent} does not exist")
        writer = await _connect(db_path, busy_timeout_ms, writer=True)
        try:
            reader = await _connect(db_path, busy_timeout_ms, writer=False)
        except BaseException:
            await writer.close()
            raise
        db = cls(db_path, writer, reader, clock=clock)
        try:
            await migrate(
                db,
                MIGRATIONS if migrations is None else migrations,
                backup=backup_before_migrate,
            )
        except BaseException:
            await db.aclose()
            raise
        return db

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        # waits for a running transaction, so closing never cuts one in half
        async with self._write_lock:
            with contextlib.suppress(sqlite3.Error):
                await self._writer.execute("PRAGMA optimize")
            await self._writer.close()
        await self._reader.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"database {self.path} is closed")

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """One write transaction: committed if the block ends, rolled back if it raises."""
        self._check_open()
        task = asyncio.current_task()
        if task is not None and task is self._writing_task:
            # an asyncio.Lock is not reentrant: waiting here would wait for ourselves forever
            raise StoreError("nested transaction: pass the open transaction as tx= instead")
        async with self._write_lock:
            self._check_open_for_write()
            self._writing_task = task
            tx = Transaction(self, self._writer)
            try:
                await _begin_immediate(self._writer, self.path)
                try:
                    yield tx
                except BaseException:
                    # shielded: a cancelled task must not leave the writer inside a transaction
                    await asyncio.shield(self._rollback())
                    raise
                try:
                    await asyncio.shield(self._writer.commit())
                except sqlite3.Error as exc:
                    await asyncio.shield(self._rollback())
                    raise StoreError(f"commit to {self.path} failed: {exc}") from exc
            finally:
                tx._closed = True
                self._writing_task = None

    def _check_open_for_write(self) -> None:
        # aclose() may have begun while this task waited for the lock
        if self._closed:
            raise StoreError(f"database {self.path} is closed")

    async def _rollback(self) -> None:
        if self._writer.in_transaction:
            await self._writer.rollback()

    @contextlib.asynccontextmanager
    async def within(self, tx: Transaction | None) -> AsyncIterator[Transaction]:
        """Join the caller's transaction if one is given, else run in a new one.

        Repositories take ``tx=`` so that writes which belong together (an account, its
        authorization and the audit entry) commit as one.
        """
        if tx is None:
            async with self.transaction() as own:
                yield own
            return
        if tx._db is not self:
            raise StoreError("the transaction passed in belongs to another database")
        tx._check()
        yield tx

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        self._check_open()
        try:
            async with self._reader.execute(sql, params) as cursor:
                row: Row | None = await cursor.fetchone()
                return row
        except sqlite3.Error as exc:
            raise _translate(exc, sql, self.path) from exc

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        self._check_open()
        try:
            async with self._reader.execute(sql, params) as cursor:
                return list(await cursor.fetchall())
        except sqlite3.Error as exc:
            raise _translate(exc, sql, self.path) from exc

    async def integrity_check(self) -> str:
        row = await self.fetchone("PRAGMA integrity_check")
        return "missing" if row is None else str(row[0])

    async def pragma(self, name: str) -> Any:
        """Read one pragma on the writer connection (tests check the settings took)."""
        if not name.replace("_", "").isalnum():
            raise StoreError(f"not a pragma name: {name!r}")
        async with self._writer.execute(f"PRAGMA {name}") as cursor:
            row = await cursor.fetchone()
            return None if row is None else row[0]

    async def backup_to(self, target: Path | str) -> None:
        """A consistent copy of the whole database, taken while it stays in use."""
        self._check_open()
        path = Path(target)
        async with self._write_lock:
            try:
                # VACUUM INTO refuses an existing target, so a backup never overwrites one
                await self._writer.execute("VACUUM INTO ?", (str(path),))
            except sqlite3.Error as exc:
                raise StoreError(f"backup of {self.path} to {path} failed: {exc}") from exc


def _translate(exc: sqlite3.Error, sql: str, path: Path) -> StoreError:
    statement = " ".join(sql.split())
    if len(statement) > 80:
        statement = statement[:80] + "…"
    # parameters are left out on purpose: they may hold sealed secrets or personal data
    return StoreError(f"database {path}: {exc} (in: {statement})")


async def _connect(path: Path, busy_timeout_ms: int, *, writer: bool) -> aiosqlite.Connection:
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so no statement opens an
        # implicit transaction behind our back
        pending = aiosqlite.connect(path, isolation_level=None)
        # aiosqlite's worker thread is not a daemon: a process that dies of an exception
        # before aclose() would hang at exit instead of exiting and being restarted. WAL
        # keeps the file consistent when the thread is cut off (the SIGKILL tests show it).
        worker = getattr(pending, "_thread", None)
        if isinstance(worker, threading.Thread) and not worker.is_alive():
            worker.daemon = True
        conn = await pending
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open database {path}: {exc}") from exc
    try:
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        await conn.execute("PRAGMA foreign_keys = ON")
        if writer:
            async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
                row = await cursor.fetchone()
            if row is None or str(row[0]).lower() != "wal":
                raise StoreError(f"database {path}: cannot switch to WAL journal mode ({row})")
        # NORMAL in WAL mode: a crash never corrupts the file; a power cut may lose the last
        # commits, which is the trade every WAL deployment makes for not fsyncing each commit
        await conn.execute("PRAGMA synchronous = NORMAL")
        async with conn.execute("PRAGMA quick_check") as cursor:
            row = await cursor.fetchone()
        if row is None or row[0] != "ok":
            raise StoreError(f"database {path} is damaged: {row[0] if row else 'no answer'}")
    except sqlite3.DatabaseError as exc:
        await conn.close()
        raise StoreError(f"cannot open database {path}: {exc}") from exc
    except BaseException:
        await conn.close()
        raise
    return conn


async def _begin_immediate(conn: aiosqlite.Connection, path: Path) -> None:
    try:
        await conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreError(
            f"database {path}: cannot start a write transaction ({exc}); another process "
            f"held the write lock longer than busy_timeout"
        ) from exc


@contextlib.asynccontextmanager
async def open_database(
    path: Path | str,
    *,
    clock: Clock = time.time,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    migrations: Sequence[Migration] | None = None,
) -> AsyncIterator[Database]:
    """``async with open_database(path) as db:`` opens, migrates, and always closes."""
    db = await Database.open(
        path, clock=clock, busy_timeout_ms=busy_timeout_ms, migrations=migrations
    )
    try:
        yield db
    finally:
        await db.aclose()
