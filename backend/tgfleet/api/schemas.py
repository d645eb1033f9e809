"""Pydantic models at the API boundary: what account, login and action routes take and give.

Outputs are built from the store's records and the services' results, never from raw rows, so
a secret (auth key, proxy password, bot token, session string) has no field to travel in: the
proxy is shown in its masked display form, an authorization without its key.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tgfleet.store.records import Account, Authorization, DeviceParams

# --- outputs -----------------------------------------------------------------------------------


class DeviceOut(BaseModel):
    device_model: str
    system_version: str
    app_version: str
    lang_code: str
    system_lang_code: str

    @classmethod
    def of(cls, device: DeviceParams) -> DeviceOut:
        return cls(
            device_model=device.device_model,
            system_version=device.system_version,
            app_version=device.app_version,
            lang_code=device.lang_code,
            system_lang_code=device.system_lang_code,
        )


class AccountOut(BaseModel):
    id: int
    key: str
    kind: str
    phone: str | None
    bot_id: int | None
    label: str
    status: str
    status_detail: str
    flood_until: datetime | None
    enabled: bool
    keep_online: bool
    device: DeviceOut
    proxy: str | None = Field(description="the proxy URL with its credentials masked")
    api_id: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(**_account_fields(account))


class AuthorizationOut(BaseModel):
    id: int
    dc_id: int
    api_id: int
    test_mode: bool
    user_id: int | None
    is_bot: bool
    state: str
    state_detail: str
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, authorization: Authorization) -> AuthorizationOut:
        return cls(
            id=authorization.id,
            dc_id=authorization.dc_id,
            api_id=authorization.api_id,
            test_mode=authorization.test_mode,
            user_id=authorization.user_id,
            is_bot=authorization.is_bot,
            state=authorization.state.value,
            state_detail=authorization.state_detail,
            created_at=authorization.created_at,
            last_used_at=authorization.last_used_at,
        )


class AccountDetailOut(AccountOut):
    authorizations: list[AuthorizationOut]

    @classmethod
    def with_authorizations(
        cls, account: Account, authorizations: tuple[Authorization, ...]
    ) -> AccountDetailOut:
        return cls(
            **_account_fields(account),
            authorizations=[AuthorizationOut.of(a) for a in authorizations],
        )


class AuthorizationListed(AuthorizationOut):
    """An authorization as the account's authorization list shows it."""

    device: DeviceOut = Field(description="the account's pinned device, used by every one")
    connection: str | None = Field(
        description="state of its live pooled client (idle, active, ...), null if none"
    )


class AuthorizationRemovedOut(BaseModel):
    key: str
    authorization_id: int
    remaining: int = Field(description="authorizations the account still has")


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: int | None = Field(description="pass back as `after` for the next page")


class RemovedOut(BaseModel):
    key: str
    logged_out: int = Field(description="authorizations logged out on Telegram")


class LoginOut(BaseModel):
    id: str
    kind: str
    account: str
    step: str
    code_type: str
    password_hint: str
    error: str
    account_id: int | None
    authorization_id: int | None


class MeOut(BaseModel):
    id: int
    first_name: str
    username: str | None
    phone: str | None
    is_bot: bool


class SentOut(BaseModel):
    chat_id: int
    message_id: int
    text: str


class DialogOut(BaseModel):
    chat_id: int
    title: str
    unread: int


class MessageOut(BaseModel):
    chat_id: int
    message_id: int
    sender_id: int | None
    text: str
    outgoing: bool


class ReadOut(BaseModel):
    read: bool


class ProblemOut(BaseModel):
    """Why one part of a multi-part request failed: the problem body it would have had alone."""

    type: str
    title: str
    status: int
    detail: str
    telegram_error: str | None = None
    retry_after: int | None = Field(default=None, description="seconds, for a flood or busy pool")


class BulkResultOut(BaseModel):
    account: str = Field(description="the sender as given, or its canonical key once known")
    ok: bool
    chat_id: int | None = None
    message_id: int | None = None
    problem: ProblemOut | None = None


class BulkOut(BaseModel):
    sent: int
    failed: int
    results: list[BulkResultOut] = Field(description="one per sender, in the order given")


class ProxyTestOut(BaseModel):
    ok: bool
    latency_ms: float | None = Field(description="time to a connection through the proxy")
    target: str = Field(description="host:port dialled: Telegram's, or an MTProxy's own")
    error: str | None = None
    checked: str = Field(
        description="telegram_through_proxy, or proxy_reachable for an MTProxy (it relays "
        "MTProto only, so only its port is tried)"
    )


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="the API token itself: shown in this answer only")


class PoolConfigOut(BaseModel):
    max_connections_per_account: int
    max_total_connections: int
    max_idle_time: float
    max_connection_age: float
    age_jitter: float
    cleanup_interval: float
    acquire_timeout: float | None
    reuse_order: str
    min_idle_per_account: int
    liveness_skip_window: float
    leak_detection_threshold: float | None
    drain_timeout: float
    reconnect_backoff_base: float
    reconnect_backoff_max: float
    max_concurrent_connects: int | None
    wait_window: int


