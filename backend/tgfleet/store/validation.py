"""Checks on operator input, each error naming the field and the form expected."""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from tgfleet.errors import InvalidInput

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# separators people type in phone numbers; anything else is an error, not something to strip
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_BOT_KEY = re.compile(r"bot:([1-9][0-9]{0,19})")
PROXY_SCHEMES = frozenset({"socks5", "socks5h", "socks4", "http", "https", "mtproxy"})
_SECRET_QUERY_KEYS = frozenset({"secret", "password", "pass"})


def normalize_phone(value: str, *, field: str = "phone") -> str:
    """'+1 (555) 000-1234' → '+15550001234'; E.164: a '+' then 7 to 15 digits, no leading 0."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: expected text like +15550001234, got {type(value).__name__}")
    compact = _PHONE_SEPARATORS.sub("", value)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _E164.fullmatch(compact):
        shown = value if len(value) <= 32 else value[:32] + "…"
        if compact and not compact.startswith("+"):
            hint = "it must start with + and the country code"
        else:
            hint = "a + then 7 to 15 digits, the first not 0"
        raise InvalidInput(f"{field}: {shown!r} is not a phone number in E.164 form ({hint})")
    return compact


def normalize_account_key(value: str, *, field: str = "key") -> tuple[str, str]:
    """Return (key, kind): a phone in E.164 for a user, 'bot:<id>' for a bot."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: expected a phone number or 'bot:<id>'")
    text = value.strip()
    if text.lower().startswith("bot:"):
        match = _BOT_KEY.fullmatch("bot:" + text[4:].strip())
        if match is None:
            raise InvalidInput(f"{field}: {value!r} is not 'bot:<numeric bot id>'")
        return "bot:" + match.group(1), "bot"
    return normalize_phone(text, field=field), "user"


def check_text(value: str, *, field: str, max_len: int = 200, allow_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: expected text, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise InvalidInput(f"{field}: must not be empty")
    if len(value) > max_len:
        raise InvalidInput(f"{field}: longer than {max_len} characters")
    if any(ord(ch) < 32 for ch in value):
        raise InvalidInput(f"{field}: contains control characters")
    return value


def check_int(value: int, *, field: str, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field}: expected an integer, got {type(value).__name__}")
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{field}: {value} is outside {minimum}..{maximum}")
    return value


def check_api_hash(value: str, *, field: str = "api_hash") -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{32}", value):
        raise InvalidInput(f"{field}: expected 32 hexadecimal characters")
    return value.lower()


def check_proxy_url(value: str, *, field: str = "proxy_url") -> tuple[str, str]:
    """Validate a proxy URL; return (url, display form with credentials masked).

    The full URL is sealed by the vault; the display form is stored in clear for listings.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field}: expected a URL like socks5://user:pass@host:1080")
    url = value.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"{field}: not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        allowed = ", ".join(sorted(PROXY_SCHEMES))
        raise InvalidInput(f"{field}: scheme {parts.scheme!r} is not one of {allowed}")
    if not parts.hostname:
        raise InvalidInput(f"{field}: the host is missing (scheme://[user:pass@]host:port)")
    if port is None:
        raise InvalidInput(f"{field}: the port is missing (scheme://[user:pass@]host:port)")
    if not 1 <= port <= 65535:
        raise InvalidInput(f"{field}: port {port} is outside 1..65535")
    return url, _mask_proxy(parts, scheme)


def _mask_proxy(parts: SplitResult, scheme: str) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}"
    if parts.username is not None:
        # an MTProxy secret travels as the user name, so it is masked like a password
        user = "***" if scheme == "mtproxy" else parts.username
        netloc = f"{user}:***@{netloc}" if parts.password is not None else f"{user}@{netloc}"
    query = urlencode(
        [
            (name, "***" if name.lower() in _SECRET_QUERY_KEYS else val)
            for name, val in parse_qsl(parts.query, keep_blank_values=True)
        ]
    )
    return urlunsplit((scheme, netloc, parts.path, query, ""))
