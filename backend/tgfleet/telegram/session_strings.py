"""Read the session strings operators bring from other tools, into one neutral record.

Two formats are accepted:

* Pyrogram/Kurigram ``export_session_string()``: urlsafe base64 of
  ``>BI?256sQ?`` (dc, api_id, test_mode, auth_key, user_id, is_bot), plus the two older
  layouts without api_id (32- and 64-bit user ids);
* Telethon ``StringSession``: ``"1"`` + urlsafe base64 of ``>B4sH256s`` (IPv4) or ``>B16sH256s``
  (IPv6): dc, server address, port, auth_key. Telethon strings carry no user id; the
  importing flow asks Telegram who the key belongs to (``users.getUsers(self)``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import struct
from dataclasses import dataclass, field

from tgfleet.errors import InvalidInput

_PYROGRAM_LAYOUTS = {
    # size of the decoded bytes -> (struct layout, has api_id)
    struct.calcsize(">BI?256sQ?"): (">BI?256sQ?", True),
    struct.calcsize(">B?256sQ?"): (">B?256sQ?", False),
    struct.calcsize(">B?256sI?"): (">B?256sI?", False),
}
_TELETHON_V4 = ">B4sH256s"
_TELETHON_V6 = ">B16sH256s"


@dataclass(frozen=True)
class ImportedSession:
    source: str  # "pyrogram" or "telethon"
    dc_id: int
    auth_key: bytes = field(repr=False)
    api_id: int | None = None
    test_mode: bool = False
    user_id: int | None = None
    is_bot: bool | None = None
    server_address: str | None = None
    port: int | None = None


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded)


def parse_session_string(text: str, *, field_name: str = "session_string") -> ImportedSession:
    """Detect the format and decode; ``InvalidInput`` names the field and the forms accepted."""
    value = text.strip()
    if not value:
        raise InvalidInput(f"{field_name}: empty; paste a Pyrogram or Telethon session string")
    try:
        if value.startswith("1") and len(value) in (353, 369):
            return _telethon(value[1:])
        return _pyrogram(value)
    except (binascii.Error, ValueError, struct.error):
        raise InvalidInput(
            f"{field_name}: not a Pyrogram/Kurigram session string (export_session_string) nor a "
            f"Telethon StringSession ({len(value)} characters)"
        ) from None


def _pyrogram(value: str) -> ImportedSession:
    raw = _b64decode(value)
    if len(raw) not in _PYROGRAM_LAYOUTS:
        raise ValueError("unknown layout")
    layout, has_api_id = _PYROGRAM_LAYOUTS[len(raw)]
    fields = struct.unpack(layout, raw)
    if has_api_id:
        dc_id, api_id, test_mode, auth_key, user_id, is_bot = fields
    else:
        dc_id, test_mode, auth_key, user_id, is_bot = fields
        api_id = None
    _check_dc(dc_id)
    return ImportedSession(
        source="pyrogram",
        dc_id=dc_id,
        api_id=api_id or None,
        test_mode=bool(test_mode),
        auth_key=auth_key,
        user_id=user_id or None,
        is_bot=bool(is_bot),
    )


def _telethon(value: str) -> ImportedSession:
    raw = _b64decode(value)
    layout = _TELETHON_V4 if len(raw) == struct.calcsize(_TELETHON_V4) else _TELETHON_V6
    dc_id, ip_bytes, port, auth_key = struct.unpack(layout, raw)
    _check_dc(dc_id)
    return ImportedSession(
        source="telethon",
        dc_id=dc_id,
        auth_key=auth_key,
        server_address=str(ipaddress.ip_address(ip_bytes)),
        port=port,
    )


def _check_dc(dc_id: int) -> None:
    if not 1 <= dc_id <= 5:
        raise ValueError(f"dc {dc_id} out of range")


def telethon_string(dc_id: int, address: str, port: int, auth_key: bytes) -> str:
    """Encode a Telethon StringSession (used by tests and by exports to Telethon users)."""
    ip = ipaddress.ip_address(address).packed
    layout = _TELETHON_V4 if len(ip) == 4 else _TELETHON_V6
    packed = struct.pack(layout, dc_id, ip, port, auth_key)
    return "1" + base64.urlsafe_b64encode(packed).decode()
