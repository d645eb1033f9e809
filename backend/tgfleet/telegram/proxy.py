"""Per-account proxies (DESIGN fact 8): parse, validate, redact, and pick the fleet default.

Kurigram already understands every form an operator pastes (``socks5://user:pass@host:port``,
``http://...``, ``tg://proxy?server=..&port=..&secret=..`` for MTProxy, ``tg://socks?...``), so
parsing is delegated to it; this module adds what a fleet needs around that: errors that name
the field without echoing the password, a redacted form for logs and API answers, and the
``ALL_PROXY``/``HTTPS_PROXY`` fallback for accounts that have no proxy of their own.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from pyrogram.connection.proxy import MTProxy, Proxy, WebProxy, normalize_proxy

from tgfleet.errors import InvalidInput

FALLBACK_VARIABLES = ("ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy")
_SECRET_QUERY = re.compile(r"(?i)((?:secret|pass)=)[^&]*")
SUPPORTED = (
    "socks5://[user:pass@]host:port, socks4://..., http://..., or tg://proxy?server=&port=&secret="
)


def parse_proxy(url: str, *, field: str = "proxy") -> Proxy:
    """A Kurigram proxy for ``url``, or ``InvalidInput`` naming ``field`` and the forms taken."""
    text = url.strip()
    try:
        proxy = normalize_proxy(text)
    except (ValueError, TypeError) as exc:
        # Kurigram's message may quote the URL, password included: never pass it on.
        reason = str(exc).replace(text, redact_proxy(text)) if text else str(exc)
        raise InvalidInput(f"{field}: {reason}; expected {SUPPORTED}") from None
    if proxy is None:
        raise InvalidInput(f"{field}: empty proxy URL; expected {SUPPORTED}")
    return proxy


def redact_proxy(url: str) -> str:
    """The URL with its password and MTProxy secret replaced by ``***``, for logs and the API."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{parts.username}:***@{host}"
    query = _SECRET_QUERY.sub(r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def proxy_address(proxy: Proxy) -> tuple[str, int]:
    if isinstance(proxy, WebProxy):
        return proxy.hostname, proxy.port
    return proxy.hostname, proxy.port


def is_mtproxy(proxy: Proxy) -> bool:
    return isinstance(proxy, MTProxy | WebProxy)


def fleet_default_proxy(
    configured: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The proxy of accounts that have none: the setting, else ALL_PROXY/HTTPS_PROXY."""
    if configured:
        return configured
    env = os.environ if environ is None else environ
    for name in FALLBACK_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def effective_proxy(
    account_proxy: str | None, fleet_default: str | None, *, field: str = "proxy"
) -> Proxy | None:
    """The account's own proxy if it has one, else the fleet default, parsed."""
    url = account_proxy or fleet_default
    return parse_proxy(url, field=field) if url else None
