"""What every connection of one sandbox shares, and what survives a restart of its listener.

The :class:`Hub` holds the world, the RSA key, the salts, the sessions, the registry of live
connections (for ``AUTH_KEY_DUPLICATED`` and the faults), the counters and the faults. A
restart closes the listener and the connections and keeps the hub.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tgfleet.sandbox.envelope import AuthKey, MsgIdClock
from tgfleet.sandbox.faults import phone_digits
from tgfleet.sandbox.keys import ServerKey
from tgfleet.sandbox.rpc import CallContext
from tgfleet.sandbox.sessions import SaltBook, SessionState

if TYPE_CHECKING:
    from tgfleet.sandbox.connection import SandboxConnection
    from tgfleet.sandbox.faults import Faults

MAX_SESSIONS = 20_000


class WorldLike(Protocol):
    """What the protocol side needs from ``tgfleet.sandbox.world.World``."""

    counters: Counter[str]

    def register_auth_key(self, auth_key_id: int, auth_key: bytes) -> None: ...

    def auth_key(self, auth_key_id: int) -> bytes | None: ...

    async def dispatch(self, ctx: CallContext, query: Any) -> Any: ...

    def attach(self, ctx: CallContext) -> None: ...

    def detach(self, ctx: CallContext) -> None: ...

    def phone_of(self, auth_key_id: int) -> str | None: ...

    def revoke_authorization(self, auth_key_id: int) -> None: ...

    def ban_user(self, phone: str) -> None: ...


@dataclass
class Hub:
    world: WorldLike
    key: ServerKey
    dc_id: int
    insecure_fast_handshake: bool = False
    clock: MsgIdClock = field(default_factory=MsgIdClock)
    salts: SaltBook = field(default_factory=SaltBook)
    sessions: dict[tuple[int, int], SessionState] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    connections: dict[int, SandboxConnection] = field(default_factory=dict)
    # auth_key_id -> the connection that first carried API requests for it (DESIGN fact 1)
    owners: dict[int, SandboxConnection] = field(default_factory=dict)
    keys: dict[int, AuthKey] = field(default_factory=dict)
    faults: Faults | None = None
    next_conn_id: int = 0

    def auth_key(self, auth_key_id: int) -> AuthKey | None:
        """The key with that id, if the world (still) knows it, with its derived slices.

        Asked once per connection, not per packet: the world may forget a key at any time."""
        raw_key = self.world.auth_key(auth_key_id)
        if raw_key is None:
            self.keys.pop(auth_key_id, None)
            return None
        cached = self.keys.get(auth_key_id)
        if cached is not None and cached.key == raw_key:
            return cached
        key = AuthKey(raw_key)
        self.keys[auth_key_id] = key
        return key

    def remember_session(self, session: SessionState) -> None:
        # Every new Kurigram Session object brings a new session id; a long-running sandbox
        # forgets the oldest ones (a forgotten session that comes back is simply announced
        # again with new_session_created, which clients handle).
        self.sessions[(session.auth_key_id, session.session_id)] = session
        while len(self.sessions) > MAX_SESSIONS:
            del self.sessions[next(iter(self.sessions))]

    def new_conn_id(self) -> int:
        self.next_conn_id += 1
        return self.next_conn_id

    def connections_of(
        self, *, phone: str | None = None, auth_key_id: int | None = None
    ) -> list[SandboxConnection]:
        """Live connections bound to an auth key of ``phone`` or to ``auth_key_id``, oldest
        first."""
        wanted = phone_digits(phone)
        found = []
        for conn in self.connections.values():
            akid = conn.auth_key_id
            if akid is None:
                continue
            if auth_key_id is not None and akid != auth_key_id:
                continue
            if wanted is not None and phone_digits(self.world.phone_of(akid)) != wanted:
                continue
            found.append(conn)
        return found
