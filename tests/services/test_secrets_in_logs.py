"""No log line of a full login carries a secret (the daemon logs tgfleet at DEBUG at most and
Kurigram at WARNING: its DEBUG lines print whole TL requests, bot tokens included)."""

from __future__ import annotations

import logging

import pytest
from conftest import BOT_TOKEN, CY, PASSWORD, log_in
from socks5_server import Socks5Server

from tgfleet.services.runtime import FleetRuntime
from tgfleet.store import Store


async def test_a_full_login_logs_no_secret(
    runtime: FleetRuntime, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = Socks5Server("fleet", "pr0xy-secret-pw")
    await proxy.start()
    caplog.set_level(logging.DEBUG)
    kurigram = logging.getLogger("pyrogram")
    level = kurigram.level
    kurigram.setLevel(logging.WARNING)  # as logging_setup does
    try:
        flow = await runtime.login.start_code_login(CY, proxy_url=proxy.url)
        flow = await runtime.login.submit_code(flow.id, "12345")
        await runtime.login.submit_password(flow.id, PASSWORD)
        await runtime.login.login_bot(BOT_TOKEN)
        await log_in(runtime, "+15550001")
        await runtime.actions.get_me(CY)
        await runtime.actions.get_me("bot:7000001")
    finally:
        kurigram.setLevel(level)
        await proxy.stop()
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    text = "\n".join(r.getMessage() for r in caplog.records)
    account = await store.accounts.get_by_key(CY)
    [auth] = await store.authorizations.list_for_account(account.id)
    key = (await store.authorizations.session(auth.id)).auth_key.reveal()
    for secret in (PASSWORD, "pr0xy-secret-pw", BOT_TOKEN.split(":")[1], key.hex()):
        assert secret not in text
