"""The database: pragmas, migrations, transactions, rollback, concurrency."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tgfleet.errors import StoreError
from tgfleet.store import Store, Vault, open_database
from tgfleet.store.database import Database
from tgfleet.store.migrations import MIGRATIONS, Migration


async def test_pragmas_are_set(db_path: Path) -> None:
    async with open_database(db_path) as db:
        assert await db.pragma("journal_mode") == "wal"
        assert await db.pragma("foreign_keys") == 1
        assert await db.pragma("synchronous") == 1  # NORMAL
        assert await db.pragma("busy_timeout") == 10_000
        assert await db.integrity_check() == "ok"


async def test_migrates_from_empty_to_latest(db_path: Path) -> None:
    async with open_database(db_path) as db:
        rows = await db.fetchall("SELECT version, name FROM schema_version ORDER BY version")
        assert [r["version"] for r in rows] == [m.version for m in MIGRATIONS]
        assert db.schema_version == len(MIGRATIONS)
        tables = {
            r["name"]
            for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert {
        "accounts",
        "authorizations",
        "login_attempts",
        "flood_records",
        "audit_log",
        "leases",
        "account_secrets",
        "schema_version",
    } <= tables
    # no backup for a fresh database: there was nothing to lose
    assert not list(db_path.parent.glob("*.bak"))


async def test_reopening_runs_nothing_twice(db_path: Path) -> None:
    async with open_database(db_path):
        pass
    async with open_database(db_path) as db:
        row = await db.fetchone("SELECT COUNT(*) FROM schema_version")
        assert row is not None and row[0] == len(MIGRATIONS)


async def test_migrates_from_previous_version_keeping_data(db_path: Path, vault: Vault) -> None:
    previous = MIGRATIONS[:-1]
    async with open_database(db_path, migrations=previous) as db:
        assert db.schema_version == len(MIGRATIONS) - 1
        # the repositories of the previous version wrote these rows
        store = Store.over(db, vault)
        account = await store.accounts.create("+15550001111", label="kept")
        auth = await store.authorizations.add(account.id, dc_id=2, auth_key=b"k" * 256, api_id=1)
        await store.audit.append("operator", "account.create", account.key)
    async with open_database(db_path) as db:
        assert db.schema_version == len(MIGRATIONS)
        store = Store.over(db, vault)
        again = await store.accounts.get_by_key("+15550001111")
        assert again.label == "kept"
        session = await store.authorizations.session(auth.id)
        assert session.auth_key.reveal() == b"k" * 256
        assert len((await store.audit.page()).items) == 1
        # the new step's tables work on the old rows
        lease = await store.leases.acquire(auth.id, "daemon-a", 30)
        assert lease.fencing == 1
    backups = list(db_path.parent.glob(f"{db_path.name}.v{len(MIGRATIONS) - 1}*.bak"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as copy:
        assert copy.execute("SELECT label FROM accounts").fetchone() == ("kept",)


async def test_newer_schema_is_refused(db_path: Path) -> None:
    async with open_database(db_path) as db, db.transaction() as tx:
        await tx.execute(
            "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
            (len(MIGRATIONS) + 5, "from the future", 0.0),
        )
    found, known = len(MIGRATIONS) + 5, len(MIGRATIONS)
    expected = rf"schema version {found}, newer than this tgfleet knows \({known}\)"
    with pytest.raises(StoreError, match=expected):
        await Database.open(db_path)


async def test_failing_migration_rolls_back_whole_step(db_path: Path) -> None:
    broken = (
        *MIGRATIONS,
        Migration(
            len(MIGRATIONS) + 1,
            "broken step",
            ("CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL"),
        ),
    )
    expected = rf"migration {len(MIGRATIONS) + 1} \(broken step\) failed and was rolled"
    with pytest.raises(StoreError, match=expected):
        await Database.open(db_path, migrations=broken)
    async with open_database(db_path) as db:
        assert db.schema_version == len(MIGRATIONS)
        assert await db.fetchone("SELECT name FROM sqlite_master WHERE name = 'half_done'") is None


async def test_out_of_order_migration_list_is_refused(db_path: Path) -> None:
    with pytest.raises(StoreError, match="out of order"):
        await Database.open(db_path, migrations=(MIGRATIONS[1],))


async def test_transaction_rollback_leaves_nothing(store: Store) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with store.db.transaction() as tx:
            account = await store.accounts.create("+15550002222", tx=tx)
            await store.authorizations.add(
                account.id, dc_id=1, auth_key=b"a" * 256, api_id=1, tx=tx
            )
            await store.audit.append("op", "account.create", account.key, tx=tx)
            raise Boom
    assert (await store.accounts.list()).items == ()
    for table in ("authorizations", "audit_log"):
        row = await store.db.fetchone(f"SELECT COUNT(*) FROM {table}")
        assert row is not None and row[0] == 0
    # the writer is usable again
    await store.accounts.create("+15550002222")


async def test_cancelled_transaction_rolls_back_and_frees_the_writer(store: Store) -> None:
    entered = asyncio.Event()

    async def slow_writer() -> None:
        async with store.db.transaction() as tx:
            await store.accounts.create("+15550003333", tx=tx)
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(slow_writer())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await store.accounts.find_by_key("+15550003333") is None
    await asyncio.wait_for(store.accounts.create("+15550004444"), 5)


async def test_readers_do_not_see_uncommitted_writes(store: Store) -> None:
    async with store.db.transaction() as tx:
        await store.accounts.create("+15550005555", tx=tx)
        assert await store.accounts.find_by_key("+15550005555") is None
        assert await store.accounts.find_by_key("+15550005555", tx=tx) is not None
    assert await store.accounts.find_by_key("+15550005555") is not None


async def test_nested_transaction_is_an_error_not_a_deadlock(store: Store) -> None:
    with pytest.raises(StoreError, match="nested transaction"):
        async with store.db.transaction():
            # same task, no tx= passed: waiting for the lock would wait for ourselves
            await store.accounts.create("+15550006666")


async def test_transaction_of_another_database_is_refused(store: Store, tmp_path: Path) -> None:
    async with open_database(tmp_path / "other.db") as other, other.transaction() as tx:
        with pytest.raises(StoreError, match="another database"):
            await store.accounts.create("+15550006667", tx=tx)


async def test_audit_log_rejects_update_and_delete(store: Store) -> None:
    entry = await store.audit.append("op", "account.create", "+15550007777", {"why": "test"})
    with pytest.raises(StoreError, match="append-only"):
        async with store.db.transaction() as tx:
            await tx.execute(
                "UPDATE audit_log SET actor = 'someone else' WHERE id = ?", (entry.id,)
            )
    with pytest.raises(StoreError, match="append-only"):
        async with store.db.transaction() as tx:
            await tx.execute("DELETE FROM audit_log WHERE id = ?", (entry.id,))
    # even a plain sqlite3 connection that knows nothing of tgfleet is refused
    with sqlite3.connect(store.db.path) as raw, pytest.raises(sqlite3.IntegrityError):
        raw.execute("DELETE FROM audit_log")
    assert (await store.audit.page()).items == (entry,)


async def test_concurrent_writers_never_hit_database_is_locked(db_path: Path, vault: Vault) -> None:
    """Tasks on one Database, a second Database (own connections, as another daemon would
    have) and a separate process all write at once."""
    async with open_database(db_path):
        pass
    script = textwrap.dedent(
        f"""
        import sqlite3
        conn = sqlite3.connect({str(db_path)!r}, isolation_level=None, timeout=10)
        conn.execute("PRAGMA busy_timeout = 10000")
        for i in range(150):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO audit_log (at, actor, action, target, detail) "
                "VALUES (0, 'proc', 'write', ?, '{{}}')", (str(i),))
            conn.execute("COMMIT")
        print("done")
        """
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    one = await Store.open(db_path, vault)
    two = await Store.open(db_path, vault)
    try:

        async def writer(s: Store, prefix: str, n: int) -> None:
            for i in range(n):
                async with s.db.transaction() as tx:
                    account = await s.accounts.create(f"+1555{prefix}{i:04d}", tx=tx)
                    await s.audit.append("test", "account.create", account.key, tx=tx)

        await asyncio.gather(
            writer(one, "10", 40),
            writer(one, "11", 40),
            writer(two, "20", 40),
            writer(two, "21", 40),
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert out.decode().strip() == "done"
        counts = await one.db.fetchone(
            "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM audit_log)"
        )
        assert counts is not None and tuple(counts) == (160, 310)
        assert await one.db.integrity_check() == "ok"
    finally:
        await one.aclose()
        await two.aclose()


async def test_closed_database_refuses_work(db_path: Path) -> None:
    db = await Database.open(db_path)
    await db.aclose()
    await db.aclose()  # idempotent
    with pytest.raises(StoreError, match="is closed"):
        await db.fetchone("SELECT 1")
    with pytest.raises(StoreError, match="is closed"):
        async with db.transaction():
            pass


async def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        await Database.open(tmp_path / "nope" / "x.db")


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open database"):
        await Database.open(path)


def test_a_process_that_forgets_aclose_still_exits(db_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio
        from tgfleet.store.database import Database

        async def main():
            await Database.open({str(db_path)!r})
            raise SystemExit(3)

        asyncio.run(main())
        """
    )
    # without daemon worker threads this would hang until the timeout
    done = subprocess.run([sys.executable, "-c", script], timeout=30, check=False)
    assert done.returncode == 3
