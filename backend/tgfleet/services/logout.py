"""Log an authorization out (on Telegram too), and remove an account from the fleet.

A logout is ``auth.logOut`` on the key itself, so the key dies on Telegram's side and a copy
of it (a leaked database, an old session file) is worth nothing. The key must be on exactly one
connection when that call is made (DESIGN fact 1): the fleet first takes it out of the pool and
waits until its pooled client is closed, then one client of its own makes the call.

A key Telegram already forgot (401) counts as logged out; an unreachable Telegram does not:
the authorization stays, goes back into the pool, and the error says why.
"""

from __future__ import annotations

import logging

from pyrogram import raw

from tgfleet.errors import AccountBanned, AuthorizationNotFound, AuthorizationRevoked
from tgfleet.services.events import EventBus
from tgfleet.services.fleet import Fleet
from tgfleet.store.records import Account, AuthorizationState
from tgfleet.store.store import Store
from tgfleet.telegram.connection import TelegramConnection
from tgfleet.telegram.factory import ClientFactory

log = logging.getLogger(__name__)


class Logout:
    def __init__(
        self,
        store: Store,
        factory: ClientFactory,
        fleet: Fleet,
        bus: EventBus,
        *,
        connect_timeout: float = 15.0,
    ) -> None:
        self._store = store
        self._factory = factory
        self._fleet = fleet
        self._bus = bus
        self._connect_timeout = connect_timeout

    async def log_out(self, phone: str, authorization_id: int, *, actor: str = "system") -> None:
        """Log one authorization out on Telegram and delete it from the store."""
        account = await self._store.accounts.get_by_key(phone)
        authorization = await self._store.authorizations.get(authorization_id)
        if authorization.account_id != account.id:
            raise AuthorizationNotFound(f"account {phone} has no authorization {authorization_id}")
        await self._fleet.withdraw(account, {authorization_id})
        try:
            if authorization.state is AuthorizationState.ACTIVE:
                await self._server_log_out(account, authorization_id)
            async with self._store.db.transaction() as tx:
                await self._store.authorizations.delete(authorization_id, tx=tx)
                await self._store.audit.append(
                    actor,
                    "authorization.logged_out",
                    phone,
                    {"authorization_id": authorization_id},
                    tx=tx,
                )
        finally:
            await self._fleet.restore(
                {authorization_id}, await self._store.accounts.get(account.id)
            )
        self._bus.publish("authorization.logged_out", phone, authorization_id=authorization_id)

    async def remove(self, phone: str, *, actor: str = "system") -> int:
        """Log out every active authorization, then delete the account; returns how many
        authorizations were logged out on Telegram."""
        account = await self._store.accounts.get_by_key(phone)
        listed = await self._store.authorizations.list_for_account(account.id)
        ids = {a.id for a in listed}
        await self._fleet.withdraw(account, ids)
        logged_out = 0
        try:
            for authorization in listed:
                if authorization.state is AuthorizationState.ACTIVE:
                    await self._server_log_out(account, authorization.id)
                    logged_out += 1
            async with self._store.db.transaction() as tx:
                await self._store.accounts.delete(account.id, tx=tx)
                await self._store.audit.append(
                    actor, "account.removed", phone, {"logged_out": logged_out}, tx=tx
                )
        except BaseException:
            await self._fleet.restore(ids, await self._store.accounts.get(account.id))
            raise
        await self._fleet.forget(phone, ids)
        self._bus.publish("account.removed", phone, logged_out=logged_out)
        return logged_out

    async def _server_log_out(self, account: Account, authorization_id: int) -> None:
        session = await self._store.authorizations.session(authorization_id)
        client = self._factory.for_authorization(account, session, receive_updates=False)
        conn = TelegramConnection(
            client,
            account=account.key,
            authorization_id=authorization_id,
            connect_timeout=self._connect_timeout,
        )
        try:
            await conn.connect()
            await conn.invoke(raw.functions.auth.LogOut(), timeout=self._connect_timeout)
        except (AuthorizationRevoked, AccountBanned) as exc:
            # Telegram already ended it: nothing is left to log out.
            log.info(
                "account %s: authorization %d already ended (%s)",
                account.key,
                authorization_id,
                exc,
            )
        finally:
            await conn.disconnect()
        log.info("account %s: authorization %d logged out", account.key, authorization_id)
