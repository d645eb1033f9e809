"""A Kurigram client shaped for the pool: connect, disconnect, a cheap liveness check.

Kurigram's ``Client.connect()`` does not raise when the server is unreachable: its session
schedules a restart in the background and returns. A pool must not count that as connected,
so ``connect()`` proves the authorization with one authorized call (``updates.getState``,
which the update machinery needs anyway) under a deadline, and on any failure stops the
client's background restarts before raising: a dead proxy or a revoked key must never turn
into a reconnect loop that nobody owns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pyrogram import Client, raw
from pyrogram import client as pyrogram_client_module
from pyrogram import errors as tg
from pyrogram.session import Session
from pyrogram.session.session import SessionState

from tgfleet.errors import AuthorizationRevoked, ConnectFailed, TelegramError, TgfleetError
from tgfleet.telegram.errors import translate

log = logging.getLogger(__name__)
T = TypeVar("T")

# Upper bound on waiting for a Kurigram background restart to notice it must stop: its
# connect attempts (3 x 1 s) plus its start-up calls.
RESTART_GRACE = 30.0


class _RecordingSession(Session):  # type: ignore[misc]  # Kurigram ships no type stubs
    """Kurigram's session, remembering the error its ``start()`` swallows.

    ``Session.start()`` turns an RPC error of its initConnection (a FLOOD_WAIT, a 5xx) into
    a background restart and returns as if nothing happened; the connect below needs that
    error to tell the operator what went wrong instead of "no answer".
    """

    start_error: BaseException | None = None

    async def send(
        self, data: Any, wait_response: bool = True, timeout: float = Session.WAIT_TIMEOUT
    ) -> Any:
        try:
            return await super().send(data, wait_response, timeout)
        except (OSError, tg.RPCError) as exc:
            if not self.is_started.is_set():
                self.start_error = exc
            raise


# Kurigram builds sessions inside Client.get_session() from this module global; tgfleet's
# clients are the only ones in the process, and the subclass only records.
pyrogram_client_module.Session = _RecordingSession


class TelegramConnection:
    """One live client of one authorization; the object the pool holds."""

    def __init__(
        self,
        client: Client,
        *,
        account: str,
        authorization_id: int,
        receive_updates: bool = False,
        connect_timeout: float = 15.0,
        on_ready: Callable[[Client], Awaitable[None]] | None = None,
        require_user: bool = True,
        request_timeout: float = 60.0,
        via: str = "",
    ) -> None:
        self.client = client
        self.account = account
        self.authorization_id = authorization_id
        self.receive_updates = receive_updates
        self._connect_timeout = connect_timeout
        self._on_ready = on_ready
        # False for a key whose user is not known yet (a Telethon string being imported):
        # the first call below still proves the key is logged in.
        self._require_user = require_user
        self._request_timeout = request_timeout
        # "via proxy socks5://user:***@host:port", or "": named in every network error
        self._via = f" {via}" if via else ""
        self.user_id: int | None = None

    def __repr__(self) -> str:
        state = "connected" if self.client.is_connected else "disconnected"
        return f"<TelegramConnection {self.account} auth={self.authorization_id} {state}>"

    async def connect(self) -> None:
        try:
            await asyncio.wait_for(self._connect(), self._connect_timeout)
        except BaseException as exc:
            await self._stop_quietly()
            if isinstance(exc, TgfleetError | asyncio.CancelledError):
                raise
            if isinstance(exc, TimeoutError):
                raise ConnectFailed(
                    f"account {self.account}: no answer from Telegram within "
                    f"{self._connect_timeout:.0f} s{self._via} (server or proxy unreachable?)"
                ) from None
            if isinstance(exc, OSError | ConnectionError):
                raise self._unreachable(exc) from None
            raise translate(exc, phone=self.account, method="connect") from None

    async def _connect(self) -> None:
        authorized = await self.client.connect()
        session = self.client.session
        if session is not None and not session.is_started.is_set():
            # Kurigram's Session.start() swallowed the error and scheduled a restart loop;
            # waiting for it would only hide the reason for connect_timeout seconds.
            error = getattr(session, "start_error", None)
            if isinstance(error, tg.RPCError):
                raise error  # a FLOOD_WAIT on initConnection, ...: translated below
            raise ConnectionError("the server or proxy refused or dropped the connection")
        if not authorized and self._require_user:
            raise AuthorizationRevoked(
                f"account {self.account}: authorization {self.authorization_id} has no user "
                "(never completed a login)",
                code=401,
                name="AUTH_KEY_UNREGISTERED",
            )
        # The first authorized call proves the key is alive and that the server answers.
        await self.client.invoke(raw.functions.updates.GetState())
        if self.receive_updates:
            await self.client.initialize()
        if self._on_ready is not None:
            await self._on_ready(self.client)

    def _unreachable(self, exc: BaseException) -> ConnectFailed:
        return ConnectFailed(f"account {self.account}: cannot reach Telegram{self._via}: {exc}")

    async def disconnect(self) -> None:
        await self._stop_quietly()

    async def _stop_quietly(self) -> None:
        client = self.client
        session = client.session
        try:
            if client.is_initialized:
                await client.terminate()
            if client.is_connected:
                await client.disconnect()
            elif session is not None:
                # connect() may have left a session restarting in the background
                await session.stop()
        except Exception as exc:  # closing must not fail the caller
            log.debug("closing %r: %s", self, exc)
        if session is not None:
            await self._wait_restart_over(session)

    async def _wait_restart_over(self, session: Any) -> None:
        """Return only when no restart of this session can still open a socket.

        Kurigram restarts a dropped session in a background task, and a stop that lands
        while that task is inside ``start()`` is undone only after ``start()`` connected
        again: for a moment the key is live on a connection nobody owns. The pool frees the
        authorization for a new client when this returns, so that moment must be over by
        then, or the new client and the ghost share the key (406 AUTH_KEY_DUPLICATED, fact 1).
        """
        try:
            async with asyncio.timeout(RESTART_GRACE):
                async with session.restart_lock:
                    pass  # a restart in flight has finished, and stopped itself
                await session.stop()
        except TimeoutError:
            log.warning("%r: a background restart did not end within %.0f s", self, RESTART_GRACE)
        except Exception as exc:
            log.debug("closing %r: %s", self, exc)

    async def is_alive(self) -> bool:
        """Cheap: no network round trip; the session's own pings detect a dead socket."""
        session = self.client.session
        return bool(
            self.client.is_connected
            and session is not None
            and session.state is SessionState.STARTED
        )

    async def call(self, fn: Callable[[Client], Awaitable[T]], *, method: str = "") -> T:
        """Run ``fn(client)`` with Kurigram's errors translated to tgfleet's, under the
        request deadline (Kurigram itself would retry a lost connection for minutes)."""
        return await self._run(fn(self.client), method)

    async def invoke(self, query: Any, *, timeout: float | None = None) -> Any:
        method = getattr(query, "QUALNAME", type(query).__name__)
        return await self._run(self.client.invoke(query), method, timeout)

    async def _run(self, call: Awaitable[T], method: str, timeout: float | None = None) -> T:
        session = self.client.session
        if session is None or not session.is_started.is_set():
            close = getattr(call, "close", None)
            if close is not None:
                close()  # never awaited: no "coroutine was never awaited" warning
            raise self._unreachable(ConnectionError("the connection was lost"))
        limit = self._request_timeout if timeout is None else timeout
        try:
            # asyncio.timeout, not wait_for: no extra task per request
            async with asyncio.timeout(limit):
                return await call
        except tg.RPCError as exc:
            raise translate(exc, phone=self.account, method=method) from None
        except ValueError as exc:
            # Kurigram answers a chat id outside every peer range (0, say) with a bare
            # ValueError before asking Telegram; it is the PEER_ID_INVALID Telegram would send
            if not str(exc).startswith("Peer id invalid"):
                raise
            raise TelegramError(
                f"account {self.account}: Telegram answered 400 PEER_ID_INVALID"
                + (f" to {method}" if method else "")
                + f" (no chat has id {str(exc).rpartition(':')[2].strip()})",
                code=400,
                name="PEER_ID_INVALID",
            ) from None
        except TimeoutError:
            raise ConnectFailed(
                f"account {self.account}: no answer to {method or 'a request'} within "
                f"{limit:.0f} s{self._via} (server or proxy unreachable?)"
            ) from None
        except (OSError, ConnectionError) as exc:
            raise self._unreachable(exc) from None
