"""A Kurigram ``Storage`` held in memory, built from a record and exported back to one.

tgfleet keeps sessions in its own database (DESIGN fact 2) and hands each client its own
storage built from that record. The storage can *pin* the server: Kurigram writes its built-in
production address into an empty session (``Client.load_session``), and a pinned storage
ignores that write so the client reaches the server the record names (the sandbox, or a
self-hosted test server).
"""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from pyrogram import raw
from pyrogram.storage import Storage, UpdateState
from pyrogram.storage.sqlite_storage import get_input_peer

USERNAME_TTL = 8 * 60 * 60  # as Kurigram's SQLiteStorage: a cached username expires


@dataclass(frozen=True)
class SessionRecord:
    """Everything an authorization needs to reconnect without a new handshake or login."""

    dc_id: int
    server_address: str
    port: int
    test_mode: bool = False
    auth_key: bytes | None = None
    api_id: int | None = None
    user_id: int | None = None
    is_bot: bool | None = None
    date: int = 0

    @classmethod
    def from_session_string(
        cls, session_string: str, *, server_address: str, port: int
    ) -> SessionRecord:
        """Read a Kurigram session string (current format); the address is not part of it."""
        packed = base64.urlsafe_b64decode(session_string + "=" * (-len(session_string) % 4))
        try:
            dc_id, api_id, test_mode, auth_key, user_id, is_bot = struct.unpack(
                Storage.SESSION_STRING_FORMAT, packed
            )
        except struct.error as e:
            raise ValueError(
                "not a current-format Kurigram session string "
                f"({len(packed)} bytes, expected {struct.calcsize(Storage.SESSION_STRING_FORMAT)})"
            ) from e
        return cls(
            dc_id=dc_id,
            server_address=server_address,
            port=port,
            test_mode=test_mode,
            auth_key=auth_key,
            api_id=api_id,
            user_id=user_id,
            is_bot=is_bot,
        )


_UNSET: Any = object()


class MemoryStorage(Storage):  # type: ignore[misc]  # Kurigram ships no type stubs
    """Session, peers, usernames and update state in plain dicts; nothing touches the disk."""

    def __init__(self, record: SessionRecord, *, pin_server: bool = True) -> None:
        self._record = record
        self._pin = pin_server
        self._peers: dict[int, tuple[int, str, str | None, float]] = {}
        self._usernames: dict[str, int] = {}
        self._states: dict[int, UpdateState] = {}

    def export_record(self) -> SessionRecord:
        """The current session as a record, for the daemon to persist."""
        return self._record

    def __repr__(self) -> str:
        r = self._record
        return (
            f"<MemoryStorage dc{r.dc_id} {r.server_address}:{r.port} user={r.user_id} "
            f"key={'yes' if r.auth_key else 'no'} peers={len(self._peers)}>"
        )

    # --- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        return None

    async def save(self) -> None:
        self._record = replace(self._record, date=int(time.time()))

    async def close(self) -> None:
        return None

    async def delete(self) -> None:
        self._record = replace(self._record, auth_key=None, user_id=None, is_bot=None)

    # --- session fields -------------------------------------------------------------------

    def _field(self, name: str, value: Any, pinned: bool = False) -> Any:
        if value is _UNSET:
            return getattr(self._record, name)
        if not (pinned and self._pin):
            self._record = replace(self._record, **{name: value})
        return None

    async def dc_id(self, value: Any = _UNSET) -> Any:
        return self._field("dc_id", value, pinned=True)

    async def server_address(self, value: Any = _UNSET) -> Any:
        return self._field("server_address", value, pinned=True)

    async def port(self, value: Any = _UNSET) -> Any:
        return self._field("port", value, pinned=True)

    async def api_id(self, value: Any = _UNSET) -> Any:
        return self._field("api_id", value)

    async def test_mode(self, value: Any = _UNSET) -> Any:
        return self._field("test_mode", value)

    async def auth_key(self, value: Any = _UNSET) -> Any:
        return self._field("auth_key", value)

    async def date(self, value: Any = _UNSET) -> Any:
        return self._field("date", value)

    async def user_id(self, value: Any = _UNSET) -> Any:
        return self._field("user_id", value)

    async def is_bot(self, value: Any = _UNSET) -> Any:
        return self._field("is_bot", value)

    # --- peers ----------------------------------------------------------------------------

    async def update_peers(self, peers: Iterable[tuple[int, int, str, str | None]]) -> None:
        now = time.time()
        for peer_id, access_hash, peer_type, phone in peers:
            self._peers[peer_id] = (access_hash, peer_type, phone, now)

    async def update_usernames(self, usernames: Iterable[tuple[int, list[str | None]]]) -> None:
        for peer_id, names in usernames:
            for old in [u for u, pid in self._usernames.items() if pid == peer_id]:
                del self._usernames[old]
            for name in names:
                if name is not None:
                    self._usernames[name] = peer_id

    async def get_update_states(self, ids: int | Iterable[int] | None = None) -> list[UpdateState]:
        if ids is None:
            found = list(self._states.values())
        else:
            wanted = (ids,) if isinstance(ids, int) else tuple(ids)
            found = [self._states[i] for i in wanted if i in self._states]
        return sorted(found, key=lambda s: s.date or 0)

    async def set_update_state(self, update_state: UpdateState | Iterable[UpdateState]) -> None:
        states = [update_state] if isinstance(update_state, UpdateState) else update_state
        for state in states:
            old = self._states.get(state.id)
            if old is not None:  # as SQLiteStorage: a None field keeps the stored value
                state = UpdateState(
                    state.id,
                    state.pts if state.pts is not None else old.pts,
                    state.qts if state.qts is not None else old.qts,
                    state.date if state.date is not None else old.date,
                    state.seq if state.seq is not None else old.seq,
                )
            self._states[state.id] = state

    async def delete_update_state(self, state_id: int | Iterable[int]) -> None:
        for i in (state_id,) if isinstance(state_id, int) else tuple(state_id):
            self._states.pop(i, None)

    async def get_peer_by_id(self, peer_id: int) -> raw.base.InputPeer:
        peer = self._peers.get(peer_id)
        if peer is None:
            raise KeyError(f"ID not found: {peer_id}")
        return get_input_peer(peer_id, peer[0], peer[1])

    async def get_peer_by_username(self, username: str) -> raw.base.InputPeer:
        peer_id = self._usernames.get(username)
        peer = None if peer_id is None else self._peers.get(peer_id)
        if peer_id is None or peer is None:
            raise KeyError(f"Username not found: {username}")
        if abs(time.time() - peer[3]) > USERNAME_TTL:
            raise KeyError(f"Username expired: {username}")
        return get_input_peer(peer_id, peer[0], peer[1])

    async def get_peer_by_phone_number(self, phone_number: str) -> raw.base.InputPeer:
        for peer_id, (access_hash, peer_type, phone, _) in self._peers.items():
            if phone == phone_number:
                return get_input_peer(peer_id, access_hash, peer_type)
        raise KeyError(f"Phone number not found: {phone_number}")
