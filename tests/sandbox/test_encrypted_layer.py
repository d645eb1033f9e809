"""The encrypted layer, seen from a raw client: salts, sessions, msg_id and seqno rules,
containers, acks, pings, gzip, future salts, destroy_session, unknown keys and methods."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest
from mtproto_client import RawClient
from protocol_kit import sandbox_with_world
from pyrogram import raw
from pyrogram.raw.core import FutureSalts, GzipPacked, TLObject

from tgfleet.sandbox.server import Sandbox


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with sandbox_with_world() as running:
        yield running


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[RawClient]:
    c = RawClient()
    await c.connect(sandbox.host, sandbox.port)
    await c.handshake(sandbox.rsa_public_key_pem)
    c.salt = 0  # as Kurigram: the first message goes out with salt 0
    yield c
    await c.close()


async def test_salt_zero_gets_bad_server_salt_echoing_the_session(client: RawClient) -> None:
    msg_id = await client.send_obj(raw.functions.Ping(ping_id=1), content_related=False)
    got = await client.recv()
    assert isinstance(got, list) and len(got) == 1
    salt_msg = got[0]
    assert isinstance(salt_msg.body, raw.types.BadServerSalt)
    assert salt_msg.body.bad_msg_id == msg_id and salt_msg.body.error_code == 48
    # unpack() already checked the echoed session id; a fresh session's first answer has
    # seq_no 0, which is where Kurigram takes its clock from, and its msg_id is a reply's.
    assert salt_msg.seq_no == 0 and salt_msg.msg_id % 4 == 1
    assert abs(salt_msg.msg_id / 2**32 - time.time()) < 5


async def test_a_new_session_is_announced_once_then_pinged(client: RawClient) -> None:
    client.salt = await _learn_salt(client)
    first = await client.send_obj(raw.functions.Ping(ping_id=42), content_related=False)
    created = await client.until(raw.types.NewSessionCreated)
    assert created.body.first_msg_id == first and created.seq_no % 2 == 1
    assert created.body.server_salt == client.salt
    pong = await client.until(raw.types.Pong)
    assert pong.body.msg_id == first and pong.body.ping_id == 42
    assert pong.msg_id > created.msg_id
    await client.send_obj(raw.functions.Ping(ping_id=43), content_related=False)
    await client.until(raw.types.Pong)
    assert not any(isinstance(m.body, raw.types.NewSessionCreated) for m in client.seen[1:])


async def _learn_salt(client: RawClient) -> int:
    await client.send_obj(raw.functions.Ping(ping_id=0), content_related=False)
    msg = await client.until(raw.types.BadServerSalt)
    return int(msg.body.new_server_salt)


async def test_a_container_gets_every_answer(client: RawClient) -> None:
    client.salt = await _learn_salt(client)
    ids = await client.send_container(
        raw.functions.help.GetConfig(),
        raw.functions.Ping(ping_id=5),
        raw.functions.help.GetConfig(),
    )
    answered = set()
    while len(answered) < 3:
        msg = await client.until((raw.types.RpcResult, raw.types.Pong))
        answered.add(
            msg.body.req_msg_id if isinstance(msg.body, raw.types.RpcResult) else msg.body.msg_id
        )
    assert answered == set(ids)


async def test_gzip_packed_query_is_unpacked(client: RawClient) -> None:
    client.salt = await _learn_salt(client)

    class Packed(TLObject):
        def __init__(self, inner: TLObject) -> None:
            self.inner = inner

        def write(self, *args: object) -> bytes:
            return GzipPacked(self.inner).write()

    result = await client.call(Packed(raw.functions.help.GetConfig()))
    assert isinstance(result, raw.types.Config)


async def test_wrong_msg_ids_and_seqnos_get_bad_msg_notifications(client: RawClient) -> None:
    client.salt = await _learn_salt(client)
    now = int(time.time() * 2**32) & ~3
    cases = {
        now - (400 << 32): 16,  # too low: more than 300 s in the past
        now + (60 << 32): 17,  # too high: more than 30 s in the future
        now + 1: 18,  # the low bits of a client msg_id must be 0
    }
    for msg_id, code in cases.items():
        await client.send(client.message(raw.functions.help.GetConfig(), msg_id=msg_id))
        msg = await client.until(raw.types.BadMsgNotification)
        assert (msg.body.bad_msg_id, msg.body.error_code) == (msg_id, code)
    # An API query is content-related: an even seqno is wrong (35).
    msg_id = await client.send(client.message(raw.functions.help.GetConfig(), seq_no=0))
    msg = await client.until(raw.types.BadMsgNotification)
    assert (msg.body.bad_msg_id, msg.body.error_code) == (msg_id, 35)
    # msgs_ack is not content-related: an odd seqno is wrong (34).
    msg_id = await client.send(client.message(raw.types.MsgsAck(msg_ids=[1]), seq_no=1))
    msg = await client.until(raw.types.BadMsgNotification)
    assert (msg.body.bad_msg_id, msg.body.error_code) == (msg_id, 34)
    # None of the refused queries was executed.
    assert not any(isinstance(m.body, raw.types.RpcResult) for m in client.seen)


async def test_get_future_salts_and_the_salts_are_accepted(client: RawClient) -> None:
    client.salt = await _learn_salt(client)
    msg_id = await client.send_obj(raw.functions.GetFutureSalts(num=3))
    msg = await client.until(FutureSalts)
    assert msg.body.req_msg_id == msg_id and len(msg.body.salts) == 3
    assert msg.body.salts[0].salt == client.salt
    assert msg.body.salts[0].valid_since <= time.time() < msg.body.salts[0].valid_until


async def test_ping_delay_disconnect_closes_a_silent_connection(client: RawClient) -> None:
    client.salt = await _learn_salt(client)
    await client.send_obj(raw.functions.PingDelayDisconnect(ping_id=9, disconnect_delay=1))
    await client.until(raw.types.Pong)
    with pytest.raises(ConnectionError):
        await client.until(raw.types.Pong, wait=4)


async def test_msgs_ack_is_silent_and_unknown_constructor_is_a_clear_400(
    client: RawClient,
) -> None:
    client.salt = await _learn_salt(client)
    await client.send_obj(raw.types.MsgsAck(msg_ids=[1]), content_related=False)

    class Unknown(TLObject):
        def write(self, *args: object) -> bytes:
            return (0x0BADC0DE).to_bytes(4, "little") + bytes(8)

    result = await client.call(Unknown())
    assert isinstance(result, raw.types.RpcError)
    assert (result.error_code, result.error_message) == (400, "INPUT_METHOD_INVALID")
    assert not any(isinstance(m.body, raw.types.MsgsAck) for m in client.seen)


async def test_destroy_session(client: RawClient, sandbox: Sandbox) -> None:
    client.salt = await _learn_salt(client)
    await client.call(raw.functions.help.GetConfig())
    sid = int.from_bytes(client.session_id, "little", signed=True)
    result = await client.call(raw.functions.DestroySession(session_id=sid + 1))
    assert isinstance(result, raw.types.DestroySessionNone)
    result = await client.call(raw.functions.DestroySession(session_id=sid))
    assert isinstance(result, raw.types.DestroySessionOk)


async def test_invoke_after_msg_waits_for_the_earlier_query(
    client: RawClient, sandbox: Sandbox
) -> None:
    client.salt = await _learn_salt(client)
    sandbox.faults.add_latency(0.3, method="help.getNearestDc")
    first = await client.send_obj(raw.functions.help.GetNearestDc())
    second = await client.send_obj(
        raw.functions.InvokeAfterMsg(msg_id=first, query=raw.functions.help.GetConfig())
    )
    order = []
    while len(order) < 2:
        msg = await client.until(raw.types.RpcResult)
        order.append(msg.body.req_msg_id)
    assert order == [first, second]


async def test_unknown_auth_key_gets_transport_error_404(sandbox: Sandbox) -> None:
    c = RawClient()
    await c.connect(sandbox.host, sandbox.port)
    try:
        c.use_key(os.urandom(256))
        await c.send_obj(raw.functions.Ping(ping_id=1), content_related=False)
        got = await c.recv()
        assert got == (-404).to_bytes(4, "little", signed=True)
        assert sandbox.counters["AUTH_KEY_UNKNOWN"] == 1
        with pytest.raises(ConnectionError):
            await c.recv(wait=2)
    finally:
        await c.close()


async def test_one_key_on_two_connections_gets_auth_key_duplicated(sandbox: Sandbox) -> None:
    first = RawClient()
    second = RawClient()
    await first.connect(sandbox.host, sandbox.port)
    await second.connect(sandbox.host, sandbox.port)
    try:
        key = await first.handshake(sandbox.rsa_public_key_pem)
        second.use_key(key)
        second.salt = first.salt
        assert isinstance(await first.call(raw.functions.help.GetConfig()), raw.types.Config)
        dup = await second.call(raw.functions.help.GetConfig())
        assert isinstance(dup, raw.types.RpcError)
        assert (dup.error_code, dup.error_message) == (406, "AUTH_KEY_DUPLICATED")
        assert sandbox.counters["AUTH_KEY_DUPLICATED"] == 1
        # The older connection keeps working; once it is gone the key is free again.
        assert isinstance(await first.call(raw.functions.help.GetConfig()), raw.types.Config)
        await first.close()
        await asyncio.sleep(0.1)
        assert isinstance(await second.call(raw.functions.help.GetConfig()), raw.types.Config)
    finally:
        await first.close()
        await second.close()


async def test_world_updates_go_out_as_server_initiated_messages(
    client: RawClient, sandbox: Sandbox
) -> None:
    client.salt = await _learn_salt(client)
    await client.call(raw.functions.help.GetConfig())
    (conn,) = sandbox.hub.connections.values()
    assert conn.ctx is not None and conn.ctx.sink is not None
    conn.ctx.sink(raw.types.UpdatesTooLong())
    msg = await client.until(raw.types.UpdatesTooLong)
    assert msg.msg_id % 4 == 3  # server-initiated
    assert msg.seq_no % 2 == 1  # content-related


async def test_a_call_waiting_on_latency_is_cancelled_with_its_connection(
    client: RawClient, sandbox: Sandbox
) -> None:
    client.salt = await _learn_salt(client)
    await client.call(raw.functions.help.GetConfig())
    sandbox.faults.add_latency(30)
    (conn,) = sandbox.hub.connections.values()
    await client.send_obj(raw.functions.help.GetConfig())
    for _ in range(50):
        if conn._tasks:
            break
        await asyncio.sleep(0.01)
    (task,) = conn._tasks
    await client.close()
    for _ in range(100):
        if task.done():
            break
        await asyncio.sleep(0.01)
    assert task.cancelled()
    assert conn.session is not None and conn.session.running == {}
