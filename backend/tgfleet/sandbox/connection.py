"""One client TCP connection: transport, handshake, encrypted layer, service messages, RPCs.

Incoming bytes are handled synchronously in ``data_received`` (decrypt, check, answer service
messages, and run API queries as far as they go without waiting); a query becomes a task only
when it suspends (a latency fault, a world that awaits).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import zlib
from collections.abc import Coroutine, Generator
from io import BytesIO
from typing import Any

from pyrogram import raw
from pyrogram.raw.core import FutureSalt, FutureSalts, TLObject

from tgfleet.sandbox.calls import rpc_result_body, tl_bytes_at, unwrap
from tgfleet.sandbox.envelope import AuthKey, EnvelopeError, msg_id_time, plain_packet
from tgfleet.sandbox.faults import method_name
from tgfleet.sandbox.handshake import HandshakeError, Handshaker
from tgfleet.sandbox.hub import Hub
from tgfleet.sandbox.rpc import CallContext, RpcError
from tgfleet.sandbox.sessions import SessionState
from tgfleet.sandbox.transports import StreamDecoder, TransportViolation

log = logging.getLogger(__name__)

_CONTAINER = 0x73F1F8DC
_GZIP = 0x3072CFA1

# bad_msg_notification codes (core.telegram.org/mtproto/service_messages_about_messages)
_MSG_ID_TOO_LOW = 16
_MSG_ID_TOO_HIGH = 17
_MSG_ID_BAD_BITS = 18
_SEQNO_EVEN_EXPECTED = 34
_SEQNO_ODD_EXPECTED = 35
_BAD_CONTAINER = 64
_BAD_SALT = 48

_SERVICE = (
    raw.types.MsgsAck,
    raw.functions.Ping,
    raw.functions.PingDelayDisconnect,
    raw.functions.GetFutureSalts,
    raw.functions.DestroySession,
    raw.types.HttpWait,
    raw.types.MsgsStateReq,
    raw.types.MsgResendReq,
    raw.types.MsgsAllInfo,
    raw.types.MsgsStateInfo,
)
_NOT_CONTENT_RELATED = (raw.types.MsgsAck, raw.types.HttpWait)


def _transport_error(code: int) -> bytes:
    return struct.pack("<i", -code)


def _is_query(obj: Any) -> bool:
    return str(obj.QUALNAME).startswith("functions.")


class SandboxConnection(asyncio.Protocol):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.conn_id = hub.new_conn_id()
        self.decoder = StreamDecoder()
        self.transport: asyncio.Transport | None = None
        self.handshaker: Handshaker | None = None
        self.key: AuthKey | None = None
        self.ctx: CallContext | None = None
        self.session: SessionState | None = None
        self.closed = False
        self.peer = ""
        self._tasks: set[asyncio.Task[None]] = set()
        self._disconnect_timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._out: list[bytes] = []
        self._flush_scheduled = False

    @property
    def auth_key_id(self) -> int | None:
        return None if self.key is None else self.key.id

    @property
    def transport_name(self) -> str:
        return self.decoder.name

    def __repr__(self) -> str:
        return (
            f"<SandboxConnection #{self.conn_id} {self.peer} {self.decoder.name or '?'} "
            f"key={self.auth_key_id} closed={self.closed}>"
        )

    # --- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else ""
        hub = self.hub
        if hub.faults is not None and hub.faults.refusing():
            hub.counters["refused"] += 1
            self.closed = True
            transport.abort()
            return
        hub.counters["connections"] += 1
        hub.connections[self.conn_id] = self

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            packets = self.decoder.feed(data)
        except TransportViolation as e:
            self.abort(f"transport violation: {e}")
            return
        for packet in packets:
            if self.closed:
                return
            try:
                self._packet(packet)
            except Exception:
                log.exception("sandbox connection #%s: packet handling failed", self.conn_id)
                self.abort("internal error")
                return

    # --- lifecycle ------------------------------------------------------------------------

    def abort(self, reason: str) -> None:
        """Close now, without flushing: what a dropped connection looks like to a client."""
        log.debug("sandbox connection #%s closed: %s", self.conn_id, reason)
        if self.transport is not None:
            self.transport.abort()
        self._release()

    def _close_after(self, payload: bytes) -> None:
        """Send one last packet (a transport error) and close once it is flushed."""
        if self.transport is not None and not self.closed:
            self._flush()
            self.transport.write(self.decoder.encode(payload))
            self.transport.close()
        self._release()

    def _release(self) -> None:
        if self.closed and self.conn_id not in self.hub.connections:
            return
        self.closed = True
        hub = self.hub
        hub.connections.pop(self.conn_id, None)
        if self._disconnect_timer is not None:
            self._disconnect_timer.cancel()
        key_id = self.auth_key_id
        if key_id is not None and hub.owners.get(key_id) is self:
            del hub.owners[key_id]
        if self.ctx is not None:
            try:
                hub.world.detach(self.ctx)
            except Exception:
                log.exception("world.detach failed")
            self.ctx.sink = None
        for task in self._tasks:
            task.cancel()

    # --- packets --------------------------------------------------------------------------

    def _packet(self, packet: bytes) -> None:
        if len(packet) < 8:
            self.abort(f"{len(packet)}-byte packet")
            return
        if packet[:8] == b"\x00\x00\x00\x00\x00\x00\x00\x00":
            self._plain(packet)
        else:
            self._encrypted(packet)

    def _plain(self, packet: bytes) -> None:
        hub = self.hub
        if self.handshaker is None:
            self.handshaker = Handshaker(
                hub.key, insecure_fast_handshake=hub.insecure_fast_handshake
            )
        try:
            (length,) = struct.unpack_from("<i", packet, 16)
            query = TLObject.read(BytesIO(packet[20 : 20 + length]))
            answer, new_key = self.handshaker.handle(query)
        except (HandshakeError, KeyError, struct.error, ValueError) as e:
            hub.counters["handshake_failures"] += 1
            log.info("sandbox connection #%s: handshake refused: %s", self.conn_id, e)
            self._close_after(_transport_error(404))
            return
        if new_key is not None:
            key = AuthKey(new_key.auth_key)
            hub.world.register_auth_key(key.id, key.key)
            hub.keys[key.id] = key
            hub.salts.remember_handshake_salt(key.id, new_key.server_salt)
            hub.counters["handshakes"] += 1
        self._write(plain_packet(hub.clock.next(), answer.write()))

    def _encrypted(self, packet: bytes) -> None:
        hub = self.hub
        key_id = int.from_bytes(packet[:8], "little", signed=True)
        key = self.key
        if key is None or key.id != key_id:
            key = hub.auth_key(key_id)
            if key is None:
                # Telegram's answer to a key it does not know: transport error -404.
                hub.counters["AUTH_KEY_UNKNOWN"] += 1
                self._close_after(_transport_error(404))
                return
            self._bind(key)
        try:
            plain = key.decrypt(packet)
        except EnvelopeError as e:
            hub.counters["bad_packets"] += 1
            log.info("sandbox connection #%s: %s", self.conn_id, e)
            self._close_after(_transport_error(404))
            return
        session = self._session_for(plain.session_id)
        if not hub.salts.is_valid(key.id, plain.salt):
            # Kurigram's first message carries salt 0 and learns the salt from this answer,
            # which must echo the session id even when the session is new.
            salt_msg = raw.types.BadServerSalt(
                bad_msg_id=plain.msg_id,
                bad_msg_seqno=plain.seq_no,
                error_code=_BAD_SALT,
                new_server_salt=hub.salts.current(key.id),
            ).write()
            seq_no = session.next_seq_no(False) if session is not None else 0
            self._write_encrypted(salt_msg, plain.session_id, seq_no, reply=True)
            return
        if session is None:
            session = self._open_session(plain.session_id, plain.msg_id)
        self._message(session, plain.msg_id, plain.seq_no, plain.body, container=False)

    def _bind(self, key: AuthKey) -> None:
        if self.ctx is not None:
            self.hub.world.detach(self.ctx)
            if self.hub.owners.get(self.ctx.auth_key_id) is self:
                del self.hub.owners[self.ctx.auth_key_id]
        self.key = key
        self.session = None
        self.ctx = CallContext(auth_key_id=key.id, conn_id=self.conn_id, peer=self.peer)
        self.ctx.extra["transport"] = self.decoder.name
        self.ctx.sink = self._push
        self.hub.world.attach(self.ctx)

    def _session_for(self, session_id: int) -> SessionState | None:
        assert self.key is not None
        if self.session is not None and self.session.session_id == session_id:
            return self.session
        session = self.hub.sessions.get((self.key.id, session_id))
        if session is not None:
            self._use_session(session)
        return session

    def _open_session(self, session_id: int, first_msg_id: int) -> SessionState:
        assert self.key is not None
        session = SessionState(auth_key_id=self.key.id, session_id=session_id)
        self.hub.remember_session(session)
        self._use_session(session)
        self._send(
            raw.types.NewSessionCreated(
                first_msg_id=first_msg_id,
                unique_id=session.unique_id,
                server_salt=self.hub.salts.current(self.key.id),
            ),
            content_related=True,
            reply=False,
        )
        return session

    def _use_session(self, session: SessionState) -> None:
        self.session = session
        if self.ctx is not None:
            self.ctx.session_id = session.session_id

    # --- messages -------------------------------------------------------------------------

    def _bad_msg(self, session: SessionState, msg_id: int, seq_no: int, code: int) -> None:
        self.hub.counters["bad_msg_notifications"] += 1
        self._send(
            raw.types.BadMsgNotification(bad_msg_id=msg_id, bad_msg_seqno=seq_no, error_code=code),
            content_related=False,
        )

    def _message(
        self, session: SessionState, msg_id: int, seq_no: int, body: bytes, *, container: bool
    ) -> None:
        if msg_id % 4:
            self._bad_msg(session, msg_id, seq_no, _MSG_ID_BAD_BITS)
            return
        skew = msg_id_time(msg_id) - time.time()
        if skew < -300:
            self._bad_msg(session, msg_id, seq_no, _MSG_ID_TOO_LOW)
            return
        if skew > 30:
            self._bad_msg(session, msg_id, seq_no, _MSG_ID_TOO_HIGH)
            return
        if not session.first_sight(msg_id):
            return
        constructor = int.from_bytes(body[:4], "little")
        if constructor == _CONTAINER:
            if container:
                self._bad_msg(session, msg_id, seq_no, _BAD_CONTAINER)
                return
            self._container(session, msg_id, seq_no, body)
            return
        if constructor == _GZIP:
            try:
                body = zlib.decompress(tl_bytes_at(body, 4), 15 + 32)
            except (zlib.error, IndexError):
                self._bad_msg(session, msg_id, seq_no, _BAD_CONTAINER)
                return
        try:
            obj = TLObject.read(BytesIO(body))
        except KeyError:
            # A constructor this layer does not know: a clear error, never silence.
            self._rpc_error(session, msg_id, 400, "INPUT_METHOD_INVALID")
            return
        except Exception as e:
            log.info("sandbox connection #%s: undecodable message: %r", self.conn_id, e)
            self._rpc_error(session, msg_id, 400, "INPUT_REQUEST_INVALID")
            return
        if isinstance(obj, _NOT_CONTENT_RELATED) and seq_no % 2:
            self._bad_msg(session, msg_id, seq_no, _SEQNO_EVEN_EXPECTED)
            return
        if isinstance(obj, _SERVICE):
            self._service(session, msg_id, seq_no, obj)
            return
        if not _is_query(obj):
            self._rpc_error(session, msg_id, 400, "INPUT_METHOD_INVALID")
            return
        if seq_no % 2 == 0:
            self._bad_msg(session, msg_id, seq_no, _SEQNO_ODD_EXPECTED)
            return
        self._start_rpc(session, msg_id, obj)

    def _container(self, session: SessionState, msg_id: int, seq_no: int, body: bytes) -> None:
        try:
            (count,) = struct.unpack_from("<i", body, 4)
            offset = 8
            inner = []
            for _ in range(count):
                m_id, m_seq, m_len = struct.unpack_from("<qii", body, offset)
                offset += 16
                if m_len < 0 or offset + m_len > len(body) or m_id >= msg_id:
                    raise ValueError("inner message overflows its container")
                inner.append((m_id, m_seq, body[offset : offset + m_len]))
                offset += m_len
        except (struct.error, ValueError):
            self._bad_msg(session, msg_id, seq_no, _BAD_CONTAINER)
            return
        for m_id, m_seq, m_body in inner:
            if self.closed:
                return
            self._message(session, m_id, m_seq, m_body, container=True)

    def _service(self, session: SessionState, msg_id: int, seq_no: int, obj: Any) -> None:
        hub = self.hub
        if isinstance(obj, raw.functions.Ping | raw.functions.PingDelayDisconnect):
            self._send(raw.types.Pong(msg_id=msg_id, ping_id=obj.ping_id), content_related=True)
            if isinstance(obj, raw.functions.PingDelayDisconnect):
                self._arm_disconnect(obj.disconnect_delay)
        elif isinstance(obj, raw.functions.GetFutureSalts):
            assert self.key is not None
            salts = [
                FutureSalt(since, until, salt)
                for since, until, salt in hub.salts.future(self.key.id, obj.num)
            ]
            self._send(
                FutureSalts(req_msg_id=msg_id, now=int(time.time()), salts=salts),
                content_related=True,
            )
        elif isinstance(obj, raw.functions.DestroySession):
            assert self.key is not None
            gone = hub.sessions.pop((self.key.id, obj.session_id), None)
            result: TLObject = (
                raw.types.DestroySessionOk(session_id=obj.session_id)
                if gone is not None
                else raw.types.DestroySessionNone(session_id=obj.session_id)
            )
            self._send(raw.types.RpcResult(req_msg_id=msg_id, result=result), content_related=True)
        elif isinstance(obj, raw.types.MsgsStateReq | raw.types.MsgResendReq):
            # 0x04: "message received"; the sandbox keeps no outgoing queue to resend from.
            info = "\x04" * len(obj.msg_ids)
            self._send(raw.types.MsgsStateInfo(req_msg_id=msg_id, info=info), content_related=True)
        elif not isinstance(obj, _NOT_CONTENT_RELATED) and seq_no % 2:
            self._send(raw.types.MsgsAck(msg_ids=[msg_id]), content_related=False)

    def _arm_disconnect(self, delay: int) -> None:
        # ping_delay_disconnect: close unless another ping arrives within `delay` seconds.
        if self._disconnect_timer is not None:
            self._disconnect_timer.cancel()
        if delay > 0:
            loop = asyncio.get_running_loop()
            self._disconnect_timer = loop.call_later(
                delay, self.abort, "ping_delay_disconnect expired"
            )

    # --- RPCs -----------------------------------------------------------------------------

    def _start_rpc(self, session: SessionState, msg_id: int, query: Any) -> None:
        # Most calls never wait (no latency fault, a world that answers at once), so the call
        # runs right here and becomes a task only if it suspends: a task and a loop turn per
        # RPC cost more than the crypto.
        coro = self._rpc(session, msg_id, query)
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return
        # invokeAfterMsg on this call must wait for it, so it is marked running.
        session.running[msg_id] = self._loop.create_future()
        task = self._loop.create_task(_finish(_Suspended(coro, waiting_on)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _rpc(self, session: SessionState, msg_id: int, query: Any) -> None:
        hub = self.hub
        ctx = self.ctx
        assert ctx is not None and self.key is not None
        try:
            query = await unwrap(query, ctx, session)
            hub.counters["rpcs"] += 1
            key_id = self.key.id
            owner = hub.owners.get(key_id)
            if owner is None or owner.closed:
                hub.owners[key_id] = self
            elif owner is not self:
                # One authorization, one live connection (DESIGN fact 1): the newer loses.
                hub.counters["AUTH_KEY_DUPLICATED"] += 1
                raise RpcError(406, "AUTH_KEY_DUPLICATED")
            faults = hub.faults
            if faults is not None and faults.active:
                name = method_name(query.QUALNAME)
                phone = hub.world.phone_of(key_id)
                flood = faults.flood_seconds(phone, name)
                if flood:
                    hub.counters["FLOOD_WAIT"] += 1
                    raise RpcError(420, f"FLOOD_WAIT_{flood}")
                delay = faults.latency(phone, name)
                if delay:
                    await asyncio.sleep(delay)
            result = await hub.world.dispatch(ctx, query)
        except RpcError as e:
            self._rpc_error(session, msg_id, e.code, e.message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sandbox: %s failed in the world", type(query).__name__)
            self._rpc_error(session, msg_id, 500, "INTERNAL")
        else:
            try:
                body = rpc_result_body(msg_id, result)
            except Exception:
                log.exception("sandbox: the world's answer to %s does not serialize", query)
                self._rpc_error(session, msg_id, 500, "INTERNAL")
            else:
                self._send_bytes(body, content_related=True)
        finally:
            done = session.running.pop(msg_id, None)
            if done is not None and not done.done():
                done.set_result(None)

    def _rpc_error(self, session: SessionState, msg_id: int, code: int, message: str) -> None:
        self._send(
            raw.types.RpcResult(
                req_msg_id=msg_id,
                result=raw.types.RpcError(error_code=code, error_message=message),
            ),
            content_related=True,
        )

    # --- sending --------------------------------------------------------------------------

    def _push(self, update: Any) -> None:
        """The world's sink: an update as a server-initiated message."""
        if self.closed or self.session is None:
            return
        self._send_bytes(update.write(), content_related=True, reply=False)

    def _send(self, obj: TLObject, *, content_related: bool, reply: bool = True) -> None:
        self._send_bytes(obj.write(), content_related=content_related, reply=reply)

    def _send_bytes(self, body: bytes, *, content_related: bool, reply: bool = True) -> None:
        if self.closed or self.key is None or self.transport is None:
            return
        session = self.session
        if session is None:
            return
        self._write_encrypted(
            body, session.session_id, session.next_seq_no(content_related), reply=reply
        )

    def _write_encrypted(self, body: bytes, session_id: int, seq_no: int, *, reply: bool) -> None:
        key = self.key
        assert key is not None
        packet = key.encrypt(
            self.hub.salts.current(key.id),
            session_id,
            self.hub.clock.next(reply=reply),
            seq_no,
            body,
        )
        self._write(packet)

    def _write(self, payload: bytes) -> None:
        # Framed (and obfuscated) now, so the order and the CTR stream stay right, but sent
        # once per loop iteration: answers that finish together share one send() syscall,
        # which costs more than the crypto of a small message.
        if self.transport is None or self.closed:
            return
        self._out.append(self.decoder.encode(payload))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self.transport is not None and not self.closed:
            self.transport.write(b"".join(self._out))
        self._out.clear()


class _Suspended:
    """Awaitable that continues a coroutine already started by hand, from the point where it
    first suspended: what an eager task does (asyncio's eager_task_factory arrives in 3.12)."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, None], first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, Any, None]:
        coro, pending = self.coro, self.first
        while True:
            try:
                sent = yield pending
            except BaseException as e:  # cancellation, too, goes where the coroutine waits
                try:
                    pending = coro.throw(e)
                except StopIteration:
                    return
            else:
                try:
                    pending = coro.send(sent)
                except StopIteration:
                    return


async def _finish(suspended: _Suspended) -> None:
    await suspended
