"""Accounts: list, read, file, change and remove them.

The routes that add accounts by logging in (and their authorizations) are in ``logins``, the
ones that act through an account in ``actions``; ``install`` mounts all three, so ``app.py``
has one line for the accounts side of the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, status

from tgfleet.api.deps import CurrentUser, RuntimeDep
from tgfleet.api.routes import actions, logins, proxies, tokens
from tgfleet.api.routes.lookups import find_account, problems, usable_proxy
from tgfleet.api.schemas import (
    AccountCreate,
    AccountDetailOut,
    AccountOut,
    AccountPage,
    AccountPatch,
    RemovedOut,
)
from tgfleet.store.records import AccountKind, AccountStatus
from tgfleet.store.validation import normalize_phone

router = APIRouter(prefix="/api/v1", tags=["accounts"])

MAX_PAGE = 1000


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(logins.router)
    app.include_router(actions.router)
    app.include_router(proxies.router)
    app.include_router(tokens.router)


@router.get(
    "/accounts",
    summary="List accounts (keyset paging: pass next_cursor as after)",
    response_model=AccountPage,
    responses=problems(),
)
async def list_accounts(
    user: CurrentUser,
    runtime: RuntimeDep,
    status_: Annotated[AccountStatus | None, Query(alias="status")] = None,
    kind: AccountKind | None = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> AccountPage:
    page = await runtime.store.accounts.list(status=status_, kind=kind, after=after, limit=limit)
    return AccountPage(items=[AccountOut.of(a) for a in page.items], next_cursor=page.next_cursor)


@router.post(
    "/accounts",
    status_code=status.HTTP_201_CREATED,
    summary="File an account without logging in; its login later uses its proxy and device",
    response_model=AccountOut,
    responses=problems(409),
)
async def create_account(body: AccountCreate, user: CurrentUser, runtime: RuntimeDep) -> AccountOut:
    # a bot has no account before its token: it is added by POST /accounts/bot
    key = normalize_phone(body.phone)
    device = runtime.factory.target.default_device
    if body.device is not None:
        device = body.device.over(device)
    async with runtime.store.db.transaction() as tx:
        account = await runtime.store.accounts.create(
            key,
            label=body.label,
            keep_online=body.keep_online,
            device=device,
            proxy_url=usable_proxy(body.proxy),
            tx=tx,
        )
        await runtime.store.audit.append(user.username, "account.created", account.key, tx=tx)
    runtime.bus.publish("account.created", account.key, status=account.status.value)
    # status "new": the pool holds nothing for it until a login gives it an authorization
    return AccountOut.of(account)


@router.get(
    "/accounts/{key}",
    summary="One account with its authorizations (never their keys)",
    response_model=AccountDetailOut,
    responses=problems(404),
)
async def get_account(key: str, user: CurrentUser, runtime: RuntimeDep) -> AccountDetailOut:
    account = await find_account(runtime, key)
    listed = await runtime.store.authorizations.list_for_account(account.id)
    return AccountDetailOut.with_authorizations(account, listed)


@router.patch(
    "/accounts/{key}",
    summary="Change label, keep_online, proxy, device, enabled",
    response_model=AccountOut,
    responses=problems(404),
)
async def patch_account(
    key: str, body: AccountPatch, user: CurrentUser, runtime: RuntimeDep
) -> AccountOut:
    account = await find_account(runtime, key)
    # only what the body names changes; ``proxy: null`` is named, and clears the proxy
    changes: dict[str, Any] = {}
    for field in ("label", "keep_online", "enabled"):
        value = getattr(body, field)
        if value is not None:
            changes[field] = value
    if body.device is not None:
        changes["device"] = body.device.over(account.device)
    if "proxy" in body.model_fields_set:
        changes["proxy_url"] = usable_proxy(body.proxy)
    updated = await runtime.store.accounts.update(account.id, **changes)
    # the pool follows at once: a disabled account gives up its connections, keep_online
    # brings one up; a new proxy or device applies to connections opened from now on
    await runtime.fleet.sync_account(updated)
    return AccountOut.of(updated)


@router.delete(
    "/accounts/{key}",
    summary="Log out every authorization on Telegram and remove the account",
    response_model=RemovedOut,
    responses=problems(404, 502),
)
async def delete_account(key: str, user: CurrentUser, runtime: RuntimeDep) -> RemovedOut:
    account = await find_account(runtime, key)
    logged_out = await runtime.logout.remove(account.key, actor=user.username)
    return RemovedOut(key=account.key, logged_out=logged_out)
