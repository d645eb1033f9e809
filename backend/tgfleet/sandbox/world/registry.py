"""Which handler answers which API method, and what a caller must be to call it.

Handler modules register themselves with ``@route(functions.x.Y, ...)`` at import; the world
imports them all once and looks a query's class up here. A method with no route is answered with
a clear 400, never silence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tgfleet.sandbox.world.state import Call, WorldState

Handler = Callable[[WorldState, Call, Any], Any]


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    login: bool  # needs a logged-in authorization (else 401 AUTH_KEY_UNREGISTERED)
    users_only: bool  # bots get 400 BOT_METHOD_INVALID, as on Telegram


ROUTES: dict[type, Route] = {}


def route(
    *methods: type, login: bool = True, users_only: bool = False
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for method in methods:
            if method in ROUTES:
                raise RuntimeError(f"{method.__name__} is routed twice")
            ROUTES[method] = Route(handler, login, users_only)
        return handler

    return register
