"""AuthorizationsStore: keys sealed per row, one row per key, states that never come back."""

from __future__ import annotations

import pytest
from store_testkit import FakeClock, auth_key

from tgfleet.errors import AccountNotFound, AuthorizationNotFound, Conflict, InvalidInput
from tgfleet.store import Account, AuthorizationState, SecretBytes, Store, auth_key_id_of


@pytest.fixture
async def account(store: Store) -> Account:
    return await store.accounts.create("+15550001234")


async def test_add_list_and_open_session(store: Store, account: Account) -> None:
    key = auth_key()
    auth = await store.authorizations.add(
        account.id,
        dc_id=2,
        auth_key=SecretBytes(key),
        api_id=611335,
        user_id=777000,
        test_mode=True,
        server_address="127.0.0.1",
        port=44300,
    )
    assert auth.state is AuthorizationState.ACTIVE
    assert auth.auth_key_id == auth_key_id_of(key)
    assert (auth.server_address, auth.port, auth.test_mode) == ("127.0.0.1", 44300, True)
    second = await store.authorizations.add(account.id, dc_id=2, auth_key=auth_key(), api_id=1)
    assert await store.authorizations.list_for_account(account.id) == (auth, second)
    session = await store.authorizations.session(auth.id)
    assert session.authorization == auth and session.auth_key.reveal() == key
    assert "SecretBytes('**********')" in repr(session)


async def test_the_same_key_is_never_stored_twice(store: Store, account: Account) -> None:
    key = auth_key()
    first = await store.authorizations.add(account.id, dc_id=2, auth_key=key, api_id=1)
    other = await store.accounts.create("+15550004321")
    with pytest.raises(Conflict, match=f"already stored as authorization {first.id}"):
        await store.authorizations.add(other.id, dc_id=2, auth_key=key, api_id=1)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"auth_key": b"short"}, "auth_key"),
        ({"dc_id": 0}, "dc_id"),
        ({"api_id": -1}, "api_id"),
        ({"port": 70000}, "port"),
        ({"server_address": ""}, "server_address"),
        ({"user_id": 0}, "user_id"),
    ],
)
async def test_bad_input_names_the_field(
    store: Store, account: Account, kwargs: dict[str, object], field: str
) -> None:
    args: dict[str, object] = {"dc_id": 2, "auth_key": auth_key(), "api_id": 1, **kwargs}
    with pytest.raises(InvalidInput, match=f"^{field}: "):
        await store.authorizations.add(account.id, **args)  # type: ignore[arg-type]


async def test_missing_account_and_authorization(store: Store) -> None:
    with pytest.raises(AccountNotFound):
        await store.authorizations.add(999, dc_id=2, auth_key=auth_key(), api_id=1)
    for call in (
        store.authorizations.get(999),
        store.authorizations.session(999),
        store.authorizations.touch(999),
        store.authorizations.delete(999),
        store.authorizations.set_state(999, "revoked"),
    ):
        with pytest.raises(AuthorizationNotFound, match="999"):
            await call


async def test_state_transitions(store: Store, account: Account) -> None:
    auth = await store.authorizations.add(account.id, dc_id=2, auth_key=auth_key(), api_id=1)
    dup = await store.authorizations.set_state(
        auth.id, AuthorizationState.DUPLICATED, detail="406 AUTH_KEY_DUPLICATED"
    )
    assert dup.state is AuthorizationState.DUPLICATED and dup.state_detail.startswith("406")
    assert (await store.authorizations.set_state(auth.id, "duplicated")).state_detail == (
        dup.state_detail
    )
    with pytest.raises(Conflict, match="is duplicated; it cannot become active"):
        await store.authorizations.set_state(auth.id, "active")
    revoked = await store.authorizations.set_state(auth.id, "revoked")
    with pytest.raises(Conflict, match="is revoked"):
        await store.authorizations.set_state(revoked.id, "duplicated")
    with pytest.raises(InvalidInput, match=r"^state: "):
        await store.authorizations.set_state(auth.id, "zombie")
    live = await store.authorizations.add(account.id, dc_id=2, auth_key=auth_key(), api_id=1)
    listed = await store.authorizations.list_for_account(account.id, state="active")
    assert [a.id for a in listed] == [live.id]


async def test_touch_and_set_user(store: Store, account: Account, clock: FakeClock) -> None:
    auth = await store.authorizations.add(account.id, dc_id=2, auth_key=auth_key(), api_id=1)
    assert auth.last_used_at is None and auth.user_id is None
    clock.advance(5)
    await store.authorizations.touch(auth.id)
    touched = await store.authorizations.get(auth.id)
    assert touched.last_used_at is not None and touched.last_used_at.timestamp() == clock.now
    bot = await store.authorizations.set_user(auth.id, user_id=4242, is_bot=True)
    assert bot.user_id == 4242 and bot.is_bot
