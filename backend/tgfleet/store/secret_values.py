"""Wrappers that keep a secret out of ``repr()``, ``str()``, f-strings and log lines.

A record that carries an auth key or a bot token holds it in one of these, so printing the
record, logging it or letting it reach an error message shows ``'**********'`` instead. The
value is read only through ``reveal()``, which makes every use of a secret easy to find.
"""

from __future__ import annotations

import hmac
from typing import Final

_MASK: Final = "**********"


class SecretBytes:
    """Bytes that never show themselves; ``reveal()`` returns them."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray):
            raise TypeError(f"SecretBytes wraps bytes, not {type(value).__name__}")
        self._value = bytes(value)

    def reveal(self) -> bytes:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"SecretBytes('{_MASK}')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        # constant-time, because a comparison of secrets must not leak where they differ
        if not isinstance(other, SecretBytes):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash((SecretBytes, self._value))

    def __reduce__(self) -> tuple[object, ...]:
        # pickling would write the plaintext somewhere we do not control
        raise TypeError("SecretBytes cannot be pickled")


class SecretStr:
    """Text that never shows itself; ``reveal()`` returns it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"SecretStr wraps str, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"SecretStr('{_MASK}')"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretStr):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((SecretStr, self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("SecretStr cannot be pickled")
