"""A bot by token and a session string import take the new account's proxy and device, as a
login does: the client that proves them already uses both, and the account keeps them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tgfleet.telegram.server import ServerEndpoint, build_client

from .conftest import in_app_loop, socks5_module

API = "/api/v1"
CODE = "12345"


@pytest.fixture
def socks(api: TestClient) -> Iterator[Any]:
    server = socks5_module().Socks5Server("bots", "b0t-pr0xy")
    in_app_loop(api, server.start)
    yield server
    in_app_loop(api, server.stop)


def test_a_bot_added_by_token_keeps_the_proxy_and_device_given(api: TestClient, socks: Any) -> None:
    world = api.app.state.runtime.sandbox.world  # type: ignore[attr-defined]
    token = in_app_loop(api, lambda: world.add_bot("identity_test_bot", "Identity Bot"))
    added = api.post(
        f"{API}/accounts/bot",
        json={
            "token": token,
            "label": "via proxy",
            "proxy": socks.url,
            "device": {"device_model": "bot-host-1", "app_version": "9.9"},
        },
    )
    assert added.status_code == 201, added.text
    bot = added.json()
    assert bot["device"]["device_model"] == "bot-host-1" and bot["device"]["app_version"] == "9.9"
    assert bot["proxy"] == f"socks5://bots:***@127.0.0.1:{socks.port}"
    assert "b0t-pr0xy" not in added.text and token.split(":")[1] not in added.text
    # the token was checked through the proxy
    assert socks.counters["connected"] >= 1
    me = api.get(f"{API}/accounts/{bot['key']}/me")
    assert me.status_code == 200 and me.json()["username"] == "identity_test_bot"
    assert api.delete(f"{API}/accounts/{bot['key']}").status_code == 200


def test_an_imported_session_keeps_the_device_given(api: TestClient) -> None:
    phone = "+15550000095"
    sandbox = api.app.state.runtime.sandbox  # type: ignore[attr-defined]
    in_app_loop(api, lambda: sandbox.world.add_user(phone, "Ivy", username="identity_ivy"))
    endpoint = ServerEndpoint.of(sandbox)

    async def log_in_elsewhere() -> str:
        other = build_client("elsewhere", endpoint, api_id=7, api_hash="0" * 32, no_updates=True)
        await other.connect()
        sent = await other.send_code(phone)
        await other.sign_in(phone, sent.phone_code_hash, CODE)
        text = str(await other.export_session_string())
        await other.disconnect()
        return text

    text = asyncio.run(log_in_elsewhere())
    imported = api.post(
        f"{API}/accounts/import",
        json={"session_string": text, "device": {"device_model": "imported-rig"}},
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["device"]["device_model"] == "imported-rig"
    assert api.get(f"{API}/accounts/{phone}/me").status_code == 200
    # Telegram saw the pinned device on the key, not the other tool's
    [key_id] = in_app_loop(api, lambda: sandbox.world.auth_keys_of(phone))
    assert sandbox.world.state.auths[key_id].device_model == "imported-rig"
    assert api.delete(f"{API}/accounts/{phone}").status_code == 200
