"""Login flows: small state machines whose steps the API drives, one request per step.

Logins are scarce (DESIGN fact 6): no flow ever retries a step by itself. A wrong code or
password leaves the flow where it was so the operator can type again; an expired code, a banned
number or a flood ends it. Every step is recorded in ``login_attempts``; the authorization a
successful flow creates is stored in one transaction with its account's status and an audit
entry, so a crash never leaves a half-added account.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pyrogram import Client, raw
from pyrogram import errors as tg
from pyrogram import types as tgtypes

from tgfleet.errors import (
    AccountExists,
    Conflict,
    InvalidInput,
    LoginError,
    TelegramError,
    TgfleetError,
)
from tgfleet.services.enrol import Completed, NewAccount, enrol
from tgfleet.services.events import EventBus
from tgfleet.store.records import Account, DeviceParams, LoginResult
from tgfleet.store.store import Store
from tgfleet.store.validation import check_proxy_url, check_text, normalize_phone
from tgfleet.telegram.errors import translate
from tgfleet.telegram.factory import ClientFactory
from tgfleet.telegram.proxy import parse_proxy
from tgfleet.telegram.server import export_record

log = logging.getLogger(__name__)

FLOW_TTL = 600.0  # a code is valid for minutes; a flow left alone longer is dropped


class LoginStep(enum.StrEnum):
    CODE_SENT = "code_sent"
    PASSWORD_NEEDED = "password_needed"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The failures after which the same flow cannot go on: the operator starts a new one.
_TERMINAL = {
    "PHONE_CODE_EXPIRED",
    "PHONE_NUMBER_BANNED",
    "PHONE_NUMBER_INVALID",
    "FLOOD_WAIT",
    "SRP_ID_INVALID",
    "AUTH_RESTART",
}


@dataclass
class LoginFlow:
    """One login in progress; the client inside holds the not-yet-authorized auth key."""

    id: str
    kind: str  # "code" | "bot" | "qr"
    account_key: str
    client: Client = field(repr=False)
    step: LoginStep = LoginStep.CODE_SENT
    phone_code_hash: str = field(default="", repr=False)
    code_type: str = ""
    password_hint: str = ""
    error: str = ""
    label: str = ""
    keep_online: bool = False
    device: DeviceParams | None = None
    proxy_url: str | None = field(default=None, repr=False)
    first_name: str = ""
    existing_account_id: int | None = None
    result_account_id: int | None = None
    result_authorization_id: int | None = None
    created: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "account": self.account_key,
            "step": self.step.value,
            "code_type": self.code_type,
            "password_hint": self.password_hint,
            "error": self.error,
            "account_id": self.result_account_id,
            "authorization_id": self.result_authorization_id,
        }


class LoginService:
    def __init__(
        self,
        store: Store,
        factory: ClientFactory,
        bus: EventBus,
        *,
        on_authorized: Callable[[Account], Any] | None = None,
        accept_login_token: Callable[[str, bytes], Awaitable[Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._factory = factory
        self._bus = bus
        self._flows: dict[str, LoginFlow] = {}
        self._on_authorized = on_authorized
        # (phone, token) -> accepted through one of the account's pooled connections
        self._accept_login_token = accept_login_token
        self._clock = clock

    # --- flows -----------------------------------------------------------------------------

    def in_progress(self) -> list[LoginFlow]:
        """Flows waiting for their next step, oldest first (a wizard reopened resumes one)."""
        self._expire()
        return sorted(self._flows.values(), key=lambda flow: flow.created)

    def get(self, flow_id: str) -> LoginFlow:
        self._expire()
        flow = self._flows.get(flow_id)
        if flow is None:
            raise LoginError(
                f"login {flow_id!r} does not exist or expired; start a new one",
                code=404,
                name="LOGIN_NOT_FOUND",
            )
        return flow

    async def start_code_login(
        self,
        phone: str,
        *,
        label: str = "",
        keep_online: bool = False,
        device: DeviceParams | None = None,
        proxy_url: str | None = None,
        first_name: str = "",
        add_to_existing: bool = False,
    ) -> LoginFlow:
        """Send the login code to ``phone``. ``add_to_existing``: add one more authorization.

        An account filed without an authorization (created, or all of them logged out) is
        logged in as it is: its own proxy and device are used, so none may be given here.
        """
        key = normalize_phone(phone)
        existing = await self._store.accounts.find_by_key(key)
        if (
            existing is not None
            and not add_to_existing
            and await self._store.authorizations.list_for_account(existing.id)
        ):
            raise AccountExists(
                f"account {key} is already in the fleet; to give it another authorization, "
                "add one to it instead"
            )
        if existing is None and add_to_existing:
            raise InvalidInput(f"phone: account {key} is not in the fleet; add it first")
        if existing is not None and (device is not None or proxy_url is not None):
            raise InvalidInput(
                f"proxy, device: account {key} is in the fleet and logs in with its own; "
                "change them on the account (PATCH) first"
            )
        if existing is None:
            device, proxy_url = self._new_account_identity(device, proxy_url)
        self._refuse_parallel(key)
        client = self._factory.for_login(key, account=existing, device=device, proxy_url=proxy_url)
        flow = LoginFlow(
            id=secrets.token_urlsafe(12),
            kind="code",
            account_key=key,
            client=client,
            label=label,
            keep_online=keep_online,
            device=device,
            proxy_url=proxy_url,
            first_name=first_name,
            existing_account_id=existing.id if existing else None,
            created=self._clock(),
        )
        try:
            await client.connect()
            sent = await client.send_code(key)
        except BaseException as exc:
            error = self._translate(exc, key)
            await self._close(flow)
            await self._record(flow, "send_code", LoginResult.FAILED, error)
            raise error from None
        flow.phone_code_hash = sent.phone_code_hash
        flow.code_type = getattr(sent.type, "name", str(sent.type)).lower()
        self._flows[flow.id] = flow
        await self._record(flow, "send_code", LoginResult.PENDING)
        self._bus.publish("login.code_sent", key, flow=flow.id)
        return flow

    async def submit_code(self, flow_id: str, code: str) -> LoginFlow:
        flow = self.get(flow_id)
        async with flow.lock:
            self._expect(flow, LoginStep.CODE_SENT)
            code = code.strip().replace(" ", "")
            if not code.isdigit():
                raise InvalidInput("code: digits only, as received in Telegram or by SMS")
            try:
                signed = await flow.client.sign_in(flow.account_key, flow.phone_code_hash, code)
                if not isinstance(signed, tgtypes.User):
                    # A number unknown to Telegram: sign it up with the operator's first name.
                    signed = await flow.client.sign_up(
                        flow.account_key,
                        flow.phone_code_hash,
                        flow.first_name or flow.label or "tgfleet",
                    )
            except tg.SessionPasswordNeeded:
                flow.step = LoginStep.PASSWORD_NEEDED
                flow.password_hint = await self._password_hint(flow)
                await self._record(flow, "code", LoginResult.PENDING)
                return flow
            except BaseException as exc:
                return await self._fail(flow, "code", exc)
            await self._complete(flow)
            return flow

    async def submit_password(self, flow_id: str, password: str) -> LoginFlow:
        flow = self.get(flow_id)
        async with flow.lock:
            self._expect(flow, LoginStep.PASSWORD_NEEDED)
            if not password:
                raise InvalidInput("password: empty; enter the account's two-step password")
            try:
                await flow.client.check_password(password)
            except BaseException as exc:
                return await self._fail(flow, "password", exc)
            await self._complete(flow)
            return flow

    async def login_bot(
        self,
        token: str,
        *,
        label: str = "",
        keep_online: bool = False,
        device: DeviceParams | None = None,
        proxy_url: str | None = None,
    ) -> Completed:
        token = token.strip()
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit() or not secret.replace("_", "").replace("-", "").isalnum():
            raise InvalidInput("token: expected '<bot id>:<secret>' as given by @BotFather")
        key = f"bot:{bot_id}"
        if await self._store.accounts.find_by_key(key) is not None:
            raise AccountExists(f"bot {bot_id} is already in the fleet")
        device, proxy_url = self._new_account_identity(device, proxy_url)
        flow = LoginFlow(
            id=secrets.token_urlsafe(12),
            kind="bot",
            account_key=key,
            client=self._factory.for_login(key, device=device, proxy_url=proxy_url),
            label=label,
            keep_online=keep_online,
            device=device,
            proxy_url=proxy_url,
            created=self._clock(),
        )
        try:
            await flow.client.connect()
            await flow.client.sign_in_bot(token)
        except BaseException as exc:
            error = self._translate(exc, key)
            await self._close(flow)
            await self._record(flow, "bot_token", LoginResult.FAILED, error)
            raise error from None
        return await self._complete(flow)

    async def add_by_qr_handoff(self, phone: str) -> LoginFlow:
        """Add one more authorization to ``phone`` without a login code (opt-in): a new key
        exports a QR login token and an authorization the account already has accepts it,
        through its pooled connection. No code is sent, so no login is spent (fact 6). With
        a two-step password the flow stops at ``password_needed``."""
        key = normalize_phone(phone)
        if self._accept_login_token is None:
            raise Conflict("QR handoff is not enabled in this daemon (no pool to accept it)")
        account = await self._store.accounts.get_by_key(key)
        self._refuse_parallel(key)
        flow = LoginFlow(
            id=secrets.token_urlsafe(12),
            kind="qr",
            account_key=key,
            client=self._factory.for_login(key, account=account),
            existing_account_id=account.id,
            created=self._clock(),
        )
        api_id, api_hash = self._factory.credentials(account)
        export = raw.functions.auth.ExportLoginToken(
            api_id=api_id, api_hash=api_hash, except_ids=[]
        )
        self._flows[flow.id] = flow
        try:
            async with flow.lock:
                await flow.client.connect()
                token = await flow.client.invoke(export)
                await self._accept_login_token(key, token.token)
                try:
                    result = await flow.client.invoke(export)
                except tg.SessionPasswordNeeded:
                    flow.step = LoginStep.PASSWORD_NEEDED
                    flow.password_hint = await self._password_hint(flow)
                    await self._record(flow, "qr", LoginResult.PENDING)
                    return flow
                if not isinstance(result, raw.types.auth.LoginTokenSuccess):
                    raise TelegramError(
                        f"account {key}: the QR login token was accepted but Telegram answered "
                        f"{type(result).__name__}",
                        name="AUTH_TOKEN_UNCONFIRMED",
                    )
                user = result.authorization.user
                await flow.client.storage.user_id(user.id)
                await flow.client.storage.is_bot(False)
        except BaseException as exc:
            return await self._fail(flow, "qr", exc, terminal=True)
        await self._complete(flow)
        return flow

    async def cancel(self, flow_id: str) -> None:
        flow = self.get(flow_id)
        flow.step = LoginStep.CANCELLED
        self._flows.pop(flow.id, None)
        await self._close(flow)
        await self._record(flow, "cancel", LoginResult.FAILED)

    async def aclose(self) -> None:
        for flow in list(self._flows.values()):
            self._flows.pop(flow.id, None)
            await self._close(flow)

    # --- steps -----------------------------------------------------------------------------

    async def _complete(self, flow: LoginFlow) -> Completed:
        record = export_record(flow.client)
        await self._close(flow)
        if record.auth_key is None or record.user_id is None:
            raise TelegramError(f"account {flow.account_key}: login ended without an auth key")
        done = await enrol(
            self._store,
            record,
            existing_account_id=flow.existing_account_id,
            new_account=NewAccount(
                flow.account_key,
                label=flow.label,
                keep_online=flow.keep_online,
                device=flow.device,
                proxy_url=flow.proxy_url,
            ),
            default_api_id=self._factory.target.api_id,
            via=flow.kind,
        )
        account, authorization_id = done.account, done.authorization_id
        flow.step = LoginStep.DONE
        flow.result_account_id = account.id
        flow.result_authorization_id = authorization_id
        self._flows.pop(flow.id, None)
        await self._record(flow, "done", LoginResult.OK)
        log.info(
            "account %s: authorized by %s login, authorization %d",
            account.key,
            flow.kind,
            authorization_id,
        )
        self._bus.publish(
            "account.authorized", account.key, authorization_id=authorization_id, via=flow.kind
        )
        if self._on_authorized is not None:
            result = self._on_authorized(account)
            if asyncio.iscoroutine(result):
                await result
        return done

    async def _fail(
        self, flow: LoginFlow, step: str, exc: BaseException, *, terminal: bool = False
    ) -> LoginFlow:
        error = self._translate(exc, flow.account_key)
        name = getattr(error, "name", "") or type(error).__name__
        flow.error = name
        await self._record(flow, step, LoginResult.FAILED, error)
        if terminal or name in _TERMINAL or not isinstance(error, TgfleetError):
            flow.step = LoginStep.FAILED
            self._flows.pop(flow.id, None)
            await self._close(flow)
        raise error

    async def _password_hint(self, flow: LoginFlow) -> str:
        try:
            password = await flow.client.invoke(raw.functions.account.GetPassword())
        except tg.RPCError:
            return ""
        return str(getattr(password, "hint", "") or "")

    # --- helpers ---------------------------------------------------------------------------

    def _new_account_identity(
        self, device: DeviceParams | None, proxy_url: str | None
    ) -> tuple[DeviceParams, str | None]:
        """The device and proxy a new account logs in with and then keeps (fact 7): checked
        now, because a value the store refuses after the code was used would waste a login."""
        pinned = device or self._factory.target.default_device
        # the limits AccountsStore.create applies to a pinned device
        for name in ("device_model", "system_version", "app_version"):
            check_text(
                getattr(pinned, name), field=f"device.{name}", max_len=128, allow_empty=False
            )
        for name in ("lang_code", "system_lang_code"):
            check_text(getattr(pinned, name), field=f"device.{name}", max_len=16, allow_empty=False)
        if proxy_url is not None:
            proxy_url = check_proxy_url(proxy_url, field="proxy")[0]
            parse_proxy(proxy_url, field="proxy")  # and one Kurigram can dial
        return pinned, proxy_url

    def _expect(self, flow: LoginFlow, step: LoginStep) -> None:
        if flow.step is not step:
            raise Conflict(
                f"login {flow.id} of {flow.account_key} is at step {flow.step.value!r}, "
                f"not {step.value!r}"
            )

    def _refuse_parallel(self, key: str) -> None:
        for other in self._flows.values():
            if other.account_key == key:
                raise Conflict(
                    f"a login of {key} is already in progress (login {other.id}); finish or "
                    "cancel it first: a second code would invalidate the first"
                )

    def _expire(self) -> None:
        now = self._clock()
        for flow in [f for f in self._flows.values() if now - f.created > FLOW_TTL]:
            self._flows.pop(flow.id, None)
            asyncio.get_running_loop().create_task(self._close(flow))

    @staticmethod
    def _translate(exc: BaseException, key: str) -> BaseException:
        if isinstance(exc, TgfleetError | asyncio.CancelledError):
            return exc
        if isinstance(exc, tg.RPCError):
            return translate(exc, phone=key)
        if isinstance(exc, OSError | ConnectionError | TimeoutError):
            return TelegramError(f"account {key}: cannot reach Telegram: {exc}", code=503)
        return exc

    @staticmethod
    async def _close(flow: LoginFlow) -> None:
        client = flow.client
        try:
            if client.is_connected:
                await client.disconnect()
        except Exception as exc:
            log.debug("closing login client of %s: %s", flow.account_key, exc)

    async def _record(
        self, flow: LoginFlow, step: str, result: LoginResult, error: BaseException | None = None
    ) -> None:
        name = ""
        if error is not None:
            name = getattr(error, "name", "") or type(error).__name__
        await self._store.login_attempts.record(
            flow.account_key, kind=flow.kind, step=step, result=result, error=name
        )
