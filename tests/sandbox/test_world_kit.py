"""Helpers for the world's unit tests, and tests of the helpers themselves.

A ``Conn`` plays one connection of the protocol side: an auth key registered with the world,
a ``CallContext`` attached as live, and a list that collects what the world pushes to it. The
world is the real one; only the wire is missing.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
from pyrogram.raw import functions, types

from tgfleet.sandbox.rpc import CallContext, RpcError
from tgfleet.sandbox.world import World

_ids = itertools.count(1)


class Clock:
    """A hand-driven clock, so code and token expiry are tested without sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Conn:
    def __init__(self, world: World, auth_key_id: int | None = None, *, attach: bool = True):
        self.world = world
        if auth_key_id is None:
            auth_key_id = int.from_bytes(os.urandom(8), "big", signed=True)
            world.register_auth_key(auth_key_id, os.urandom(256))
        self.pushed: list[Any] = []
        n = next(_ids)
        self.ctx = CallContext(
            auth_key_id=auth_key_id,
            conn_id=n,
            session_id=n,
            layer=229,
            device_model=f"Device {n}",
            system_version="Linux 6.1",
            app_version="1.0",
            api_id=12345,
            lang_code="en",
            peer=f"127.0.0.{n % 250 + 1}:5{n:04d}",
            sink=self.pushed.append,
        )
        if attach:
            world.attach(self.ctx)

    @property
    def auth_key_id(self) -> int:
        return self.ctx.auth_key_id

    def sibling(self) -> Conn:
        """A second connection of the same auth key (after this one closed, say)."""
        return Conn(self.world, self.auth_key_id)

    async def call(self, query: Any) -> Any:
        return await self.world.dispatch(self.ctx, query)

    async def error(self, query: Any) -> RpcError:
        """The RpcError the query raises; fails the test when it succeeds."""
        with pytest.raises(RpcError) as caught:
            await self.call(query)
        return caught.value

    def pushed_updates(self) -> list[Any]:
        """The single updates inside everything pushed so far."""
        found: list[Any] = []
        for item in self.pushed:
            if isinstance(item, types.Updates):
                found.extend(item.updates)
            elif isinstance(item, types.UpdateShort):
                found.append(item.update)
        return found

    async def send_code(self, phone: str) -> str:
        sent = await self.call(
            functions.auth.SendCode(
                phone_number=phone,
                api_id=12345,
                api_hash="0" * 32,
                settings=types.CodeSettings(),
            )
        )
        assert isinstance(sent, types.auth.SentCode)
        return str(sent.phone_code_hash)

    async def sign_in(self, phone: str, code: str | None = None) -> Any:
        code_hash = await self.send_code(phone)
        return await self.call(
            functions.auth.SignIn(
                phone_number=phone,
                phone_code_hash=code_hash,
                phone_code=code if code is not None else self.world.login_code,
            )
        )


async def logged_in(world: World, phone: str) -> Conn:
    """A connection logged in as an existing user with no two-step password."""
    conn = Conn(world)
    result = await conn.sign_in(phone)
    assert isinstance(result, types.auth.Authorization)
    return conn


def peer_of(conn: Conn, user_id: int) -> types.InputPeerUser:
    user = conn.world.state.users[user_id]
    return types.InputPeerUser(user_id=user_id, access_hash=user.access_hash)


async def send(conn: Conn, to: Any, text: str) -> types.Updates:
    result = await conn.call(
        functions.messages.SendMessage(
            peer=to, message=text, random_id=int.from_bytes(os.urandom(8), "big", signed=True)
        )
    )
    assert isinstance(result, types.Updates)
    return result


# --- tests of the kit ---------------------------------------------------------------------------


async def test_a_seeded_user_logs_in_with_the_code() -> None:
    world = World(seed={"users": [{"phone": "+1 555 000 1", "first_name": "Ann"}]})
    conn = await logged_in(world, "+15550001")
    assert world.phone_of(conn.auth_key_id) == "15550001"


async def test_error_helper_fails_when_the_call_succeeds() -> None:
    world = World()
    conn = Conn(world)
    with pytest.raises(pytest.fail.Exception):
        await conn.error(functions.help.GetNearestDc())
