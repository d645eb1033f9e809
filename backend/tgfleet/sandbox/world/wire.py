"""Repairs for request vectors that Kurigram's TL reader decodes as numbers.

Kurigram reads a ``Vector`` whose element type it was not told by guessing from the bytes left:
4 bytes an element reads as ints, 8 bytes as longs. A client never reads requests, so it does
not matter there; a server does. ``messages.getMessages`` with ``inputMessageID`` elements (4-byte
constructor + 4-byte id) arrives as longs, ``users.getUsers([inputUserSelf])`` as an int. The
numbers are the original bytes, so they are turned back into bytes and read as objects.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from pyrogram.raw.all import objects
from pyrogram.raw.core import TLObject

from tgfleet.sandbox.rpc import RpcError


def objects_of(values: Any) -> list[Any]:
    """The elements of a ``Vector<SomeObject>`` field, each a TL object again."""
    repaired: list[Any] = []
    for value in values or []:
        if isinstance(value, int) and not isinstance(value, bool):
            size = 4 if -(2**31) <= value < 2**31 else 8
            data = value.to_bytes(size, "little", signed=True)
            if int.from_bytes(data[:4], "little") not in objects:
                raise RpcError(400, "INPUT_CONSTRUCTOR_INVALID")
            value = TLObject.read(BytesIO(data))
        repaired.append(value)
    return repaired
