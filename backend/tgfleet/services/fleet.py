"""The fleet: binds stored accounts to the pool, and turns Telegram's answers into statuses.

The pool knows phones and authorization ids; this service tells it which authorizations each
account has (only active ones: DESIGN fact 1 and 5), builds a client when the pool asks for
one, and decides what an error means for the account:

* 401 revoked/unregistered: the authorization is marked revoked and taken out of the pool, so
  it is never dialled again; an account with no authorization left is ``revoked``;
* 401 USER_DEACTIVATED(_BAN): the account is ``banned`` and leaves the pool;
* 406 AUTH_KEY_DUPLICATED: the authorization is marked duplicated and never retried;
* FLOOD_WAIT: recorded, and the account is gated until it ends (fact 4); other accounts go on;
* unreachable server or proxy: the account shows ``error`` with the reason, and the pool's
  backoff paces the next try; the first success sets it back to ``active``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pyrogram import Client, filters
from pyrogram.handlers import MessageHandler
from pyrogram.types import Message

from tgfleet.errors import (
    AccountBanned,
    AccountDisabled,
    AuthKeyDuplicated,
    AuthorizationRevoked,
    Conflict,
    ConnectFailed,
    FloodWait,
    ProxyError,
)
from tgfleet.services.events import EventBus
from tgfleet.services.meter import CallMeter
from tgfleet.store.records import Account, AccountStatus, AuthorizationState
from tgfleet.store.store import Store
from tgfleet.telegram.connection import TelegramConnection
from tgfleet.telegram.factory import ClientFactory
from tgfleet.telegram.proxy import redact_proxy

log = logging.getLogger(__name__)

_WORKING = {AccountStatus.ACTIVE, AccountStatus.FLOOD_WAIT, AccountStatus.ERROR}


class FloodGate:
    """Per-account flood deadlines, checked before any work is handed to the pool."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._until: dict[str, float] = {}
        self._clock = clock

    def close_until(self, account: str, until: float) -> None:
        self._until[account] = max(until, self._until.get(account, 0.0))

    def remaining(self, account: str) -> float:
        until = self._until.get(account)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._until[account]
            return 0.0
        return left

    def check(self, account: str) -> None:
        left = self.remaining(account)
        if left > 0:
            raise FloodWait(int(left + 0.999), phone=account)

    def forget(self, account: str) -> None:
        self._until.pop(account, None)

    def active(self) -> dict[str, float]:
        now = self._clock()
        return {k: v for k, v in self._until.items() if v > now}


class _SeenMessages:
    """Recent (account, chat, message id) keys: the same message is published once."""

    def __init__(self, size: int = 4096) -> None:
        self._keys: OrderedDict[tuple[str, int, int], None] = OrderedDict()
        self._size = size

    def first_time(self, key: tuple[str, int, int]) -> bool:
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._size:
            self._keys.popitem(last=False)
        return True


