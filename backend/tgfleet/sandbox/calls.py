"""API calls between the wire and the world: peeling the wrappers off a query, and turning the
world's answer into an ``rpc_result`` body."""

from __future__ import annotations

import asyncio
import gzip
import struct
from typing import Any

from pyrogram import raw
from pyrogram.raw.core import Bool, Int, Long, Vector

from tgfleet.sandbox.rpc import CallContext
from tgfleet.sandbox.sessions import SessionState

GZIP_PACKED = 0x3072CFA1
GZIP_OVER = 16 * 1024  # results larger than this go out gzip_packed, as Telegram does

_f = raw.functions
_PASS_THROUGH = (
    _f.InvokeWithTakeout
    | _f.InvokeWithMessagesRange
    | _f.InvokeWithBusinessConnection
    | _f.InvokeWithApnsSecret
    | _f.InvokeWithGooglePlayIntegrity
    | _f.InvokeWithReCaptcha
)


async def unwrap(query: Any, ctx: CallContext, session: SessionState) -> Any:
    """Peel invokeWithLayer/initConnection/invokeWithoutUpdates/invokeAfterMsg(s) and the
    other invoke* wrappers, recording in ``ctx`` what they say about the caller."""
    while True:
        if isinstance(query, _f.InvokeWithLayer):
            ctx.layer = query.layer
        elif isinstance(query, _f.InitConnection):
            ctx.api_id = query.api_id
            ctx.device_model = query.device_model
            ctx.system_version = query.system_version
            ctx.app_version = query.app_version
            ctx.lang_code = query.lang_code
            ctx.extra["system_lang_code"] = query.system_lang_code
            ctx.extra["lang_pack"] = query.lang_pack
        elif isinstance(query, _f.InvokeWithoutUpdates):
            ctx.extra["without_updates"] = True
        elif isinstance(query, _f.InvokeAfterMsg):
            await _after(session, [query.msg_id])
        elif isinstance(query, _f.InvokeAfterMsgs):
            await _after(session, list(query.msg_ids))
        elif not isinstance(query, _PASS_THROUGH):
            return query
        query = query.query


async def _after(session: SessionState, msg_ids: list[int]) -> None:
    # Only queries still running can be waited for; finished or unknown ones are done.
    waits = [session.running[m] for m in msg_ids if m in session.running]
    if waits:
        await asyncio.gather(*(asyncio.shield(w) for w in waits))


def serialize(result: Any) -> bytes:
    """A world answer as TL: an object, or a list for a ``Vector`` result (of objects, or of
    ints: ``int`` when every one fits 32 bits, else ``long``). Raw ``bytes`` pass through."""
    if isinstance(result, bytes):
        return result
    if isinstance(result, list):
        if result and all(isinstance(i, int) and not isinstance(i, bool) for i in result):
            kind = Int if all(-(2**31) <= i < 2**31 for i in result) else Long
            return bytes(Vector(result, kind))
        return bytes(Vector(result))
    if isinstance(result, bool):
        return bytes(Bool(result))
    body: bytes = result.write()
    return body


def rpc_result_body(req_msg_id: int, result: Any) -> bytes:
    """``rpc_result req_msg_id result``, the result gzip_packed when it is large."""
    body = serialize(result)
    if len(body) > GZIP_OVER:
        body = struct.pack("<I", GZIP_PACKED) + tl_bytes(gzip.compress(body, compresslevel=6))
    return struct.pack("<Iq", raw.types.RpcResult.ID, req_msg_id) + body


def tl_bytes(value: bytes) -> bytes:
    n = len(value)
    if n <= 253:
        return bytes((n,)) + value + bytes(-(n + 1) % 4)
    return b"\xfe" + n.to_bytes(3, "little") + value + bytes(-n % 4)


def tl_bytes_at(data: bytes, offset: int) -> bytes:
    """The TL ``bytes`` value that starts at ``offset``."""
    n = data[offset]
    if n <= 253:
        return data[offset + 1 : offset + 1 + n]
    n = int.from_bytes(data[offset + 1 : offset + 4], "little")
    return data[offset + 4 : offset + 4 + n]
