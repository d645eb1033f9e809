"""Fixtures for the store tests: a real SQLite file in tmp_path, a real vault, a clock we move."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from store_testkit import FakeClock

from tgfleet.store import Store, Vault


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "tgfleet.db"


@pytest.fixture
def vault() -> Vault:
    return Vault(os.urandom(32))


@pytest.fixture
async def store(db_path: Path, vault: Vault, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await Store.open(db_path, vault, clock=clock)
    try:
        yield opened
    finally:
        await opened.aclose()
