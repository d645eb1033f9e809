"""Hub bookkeeping that a client cannot see directly."""

from __future__ import annotations

import pytest

from tgfleet.sandbox import hub as hub_module
from tgfleet.sandbox.envelope import auth_key_id_of
from tgfleet.sandbox.hub import Hub
from tgfleet.sandbox.keys import ServerKey
from tgfleet.sandbox.sessions import SessionState
from tgfleet.sandbox.world import World


def test_the_oldest_sessions_are_forgotten_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "MAX_SESSIONS", 2)
    hub = Hub(world=World(), key=ServerKey.generate(), dc_id=2)
    for sid in (1, 2, 3):
        hub.remember_session(SessionState(auth_key_id=7, session_id=sid))
    assert list(hub.sessions) == [(7, 2), (7, 3)]


def test_keys_come_from_the_world_with_their_slices_cached() -> None:
    world = World()
    hub = Hub(world=world, key=ServerKey.generate(), dc_id=2)
    key = bytes(range(256))
    key_id = auth_key_id_of(key)
    assert hub.auth_key(key_id) is None
    world.register_auth_key(key_id, key)
    found = hub.auth_key(key_id)
    assert found is not None and found.key == key and found.id == key_id
    assert hub.auth_key(key_id) is found  # derived slices are reused
