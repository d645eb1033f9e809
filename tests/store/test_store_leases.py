"""LeaseStore: one owner per authorization, fencing numbers that only grow, takeover."""

from __future__ import annotations

import asyncio
import os

import pytest
from store_testkit import FakeClock, auth_key

from tgfleet.errors import AuthorizationNotFound, InvalidInput, LeaseHeld, LeaseLost
from tgfleet.store import Authorization, Store, new_owner_id


@pytest.fixture
async def auth(store: Store) -> Authorization:
    account = await store.accounts.create("+15550001234")
    return await store.authorizations.add(account.id, dc_id=2, auth_key=auth_key(), api_id=1)


async def test_acquire_renew_release(store: Store, auth: Authorization, clock: FakeClock) -> None:
    lease = await store.leases.acquire(auth.id, "daemon-a", 30)
    assert lease.owner == "daemon-a" and lease.fencing == 1
    assert lease.expires_at.timestamp() == clock.now + 30
    clock.advance(20)
    renewed = await store.leases.renew(lease, 30)
    assert renewed.fencing == 1 and renewed.expires_at.timestamp() == clock.now + 30
    await store.leases.check(renewed)
    assert await store.leases.held_by("daemon-a") == (renewed,)
    assert await store.leases.live_for_account(auth.account_id) == (renewed,)
    assert await store.leases.release(renewed)
    assert not await store.leases.release(renewed)  # already released
    assert await store.leases.held_by("daemon-a") == ()
    with pytest.raises(LeaseLost, match="was released"):
        await store.leases.check(renewed)


async def test_live_lease_is_refused_to_another_owner(store: Store, auth: Authorization) -> None:
    await store.leases.acquire(auth.id, "daemon-a", 30)
    with pytest.raises(LeaseHeld, match=f"authorization {auth.id} is leased by 'daemon-a'"):
        await store.leases.acquire(auth.id, "daemon-b", 30)
    assert await store.leases.try_acquire(auth.id, "daemon-b", 30) is None


async def test_same_owner_reacquires_without_new_fencing(store: Store, auth: Authorization) -> None:
    first = await store.leases.acquire(auth.id, "daemon-a", 30)
    again = await store.leases.acquire(auth.id, "daemon-a", 60)
    assert again.fencing == first.fencing and again.acquired_at == first.acquired_at


async def test_expired_lease_is_taken_over_with_a_higher_fencing_number(
    store: Store, auth: Authorization, clock: FakeClock
) -> None:
    old = await store.leases.acquire(auth.id, "daemon-a", 30)
    clock.advance(31)  # daemon-a froze and missed its renewal
    new = await store.leases.acquire(auth.id, "daemon-b", 30)
    assert new.owner == "daemon-b" and new.fencing == old.fencing + 1
    # the frozen daemon wakes up: every guarded step tells it that it lost the authorization
    with pytest.raises(LeaseLost, match="taken over by 'daemon-b' \\(fencing 2\\)"):
        await store.leases.renew(old, 30)
    with pytest.raises(LeaseLost, match="taken over"):
        await store.leases.check(old)
    assert not await store.leases.release(old)
    assert (await store.leases.get(auth.id)) == new


async def test_fencing_keeps_growing_across_release_and_owners(
    store: Store, auth: Authorization
) -> None:
    fencings = []
    for owner in ("a", "b", "a", "a"):
        lease = await store.leases.acquire(auth.id, owner, 30)
        fencings.append(lease.fencing)
        await store.leases.release(lease)
    assert fencings == [1, 2, 3, 4]


async def test_expired_but_untaken_lease_can_be_renewed_not_used(
    store: Store, auth: Authorization, clock: FakeClock
) -> None:
    lease = await store.leases.acquire(auth.id, "daemon-a", 30)
    clock.advance(45)
    with pytest.raises(LeaseLost, match="expired at"):
        await store.leases.check(lease)
    # nobody else acquired it (the fencing number proves it), so renewing is safe
    renewed = await store.leases.renew(lease, 30)
    assert renewed.fencing == lease.fencing
    await store.leases.check(renewed)


async def test_check_fences_a_write_in_the_same_transaction(
    store: Store, auth: Authorization, clock: FakeClock
) -> None:
    lease = await store.leases.acquire(auth.id, "daemon-a", 30)
    clock.advance(31)
    await store.leases.acquire(auth.id, "daemon-b", 30)
    with pytest.raises(LeaseLost):
        async with store.db.transaction() as tx:
            await store.authorizations.touch(auth.id, tx=tx)
            await store.leases.check(lease, tx=tx)
    assert (await store.authorizations.get(auth.id)).last_used_at is None


async def test_concurrent_acquirers_get_exactly_one_lease(
    store: Store, auth: Authorization
) -> None:
    results = await asyncio.gather(
        *(store.leases.try_acquire(auth.id, f"daemon-{i}", 30) for i in range(10))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0].fencing == 1


async def test_release_all_and_cascade(store: Store, auth: Authorization) -> None:
    other = await store.authorizations.add(auth.account_id, dc_id=2, auth_key=auth_key(), api_id=1)
    await store.leases.acquire(auth.id, "daemon-a", 30)
    await store.leases.acquire(other.id, "daemon-a", 30)
    assert await store.leases.release_all("daemon-a") == 2
    lease = await store.leases.acquire(other.id, "daemon-b", 30)
    assert lease.fencing == 2
    await store.authorizations.delete(other.id)
    assert await store.leases.get(other.id) is None
    with pytest.raises(LeaseLost, match="authorization was removed"):
        await store.leases.renew(lease, 30)


async def test_bad_arguments(store: Store, auth: Authorization) -> None:
    with pytest.raises(AuthorizationNotFound):
        await store.leases.acquire(999, "daemon-a", 30)
    with pytest.raises(InvalidInput, match=r"^ttl: "):
        await store.leases.acquire(auth.id, "daemon-a", 0)
    with pytest.raises(InvalidInput, match=r"^owner: "):
        await store.leases.acquire(auth.id, "", 30)


def test_owner_ids_differ_per_incarnation() -> None:
    first, second = new_owner_id(), new_owner_id()
    assert first != second and first.split(":")[1] == str(os.getpid())


async def test_acquire_free_never_hands_out_a_key_twice(
    store: Store, auth: Authorization, clock: FakeClock
) -> None:
    second = await store.authorizations.add(auth.account_id, dc_id=2, auth_key=auth_key(), api_id=1)
    dead = await store.authorizations.add(auth.account_id, dc_id=2, auth_key=auth_key(), api_id=1)
    await store.authorizations.set_state(dead.id, "revoked")
    first = await store.leases.acquire_free(auth.account_id, "daemon-a", 30)
    again = await store.leases.acquire_free(auth.account_id, "daemon-a", 30)
    assert first is not None and again is not None
    # the same owner asking twice gets two different keys: one client per key (fact 1)
    assert {first.authorization_id, again.authorization_id} == {auth.id, second.id}
    assert await store.leases.acquire_free(auth.account_id, "daemon-b", 30) is None
    clock.advance(31)
    taken = await store.leases.acquire_free(auth.account_id, "daemon-b", 30)
    assert taken is not None and taken.owner == "daemon-b" and taken.fencing == 2