# --- inputs ------------------------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid")
# What the store accepts (tgfleet.store.validation.check_text), said here too, so that a bad
# value is refused before a login spends a code on it rather than when its result is stored.
_NO_CONTROL = r"^[^\x00-\x1f]*$"
_NOT_BLANK = r"^[^\x00-\x1f]*[^\x00-\x20][^\x00-\x1f]*$"  # no control characters, not blank
_LONG = Annotated[str, Field(min_length=1, max_length=128, pattern=_NOT_BLANK)]
_SHORT = Annotated[str, Field(min_length=1, max_length=16, pattern=_NOT_BLANK)]
Label = Annotated[str, Field(max_length=200, pattern=_NO_CONTROL)]
Peer = Annotated[str, Field(min_length=1, max_length=64, description="username, phone or chat id")]
ProxyUrl = Annotated[
    SecretStr,
    Field(description="socks5://user:pass@host:port, http://..., mtproxy://..."),
]


class DevicePatch(BaseModel):
    """Only the given fields change; the rest keep the account's (or fleet's) values."""

    model_config = _STRICT
    device_model: _LONG | None = None
    system_version: _LONG | None = None
    app_version: _LONG | None = None
    lang_code: _SHORT | None = None
    system_lang_code: _SHORT | None = None

    def over(self, base: DeviceParams) -> DeviceParams:
        return DeviceParams(**{**_device_fields(base), **self.model_dump(exclude_none=True)})


class AccountPatch(BaseModel):
    """Fields left out stay as they are; ``proxy: null`` removes the account's proxy."""

    model_config = _STRICT
    label: Label | None = None
    keep_online: bool | None = None
    enabled: bool | None = None
    proxy: ProxyUrl | None = None
    device: DevicePatch | None = None


class AccountCreate(BaseModel):
    """An account filed before it logs in: its login later uses this proxy and device."""

    model_config = _STRICT
    phone: str = Field(max_length=64)
    label: Label = ""
    keep_online: bool = False
    proxy: ProxyUrl | None = None
    device: DevicePatch | None = Field(
        default=None, description="fields left out take the fleet's default device"
    )


class LoginStart(BaseModel):
    """``label``, ``keep_online``, ``proxy`` and ``device`` describe the account the login
    creates; an account filed earlier (POST /accounts) keeps its own."""

    model_config = _STRICT
    phone: str = Field(max_length=64)
    label: Label = ""
    keep_online: bool = False
    add_to_existing: bool = False
    proxy: ProxyUrl | None = None
    device: DevicePatch | None = None


class CodeIn(BaseModel):
    model_config = _STRICT
    code: str = Field(min_length=1, max_length=16)


class PasswordIn(BaseModel):
    model_config = _STRICT
    password: SecretStr


class BotIn(BaseModel):
    model_config = _STRICT
    token: SecretStr
    label: Label = ""
    keep_online: bool = False
    proxy: ProxyUrl | None = None
    device: DevicePatch | None = None


class ImportIn(BaseModel):
    model_config = _STRICT
    session_string: SecretStr
    label: Label = ""
    keep_online: bool = False
    add_to_existing: bool = False
    proxy: ProxyUrl | None = None
    device: DevicePatch | None = None


class MessageIn(BaseModel):
    model_config = _STRICT
    peer: Peer
    text: str = Field(min_length=1, max_length=4096)


class PeerIn(BaseModel):
    model_config = _STRICT
    peer: Peer


MAX_BULK_SENDERS = 100


class BulkSendIn(BaseModel):
    """One text from each sender, to ``to`` or to the sender's own peer in ``peers``.
    Senders are account keys in any spelling; each may appear once."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: list[Annotated[str, Field(max_length=64)]] = Field(
        alias="from", min_length=1, max_length=MAX_BULK_SENDERS, description="account keys"
    )
    to: Peer | None = Field(default=None, description="the peer of every sender without its own")
    peers: dict[Annotated[str, Field(max_length=64)], Peer] | None = Field(
        default=None, description="account key -> its own peer", max_length=MAX_BULK_SENDERS
    )
    text: str = Field(min_length=1, max_length=4096)


class ProxyScheme(StrEnum):
    SOCKS5 = "socks5"
    SOCKS4 = "socks4"
    HTTP = "http"


class ProxyIn(BaseModel):
    model_config = _STRICT
    scheme: ProxyScheme
    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:_\-\[\]]+$")
    port: int = Field(ge=1, le=65535)
    username: str | None = Field(default=None, min_length=1, max_length=255)
    password: SecretStr | None = Field(default=None, max_length=255)


class ProxyTestIn(BaseModel):
    model_config = _STRICT
    proxy: ProxyIn


class TokenIn(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1, max_length=100, pattern=_NOT_BLANK)


def _device_fields(device: DeviceParams) -> dict[str, str]:
    return DeviceOut.of(device).model_dump()


def _account_fields(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "key": account.key,
        "kind": account.kind.value,
        "phone": account.phone,
        "bot_id": account.bot_id,
        "label": account.label,
        "status": account.status.value,
        "status_detail": account.status_detail,
        "flood_until": account.flood_until,
        "enabled": account.enabled,
        "keep_online": account.keep_online,
        "device": DeviceOut.of(account.device),
        "proxy": account.proxy_display,
        "api_id": account.api_id,
        "created_at": account.created_at,
        "updated_at": account.updated_at,
    }
