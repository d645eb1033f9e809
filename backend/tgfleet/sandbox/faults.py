"""Faults on demand: what a test or an operator rehearsing a fleet can make the sandbox do.

Every fault is plain state the connections consult (latency, refusals, flood waits) or an
immediate act (drop connections, revoke, ban). ``clear()`` undoes the standing ones.
Accounts are named by phone number, methods as Telegram names them (``messages.sendMessage``;
Kurigram's ``messages.SendMessage`` is accepted too).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tgfleet.sandbox.hub import Hub


def phone_digits(phone: str | None) -> str | None:
    """Phones compare by their digits: "+1 555-0001" and "15550001" are one account."""
    return None if phone is None else "".join(ch for ch in phone if ch.isdigit())


def method_name(qualname: str) -> str:
    """``functions.messages.SendMessage`` / ``messages.SendMessage`` -> ``messages.sendMessage``."""
    name = qualname.removeprefix("functions.")
    head, _, last = name.rpartition(".")
    last = last[:1].lower() + last[1:]
    return f"{head}.{last}" if head else last


@dataclass(frozen=True)
class _Rule:
    phone: str | None
    method: str | None
    value: float
    until: float  # monotonic deadline; math.inf for "until cleared"

    def matches(self, phone: str | None, method: str) -> bool:
        return (self.phone is None or self.phone == phone_digits(phone)) and (
            self.method is None or self.method == method
        )


class Faults:
    """The sandbox's fault switches. Reached as ``sandbox.faults``."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._latency: list[_Rule] = []
        self._floods: list[_Rule] = []
        self._refuse_until = 0.0

    # --- standing faults ------------------------------------------------------------------

    def add_latency(
        self,
        seconds: float,
        *,
        phone: str | None = None,
        method: str | None = None,
        duration: float | None = None,
    ) -> None:
        """Delay answers to RPCs (of one account, one method, or all) by ``seconds``."""
        if seconds < 0:
            raise ValueError(f"latency must be >= 0 s, got {seconds}")
        until = math.inf if duration is None else time.monotonic() + duration
        self._latency.append(_Rule(phone_digits(phone), _norm(method), seconds, until))

    def flood_wait(
        self, seconds: int, *, phone: str | None = None, method: str | None = None
    ) -> None:
        """Answer ``420 FLOOD_WAIT_X`` to matching RPCs for the next ``seconds`` seconds; X counts
        down as Telegram's does."""
        if seconds <= 0:
            raise ValueError(f"a flood wait lasts >= 1 s, got {seconds}")
        deadline = time.monotonic() + seconds
        self._floods.append(_Rule(phone_digits(phone), _norm(method), seconds, deadline))

    def refuse_connections(self, seconds: float) -> None:
        """Close every new TCP connection at once for the next ``seconds`` seconds."""
        if seconds < 0:
            raise ValueError(f"refusal lasts >= 0 s, got {seconds}")
        self._refuse_until = time.monotonic() + seconds

    def clear(self) -> None:
        """Lift latency, flood waits and refusals."""
        self._latency.clear()
        self._floods.clear()
        self._refuse_until = 0.0

    # --- acts -----------------------------------------------------------------------------

    def drop_connections(
        self, phone: str | None = None, *, auth_key_id: int | None = None, limit: int | None = None
    ) -> int:
        """Close live connections of an account (or of one authorization); ``limit=1`` drops
        only the newest. Returns how many were closed."""
        if phone is None and auth_key_id is None:
            raise ValueError("drop_connections needs a phone or an auth_key_id")
        conns = self._hub.connections_of(phone=phone, auth_key_id=auth_key_id)
        if limit is not None:
            conns = conns[::-1][:limit]
        for conn in conns:
            conn.abort("dropped by a fault")
        self._hub.counters["dropped"] += len(conns)
        return len(conns)

    def revoke_authorization(self, auth_key_id: int) -> None:
        """Revoke one authorization: its next request gets ``401 AUTH_KEY_UNREGISTERED``."""
        self._hub.world.revoke_authorization(auth_key_id)

    def ban_user(self, phone: str) -> None:
        """Ban an account: its requests get ``401 USER_DEACTIVATED_BAN``."""
        self._hub.world.ban_user(phone)

    # --- what connections ask -------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Cheap pre-check, so the fast path costs nothing when no fault is set."""
        return bool(self._latency or self._floods)

    def refusing(self) -> bool:
        return time.monotonic() < self._refuse_until

    def flood_seconds(self, phone: str | None, method: str) -> int:
        now = time.monotonic()
        self._floods = [r for r in self._floods if r.until > now]
        waits = [r.until - now for r in self._floods if r.matches(phone, method)]
        return math.ceil(max(waits)) if waits else 0

    def latency(self, phone: str | None, method: str) -> float:
        now = time.monotonic()
        self._latency = [r for r in self._latency if r.until > now]
        return sum(r.value for r in self._latency if r.matches(phone, method))

    def describe(self) -> dict[str, object]:
        now = time.monotonic()
        return {
            "latency": [
                {"phone": r.phone, "method": r.method, "seconds": r.value}
                for r in self._latency
                if r.until > now
            ],
            "flood_waits": [
                {"phone": r.phone, "method": r.method, "remaining": math.ceil(r.until - now)}
                for r in self._floods
                if r.until > now
            ],
            "refusing_for": max(0.0, round(self._refuse_until - now, 3)),
        }


def _norm(method: str | None) -> str | None:
    return None if method is None else method_name(method)
