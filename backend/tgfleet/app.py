"""The one place that wires tgfleet together: settings in, a running FastAPI app out.

Every long-lived resource (the pool and its sweeper, later the store and the sandbox) is
opened in the lifespan, in order, on one ``AsyncExitStack``, so shutdown closes them in reverse
order even when start-up fails half-way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from tgfleet import __version__
from tgfleet.api.routes import health
from tgfleet.pool import ConnectionPool, PoolConfig
from tgfleet.settings import Settings

log = logging.getLogger(__name__)


def pool_config_from(settings: Settings) -> PoolConfig:
    return PoolConfig(**settings.pool.model_dump())


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ready_checks = {"pool": False}
        async with AsyncExitStack() as stack:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            config = pool_config_from(settings)
            pool = ConnectionPool(config)
            await pool.start()
            stack.push_async_callback(pool.stop)
            log.info("connection pool configured: %s", config.describe())
            app.state.pool = pool
            app.state.ready_checks["pool"] = True
            yield
            app.state.ready_checks["pool"] = False
            log.info("shutting down: draining the pool (up to %ss)", config.drain_timeout)

    app = FastAPI(
        title="tgfleet",
        version=__version__,
        summary="Operate a fleet of Telegram accounts through per-account connection pools.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(health.router)
    return app
