"""Not only Kurigram: Telethon (another MTProto 2.0 implementation, same layer) logs in to the
sandbox over each of its transports, with its own handshake, salts and containers."""

from __future__ import annotations

import pytest
from protocol_kit import API_HASH, API_ID, sandbox_with_world

telethon = pytest.importorskip("telethon")
from telethon import TelegramClient  # noqa: E402
from telethon.crypto import rsa as telethon_rsa  # noqa: E402
from telethon.network import connection  # noqa: E402
from telethon.sessions import MemorySession  # noqa: E402

TRANSPORTS = {
    "full": connection.ConnectionTcpFull,
    "abridged": connection.ConnectionTcpAbridged,
    "intermediate": connection.ConnectionTcpIntermediate,
    "obfuscated_abridged": connection.ConnectionTcpObfuscated,
}


@pytest.mark.parametrize("name", list(TRANSPORTS))
async def test_telethon_logs_in(name: str, caplog: pytest.LogCaptureFixture) -> None:
    async with sandbox_with_world(insecure_fast_handshake=False) as sandbox:
        telethon_rsa.add_key(sandbox.rsa_public_key_pem, old=False)
        session = MemorySession()
        session.set_dc(sandbox.dc_id, sandbox.host, sandbox.port)
        client = TelegramClient(
            session, API_ID, API_HASH, connection=TRANSPORTS[name], receive_updates=False
        )
        await client.connect()
        try:
            await client.send_code_request("+15550001")
            await client.sign_in("+15550001", sandbox.login_code)
            me = await client.get_me()
            assert me.phone == "15550001"
            # Telethon strips the leading zero bytes of a new auth key (get_byte_array), so one
            # key in 256 fails its own nonce-hash check and it makes another: it says so
            retried = sum("new auth_key failed" in r.getMessage() for r in caplog.records)
            assert sandbox.counters["handshakes"] == 1 + retried
            assert {c["transport"] for c in sandbox.connections()} == {name}
        finally:
            await client.disconnect()
