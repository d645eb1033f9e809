"""Adding accounts and authorizations: login steps, a bot by token, a session string, a second
login or a QR handoff for an account already in the fleet; listing and logging out
authorizations.

Logins are scarce (DESIGN fact 6): every route here checks its input before a code is asked
for, and none retries a step. The steps of a login are driven one request each
(``/logins/{id}/code``, ``/password``) whatever started it.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from tgfleet.api.deps import CurrentUser, RuntimeDep
from tgfleet.api.routes.lookups import find_account, problems, working_account
from tgfleet.api.schemas import (
    AccountOut,
    AuthorizationListed,
    AuthorizationOut,
    AuthorizationRemovedOut,
    BotIn,
    CodeIn,
    DeviceOut,
    DevicePatch,
    ImportIn,
    LoginOut,
    LoginStart,
    PasswordIn,
)
from tgfleet.errors import AuthorizationNotFound
from tgfleet.services.login import LoginFlow
from tgfleet.store.records import AccountStatus, DeviceParams

router = APIRouter(prefix="/api/v1", tags=["logins"])


def _login(flow: LoginFlow) -> LoginOut:
    return LoginOut(**flow.view())


def _device(given: DevicePatch | None, default: DeviceParams) -> DeviceParams | None:
    """A new account's device: the fields given over the fleet's default."""
    return None if given is None else given.over(default)


# --- login steps -------------------------------------------------------------------------------


@router.post(
    "/logins",
    status_code=status.HTTP_201_CREATED,
    summary="Start a login: Telegram sends the code (a filed account logs in as it is)",
    response_model=LoginOut,
    responses=problems(400, 409, 429, 502),
)
async def start_login(body: LoginStart, user: CurrentUser, runtime: RuntimeDep) -> LoginOut:
    flow = await runtime.logins.start_code_login(
        body.phone,
        label=body.label,
        keep_online=body.keep_online,
        add_to_existing=body.add_to_existing,
        device=_device(body.device, runtime.factory.target.default_device),
        proxy_url=None if body.proxy is None else body.proxy.get_secret_value(),
    )
    return _login(flow)


@router.get(
    "/logins",
    summary="Logins waiting for their next step (a code or a password), oldest first",
    response_model=list[LoginOut],
    responses=problems(),
)
async def list_logins(user: CurrentUser, runtime: RuntimeDep) -> list[LoginOut]:
    return [_login(flow) for flow in runtime.logins.in_progress()]


@router.get(
    "/logins/{login_id}",
    summary="Where a login stands",
    response_model=LoginOut,
    responses=problems(404),
)
async def get_login(login_id: str, user: CurrentUser, runtime: RuntimeDep) -> LoginOut:
    return _login(runtime.logins.get(login_id))


@router.post(
    "/logins/{login_id}/code",
    summary="Submit the login code",
    response_model=LoginOut,
    responses=problems(400, 404, 409, 429, 502),
)
async def submit_code(
    login_id: str, body: CodeIn, user: CurrentUser, runtime: RuntimeDep
) -> LoginOut:
    return _login(await runtime.logins.submit_code(login_id, body.code))


@router.post(
    "/logins/{login_id}/password",
    summary="Submit the two-step password",
    response_model=LoginOut,
    responses=problems(400, 404, 409, 429, 502),
)
async def submit_password(
    login_id: str, body: PasswordIn, user: CurrentUser, runtime: RuntimeDep
) -> LoginOut:
    flow = await runtime.logins.submit_password(login_id, body.password.get_secret_value())
    return _login(flow)


@router.delete(
    "/logins/{login_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Cancel a login",
    response_class=Response,
    responses=problems(404),
)
async def cancel_login(login_id: str, user: CurrentUser, runtime: RuntimeDep) -> Response:
    await runtime.logins.cancel(login_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- accounts by token or session string -------------------------------------------------------


@router.post(
    "/accounts/bot",
    status_code=status.HTTP_201_CREATED,
    summary="Add a bot by its token",
    response_model=AccountOut,
    responses=problems(400, 409, 429, 502),
)
async def add_bot(body: BotIn, user: CurrentUser, runtime: RuntimeDep) -> AccountOut:
    done = await runtime.logins.login_bot(
        body.token.get_secret_value(),
        label=body.label,
        keep_online=body.keep_online,
        device=_device(body.device, runtime.factory.target.default_device),
        proxy_url=None if body.proxy is None else body.proxy.get_secret_value(),
    )
    return AccountOut.of(done.account)


@router.post(
    "/accounts/import",
    status_code=status.HTTP_201_CREATED,
    summary="Add an account (or an authorization) from a Pyrogram or Telethon session string",
    response_model=AccountOut,
    responses=problems(400, 409, 502),
)
async def import_session(body: ImportIn, user: CurrentUser, runtime: RuntimeDep) -> AccountOut:
    done = await runtime.importer.import_session_string(
        body.session_string.get_secret_value(),
        label=body.label,
        keep_online=body.keep_online,
        add_to_existing=body.add_to_existing,
        device=_device(body.device, runtime.factory.target.default_device),
        proxy_url=None if body.proxy is None else body.proxy.get_secret_value(),
    )
    return AccountOut.of(done.account)


# --- authorizations of an account --------------------------------------------------------------


@router.get(
    "/accounts/{key}/authorizations",
    summary="The account's authorizations: state, dates, dc, device, live client (never keys)",
    response_model=list[AuthorizationListed],
    responses=problems(404),
)
async def list_authorizations(
    key: str, user: CurrentUser, runtime: RuntimeDep
) -> list[AuthorizationListed]:
    account = await find_account(runtime, key)
    listed = await runtime.store.authorizations.list_for_account(account.id)
    live = {
        info.authorization_id: info.state
        for info in runtime.pool.connections()
        if info.phone == account.key
    }
    device = DeviceOut.of(account.device)
    return [
        AuthorizationListed(
            **AuthorizationOut.of(a).model_dump(),
            device=device,
            connection=live.get(str(a.id)),
        )
        for a in listed
    ]


@router.post(
    "/accounts/{key}/authorizations",
    status_code=status.HTTP_201_CREATED,
    summary="Add an authorization by a second login: Telegram sends a code to the account",
    response_model=LoginOut,
    responses=problems(400, 404, 409, 429, 502),
)
async def add_authorization_by_login(key: str, user: CurrentUser, runtime: RuntimeDep) -> LoginOut:
    account = await find_account(runtime, key)
    flow = await runtime.logins.start_code_login(account.key, add_to_existing=True)
    return _login(flow)


@router.post(
    "/accounts/{key}/authorizations/qr",
    status_code=status.HTTP_201_CREATED,
    summary="Add an authorization by QR handoff: no code is sent; an authorization the "
    "account has accepts a login token a new key exports",
    response_model=LoginOut,
    responses=problems(400, 404, 409, 429, 502, 503),
)
async def add_authorization_by_qr(key: str, user: CurrentUser, runtime: RuntimeDep) -> LoginOut:
    # the token is accepted through a pooled connection: an account that cannot act is
    # refused before a new key is made for nothing
    account = await working_account(runtime, key)
    # done at once, or password_needed: then POST /logins/{id}/password as for any login
    return _login(await runtime.logins.add_by_qr_handoff(account.key))


@router.delete(
    "/accounts/{key}/authorizations/{authorization_id}",
    summary="Log one authorization out on Telegram and forget it",
    response_model=AuthorizationRemovedOut,
    responses=problems(404, 502),
)
async def log_out_authorization(
    key: str, authorization_id: int, user: CurrentUser, runtime: RuntimeDep
) -> AuthorizationRemovedOut:
    account = await find_account(runtime, key)
    owned = await runtime.store.authorizations.list_for_account(account.id)
    if authorization_id not in {a.id for a in owned}:
        raise AuthorizationNotFound(
            f"account {account.key} has no authorization {authorization_id}"
        )
    await runtime.logout.log_out(account.key, authorization_id, actor=user.username)
    remaining = await runtime.store.authorizations.list_for_account(account.id)
    if not remaining:
        # nothing left to act with: the account is back to "new", and a plain login
        # (POST /logins) gives it an authorization again
        updated = await runtime.store.accounts.set_status(account.id, AccountStatus.NEW)
        await runtime.fleet.sync_account(updated)
    return AuthorizationRemovedOut(
        key=account.key, authorization_id=authorization_id, remaining=len(remaining)
    )