class Fleet:
    def __init__(
        self,
        store: Store,
        factory: ClientFactory,
        bus: EventBus,
        *,
        connect_timeout: float = 15.0,
        request_timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
        meter: CallMeter | None = None,
    ) -> None:
        self._store = store
        self._factory = factory
        self._bus = bus
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._clock = clock
        self.gate = FloodGate(clock)
        # Telegram calls through the pool (``Actions.run``) and floods, for /metrics and the panel
        self.meter = meter or CallMeter()
        self._seen = _SeenMessages()
        self._pool: Any = None
        self.connect_attempts: dict[str, int] = {}
        # Authorizations being logged out: kept out of the pool even while still active.
        self._withdrawn: set[int] = set()
        # Accounts shown as ``error``: the next request that works sets them active again.
        self._in_error: set[str] = set()

    def attach_pool(self, pool: Any) -> None:
        self._pool = pool

    # --- what the pool holds ---------------------------------------------------------------

    async def sync_account(self, account: Account) -> None:
        """Tell the pool which authorizations ``account`` may use now."""
        if account.status is AccountStatus.ERROR:
            self._in_error.add(account.key)
        else:
            self._in_error.discard(account.key)
        if self._pool is None:
            return
        authorizations: list[str] = []
        if account.enabled and account.status in _WORKING:
            listed = await self._store.authorizations.list_for_account(account.id)
            # Oldest first: the first is the primary, the one that receives updates.
            authorizations = [
                str(a.id)
                for a in sorted(listed, key=lambda a: a.id)
                if a.state is AuthorizationState.ACTIVE and a.id not in self._withdrawn
            ]
        self._pool.set_account(
            account.key,
            authorizations=authorizations,
            keep_online=account.keep_online and bool(authorizations),
        )
        if account.flood_until is not None:
            self.gate.close_until(account.key, account.flood_until.timestamp())

    async def withdraw(self, account: Account, authorization_ids: set[int]) -> None:
        """Take authorizations out of the pool and wait until no client holds them, so a
        logout can use the key on a connection of its own (DESIGN fact 1)."""
        self._withdrawn |= authorization_ids
        await self.sync_account(account)
        if self._pool is None:
            return
        wanted = {str(i) for i in authorization_ids}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._connect_timeout + 5.0
        while any(
            c.phone == account.key and c.authorization_id in wanted
            for c in self._pool.connections()
        ):
            if loop.time() > deadline:
                self._withdrawn -= authorization_ids
                await self.sync_account(account)
                raise Conflict(
                    f"account {account.key}: a connection on authorization "
                    f"{', '.join(sorted(wanted))} is still in use; try again when it is returned"
                )
            await asyncio.sleep(0.02)

    async def restore(self, authorization_ids: set[int], account: Account | None = None) -> None:
        """Undo ``withdraw`` (the logout failed, or the rows are gone)."""
        self._withdrawn -= authorization_ids
        if account is not None:
            await self.sync_account(account)

    async def forget(self, phone: str, authorization_ids: set[int]) -> None:
        """The account was removed: the pool serves it no more."""
        self._withdrawn -= authorization_ids
        self.gate.forget(phone)
        if self._pool is not None:
            self._pool.set_account(phone, authorizations=[], keep_online=False)

    async def load(self) -> int:
        """Register every stored account with the pool; returns how many can work."""
        count = 0
        after: int | None = None
        while True:
            page = await self._store.accounts.list(limit=500, after=after)
            for account in page.items:
                await self.sync_account(account)
                count += account.enabled and account.status in _WORKING
            if page.next_cursor is None:
                return count
            after = page.next_cursor

    async def connect(self, phone: str, authorization_id: str) -> TelegramConnection:
        """The pool's connector: one client for one authorization, proven alive."""
        self.connect_attempts[phone] = self.connect_attempts.get(phone, 0) + 1
        account = await self._store.accounts.get_by_key(phone)
        if not account.enabled or account.status not in _WORKING:
            raise AccountDisabled(f"account {phone} is {account.status.value}; it takes no work")
        self.gate.check(phone)
        session = await self._store.authorizations.session(int(authorization_id))
        primary = await self._primary_authorization(account)
        receive_updates = account.keep_online and primary == session.authorization.id
        client = self._factory.for_authorization(account, session, receive_updates=receive_updates)
        connection = TelegramConnection(
            client,
            account=phone,
            authorization_id=session.authorization.id,
            receive_updates=receive_updates,
            connect_timeout=self._connect_timeout,
            request_timeout=self._request_timeout,
            on_ready=self._install_handlers(phone) if receive_updates else None,
            via=self._via(account),
        )
        try:
            await connection.connect()
        except BaseException as exc:
            await self.on_error(phone, exc, authorization_id=session.authorization.id)
            raise
        await self._store.authorizations.touch(session.authorization.id)
        if account.status is AccountStatus.ERROR:
            await self._set_status(account, AccountStatus.ACTIVE)
        return connection

    def _via(self, account: Account) -> str:
        """How the account reaches Telegram, for error messages (the password masked)."""
        url = (
            account.proxy_url.reveal() if account.proxy_url else self._factory.target.default_proxy
        )
        return f"via proxy {redact_proxy(url)}" if url else ""

    async def on_success(self, phone: str) -> None:
        """A request of ``phone`` worked: an account shown in error has recovered."""
        if phone not in self._in_error:
            return  # the common case: no database read
        account = await self._store.accounts.get_by_key(phone)
        if account.status is AccountStatus.ERROR:
            await self._set_status(account, AccountStatus.ACTIVE)
        else:
            self._in_error.discard(phone)

    async def _primary_authorization(self, account: Account) -> int | None:
        listed = await self._store.authorizations.list_for_account(account.id)
        active = sorted(a.id for a in listed if a.state is AuthorizationState.ACTIVE)
        return active[0] if active else None

    def _install_handlers(self, phone: str) -> Callable[[Client], Any]:
        async def on_message(client: Client, message: Message) -> None:
            chat_id = int(message.chat.id) if message.chat and message.chat.id else 0
            if not self._seen.first_time((phone, chat_id, message.id)):
                return
            sender = message.from_user
            self._bus.publish(
                "message.incoming",
                phone,
                chat_id=chat_id,
                message_id=message.id,
                sender_id=sender.id if sender else None,
                sender=(sender.username or sender.first_name) if sender else None,
                text=message.text or message.caption or "",
                outgoing=bool(message.outgoing),
            )

        async def install(client: Client) -> None:
            client.add_handler(MessageHandler(on_message, filters.incoming))

        return install

    # --- what errors do to accounts --------------------------------------------------------

    async def on_error(
        self, phone: str, exc: BaseException, *, authorization_id: int | None = None
    ) -> None:
        """Record what ``exc`` means for the account; the caller re-raises it."""
        try:
            account = await self._store.accounts.get_by_key(phone)
        except Exception:
            return
        if isinstance(exc, FloodWait):
            until = self._clock() + exc.seconds
            self.gate.close_until(phone, until)
            self.meter.record_flood(exc.method or "?")
            await self._store.floods.record(
                account.id, method=exc.method or "?", seconds=exc.seconds
            )
            await self._set_status(
                account,
                AccountStatus.FLOOD_WAIT,
                detail=f"FLOOD_WAIT {exc.seconds} s on {exc.method or 'a request'}",
                flood_until=datetime.fromtimestamp(until, tz=UTC),
            )
            self._bus.publish("account.flood", phone, seconds=exc.seconds, method=exc.method)
        elif isinstance(exc, AccountBanned):
            await self._set_status(account, AccountStatus.BANNED, detail=str(exc))
        elif isinstance(exc, AuthorizationRevoked | AuthKeyDuplicated):
            if authorization_id is not None:
                state = (
                    AuthorizationState.DUPLICATED
                    if isinstance(exc, AuthKeyDuplicated)
                    else AuthorizationState.REVOKED
                )
                await self._store.authorizations.set_state(
                    authorization_id, state, detail=getattr(exc, "name", "") or str(exc)
                )
                self._bus.publish(
                    "authorization.state", phone, authorization_id=authorization_id, state=state
                )
            if await self._primary_authorization(account) is None:
                await self._set_status(account, AccountStatus.REVOKED, detail=str(exc))
            else:
                await self.sync_account(account)
        elif isinstance(exc, ConnectFailed | ProxyError | OSError):
            await self._set_status(account, AccountStatus.ERROR, detail=str(exc))

    async def _set_status(
        self,
        account: Account,
        status: AccountStatus,
        *,
        detail: str = "",
        flood_until: datetime | None = None,
    ) -> None:
        if account.status is status and account.status_detail == detail and flood_until is None:
            return
        updated = await self._store.accounts.set_status(
            account.id, status, detail=detail[:1000], flood_until=flood_until
        )
        log.info("account %s: %s%s", account.key, status.value, f" ({detail})" if detail else "")
        self._bus.publish(
            "account.status",
            account.key,
            status=status.value,
            detail=detail,
            flood_until=flood_until.timestamp() if flood_until else None,
        )
        await self.sync_account(updated)

    async def refresh_statuses(self) -> None:
        """Periodic health check: floods that ended become active again."""
        now = datetime.fromtimestamp(self._clock(), tz=UTC)
        page = await self._store.accounts.list(status=AccountStatus.FLOOD_WAIT, limit=1000)
        for account in page.items:
            if account.flood_until is None or account.flood_until <= now:
                await self._set_status(account, AccountStatus.ACTIVE)

    async def run_health_checks(self, interval: float = 30.0) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh_statuses()
            except Exception:
                log.exception("health check failed; trying again in %.0f s", interval)

    def flood_deadline(self, phone: str) -> datetime | None:
        left = self.gate.remaining(phone)
        return datetime.now(tz=UTC) + timedelta(seconds=left) if left else None
