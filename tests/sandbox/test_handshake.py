"""Auth-key creation against the real server, both RSA paddings, and refusals."""

from __future__ import annotations

import pytest
from mtproto_client import RawClient
from protocol_kit import sandbox_with_world
from pyrogram import raw


@pytest.mark.parametrize("rsa_pad", [True, False], ids=["rsa_pad", "legacy_padding"])
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "full_strength"])
async def test_handshake_makes_a_key_the_server_then_accepts(rsa_pad: bool, fast: bool) -> None:
    async with sandbox_with_world(insecure_fast_handshake=fast) as sandbox:
        client = RawClient()
        await client.connect(sandbox.host, sandbox.port)
        try:
            auth_key = await client.handshake(sandbox.rsa_public_key_pem, rsa_pad=rsa_pad)
            assert sandbox.counters["handshakes"] == 1
            key_id = int.from_bytes(client.auth_key_id, "little", signed=True)
            assert sandbox.world.auth_key(key_id) == auth_key
            # The key works: an encrypted API call with the handshake's salt gets its answer.
            config = await client.call(raw.functions.help.GetConfig())
            assert isinstance(config, raw.types.Config)
            assert config.this_dc == sandbox.dc_id
        finally:
            await client.close()


async def test_a_wrong_fingerprint_is_answered_with_transport_error_404() -> None:
    async with sandbox_with_world() as sandbox:
        client = RawClient()
        await client.connect(sandbox.host, sandbox.port)
        try:
            res_pq = await client.plain(raw.functions.ReqPqMulti(nonce=7))
            await client.transport.send(
                bytes(8)
                + (client.msg_id()).to_bytes(8, "little")
                + len(
                    body := raw.functions.ReqDHParams(
                        nonce=7,
                        server_nonce=res_pq.server_nonce,
                        p=b"\x00\x00\x00\x01",
                        q=b"\x00\x00\x00\x01",
                        public_key_fingerprint=1,
                        encrypted_data=bytes(256),
                    ).write()
                ).to_bytes(4, "little")
                + body
            )
            packet = await client.transport.recv()
            assert packet is not None and int.from_bytes(packet[:4], "little", signed=True) == -404
            assert sandbox.counters["handshake_failures"] == 1
            assert sandbox.counters["handshakes"] == 0
        finally:
            await client.close()


async def test_an_api_call_without_a_key_is_refused() -> None:
    async with sandbox_with_world() as sandbox:
        client = RawClient()
        await client.connect(sandbox.host, sandbox.port)
        try:
            await client.transport.send(
                bytes(8)
                + client.msg_id().to_bytes(8, "little")
                + (4).to_bytes(4, "little")
                + raw.functions.help.GetConfig().write()
            )
            packet = await client.transport.recv()
            assert packet is not None and int.from_bytes(packet[:4], "little", signed=True) == -404
        finally:
            await client.close()
