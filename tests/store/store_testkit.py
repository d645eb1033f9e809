"""Small helpers shared by the store tests (a clock we move, random auth keys)."""

from __future__ import annotations

import os


class FakeClock:
    """Wall-clock seconds that only move when a test says so (leases, floods)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def auth_key() -> bytes:
    return os.urandom(256)
