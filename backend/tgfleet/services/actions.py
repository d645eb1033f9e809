"""What an operator asks an account to do, each through a pooled connection.

Every action goes the same way: the flood gate is checked first (a flooded account is not even
dialled, DESIGN fact 4), a connection is borrowed with ``async with pool.acquire(phone)``, the
call runs with Kurigram's errors translated, and any failure is shown to the fleet
(``fleet.on_error``) before it is raised, so a 401 revokes the authorization and a FLOOD_WAIT
gates the account whoever made the call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pyrogram import Client, raw
from pyrogram.enums import ParseMode

from tgfleet.errors import (
    AccountBanned,
    AuthKeyDuplicated,
    AuthorizationRevoked,
    ConnectFailed,
    TelegramError,
    TgfleetError,
)
from tgfleet.pool.pool import ConnectionPool
from tgfleet.services.fleet import Fleet
from tgfleet.telegram.connection import TelegramConnection

T = TypeVar("T")
log = logging.getLogger(__name__)

# Sends of one bulk request in flight at once. Each goes to a different account, so this bounds
# what one request asks of the pool (and of the connector: a cold account dials first), not
# any single account, which the pool's own per-account limit covers.
BULK_CONCURRENCY = 8


@dataclass(frozen=True)
class Me:
    id: int
    first_name: str
    username: str | None
    phone: str | None
    is_bot: bool


@dataclass(frozen=True)
class SentMessage:
    chat_id: int
    message_id: int
    text: str


@dataclass(frozen=True)
class DialogInfo:
    chat_id: int
    title: str
    unread: int


@dataclass(frozen=True)
class MessageInfo:
    chat_id: int
    message_id: int
    sender_id: int | None
    text: str
    outgoing: bool


@dataclass(frozen=True)
class Outgoing:
    """One message of a bulk send: ``account`` as the operator named it."""

    account: str
    peer: int | str
    text: str


@dataclass(frozen=True)
class SendOutcome:
    """What became of one message: the sent message, or the error it ended with."""

    account: str
    sent: SentMessage | None = None
    error: Exception | None = None


class Actions:
    def __init__(self, pool: ConnectionPool, fleet: Fleet) -> None:
        self._pool = pool
        self._fleet = fleet

    async def run(self, phone: str, fn: Callable[[Client], Awaitable[T]], *, method: str) -> T:
        """Run ``fn`` on a pooled client of ``phone``; errors reach the fleet, then the caller."""
        self._fleet.gate.check(phone)
        # timed from the acquire on: a gated account made no call, a pool wait is part of one
        with self._fleet.meter.measure():
            return await self._run(phone, fn, method=method)

    async def _run(self, phone: str, fn: Callable[[Client], Awaitable[T]], *, method: str) -> T:
        try:
            refused: TgfleetError | None = None
            async with self._pool.acquire(phone) as pooled:
                conn = pooled.client
                assert isinstance(conn, TelegramConnection)
                try:
                    result = await conn.call(fn, method=method)
                except TgfleetError as exc:
                    await self._fleet.on_error(phone, exc, authorization_id=conn.authorization_id)
                    if not _request_refused(exc):
                        raise
                    refused = exc
            if refused is not None:
                # raised outside the borrow: the pool would count it against the connection
                raise refused
            await self._fleet.on_success(phone)
            return result
        except TgfleetError:
            raise
        except OSError as exc:
            await self._fleet.on_error(phone, exc)
            raise

    async def get_me(self, phone: str) -> Me:
        user = await self.run(phone, lambda c: c.get_me(), method="users.getUsers")
        return Me(
            id=int(user.id),
            first_name=user.first_name or "",
            username=user.username,
            phone=user.phone_number,
            is_bot=bool(user.is_bot),
        )

    async def send_message(self, phone: str, chat: int | str, text: str) -> SentMessage:
        message = await self.run(
            phone,
            # as written: Kurigram's default parse mode would turn **, __, ` and <b> into
            # formatting and drop them from an operator's text
            lambda c: c.send_message(chat, text, parse_mode=ParseMode.DISABLED),
            method="messages.sendMessage",
        )
        return SentMessage(int(message.chat.id), int(message.id), message.text or "")

    async def send_many(
        self,
        outgoing: Sequence[Outgoing],
        *,
        resolve: Callable[[str], Awaitable[str]],
        concurrency: int = BULK_CONCURRENCY,
    ) -> list[SendOutcome]:
        """Send each message from its own account, at most ``concurrency`` at once; one
        outcome per message, in order. ``resolve`` turns the name given into the key of an
        account that may act, or raises why not. One account's failure (a flood, a refusal,
        an unknown account) is its outcome and never stops the others."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        slots = asyncio.Semaphore(concurrency)

        async def one(item: Outgoing) -> SendOutcome:
            key = item.account
            async with slots:
                try:
                    key = await resolve(item.account)
                    return SendOutcome(key, sent=await self.send_message(key, item.peer, item.text))
                except TgfleetError as exc:
                    return SendOutcome(key, error=exc)
                except OSError as exc:
                    failed = ConnectFailed(f"account {key}: cannot reach Telegram: {exc}")
                    return SendOutcome(key, error=failed)
                except Exception as exc:
                    # a bug or a library error: logged here, since the answer only says
                    # "internal", and still no reason to fail the other senders
                    log.error("bulk send from %s failed: %r", key, exc, exc_info=exc)
                    return SendOutcome(key, error=exc)

        return list(await asyncio.gather(*(one(item) for item in outgoing)))

    async def dialogs(self, phone: str, limit: int = 50) -> list[DialogInfo]:
        async def fetch(client: Client) -> list[DialogInfo]:
            found: list[DialogInfo] = []
            async for dialog in client.get_dialogs(limit=limit):
                chat = dialog.chat
                title = chat.title or " ".join(p for p in (chat.first_name, chat.last_name) if p)
                found.append(
                    DialogInfo(int(chat.id), title or "", int(dialog.unread_messages_count or 0))
                )
            return found

        return await self.run(phone, fetch, method="messages.getDialogs")

    async def history(self, phone: str, chat: int | str, limit: int = 50) -> list[MessageInfo]:
        async def fetch(client: Client) -> list[MessageInfo]:
            found: list[MessageInfo] = []
            async for message in client.get_chat_history(chat, limit=limit):
                found.append(_message_info(message))
            return found

        return await self.run(phone, fetch, method="messages.getHistory")

    async def read(self, phone: str, chat: int | str) -> bool:
        return bool(
            await self.run(
                phone, lambda c: c.read_chat_history(chat), method="messages.readHistory"
            )
        )

    async def ping(self, phone: str) -> None:
        """One cheap authorized call: proves the authorization and the path to Telegram."""
        await self.run(
            phone,
            lambda c: c.invoke(raw.functions.updates.GetState()),
            method="updates.getState",
        )

    async def accept_login_token(self, phone: str, token: bytes) -> None:
        """Accept a QR login token with one of the account's authorizations (QR handoff)."""
        await self.run(
            phone,
            lambda c: c.invoke(raw.functions.auth.AcceptLoginToken(token=token)),
            method="auth.acceptLoginToken",
        )


def _message_info(message: Any) -> MessageInfo:
    sender = message.from_user
    return MessageInfo(
        chat_id=int(message.chat.id),
        message_id=int(message.id),
        sender_id=int(sender.id) if sender else None,
        text=message.text or message.caption or "",
        outgoing=bool(message.outgoing),
    )


def _request_refused(exc: TgfleetError) -> bool:
    """Telegram answered and refused this request (a bad peer, a flood wait): the connection
    is healthy, so the pool must not count the refusal as a connection error or re-check it.
    Revoked, duplicated or banned keys are about the connection's authorization: they are not."""
    if isinstance(exc, AuthorizationRevoked | AuthKeyDuplicated | AccountBanned):
        return False
    return isinstance(exc, TelegramError) and exc.code < 500
