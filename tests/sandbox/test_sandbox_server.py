"""The server as a whole: state dir, stored-record reconnects, duplicated keys, restarts across
processes, and ``serve_sandbox`` with its admin endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from mtproto_client import RawClient
from protocol_kit import API_HASH, API_ID, SEED, client_for, logged_in, sandbox_with_world
from pyrogram import Client, raw
from pyrogram.errors import AuthKeyDuplicated, FloodWait
from pyrogram.raw.all import layer

from tgfleet.sandbox.admin import AdminError, admin_request
from tgfleet.sandbox.keys import KEY_FILE
from tgfleet.sandbox.server import open_sandbox, serve_sandbox
from tgfleet.sandbox.world import World
from tgfleet.telegram.server import ServerEndpoint, build_client, export_record
from tgfleet.telegram.storage import SessionRecord

ANN = "+15550001"


async def me(client: Client) -> int:
    users = await client.invoke(raw.functions.users.GetUsers(id=[raw.types.InputUserSelf()]))
    return int(users[0].id)


async def test_a_stored_record_reconnects_without_a_handshake() -> None:
    async with sandbox_with_world() as sandbox:
        first = await logged_in(sandbox, "first", ANN)
        user_id = await me(first)
        record = export_record(first)
        session_string = await first.export_session_string()
        await first.disconnect()
        assert sandbox.counters["handshakes"] == 1

        again = client_for(sandbox, "again", record=record, no_updates=True)
        await again.connect()
        assert await me(again) == user_id
        await again.disconnect()

        parsed = SessionRecord.from_session_string(
            session_string, server_address=sandbox.host, port=sandbox.port
        )
        from_string = client_for(sandbox, "from-string", record=parsed, no_updates=True)
        await from_string.connect()
        assert await me(from_string) == user_id
        await from_string.disconnect()
        assert sandbox.counters["handshakes"] == 1


async def test_one_authorization_opened_twice_gets_auth_key_duplicated() -> None:
    async with sandbox_with_world() as sandbox:
        first = await logged_in(sandbox, "first", ANN)
        twin = client_for(sandbox, "twin", record=export_record(first), no_updates=True)
        try:
            with pytest.raises(AuthKeyDuplicated):
                await twin.connect()
            assert sandbox.counters["AUTH_KEY_DUPLICATED"] >= 1
            await me(first)  # the older connection is untouched
        finally:
            await first.disconnect()


async def test_state_dir_keeps_key_and_world_across_processes(tmp_path: Path) -> None:
    async with open_sandbox(state_dir=tmp_path, seed=SEED, insecure_fast_handshake=True) as one:
        fingerprint = one.rsa_fingerprint
        client = await logged_in(one, "ann", ANN)
        user_id = await me(client)
        record = export_record(client)
        await client.disconnect()
    key_file = tmp_path / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    async with open_sandbox(state_dir=tmp_path, login_code="54321") as two:
        assert two.rsa_fingerprint == fingerprint
        assert two.login_code == "54321"  # a restart may change the code; the world follows
        client = build_client(
            "ann-again",
            ServerEndpoint.of(two),
            api_id=API_ID,
            api_hash=API_HASH,
            record=record,
            no_updates=True,
        )
        await client.connect()
        assert await me(client) == user_id
        await client.disconnect()
        assert two.counters["handshakes"] == 0


async def test_serve_sandbox_writes_its_json_and_takes_admin_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps(SEED))
    task = asyncio.create_task(
        serve_sandbox("127.0.0.1", 0, tmp_path, login_code="54321", seed_file=seed_file)
    )
    try:
        info_file = tmp_path / "sandbox.json"
        for _ in range(200):
            if info_file.exists():
                break
            await asyncio.sleep(0.05)
        info = json.loads(info_file.read_text())
        assert {
            "host",
            "port",
            "dc_id",
            "rsa_public_key_pem",
            "rsa_fingerprint",
            "login_code",
        } <= set(info)
        assert info["login_code"] == "54321"
        assert json.loads(capsys.readouterr().out.strip()) == info

        endpoint = ServerEndpoint.from_sandbox_json(info_file)
        client = build_client(
            "ann", endpoint, api_id=API_ID, api_hash=API_HASH, no_updates=True, sleep_threshold=0
        )
        await client.connect()
        sent = await client.send_code(ANN)
        await client.sign_in(ANN, sent.phone_code_hash, "54321")
        admin = info["admin_port"]
        await admin_request(admin, "flood_wait", seconds=60, phone=ANN)
        with pytest.raises(FloodWait):
            await me(client)
        await admin_request(admin, "clear")
        await me(client)
        counters = await admin_request(admin, "counters")
        assert counters["FLOOD_WAIT"] == 1 and counters["handshakes"] == 1
        conns = await admin_request(admin, "connections")
        assert [c["phone"] for c in conns] == [ANN.lstrip("+")]
        with pytest.raises(AdminError, match="unknown op"):
            await admin_request(admin, "explode")
        with pytest.raises(AdminError, match="TypeError"):
            await admin_request(admin, "flood_wait", second=3)
        await client.disconnect()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_kurigram_client_with_an_unknown_key_never_starts() -> None:
    async with sandbox_with_world() as sandbox:
        record = SessionRecord(
            dc_id=2,
            server_address=sandbox.host,
            port=sandbox.port,
            auth_key=os.urandom(256),
            api_id=API_ID,
            user_id=5,
            is_bot=False,
        )
        client = client_for(sandbox, "stranger", record=record, no_updates=True)
        # Kurigram's connect() returns after its 2 s start timeout; the session then dies on
        # transport error -404 (AuthKeyNotFound in its restart task) and never starts.
        await asyncio.wait_for(client.connect(), 10)
        try:
            await asyncio.sleep(0.2)
            assert sandbox.counters["AUTH_KEY_UNKNOWN"] >= 1
            assert not client.session.is_started.is_set()
            assert sandbox.counters["rpcs"] == 0
        finally:
            await asyncio.wait_for(client.disconnect(), 10)


class BigAnswerWorld(World):
    """The real world, with one oversized answer to show gzip_packed results."""

    async def dispatch(self, ctx: Any, query: Any) -> Any:
        if isinstance(query, raw.functions.help.GetNearestDc):
            return raw.types.NearestDc(country="XY" * 20_000, this_dc=2, nearest_dc=2)
        return await super().dispatch(ctx, query)


async def test_large_results_are_gzip_packed() -> None:
    async with open_sandbox(world=BigAnswerWorld(seed=SEED), insecure_fast_handshake=True) as sb:
        raw_client = RawClient()
        await raw_client.connect(sb.host, sb.port)
        try:
            await raw_client.handshake(sb.rsa_public_key_pem)
            nearest = await raw_client.call(raw.functions.help.GetNearestDc())
            assert nearest.country == "XY" * 20_000
            assert raw_client.last_packet_size < 4_000  # 40 kB of text went out compressed
        finally:
            await raw_client.close()
        client = client_for(sb, "k", no_updates=True)
        await client.connect()
        try:
            nearest = await client.invoke(raw.functions.help.GetNearestDc())
            assert len(nearest.country) == 40_000
        finally:
            await client.disconnect()


async def test_the_world_sees_layer_device_and_api_id() -> None:
    async with sandbox_with_world() as sandbox:
        client = client_for(
            sandbox, "dev", no_updates=True, device_model="Bench Phone", app_version="9.9"
        )
        await client.connect()
        try:
            (conn,) = sandbox.hub.connections.values()
            ctx = conn.ctx
            assert ctx is not None
            assert (ctx.layer, ctx.device_model, ctx.app_version, ctx.api_id) == (
                layer,
                "Bench Phone",
                "9.9",
                API_ID,
            )
            assert ctx.session_id != 0 and ctx.extra["transport"] == "abridged"
        finally:
            await client.disconnect()
