"""Check a proxy before an account is given it: can a TCP connection reach Telegram through it?

The check dials the Telegram endpoint this daemon talks to (the sandbox, a custom server, or
production DC 2) through the proxy, the way Kurigram's TCP transport does (python-socks), and
closes the connection at once: no MTProto byte is sent, so no account and no login is touched.
A failure is an answer, not an error: the panel shows it next to the proxy.

An MTProxy speaks MTProto itself and cannot relay a bare connection: for one, the check only
says whether its port answers (``checked="proxy_reachable"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from dataclasses import dataclass, field

from pyrogram.connection.proxy import HTTPProxy, SOCKS4Proxy, SOCKS5Proxy
from pyrogram.storage.sqlite_storage import PROD
from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError, ProxyType
from python_socks.async_.asyncio import Proxy

from tgfleet.errors import InvalidInput
from tgfleet.telegram.factory import PRODUCTION_DC, TelegramTarget
from tgfleet.telegram.proxy import parse_proxy, proxy_address

PROXY_TYPES = {"socks5": ProxyType.SOCKS5, "socks4": ProxyType.SOCKS4, "http": ProxyType.HTTP}
PROBE_TIMEOUT = 10.0
PRODUCTION_PORT = 443


@dataclass(frozen=True)
class ProxySpec:
    scheme: str  # one of PROXY_TYPES
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ProxyProbe:
    ok: bool
    latency_ms: float | None
    target: str
    error: str | None = None
    checked: str = "telegram_through_proxy"  # or "proxy_reachable" (MTProxy)


async def probe_proxy_url(
    url: str, destination: tuple[str, int], *, timeout: float = PROBE_TIMEOUT
) -> ProxyProbe:
    """Probe a proxy given as an account stores it (any form ``parse_proxy`` takes); one
    Kurigram cannot use is an answer too, since a client would fail on it the same way."""
    try:
        proxy = parse_proxy(url)
    except InvalidInput as exc:
        shown = f"{destination[0]}:{destination[1]}"
        return ProxyProbe(False, None, shown, f"Kurigram cannot use this proxy: {exc}")
    if isinstance(proxy, SOCKS5Proxy | SOCKS4Proxy | HTTPProxy):
        spec = ProxySpec(
            scheme=proxy.scheme.value,
            host=proxy.hostname,
            port=proxy.port,
            username=proxy.username,
            password=proxy.password,
        )
        return await probe_proxy(spec, destination, timeout=timeout)
    return await _probe_reachable(proxy_address(proxy), timeout=timeout)


async def _probe_reachable(address: tuple[str, int], *, timeout: float) -> ProxyProbe:
    host, port = address
    shown = f"{host}:{port}"
    started = time.perf_counter()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return ProxyProbe(False, None, shown, f"no answer within {timeout:g} s", "proxy_reachable")
    except (OSError, UnicodeError) as exc:
        return ProxyProbe(
            False, None, shown, f"cannot connect to the proxy: {_reason(exc)}", "proxy_reachable"
        )
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProxyProbe(True, latency_ms, shown, None, "proxy_reachable")


def telegram_address(target: TelegramTarget) -> tuple[str, int]:
    """Where this daemon's clients connect: its pinned server, else production DC 2."""
    if target.endpoint is not None:
        return target.endpoint.host, target.endpoint.port
    return PROD[PRODUCTION_DC], PRODUCTION_PORT


async def probe_proxy(
    spec: ProxySpec, destination: tuple[str, int], *, timeout: float = PROBE_TIMEOUT
) -> ProxyProbe:
    """Open (and close) one connection to ``destination`` through the proxy; never raises
    for what the proxy or the network did, only reports it."""
    if spec.scheme not in PROXY_TYPES:
        raise ValueError(f"scheme must be one of {', '.join(PROXY_TYPES)}, got {spec.scheme!r}")
    host, port = destination
    shown = f"{host}:{port}"
    proxy = Proxy(
        PROXY_TYPES[spec.scheme],
        spec.host,
        spec.port,
        username=spec.username,
        password=spec.password,
        # the proxy resolves names, as it would for a client behind it
        rdns=True,
    )
    started = time.perf_counter()
    try:
        sock: socket.socket = await proxy.connect(host, port, timeout=timeout)
    except (ProxyTimeoutError, TimeoutError):
        return ProxyProbe(False, None, shown, f"no answer within {timeout:g} s")
    except ProxyConnectionError as exc:
        return ProxyProbe(False, None, shown, f"cannot connect to the proxy: {_reason(exc)}")
    except ProxyError as exc:
        return ProxyProbe(False, None, shown, f"the proxy refused: {_reason(exc)}")
    except OSError as exc:
        return ProxyProbe(False, None, shown, f"network error: {_reason(exc)}")
    except UnicodeError as exc:
        # the idna codec refuses a host name with a label over 63 characters before any I/O
        return ProxyProbe(False, None, shown, f"the proxy host is not a valid name: {exc}")
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    sock.close()  # nothing was sent, so nothing waits to be flushed
    return ProxyProbe(True, latency_ms, shown)


def _reason(exc: BaseException) -> str:
    # python-socks messages name the proxy host and the reply, never the password; a reply
    # in no known protocol comes back as surrogate-escaped bytes, which JSON cannot carry
    text = str(exc) or type(exc).__name__
    return text.encode("utf-8", "replace").decode("utf-8")[:300]
