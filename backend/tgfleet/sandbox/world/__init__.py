"""The sandbox's in-memory Telegram world: users, bots, chats, messages, logins, updates."""

from __future__ import annotations

from tgfleet.sandbox.world.world import World

__all__ = ["World"]
