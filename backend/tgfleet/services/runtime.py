"""The accounts runtime: the pool, the fleet and the login service, wired and closed together.

``app.py`` (and tests) call :func:`open_fleet_runtime`; nothing else needs to know the order:

* the pool's connector is ``fleet.connect`` and the fleet tells the pool, through
  ``pool.set_account``, which authorizations each account may use;
* a finished login registers the new authorization with the pool at once
  (``on_authorized=fleet.sync_account``);
* stored accounts are loaded before the pool starts, so keep_online accounts connect on start;
* on exit: login flows are dropped first (their half-logged-in clients closed), then the
  health check stops, then the pool drains, and the fleet's clients are all closed when this
  returns. The store and the event bus belong to the caller, which closes them after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from tgfleet.pool.config import PoolConfig
from tgfleet.pool.events import EventCallback
from tgfleet.pool.pool import ConnectionPool
from tgfleet.services.actions import Actions
from tgfleet.services.events import EventBus
from tgfleet.services.fleet import Fleet
from tgfleet.services.health import run_health_checks
from tgfleet.services.imports import SessionImporter
from tgfleet.services.login import LoginService
from tgfleet.services.logout import Logout
from tgfleet.store.store import Store
from tgfleet.telegram.factory import ClientFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetRuntime:
    pool: ConnectionPool
    fleet: Fleet
    login: LoginService
    actions: Actions
    importer: SessionImporter
    logout: Logout


@contextlib.asynccontextmanager
async def open_fleet_runtime(
    store: Store,
    factory: ClientFactory,
    pool_config: PoolConfig,
    bus: EventBus,
    *,
    connect_timeout: float = 15.0,
    request_timeout: float = 60.0,
    health_interval: float | None = 30.0,
    pool_events: EventCallback | None = None,
    qr_handoff: bool = True,
) -> AsyncIterator[FleetRuntime]:
    """Build pool + fleet + login service over ``store``; ``health_interval=None``: no
    periodic health check (tests call ``fleet.refresh_statuses()`` themselves);
    ``qr_handoff=False`` turns off adding authorizations by QR handoff."""
    fleet = Fleet(
        store, factory, bus, connect_timeout=connect_timeout, request_timeout=request_timeout
    )
    pool = ConnectionPool(pool_config, connector=fleet.connect, event_callback=pool_events)
    fleet.attach_pool(pool)
    actions = Actions(pool, fleet)
    login = LoginService(
        store,
        factory,
        bus,
        on_authorized=fleet.sync_account,
        accept_login_token=actions.accept_login_token if qr_handoff else None,
    )
    importer = SessionImporter(
        store, factory, bus, on_authorized=fleet.sync_account, connect_timeout=connect_timeout
    )
    logout = Logout(store, factory, fleet, bus, connect_timeout=connect_timeout)
    health: asyncio.Task[None] | None = None
    try:
        working = await fleet.load()
        log.info("fleet: %d stored accounts can work; pool %s", working, pool_config.describe())
        await pool.start()
        if health_interval is not None:
            health = asyncio.create_task(
                run_health_checks(store, fleet, actions, health_interval),
                name="tgfleet-health-check",
            )
        yield FleetRuntime(pool, fleet, login, actions, importer, logout)
    finally:
        await login.aclose()
        if health is not None:
            health.cancel()
            await asyncio.gather(health, return_exceptions=True)
        await pool.stop()
