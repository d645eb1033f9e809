"""AccountsStore: keys, validation naming the field, paging, updates, status, cascade."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from store_testkit import FakeClock, auth_key

from tgfleet.errors import AccountExists, AccountNotFound, InvalidInput
from tgfleet.store import (
    AccountKind,
    AccountStatus,
    DeviceParams,
    SecretKind,
    SecretStr,
    Store,
)
from tgfleet.store.accounts import RECENT_MAX_AGE, AccountsStore
from tgfleet.store.validation import normalize_phone


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        ("+15550001234", "+15550001234"),
        ("+1 (555) 000-1234", "+15550001234"),
        ("+44 20 7946 0958", "+442079460958"),
        ("0049 30 1234567", "+49301234567"),
        ("+7.999.123.45.67", "+79991234567"),
    ],
)
def test_phone_is_normalized_to_e164(typed: str, normalized: str) -> None:
    assert normalize_phone(typed) == normalized


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("15550001234", "must start with \\+"),
        ("+0123456789", "first not 0"),
        ("+123456", "7 to 15 digits"),
        ("+1234567890123456", "7 to 15 digits"),
        ("+1555abc1234", "E.164"),
        ("", "E.164"),
        ("+1555000#1234", "E.164"),
    ],
)
async def test_malformed_phone_names_the_field(store: Store, typed: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=f"^key: .*{problem}"):
        await store.accounts.create(typed)
    with pytest.raises(InvalidInput, match=r"^phone: "):
        normalize_phone(typed)


async def test_create_user_and_bot(store: Store, clock: FakeClock) -> None:
    user = await store.accounts.create("+1 555 000 1234", label="sales", keep_online=True)
    assert user.key == "+15550001234" and user.phone == "+15550001234"
    assert user.kind is AccountKind.USER and user.status is AccountStatus.NEW
    assert user.keep_online and user.enabled
    assert user.device == DeviceParams()  # pinned at creation (DESIGN fact 7)
    assert user.created_at == datetime.fromtimestamp(clock.now, tz=UTC)
    bot = await store.accounts.create("bot:123456", kind="bot")
    assert bot.kind is AccountKind.BOT and bot.bot_id == 123456 and bot.phone is None
    assert await store.accounts.get_by_key("+1-555-000-1234") == user
    assert await store.accounts.get(bot.id) == bot


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"key": "bot:abc"}, "key"),
        ({"key": "+15550001234", "kind": "bot"}, "kind"),
        ({"key": "+15550001234", "kind": "robot"}, "kind"),
        ({"key": "+15550001234", "label": "x" * 201}, "label"),
        ({"key": "+15550001234", "label": "a\nb"}, "label"),
        ({"key": "+15550001234", "proxy_url": "ftp://h:1"}, "proxy_url"),
        ({"key": "+15550001234", "proxy_url": "socks5://host"}, "proxy_url"),
        ({"key": "+15550001234", "proxy_url": "socks5://:1080"}, "proxy_url"),
        ({"key": "+15550001234", "api_id": 5}, "api_id, api_hash"),
        ({"key": "+15550001234", "api_id": 0, "api_hash": "a" * 32}, "api_id"),
        ({"key": "+15550001234", "api_id": 5, "api_hash": "xyz"}, "api_hash"),
        ({"key": "+15550001234", "device": DeviceParams(device_model="")}, "device_model"),
        ({"key": "+15550001234", "device": DeviceParams(lang_code="x" * 20)}, "lang_code"),
    ],
)
async def test_bad_input_names_the_field(
    store: Store, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput, match=f"^{field}: "):
        await store.accounts.create(**kwargs)  # type: ignore[arg-type]
    assert (await store.accounts.list()).items == ()


async def test_duplicate_and_missing(store: Store) -> None:
    await store.accounts.create("+15550001234")
    with pytest.raises(AccountExists, match=r"\+15550001234 is already in the fleet"):
        await store.accounts.create("+1 (555) 000-1234")
    with pytest.raises(AccountNotFound, match=r"no account \+15550009999"):
        await store.accounts.get_by_key("+15550009999")
    with pytest.raises(AccountNotFound, match="id 999"):
        await store.accounts.get(999)
    with pytest.raises(AccountNotFound):
        await store.accounts.set_status(999, AccountStatus.ACTIVE)
    with pytest.raises(AccountNotFound):
        await store.accounts.update(999, label="x")
    with pytest.raises(AccountNotFound):
        await store.accounts.delete(999)


async def test_proxy_is_sealed_and_shown_masked(store: Store) -> None:
    account = await store.accounts.create(
        "+15550001234", proxy_url="socks5://alice:s3cret@127.0.0.1:1080"
    )
    assert account.proxy_display == "socks5://alice:***@127.0.0.1:1080"
    assert account.proxy_url is not None
    assert account.proxy_url.reveal() == "socks5://alice:s3cret@127.0.0.1:1080"
    assert "s3cret" not in repr(account)
    mt = await store.accounts.update(account.id, proxy_url="mtproxy://ee00aabb@proxy.example:443")
    assert mt.proxy_display == "mtproxy://***@proxy.example:443"
    cleared = await store.accounts.update(account.id, proxy_url=None)
    assert cleared.proxy_url is None and cleared.proxy_display is None


async def test_update_changes_only_given_fields(store: Store, clock: FakeClock) -> None:
    account = await store.accounts.create("+15550001234", label="a")
    clock.advance(10)
    device = DeviceParams("Pixel 8", "Android 14", "10.14.0", "de", "de-DE")
    updated = await store.accounts.update(
        account.id,
        label="b",
        keep_online=True,
        device=device,
        api_override=(777, "ABCDEF0123456789abcdef0123456789"),
    )
    assert updated.label == "b" and updated.keep_online and updated.enabled
    assert updated.device == device
    assert updated.api_id == 777 and updated.api_hash is not None
    assert updated.api_hash.reveal() == "abcdef0123456789abcdef0123456789"
    assert updated.updated_at > account.updated_at and updated.created_at == account.created_at
    same = await store.accounts.update(account.id)
    assert same == updated
    reset = await store.accounts.update(account.id, api_override=None, enabled=False)
    assert reset.api_id is None and reset.api_hash is None and not reset.enabled
    with pytest.raises(InvalidInput, match=r"^enabled: "):
        await store.accounts.update(account.id, enabled="yes")  # type: ignore[arg-type]


async def test_set_status_and_flood_until(store: Store, clock: FakeClock) -> None:
    account = await store.accounts.create("+15550001234")
    until = datetime.fromtimestamp(clock.now + 300, tz=UTC)
    flooded = await store.accounts.set_status(
        account.id,
        AccountStatus.FLOOD_WAIT,
        detail="FLOOD_WAIT_300 on messages.send",
        flood_until=until,
    )
    assert flooded.status is AccountStatus.FLOOD_WAIT and flooded.flood_until == until
    active = await store.accounts.set_status(account.id, "active")
    assert active.status is AccountStatus.ACTIVE and active.flood_until is None
    with pytest.raises(InvalidInput, match=r"^flood_until: required"):
        await store.accounts.set_status(account.id, AccountStatus.FLOOD_WAIT)
    with pytest.raises(InvalidInput, match=r"^flood_until: only valid"):
        await store.accounts.set_status(account.id, AccountStatus.BANNED, flood_until=until)
    with pytest.raises(InvalidInput, match=r"^status: 'sleepy'"):
        await store.accounts.set_status(account.id, "sleepy")


async def test_list_filters_and_pages(store: Store) -> None:
    for i in range(7):
        account = await store.accounts.create(f"+1555000{i:04d}")
        if i % 2:
            await store.accounts.set_status(account.id, AccountStatus.ACTIVE)
    for i in range(3):
        await store.accounts.create(f"bot:{i + 1}")
    seen: list[str] = []
    after = None
    while True:
        page = await store.accounts.list(limit=3, after=after)
        seen += [a.key for a in page.items]
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert len(seen) == 10 and len(set(seen)) == 10
    active = await store.accounts.list(status="active")
    assert [a.key for a in active.items] == ["+15550000001", "+15550000003", "+15550000005"]
    bots = await store.accounts.list(kind=AccountKind.BOT, status=AccountStatus.NEW)
    assert [a.key for a in bots.items] == ["bot:1", "bot:2", "bot:3"]
    assert (await store.accounts.list(limit=10)).next_cursor is None
    counts = await store.accounts.count_by_status()
    assert counts["active"] == 3 and counts["new"] == 7 and counts["banned"] == 0
    with pytest.raises(InvalidInput, match=r"^limit: "):
        await store.accounts.list(limit=0)
    with pytest.raises(InvalidInput, match=r"^kind: "):
        await store.accounts.list(kind="robot")


async def test_delete_cascades_to_everything_of_the_account(store: Store) -> None:
    account = await store.accounts.create("+15550001234")
    keep = await store.accounts.create("+15550004321")
    auth = await store.authorizations.add(account.id, dc_id=2, auth_key=auth_key(), api_id=1)
    kept = await store.authorizations.add(keep.id, dc_id=2, auth_key=auth_key(), api_id=1)
    await store.leases.acquire(auth.id, "daemon-a", 60)
    await store.floods.record(account.id, 30, method="messages.sendMessage")
    await store.secrets.put(account.id, SecretKind.TWO_FA_PASSWORD, SecretStr("pw"))
    await store.audit.append("op", "account.delete", account.key)
    await store.accounts.delete(account.id)
    for table in ("authorizations", "leases", "flood_records", "account_secrets"):
        row = await store.db.fetchone(f"SELECT COUNT(*) FROM {table}")
        assert row is not None
        assert row[0] == (1 if table == "authorizations" else 0), table
    assert (await store.authorizations.get(kept.id)).account_id == keep.id
    # the audit log keeps the record of the deletion
    assert len((await store.audit.page()).items) == 1


async def test_recent_lookups_come_from_memory_until_a_write_or_their_age(
    store: Store, clock: FakeClock
) -> None:
    recent = AccountsStore(store.db, store.vault, clock=clock)
    created = await recent.create("+15550001001", label="first")
    assert (await recent.find_by_key_recent("+1 555 000 1001")).label == "first"  # type: ignore[union-attr]

    # another writer (another process, say): unseen until the entry's age runs out
    async with store.db.transaction() as t:
        await t.execute("UPDATE accounts SET label = 'outside' WHERE id = ?", (created.id,))
    assert (await recent.find_by_key_recent("+15550001001")).label == "first"  # type: ignore[union-attr]
    clock.advance(RECENT_MAX_AGE)
    assert (await recent.find_by_key_recent("+15550001001")).label == "outside"  # type: ignore[union-attr]

    # this store's own writes are seen at once
    await recent.update(created.id, enabled=False)
    assert (await recent.find_by_key_recent("+15550001001")).enabled is False  # type: ignore[union-attr]
    await recent.set_status(created.id, AccountStatus.BANNED)
    assert (await recent.find_by_key_recent("+15550001001")).status is AccountStatus.BANNED  # type: ignore[union-attr]
    await recent.delete(created.id)
    assert await recent.find_by_key_recent("+15550001001") is None
