"""A daemon killed with SIGKILL at any point leaves a consistent database file.

A child process writes through the real Store (account + authorization + audit entry in one
transaction) and is killed by the parent; the parent reopens the file and checks the
invariants that one-transaction-per-change promises.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from tgfleet.store import Store, Vault

_CHILD = textwrap.dedent(
    """
    import asyncio, base64, os, sys
    from tgfleet.store import Store, Vault

    async def main(path, mode):
        vault = Vault(base64.urlsafe_b64decode(os.environ["KEY"]))
        store = await Store.open(path, vault)
        n = 0
        while True:
            async with store.db.transaction() as tx:
                account = await store.accounts.create(f"+1555{n:07d}", tx=tx)
                await store.authorizations.add(
                    account.id, dc_id=2, auth_key=os.urandom(256), api_id=1, tx=tx
                )
                await store.audit.append("child", "account.create", account.key, tx=tx)
            n += 1
            print(f"committed {n}", flush=True)
            if mode == "mid" and n == 20:
                async with store.db.transaction() as tx:
                    for i in range(500):
                        await store.accounts.create(f"+1666{i:07d}", tx=tx)
                    print("inside", flush=True)
                    await asyncio.sleep(3600)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def _run_and_kill(
    db_path: Path, key: bytes, mode: str, until: str, then_wait: float = 0.0
) -> int:
    """Run the child until it prints ``until``, wait ``then_wait`` seconds while it keeps
    writing, SIGKILL it; return the last commit count it reported."""
    env = dict(os.environ, KEY=base64.urlsafe_b64encode(key).decode())
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        str(db_path),
        mode,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    committed = 0
    try:
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
            assert line, (await proc.stderr.read()).decode() if proc.stderr else "child died"
            if line.startswith("committed "):
                committed = int(line.split()[1])
            if line == until:
                break
        await asyncio.sleep(then_wait)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # lines printed before the kill but not yet read still count as committed
    rest = await proc.stdout.read()
    for line in rest.decode().split():
        if line.isdigit():
            committed = max(committed, int(line))
    return committed


async def _check_consistent(db_path: Path, vault: Vault, at_least: int) -> int:
    store = await Store.open(db_path, vault)
    try:
        assert await store.db.integrity_check() == "ok"
        row = await store.db.fetchone(
            "SELECT (SELECT COUNT(*) FROM accounts), (SELECT COUNT(*) FROM authorizations), "
            "(SELECT COUNT(*) FROM audit_log), "
            "(SELECT COUNT(*) FROM accounts a WHERE NOT EXISTS "
            " (SELECT 1 FROM authorizations z WHERE z.account_id = a.id))"
        )
        assert row is not None
        accounts, authorizations, audits, orphans = tuple(row)
        # every change landed whole or not at all
        assert accounts == authorizations == audits
        assert orphans == 0
        assert accounts >= at_least
        # every stored key still opens: no half-written ciphertext
        page = await store.accounts.list(limit=1000)
        for account in page.items:
            for auth in await store.authorizations.list_for_account(account.id):
                assert len((await store.authorizations.session(auth.id)).auth_key) == 256
        # and the file takes new writes
        await store.accounts.create("+19990000000")
        return int(accounts)
    finally:
        await store.aclose()


async def test_sigkill_mid_transaction_loses_only_that_transaction(tmp_path: Path) -> None:
    key = os.urandom(32)
    db_path = tmp_path / "crash.db"
    committed = await _run_and_kill(db_path, key, "mid", until="inside")
    assert committed == 20
    found = await _check_consistent(db_path, Vault(key), at_least=20)
    assert found == 20  # the 500 accounts of the killed transaction are all gone
    store = await Store.open(db_path, Vault(key))
    try:
        assert await store.accounts.find_by_key("+16660000000") is None
    finally:
        await store.aclose()


async def test_sigkill_at_arbitrary_moments_keeps_the_file_consistent(tmp_path: Path) -> None:
    key = os.urandom(32)
    rng = random.Random(4)
    for round_ in range(4):
        db_path = tmp_path / f"crash{round_}.db"
        # killed while committing as fast as it can: somewhere inside a transaction, a
        # commit, or a WAL write, wherever the random delay lands
        committed = await _run_and_kill(
            db_path, key, "fast", until="committed 5", then_wait=rng.uniform(0.0, 0.3)
        )
        found = await _check_consistent(db_path, Vault(key), at_least=committed)
        assert found in (committed, committed + 1)  # +1: committed, killed before printing
