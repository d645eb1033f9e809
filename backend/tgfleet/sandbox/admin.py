"""The sandbox's loopback admin endpoint: faults and counters for a sandbox in another process.

Protocol: one JSON object per line in, one per line out, on a TCP socket bound to 127.0.0.1.
``{"op": "flood_wait", "seconds": 30, "phone": "+15550001"}`` ->
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``.

Ops: ``info``, ``process`` (pid and CPU seconds, for benchmarks), ``counters``,
``connections``, ``faults``, ``add_latency(seconds, phone?, method?, duration?)``,
``flood_wait(seconds, phone?, method?)``, ``refuse_connections(seconds)``,
``drop_connections(phone? | auth_key_id?, limit?)``, ``revoke_authorization(auth_key_id)``,
``ban_user(phone)``, ``clear``, ``restart``.

``admin_request(port, op, **args)`` is the client side (async); ``admin_call`` the same for
synchronous callers such as a CLI.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tgfleet.sandbox.server import Sandbox

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024


def _ops(sandbox: Sandbox) -> dict[str, Callable[..., Any]]:
    faults = sandbox.faults

    async def restart() -> dict[str, Any]:
        await sandbox.restart()
        return sandbox.info()

    return {
        "info": sandbox.info,
        "process": lambda: {"pid": os.getpid(), "cpu_seconds": time.process_time()},
        "counters": lambda: dict(sandbox.counters),
        "connections": sandbox.connections,
        "faults": faults.describe,
        "add_latency": faults.add_latency,
        "flood_wait": faults.flood_wait,
        "refuse_connections": faults.refuse_connections,
        "drop_connections": faults.drop_connections,
        "revoke_authorization": faults.revoke_authorization,
        "ban_user": faults.ban_user,
        "clear": faults.clear,
        "restart": restart,
    }


async def _answer(sandbox: Sandbox, line: bytes) -> dict[str, Any]:
    try:
        request = json.loads(line)
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            raise ValueError('a request is a JSON object with a string "op"')
        op = request.pop("op")
        handler = _ops(sandbox).get(op)
        if handler is None:
            raise ValueError(f"unknown op {op!r}; known: {', '.join(sorted(_ops(sandbox)))}")
        result = handler(**request)
        if isinstance(result, Awaitable):
            result = await result
        return {"ok": True, "result": result}
    except (ValueError, TypeError, KeyError) as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


async def open_admin_endpoint(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0
) -> asyncio.Server:
    """Listen for admin requests; the caller closes the returned server."""
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ValueError(f"the admin endpoint listens on loopback only, not {host!r}")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                answer = await _answer(sandbox, line)
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=MAX_LINE)


class AdminError(Exception):
    """The sandbox refused an admin request; the message is its answer."""


async def admin_request(port: int, op: str, host: str = "127.0.0.1", **args: Any) -> Any:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(json.dumps({"op": op, **args}).encode() + b"\n")
        await writer.drain()
        answer = json.loads(await reader.readline())
    finally:
        writer.close()
    if not answer.get("ok"):
        raise AdminError(answer.get("error", "no error message"))
    return answer.get("result")


def admin_call(port: int, op: str, host: str = "127.0.0.1", **args: Any) -> Any:
    """Synchronous :func:`admin_request`, for command-line use."""
    return asyncio.run(admin_request(port, op, host, **args))
