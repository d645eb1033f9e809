"""Import a session string from another tool as an authorization of the fleet.

Pyrogram/Kurigram strings carry the user id; Telethon strings do not. Either way the key is
proven before it is stored: one client connects on it and asks Telegram who it belongs to
(``users.getUsers(self)``), which also gives the phone the account is filed under. That one
call is all the import costs: it is not a login (DESIGN fact 6 is about codes).

The key must not be in use anywhere else while tgfleet holds it (fact 1): the operator stops
the tool the string came from first. A key the fleet already stores is refused before any
connection is made, since dialling it would put it on two connections at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pyrogram import raw

from tgfleet.errors import AccountExists, Conflict, InvalidInput, TelegramError
from tgfleet.services.enrol import Completed, NewAccount, enrol
from tgfleet.services.events import EventBus
from tgfleet.store.authorizations import auth_key_id_of
from tgfleet.store.records import Account, DeviceParams
from tgfleet.store.store import Store
from tgfleet.store.validation import check_proxy_url, normalize_phone
from tgfleet.telegram.connection import TelegramConnection
from tgfleet.telegram.factory import ClientFactory
from tgfleet.telegram.session_strings import ImportedSession, parse_session_string
from tgfleet.telegram.storage import SessionRecord as ClientRecord

log = logging.getLogger(__name__)


class SessionImporter:
    def __init__(
        self,
        store: Store,
        factory: ClientFactory,
        bus: EventBus,
        *,
        on_authorized: Callable[[Account], Any] | None = None,
        connect_timeout: float = 15.0,
    ) -> None:
        self._store = store
        self._factory = factory
        self._bus = bus
        self._on_authorized = on_authorized
        self._connect_timeout = connect_timeout

    async def import_session_string(
        self,
        text: str,
        *,
        label: str = "",
        keep_online: bool = False,
        device: DeviceParams | None = None,
        proxy_url: str | None = None,
        add_to_existing: bool = False,
    ) -> Completed:
        """Store the session as an authorization; a new account unless ``add_to_existing``.

        ``device`` and ``proxy_url`` are the new account's (the fleet's default device when
        None); an account that exists keeps its own."""
        imported = parse_session_string(text)
        device = device or self._factory.target.default_device
        if proxy_url is not None:
            proxy_url = check_proxy_url(proxy_url, field="proxy")[0]
        key_id = auth_key_id_of(imported.auth_key)
        twin = await self._store.db.fetchone(
            "SELECT id, account_id FROM authorizations WHERE auth_key_id = ?", (key_id,)
        )
        if twin is not None:
            raise Conflict(
                f"this session is already stored as authorization {twin['id']}; a key is "
                "imported once (two clients on one key get it revoked)"
            )
        record = self._record(imported)
        user = await self._whoami(record, device=device, proxy_url=proxy_url)
        is_bot = bool(getattr(user, "bot", False))
        user_id = int(user.id)
        if imported.user_id is not None and imported.user_id != user_id:
            raise InvalidInput(
                f"session_string: it names user {imported.user_id} but Telegram says the key "
                f"belongs to user {user_id}"
            )
        if is_bot:
            key = f"bot:{user_id}"
        elif user.phone:
            key = normalize_phone("+" + str(user.phone))
        else:
            raise TelegramError(f"user {user_id}: Telegram did not tell the phone of this session")
        existing = await self._store.accounts.find_by_key(key)
        if existing is not None and not add_to_existing:
            raise AccountExists(
                f"account {key} is already in the fleet; import with add_to_existing to give it "
                "this session as another authorization"
            )
        if existing is None and add_to_existing:
            raise InvalidInput(f"session_string: account {key} is not in the fleet; add it first")
        done = await enrol(
            self._store,
            replace(record, user_id=user_id, is_bot=is_bot),
            existing_account_id=existing.id if existing else None,
            new_account=NewAccount(
                key, label=label, keep_online=keep_online, device=device, proxy_url=proxy_url
            ),
            default_api_id=self._factory.target.api_id,
            via=f"import:{imported.source}",
        )
        log.info(
            "account %s: imported a %s session as authorization %d",
            key,
            imported.source,
            done.authorization_id,
        )
        self._bus.publish(
            "account.authorized",
            key,
            authorization_id=done.authorization_id,
            via=f"import:{imported.source}",
        )
        if self._on_authorized is not None:
            result = self._on_authorized(done.account)
            if asyncio.iscoroutine(result):
                await result
        return done

    def _record(self, imported: ImportedSession) -> ClientRecord:
        endpoint = self._factory.target.endpoint
        # A custom server (the sandbox) pins its own address; Telegram's production servers
        # are reached by dc when the string gives no address (Kurigram's table).
        return ClientRecord(
            dc_id=imported.dc_id,
            server_address=imported.server_address or (endpoint.host if endpoint else ""),
            port=imported.port or (endpoint.port if endpoint else 443),
            test_mode=imported.test_mode,
            auth_key=imported.auth_key,
            api_id=imported.api_id,
            # Kurigram treats a session without user_id/is_bot as empty and silently makes a
            # NEW auth key on connect; 0/False keep the imported key until Telegram names
            # the user (a Telethon string carries neither).
            user_id=imported.user_id or 0,
            is_bot=bool(imported.is_bot),
        )

    async def _whoami(
        self, record: ClientRecord, *, device: DeviceParams | None, proxy_url: str | None
    ) -> Any:
        client = self._factory.for_record("import", record, device=device, proxy_url=proxy_url)
        conn = TelegramConnection(
            client,
            account="(imported session)",
            authorization_id=0,
            require_user=False,
            connect_timeout=self._connect_timeout,
        )
        try:
            await conn.connect()
            users = await conn.invoke(
                raw.functions.users.GetUsers(id=[raw.types.InputUserSelf()]),
                timeout=self._connect_timeout,
            )
        finally:
            await conn.disconnect()
        return users[0]
