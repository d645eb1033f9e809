"""Shared pieces of the protocol tests: a sandbox with the real World, and client builders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pyrogram import Client

from tgfleet.sandbox.server import Sandbox, open_sandbox
from tgfleet.sandbox.world import World
from tgfleet.telegram.server import ServerEndpoint, build_client

API_ID = 12345
API_HASH = "0123456789abcdef0123456789abcdef"
SEED = {
    "users": [
        {"phone": "+15550001", "first_name": "Ann"},
        {"phone": "+15550002", "first_name": "Bo"},
    ]
}


@asynccontextmanager
async def sandbox_with_world(**kwargs: Any) -> AsyncIterator[Sandbox]:
    kwargs.setdefault("insecure_fast_handshake", True)
    async with open_sandbox(world=World(seed=SEED), **kwargs) as sandbox:
        yield sandbox


def client_for(sandbox: Sandbox, name: str, **kwargs: Any) -> Client:
    return build_client(
        name, ServerEndpoint.of(sandbox), api_id=API_ID, api_hash=API_HASH, **kwargs
    )


async def logged_in(sandbox: Sandbox, name: str, phone: str, **kwargs: Any) -> Client:
    """A connected client that has signed in with the login code (no dispatcher running)."""
    kwargs.setdefault("no_updates", True)
    client = client_for(sandbox, name, **kwargs)
    await client.connect()
    sent = await client.send_code(phone)
    await client.sign_in(phone, sent.phone_code_hash, sandbox.login_code)
    return client
