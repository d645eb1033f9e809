"""What the pool tells its owner: one frozen record per thing that happened."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

EventKind = Literal[
    "created", "reused", "returned", "closed", "error", "timeout", "evicted", "leak_suspected"
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PoolEvent:
    kind: EventKind
    phone: str
    authorization_id: str | None
    reason: str
    at: float  # the pool's clock
    detail: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


# A plain synchronous callable: the pool calls it from its bookkeeping, so it must not block.
# Exceptions it raises are logged and swallowed.
EventCallback = Callable[[PoolEvent], None]
