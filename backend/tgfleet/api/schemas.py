"""Pydantic models at the API boundary: what account, login and action routes take and give.

Outputs are built from the store's records and the services' results, never from raw rows, so
a secret (auth key, proxy password, bot token, session string) has no field to travel in: the
proxy is shown in its masked display form, an authorization without its key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


# --- inputs ------------------------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid")


class DevicePatch(BaseModel):
    """Only the given fields change; the rest keep the account's pinned values."""

    model_config = _STRICT
    device_model: str | None = None
    system_version: str | None = None
    app_version: str | None = None
    lang_code: str | None = None
    system_lang_code: str | None = None


class AccountPatch(BaseModel):
    """Fields left out stay as they are; ``proxy: null`` removes the account's proxy."""

    model_config = _STRICT
    label: str | None = None
    keep_online: bool | None = None
    enabled: bool | None = None
    proxy: SecretStr | None = Field(
        default=None, description="socks5://user:pass@host:port, http://..., mtproxy://..."
    )
    device: DevicePatch | None = None


class LoginStart(BaseModel):
    model_config = _STRICT
    phone: str
    label: str = ""
    keep_online: bool = False
    add_to_existing: bool = False


class CodeIn(BaseModel):
    model_config = _STRICT
    code: str = Field(min_length=1, max_length=16)


class PasswordIn(BaseModel):
    model_config = _STRICT
    password: SecretStr


class BotIn(BaseModel):
    model_config = _STRICT
    token: SecretStr
    label: str = ""
    keep_online: bool = False


class ImportIn(BaseModel):
    model_config = _STRICT
    session_string: SecretStr
    label: str = ""
    keep_online: bool = False
    add_to_existing: bool = False


class MessageIn(BaseModel):
    model_config = _STRICT
    peer: str = Field(min_length=1, max_length=64, description="username, phone or chat id")
    text: str = Field(min_length=1, max_length=4096)


class PeerIn(BaseModel):
    model_config = _STRICT
    peer: str = Field(min_length=1, max_length=64, description="username, phone or chat id")


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
