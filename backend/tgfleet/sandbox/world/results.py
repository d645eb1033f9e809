"""Results that are not TL objects of their own: ``Bool`` and ``Vector<T>``.

Handlers return plain ``True``/``False`` and lists; the protocol side serializes a result with
``result.write()``. These two wrappers give plain values that method, and still behave like the
bool and the list they hold for callers in the same process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyrogram.raw.core import Bool, Vector


class TLVector(list[Any]):
    """A ``Vector<T>`` answer (users.getUsers returns one)."""

    def write(self) -> bytes:
        return bytes(Vector(list(self)))


@dataclass(frozen=True, slots=True)
class TLBool:
    """A ``Bool`` answer (boolTrue / boolFalse)."""

    value: bool

    def write(self) -> bytes:
        return bytes(Bool(self.value))

    def __bool__(self) -> bool:
        return self.value


def as_tl(result: Any) -> Any:
    if isinstance(result, bool):
        return TLBool(result)
    if isinstance(result, list):
        return TLVector(result)
    return result
