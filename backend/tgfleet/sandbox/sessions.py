"""Per-session MTProto state and the server salts.

A session is (auth key, session id), chosen by the client; it outlives TCP connections, so a
client that reconnects with the same session id gets no second ``new_session_created``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections import deque
from dataclasses import dataclass, field

SALT_PERIOD = 1800  # a salt is current for 30 minutes and still accepted for 30 more


class SaltBook:
    """Server salts derived from a server secret, so they need no table and survive restarts
    of the listener: ``salt(key, period) = H(secret, key, period)``."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or os.urandom(32)
        self._handshake: dict[int, tuple[int, float]] = {}
        self._cache: dict[int, tuple[int, int, int]] = {}

    def _derive(self, auth_key_id: int, period: int) -> int:
        digest = hashlib.sha256(
            self._secret
            + auth_key_id.to_bytes(8, "little", signed=True)
            + period.to_bytes(8, "little")
        ).digest()
        return int.from_bytes(digest[:8], "little", signed=True)

    def _pair(self, auth_key_id: int, now: float) -> tuple[int, int]:
        period = int(now) // SALT_PERIOD
        cached = self._cache.get(auth_key_id)
        if cached is None or cached[0] != period:
            cached = (
                period,
                self._derive(auth_key_id, period),
                self._derive(auth_key_id, period - 1),
            )
            self._cache[auth_key_id] = cached
        return cached[1], cached[2]

    def current(self, auth_key_id: int, now: float | None = None) -> int:
        return self._pair(auth_key_id, time.time() if now is None else now)[0]

    def is_valid(self, auth_key_id: int, salt: int, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        current, previous = self._pair(auth_key_id, now)
        if salt in (current, previous):
            return True
        first = self._handshake.get(auth_key_id)
        return first is not None and first[0] == salt and now < first[1]

    def remember_handshake_salt(self, auth_key_id: int, salt: int) -> None:
        """The salt a handshake computes (new_nonce XOR server_nonce) is valid for a while."""
        self._handshake[auth_key_id] = (salt, time.time() + SALT_PERIOD)

    def future(self, auth_key_id: int, count: int) -> list[tuple[int, int, int]]:
        """(valid_since, valid_until, salt) for the current period and the ``count - 1`` next."""
        now = int(time.time())
        period = now // SALT_PERIOD
        out = []
        for i in range(max(1, min(count, 64))):
            start = (period + i) * SALT_PERIOD
            out.append((start, start + 2 * SALT_PERIOD, self._derive(auth_key_id, period + i)))
        return out


@dataclass
class SessionState:
    """One MTProto session as the server sees it."""

    auth_key_id: int
    session_id: int
    unique_id: int = field(
        default_factory=lambda: int.from_bytes(os.urandom(8), "little", signed=True)
    )
    content_sent: int = 0  # content-related messages the server sent in this session
    seen: set[int] = field(default_factory=set)
    _seen_order: deque[int] = field(default_factory=deque)
    running: dict[int, asyncio.Future[None]] = field(default_factory=dict)

    SEEN_MAX = 2048

    def next_seq_no(self, content_related: bool) -> int:
        if content_related:
            seq = self.content_sent * 2 + 1
            self.content_sent += 1
            return seq
        return self.content_sent * 2

    def first_sight(self, msg_id: int) -> bool:
        """True the first time a msg_id arrives; a repeat is ignored, as Telegram does."""
        if msg_id in self.seen:
            return False
        self.seen.add(msg_id)
        self._seen_order.append(msg_id)
        if len(self._seen_order) > self.SEEN_MAX:
            self.seen.discard(self._seen_order.popleft())
        return True
