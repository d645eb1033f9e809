"""Session strings from Pyrogram/Kurigram and Telethon decode to the same neutral record."""

from __future__ import annotations

import base64
import os
import struct

import pytest

from tgfleet.errors import InvalidInput
from tgfleet.telegram.session_strings import parse_session_string, telethon_string

KEY = os.urandom(256)


def _pyrogram_string(layout: str, *fields: object) -> str:
    return base64.urlsafe_b64encode(struct.pack(layout, *fields)).decode().rstrip("=")


def test_current_pyrogram_layout() -> None:
    text = _pyrogram_string(">BI?256sQ?", 2, 12345, False, KEY, 777000111, False)
    imported = parse_session_string(text)
    assert (imported.source, imported.dc_id, imported.api_id) == ("pyrogram", 2, 12345)
    assert (imported.auth_key, imported.user_id, imported.is_bot) == (KEY, 777000111, False)


@pytest.mark.parametrize("layout", [">B?256sQ?", ">B?256sI?"])
def test_older_pyrogram_layouts(layout: str) -> None:
    imported = parse_session_string(_pyrogram_string(layout, 4, False, KEY, 42, True))
    assert (imported.dc_id, imported.api_id, imported.user_id, imported.is_bot) == (
        4,
        None,
        42,
        True,
    )


def test_telethon_ipv4_and_ipv6() -> None:
    v4 = parse_session_string(telethon_string(2, "149.154.167.51", 443, KEY))
    assert (v4.source, v4.dc_id, v4.server_address, v4.port) == (
        "telethon",
        2,
        "149.154.167.51",
        443,
    )
    assert v4.auth_key == KEY and v4.user_id is None
    v6 = parse_session_string(telethon_string(1, "2001:b28:f23d:f001::a", 443, KEY))
    assert v6.server_address == "2001:b28:f23d:f001::a"


@pytest.mark.parametrize("text", ["", "not a session", "1" + "A" * 352, "QUJD"])
def test_garbage_is_refused_with_the_field_named(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"^session_string: "):
        parse_session_string(text)


def test_the_key_is_not_in_the_repr() -> None:
    imported = parse_session_string(telethon_string(2, "127.0.0.1", 1, KEY))
    assert KEY.hex()[:16] not in repr(imported) and "auth_key" not in repr(imported)
