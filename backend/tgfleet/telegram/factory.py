"""Build one Kurigram ``Client`` per authorization, from the database record (DESIGN fact 2).

Every client gets: its own in-memory storage built from the stored authorization (never a
shared session file), the account's pinned device parameters (fact 7), its proxy or the fleet
default (fact 8), the api_id the authorization was created with (fact 9), updates only when
asked (fact 3), and a small ``sleep_threshold`` so floods surface instead of hiding in a sleep
(fact 4). This module and its neighbours are the only code that constructs Kurigram clients.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from pyrogram import Client
from pyrogram.connection.transport import TCP

from tgfleet.errors import ConfigError
from tgfleet.store.records import Account, DeviceParams, SessionRecord
from tgfleet.telegram.proxy import effective_proxy
from tgfleet.telegram.server import ServerEndpoint, build_client
from tgfleet.telegram.storage import MemoryStorage
from tgfleet.telegram.storage import SessionRecord as ClientRecord

_names = itertools.count(1)

# Kurigram's production DC addresses come from its own table when the storage is not pinned.
PRODUCTION_DC = 2


@dataclass(frozen=True)
class TelegramTarget:
    """Which Telegram to talk to, and as which application."""

    api_id: int
    api_hash: str = field(repr=False)
    endpoint: ServerEndpoint | None = None  # None: Telegram's production servers
    sleep_threshold: int = 0
    default_proxy: str | None = None
    default_device: DeviceParams = field(default_factory=DeviceParams)
    protocol_factory: type[TCP] | None = None

    def require_credentials(self) -> None:
        """A login names an application (DESIGN fact 9); the daemon starts without one, so
        operators can look around, and the first login says what is missing."""
        if self.endpoint is None and not (self.api_id and self.api_hash):
            raise ConfigError(
                "telegram.api_id and telegram.api_hash are required to log in on Telegram's "
                "production servers (get them at my.telegram.org), or run with --sandbox"
            )


class ClientFactory:
    def __init__(self, target: TelegramTarget) -> None:
        self._target = target

    @property
    def target(self) -> TelegramTarget:
        return self._target

    def credentials(self, account: Account | None, api_id: int | None = None) -> tuple[int, str]:
        """The (api_id, api_hash) to use: the authorization's own api_id if it has one."""
        own_id = account.api_id if account is not None else None
        own_hash = account.api_hash.reveal() if account and account.api_hash else None
        if api_id is not None and api_id != (own_id or self._target.api_id):
            # An imported authorization made by another application keeps its api_id; the hash
            # is only needed for logins, which this authorization has already done.
            return api_id, own_hash or self._target.api_hash
        if own_id and own_hash:
            return own_id, own_hash
        return self._target.api_id, self._target.api_hash

    def for_authorization(
        self, account: Account, session: SessionRecord, *, receive_updates: bool
    ) -> Client:
        """A client that resumes a stored authorization: no new handshake, no login."""
        auth = session.authorization
        record = ClientRecord(
            dc_id=auth.dc_id,
            server_address=auth.server_address or "",
            port=auth.port or 443,
            test_mode=auth.test_mode,
            auth_key=session.auth_key.reveal(),
            api_id=auth.api_id,
            # Never None: Kurigram takes a session without a user for an empty one and would
            # silently create a new auth key instead of resuming this one.
            user_id=auth.user_id or 0,
            is_bot=auth.is_bot,
        )
        api_id, api_hash = self.credentials(account, auth.api_id)
        return self._build(
            f"{account.key}#{auth.id}",
            record,
            api_id=api_id,
            api_hash=api_hash,
            device=account.device,
            proxy_url=account.proxy_url.reveal() if account.proxy_url else None,
            receive_updates=receive_updates,
        )

    def for_login(
        self,
        name: str,
        *,
        account: Account | None = None,
        device: DeviceParams | None = None,
        proxy_url: str | None = None,
    ) -> Client:
        """A client with no auth key yet: connecting it creates one; a login binds a user."""
        if account is None or not (account.api_id and account.api_hash):
            self._target.require_credentials()
        api_id = self.credentials(account)[0]
        endpoint = self._target.endpoint
        record = (
            endpoint.new_record(api_id)
            if endpoint is not None
            else ClientRecord(dc_id=PRODUCTION_DC, server_address="", port=443, api_id=api_id)
        )
        return self.for_record(
            f"login-{name}", record, account=account, device=device, proxy_url=proxy_url
        )

    def for_record(
        self,
        name: str,
        record: ClientRecord,
        *,
        account: Account | None = None,
        device: DeviceParams | None = None,
        proxy_url: str | None = None,
    ) -> Client:
        """A client on a key that is not (yet) a stored authorization: an imported session
        string being checked, or one being logged out. No updates."""
        api_id, api_hash = self.credentials(account, record.api_id)
        if account is not None:
            device = device or account.device
            proxy_url = proxy_url or (account.proxy_url.reveal() if account.proxy_url else None)
        return self._build(
            f"{name}-{next(_names)}",
            record,
            api_id=api_id,
            api_hash=api_hash,
            device=device or self._target.default_device,
            proxy_url=proxy_url,
            receive_updates=False,
        )

    def _build(
        self,
        name: str,
        record: ClientRecord,
        *,
        api_id: int,
        api_hash: str,
        device: DeviceParams,
        proxy_url: str | None,
        receive_updates: bool,
    ) -> Client:
        kwargs: dict[str, Any] = {
            "device_model": device.device_model,
            "system_version": device.system_version,
            "app_version": device.app_version,
            "lang_code": device.lang_code,
            "system_lang_code": device.system_lang_code,
            "proxy": effective_proxy(proxy_url, self._target.default_proxy),
            "sleep_threshold": self._target.sleep_threshold,
            "no_updates": not receive_updates,
            # Kurigram fetches replies/stories for every message it parses; a fleet pays that
            # per message, so only what an operator asks for is fetched.
            "fetch_replies": False,
            "fetch_stories": False,
            "fetch_topics": False,
            "fetch_stickers": False,
            "workers": 2,
        }
        if self._target.protocol_factory is not None:
            kwargs["protocol_factory"] = self._target.protocol_factory
        endpoint = self._target.endpoint
        if endpoint is not None:
            return build_client(
                name, endpoint, api_id=api_id, api_hash=api_hash, record=record, **kwargs
            )
        storage = MemoryStorage(record, pin_server=False)
        return Client(name, api_id=api_id, api_hash=api_hash, storage_engine=storage, **kwargs)
