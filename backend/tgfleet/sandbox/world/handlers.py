"""The complete routing table: importing every module that answers API methods fills it."""

from __future__ import annotations

from tgfleet.sandbox.world import (
    account,
    auth,
    config,
    contacts,
    edits,
    messages,
    password,
    presence,
    qr,
    updates,
    users,
)
from tgfleet.sandbox.world.registry import ROUTES, Route

MODULES = (account, auth, config, contacts, edits, messages, password, presence, qr, updates, users)

__all__ = ["MODULES", "ROUTES", "Route"]
