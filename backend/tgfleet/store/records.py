"""The records the store hands out: frozen dataclasses, secrets wrapped so they never print."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from tgfleet.store.secret_values import SecretBytes, SecretStr

T = TypeVar("T")


class AccountKind(enum.StrEnum):
    USER = "user"
    BOT = "bot"


class AccountStatus(enum.StrEnum):
    NEW = "new"
    LOGIN_PENDING = "login_pending"
    ACTIVE = "active"
    FLOOD_WAIT = "flood_wait"
    REVOKED = "revoked"
    BANNED = "banned"
    DISABLED = "disabled"
    ERROR = "error"


class AuthorizationState(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    DUPLICATED = "duplicated"


class SecretKind(enum.StrEnum):
    BOT_TOKEN = "bot_token"
    TWO_FA_PASSWORD = "two_fa_password"
    SESSION_STRING = "session_string"


class LoginResult(enum.StrEnum):
    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeviceParams:
    """Pinned per account and reused on every connection (DESIGN fact 7)."""

    device_model: str = "tgfleet"
    system_version: str = "Linux"
    app_version: str = "tgfleet 0.1.0"
    lang_code: str = "en"
    system_lang_code: str = "en-US"


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    key: str
    kind: AccountKind
    label: str
    status: AccountStatus
    status_detail: str
    flood_until: datetime | None
    enabled: bool
    keep_online: bool
    device: DeviceParams
    # the full proxy URL, credentials included; ``proxy_display`` is the same with them masked
    proxy_url: SecretStr | None
    proxy_display: str | None
    api_id: int | None
    api_hash: SecretStr | None
    created_at: datetime
    updated_at: datetime

    @property
    def phone(self) -> str | None:
        return self.key if self.kind is AccountKind.USER else None

    @property
    def bot_id(self) -> int | None:
        return int(self.key.removeprefix("bot:")) if self.kind is AccountKind.BOT else None


@dataclass(frozen=True, slots=True)
class Authorization:
    """One auth key of an account, as listed: everything but the key itself."""

    id: int
    account_id: int
    dc_id: int
    server_address: str | None
    port: int | None
    api_id: int
    test_mode: bool
    auth_key_id: int
    user_id: int | None
    is_bot: bool
    state: AuthorizationState
    state_detail: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """What the client factory builds a Kurigram storage from: the authorization and its key."""

    authorization: Authorization
    auth_key: SecretBytes

    @property
    def id(self) -> int:
        return self.authorization.id


@dataclass(frozen=True, slots=True)
class FloodRecord:
    id: int
    account_id: int
    method: str
    seconds: int
    until: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any] = field(hash=False)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    id: int
    account_key: str
    kind: str
    step: str
    result: LoginResult
    error: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Lease:
    """Ownership of one authorization by one daemon until ``expires_at``.

    ``fencing`` grows on every new acquisition; a write guarded by a lease checks it, so a
    daemon that lost its lease while paused cannot act on the authorization any more.
    """

    authorization_id: int
    owner: str
    expires_at: datetime
    fencing: int
    acquired_at: datetime


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; pass ``next_cursor`` back as ``after`` for the next one."""

    items: tuple[T, ...]
    next_cursor: int | None


def to_datetime(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def to_optional_datetime(value: float | None) -> datetime | None:
    return None if value is None else to_datetime(value)


def to_timestamp(value: datetime) -> float:
    if value.tzinfo is None:
        # a naive datetime is ambiguous; the store speaks UTC only
        raise ValueError("datetime must be timezone-aware")
    return value.timestamp()
