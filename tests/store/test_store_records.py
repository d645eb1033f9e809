"""Floods, the audit log, login attempts, and secrets kept out of every printed form."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest
from store_testkit import FakeClock

from tgfleet.errors import AccountNotFound, InvalidInput
from tgfleet.store import LoginResult, SecretBytes, SecretStr, Store


async def test_floods_record_and_gate(store: Store, clock: FakeClock) -> None:
    account = await store.accounts.create("+15550001234")
    assert await store.floods.active_until(account.id) is None
    short = await store.floods.record(account.id, 30, method="messages.sendMessage")
    long = await store.floods.record(account.id, 300, method="contacts.resolveUsername")
    assert short.until.timestamp() == clock.now + 30
    assert await store.floods.active_until(account.id) == long.until
    assert await store.floods.list_for_account(account.id) == (long, short)
    clock.advance(301)
    assert await store.floods.active_until(account.id) is None
    assert await store.floods.prune(datetime.fromtimestamp(clock.now, tz=UTC)) == 2
    with pytest.raises(AccountNotFound):
        await store.floods.record(999, 5)
    with pytest.raises(InvalidInput, match=r"^seconds: "):
        await store.floods.record(account.id, -1)


async def test_flood_and_status_commit_together(store: Store, clock: FakeClock) -> None:
    account = await store.accounts.create("+15550001234")
    with pytest.raises(RuntimeError):
        async with store.db.transaction() as tx:
            flood = await store.floods.record(account.id, 60, tx=tx)
            await store.accounts.set_status(
                account.id, "flood_wait", flood_until=flood.until, tx=tx
            )
            raise RuntimeError("crash between the two")
    assert await store.floods.list_for_account(account.id) == ()
    assert (await store.accounts.get(account.id)).status == "new"


async def test_audit_log_pages_newest_first(store: Store) -> None:
    for i in range(5):
        await store.audit.append("alice", "account.update", f"+1555000000{i}", {"n": i})
    await store.audit.append("bob", "account.delete", "+15550000001")
    page = await store.audit.page(limit=4)
    assert [e.detail.get("n") for e in page.items] == [None, 4, 3, 2]
    assert page.next_cursor is not None
    rest = await store.audit.page(limit=4, before=page.next_cursor)
    assert [e.detail["n"] for e in rest.items] == [1, 0] and rest.next_cursor is None
    by_target = await store.audit.page(target="+15550000001")
    assert [e.actor for e in by_target.items] == ["bob", "alice"]
    assert [e.actor for e in (await store.audit.page(actor="bob")).items] == ["bob"]


async def test_audit_log_refuses_secrets_and_junk(store: Store) -> None:
    with pytest.raises(InvalidInput, match="secret cannot be written"):
        await store.audit.append("op", "login", "+1", {"password": SecretStr("pw")})
    with pytest.raises(InvalidInput, match=r"^detail: .*not JSON"):
        await store.audit.append("op", "login", "+1", {"when": object()})
    with pytest.raises(InvalidInput, match=r"^actor: "):
        await store.audit.append("", "login")
    assert (await store.audit.page()).items == ()


async def test_login_attempts(store: Store, clock: FakeClock) -> None:
    since = datetime.fromtimestamp(clock.now, tz=UTC)
    await store.login_attempts.record("+1 555 000 1234", "code", "send_code", "ok")
    clock.advance(60)
    failed = await store.login_attempts.record(
        "+15550001234", "code", "sign_in", LoginResult.FAILED, error="PHONE_CODE_INVALID"
    )
    bad = await store.login_attempts.record("555", "code", "send_code", "failed", error="phone")
    assert bad.account_key == "555"  # kept as typed, so the failure is visible
    attempts = await store.login_attempts.list_for("+15550001234")
    assert [a.step for a in attempts] == ["sign_in", "send_code"] and attempts[0] == failed
    assert await store.login_attempts.count_since("+15550001234", since) == 2
    assert await store.login_attempts.count_since("+15550001234", since, result="failed") == 1
    with pytest.raises(InvalidInput, match=r"^result: "):
        await store.login_attempts.record("+15550001234", "code", "x", "maybe")


def test_secret_wrappers_never_show_their_value() -> None:
    token = SecretStr("123:ABC-token")
    key = SecretBytes(b"\x01" * 256)
    for shown in (repr(token), str(token), f"{token}", f"{token!r}", repr(key), str(key)):
        assert "ABC" not in shown and "\\x01" not in shown and "*" in shown
    assert token == SecretStr("123:ABC-token") and token != SecretStr("other")
    assert key.reveal() == b"\x01" * 256 and len(key) == 256
    with pytest.raises(TypeError):
        pickle.dumps(token)
    with pytest.raises(TypeError):
        SecretStr(b"bytes")  # type: ignore[arg-type]
