"""Everything the daemon runs, opened in order and closed in reverse: the runtime.

``open_runtime(settings)`` is the one place (with ``app.py``, which serves it) that turns
Settings into live parts: the embedded sandbox (with ``--sandbox``), the store and its vault,
the client factory, the event bus, the pool with the fleet as its connector, and the login
service. Each resource is entered on one ``AsyncExitStack``, so a failure half-way through
start-up still closes what was opened, and shutdown drains the pool before the store closes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from tgfleet.errors import ConfigError
from tgfleet.pool import ConnectionPool, PoolConfig, PoolEvent
from tgfleet.services.actions import Actions
from tgfleet.services.events import EventBus
from tgfleet.services.fleet import Fleet
from tgfleet.services.imports import SessionImporter
from tgfleet.services.login import LoginService
from tgfleet.services.logout import Logout
from tgfleet.services.meter import CallMeter
from tgfleet.services.runtime import open_fleet_runtime
from tgfleet.settings import Settings
from tgfleet.store.records import DeviceParams
from tgfleet.store.store import Store
from tgfleet.store.vault import Vault, load_or_create_master_key
from tgfleet.telegram.factory import ClientFactory, TelegramTarget
from tgfleet.telegram.proxy import fleet_default_proxy
from tgfleet.telegram.server import ServerEndpoint

log = logging.getLogger(__name__)

DATABASE_FILE = "tgfleet.db"
# The sandbox accepts any application; these name it in its account.getAuthorizations.
SANDBOX_API_ID = 1
SANDBOX_API_HASH = "0" * 32


@dataclass
class Runtime:
    settings: Settings
    store: Store
    bus: EventBus
    pool: ConnectionPool
    fleet: Fleet
    logins: LoginService
    factory: ClientFactory
    actions: Actions
    importer: SessionImporter
    logout: Logout
    sandbox: Any | None = None  # tgfleet.sandbox.Sandbox when --sandbox

    @property
    def meter(self) -> CallMeter:
        """Telegram calls through the pool: ``snapshot()`` (last 60 s), ``totals()``."""
        return self.fleet.meter


def pool_config_from(settings: Settings) -> PoolConfig:
    return PoolConfig(**settings.pool.model_dump())


def _endpoint(settings: Settings, sandbox: Any | None) -> ServerEndpoint | None:
    tg = settings.telegram
    if sandbox is not None:
        return ServerEndpoint.of(sandbox)
    if tg.server == "sandbox":
        raise ConfigError("telegram.server = 'sandbox' needs `tgfleet serve --sandbox`")
    if tg.server == "custom":
        if not tg.server_host or tg.rsa_public_key_file is None:
            raise ConfigError(
                "telegram.server = 'custom' needs telegram.server_host and "
                "telegram.rsa_public_key_file (the server's RSA public key, PEM)"
            )
        try:
            pem = tg.rsa_public_key_file.read_text()
        except OSError as exc:
            raise ConfigError(f"telegram.rsa_public_key_file: cannot read: {exc}") from None
        return ServerEndpoint(tg.server_host, tg.server_port, pem, dc_id=tg.server_dc_id)
    return None


# One of each per borrow: counted in the pool's stats (reuses, the acquire histogram); kept out
# of the event history, where at a few hundred sends a second they would push out every flood,
# error and login within seconds.
_BORROW_CHATTER = frozenset({"reused", "returned"})


def _forward_pool_events(bus: EventBus) -> Any:
    def forward(event: PoolEvent) -> None:
        publish = bus.publish_live if event.kind in _BORROW_CHATTER else bus.publish
        publish(
            f"pool.{event.kind}",
            event.phone,
            authorization_id=event.authorization_id,
            reason=event.reason,
            **dict(event.detail),
        )

    return forward


def _follow_borrow_interest(bus: EventBus, pool: ConnectionPool) -> None:
    """The pool builds its per-borrow events only while an event stream wants them; the rest
    of the time every borrow takes its short path."""

    def follow() -> None:
        pool.set_borrow_events(any(bus.wants(f"pool.{kind}") for kind in _BORROW_CHATTER))

    bus.on_interest_change(follow)
    follow()


@asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    async with AsyncExitStack() as stack:
        data_dir = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)

        sandbox = None
        if settings.sandbox_enabled:
            from tgfleet.sandbox import open_sandbox

            sandbox = await stack.enter_async_context(
                open_sandbox(
                    settings.sandbox.host,
                    settings.sandbox.port,
                    state_dir=data_dir / "sandbox",
                    login_code=settings.sandbox.login_code,
                )
            )
            # A demo operator cannot answer Telegram's sign-up prompt for a brand-new number.
            world: Any = sandbox.world
            world.auto_sign_up = True
            log.info(
                "embedded Telegram sandbox on %s:%s (login code %s for every phone)",
                sandbox.host,
                sandbox.port,
                sandbox.login_code,
            )

        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        vault = Vault(load_or_create_master_key(data_dir, secret))
        store = await Store.open(data_dir / DATABASE_FILE, vault)
        stack.push_async_callback(store.aclose)

        tg = settings.telegram
        endpoint = _endpoint(settings, sandbox)
        api_id, api_hash = tg.api_id, tg.api_hash.get_secret_value()
        if endpoint is not None and not (api_id and api_hash):
            api_id, api_hash = SANDBOX_API_ID, SANDBOX_API_HASH
        factory = ClientFactory(
            TelegramTarget(
                api_id=api_id,
                api_hash=api_hash,
                endpoint=endpoint,
                sleep_threshold=tg.sleep_threshold,
                default_proxy=fleet_default_proxy(tg.default_proxy),
                default_device=DeviceParams(
                    device_model=tg.device_model,
                    system_version=tg.system_version,
                    app_version=tg.app_version,
                    lang_code=tg.lang_code,
                ),
            )
        )

        bus = EventBus()
        stack.callback(bus.close)
        config = pool_config_from(settings)
        accounts = await stack.enter_async_context(
            open_fleet_runtime(store, factory, config, bus, pool_events=_forward_pool_events(bus))
        )
        _follow_borrow_interest(bus, accounts.pool)
        log.info("connection pool configured: %s", config.describe())
        stack.callback(
            log.info, "shutting down: draining the pool (up to %.0f s)", config.drain_timeout
        )

        runtime = Runtime(
            settings,
            store,
            bus,
            accounts.pool,
            accounts.fleet,
            accounts.login,
            factory,
            accounts.actions,
            accounts.importer,
            accounts.logout,
            sandbox,
        )
        if sandbox is not None and settings.sandbox.demo_fleet:
            from tgfleet.demo import seed_demo_fleet

            await seed_demo_fleet(runtime)
        yield runtime
