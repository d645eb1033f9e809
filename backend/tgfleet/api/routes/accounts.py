"""Accounts: list, read, change and remove them; add them by login steps, bot token or session
string; and act through them (get_me, send, dialogs, history, mark read) via the pool.

An account is named in the path by its key in any spelling the store accepts: a phone number
("+1 555 000-0001", "0015550000001") or "bot:<id>". Every route decides first (the key exists,
the input is well formed) and then acts, so a malformed request never reaches Telegram.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Response, status

from tgfleet.api.deps import CurrentUser, RuntimeDep
from tgfleet.api.schemas import (
    AccountDetailOut,
    AccountOut,
    AccountPage,
    AccountPatch,
    BotIn,
    CodeIn,
    DialogOut,
    ImportIn,
    LoginOut,
    LoginStart,
    MeOut,
    MessageIn,
    MessageOut,
    PasswordIn,
    PeerIn,
    ReadOut,
    RemovedOut,
    SentOut,
)
from tgfleet.errors import AccountNotFound, Conflict
from tgfleet.runtime import Runtime
from tgfleet.services.login import LoginFlow
from tgfleet.store.records import Account, AccountKind, AccountStatus
from tgfleet.store.validation import normalize_account_key

router = APIRouter(prefix="/api/v1", tags=["accounts"])

MAX_PAGE = 1000
MAX_MESSAGES = 200
_CHAT_ID = re.compile(r"-?\d{1,20}")


def install(app: FastAPI) -> None:
    app.include_router(router)


# --- helpers -----------------------------------------------------------------------------------


async def _working(runtime: Runtime, value: str) -> Account:
    """The account, if it may act: a disabled one is refused before the pool is asked."""
    account = await _account(runtime, value)
    if not account.enabled:
        raise Conflict(
            f"account {account.key} is disabled; enable it (PATCH enabled=true) to act through it"
        )
    return account


async def _account(runtime: Runtime, value: str) -> Account:
    """The account named by ``value`` in any spelling; 422 if malformed, 404 if unknown."""
    key, _ = normalize_account_key(value, field="key")
    account = await runtime.store.accounts.find_by_key(key)
    if account is None:
        raise AccountNotFound(f"no account {key} in the fleet")
    return account


def _peer(value: str) -> int | str:
    """A chat id as a number; a username without its '@'; a phone as given."""
    text = value.strip()
    if _CHAT_ID.fullmatch(text):
        return int(text)
    return text.removeprefix("@")


def _login(flow: LoginFlow) -> LoginOut:
    return LoginOut(**flow.view())


# --- accounts ----------------------------------------------------------------------------------


@router.get("/accounts", summary="List accounts (keyset paging: pass next_cursor as after)")
async def list_accounts(
    user: CurrentUser,
    runtime: RuntimeDep,
    status_: Annotated[AccountStatus | None, Query(alias="status")] = None,
    kind: AccountKind | None = None,
    after: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> AccountPage:
    page = await runtime.store.accounts.list(status=status_, kind=kind, after=after, limit=limit)
    return AccountPage(items=[AccountOut.of(a) for a in page.items], next_cursor=page.next_cursor)


@router.get("/accounts/{key}", summary="One account with its authorizations (never their keys)")
async def get_account(key: str, user: CurrentUser, runtime: RuntimeDep) -> AccountDetailOut:
    account = await _account(runtime, key)
    listed = await runtime.store.authorizations.list_for_account(account.id)
    return AccountDetailOut.with_authorizations(account, listed)


@router.patch("/accounts/{key}", summary="Change label, keep_online, proxy, device, enabled")
async def patch_account(
    key: str, body: AccountPatch, user: CurrentUser, runtime: RuntimeDep
) -> AccountOut:
    account = await _account(runtime, key)
    # only what the body names changes; ``proxy: null`` is named, and clears the proxy
    changes: dict[str, Any] = {}
    for field in ("label", "keep_online", "enabled"):
        value = getattr(body, field)
        if value is not None:
            changes[field] = value
    if body.device is not None:
        changes["device"] = replace(account.device, **body.device.model_dump(exclude_none=True))
    if "proxy" in body.model_fields_set:
        changes["proxy_url"] = None if body.proxy is None else body.proxy.get_secret_value()
    updated = await runtime.store.accounts.update(account.id, **changes)
    # the pool follows at once: a disabled account gives up its connections, keep_online
    # brings one up; a new proxy or device applies to connections opened from now on
    await runtime.fleet.sync_account(updated)
    return AccountOut.of(updated)


@router.delete("/accounts/{key}", summary="Log out every authorization on Telegram and remove")
async def delete_account(key: str, user: CurrentUser, runtime: RuntimeDep) -> RemovedOut:
    account = await _account(runtime, key)
    logged_out = await runtime.logout.remove(account.key, actor=user.username)
    return RemovedOut(key=account.key, logged_out=logged_out)


# --- adding accounts ---------------------------------------------------------------------------


@router.post("/logins", status_code=status.HTTP_201_CREATED, summary="Start a login: send a code")
async def start_login(body: LoginStart, user: CurrentUser, runtime: RuntimeDep) -> LoginOut:
    flow = await runtime.logins.start_code_login(
        body.phone,
        label=body.label,
        keep_online=body.keep_online,
        add_to_existing=body.add_to_existing,
    )
    return _login(flow)


@router.get("/logins/{login_id}", summary="Where a login stands")
async def get_login(login_id: str, user: CurrentUser, runtime: RuntimeDep) -> LoginOut:
    return _login(runtime.logins.get(login_id))


@router.post("/logins/{login_id}/code", summary="Submit the login code")
async def submit_code(
    login_id: str, body: CodeIn, user: CurrentUser, runtime: RuntimeDep
) -> LoginOut:
    return _login(await runtime.logins.submit_code(login_id, body.code))


@router.post("/logins/{login_id}/password", summary="Submit the two-step password")
async def submit_password(
    login_id: str, body: PasswordIn, user: CurrentUser, runtime: RuntimeDep
) -> LoginOut:
    flow = await runtime.logins.submit_password(login_id, body.password.get_secret_value())
    return _login(flow)


@router.delete(
    "/logins/{login_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Cancel a login"
)
async def cancel_login(login_id: str, user: CurrentUser, runtime: RuntimeDep) -> Response:
    await runtime.logins.cancel(login_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/accounts/bot", status_code=status.HTTP_201_CREATED, summary="Add a bot by its token")
async def add_bot(body: BotIn, user: CurrentUser, runtime: RuntimeDep) -> AccountOut:
    done = await runtime.logins.login_bot(
        body.token.get_secret_value(), label=body.label, keep_online=body.keep_online
    )
    return AccountOut.of(done.account)


@router.post(
    "/accounts/import",
    status_code=status.HTTP_201_CREATED,
    summary="Add an account (or an authorization) from a Pyrogram or Telethon session string",
)
async def import_session(body: ImportIn, user: CurrentUser, runtime: RuntimeDep) -> AccountOut:
    done = await runtime.importer.import_session_string(
        body.session_string.get_secret_value(),
        label=body.label,
        keep_online=body.keep_online,
        add_to_existing=body.add_to_existing,
    )
    return AccountOut.of(done.account)


# --- actions through the pool ------------------------------------------------------------------


@router.get("/accounts/{key}/me", summary="The account's own user, asked of Telegram")
async def get_me(key: str, user: CurrentUser, runtime: RuntimeDep) -> MeOut:
    account = await _working(runtime, key)
    me = await runtime.actions.get_me(account.key)
    return MeOut(
        id=me.id, first_name=me.first_name, username=me.username, phone=me.phone, is_bot=me.is_bot
    )


@router.post(
    "/accounts/{key}/messages",
    status_code=status.HTTP_201_CREATED,
    summary="Send a text message to a peer (username, phone or chat id)",
)
async def send_message(
    key: str, body: MessageIn, user: CurrentUser, runtime: RuntimeDep
) -> SentOut:
    account = await _working(runtime, key)
    sent = await runtime.actions.send_message(account.key, _peer(body.peer), body.text)
    return SentOut(chat_id=sent.chat_id, message_id=sent.message_id, text=sent.text)


@router.get("/accounts/{key}/dialogs", summary="The account's dialogs, newest first")
async def dialogs(
    key: str,
    user: CurrentUser,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=MAX_MESSAGES)] = 50,
) -> list[DialogOut]:
    account = await _working(runtime, key)
    found = await runtime.actions.dialogs(account.key, limit=limit)
    return [DialogOut(chat_id=d.chat_id, title=d.title, unread=d.unread) for d in found]


@router.get("/accounts/{key}/history", summary="Messages with a peer, newest first")
async def history(
    key: str,
    user: CurrentUser,
    runtime: RuntimeDep,
    peer: Annotated[str, Query(min_length=1, max_length=64)],
    limit: Annotated[int, Query(ge=1, le=MAX_MESSAGES)] = 50,
) -> list[MessageOut]:
    account = await _working(runtime, key)
    found = await runtime.actions.history(account.key, _peer(peer), limit=limit)
    return [
        MessageOut(
            chat_id=m.chat_id,
            message_id=m.message_id,
            sender_id=m.sender_id,
            text=m.text,
            outgoing=m.outgoing,
        )
        for m in found
    ]


@router.post("/accounts/{key}/read", summary="Mark the history with a peer as read")
async def mark_read(key: str, body: PeerIn, user: CurrentUser, runtime: RuntimeDep) -> ReadOut:
    account = await _working(runtime, key)
    return ReadOut(read=await runtime.actions.read(account.key, _peer(body.peer)))
