"""The FastAPI app: serves the runtime that ``tgfleet.runtime`` opens in its lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tgfleet import __version__
from tgfleet.api.routes import health
from tgfleet.runtime import open_runtime
from tgfleet.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ready_checks = {"store": False, "pool": False}
        async with open_runtime(settings) as runtime:
            app.state.runtime = runtime
            app.state.ready_checks.update(store=True, pool=True)
            log.info("tgfleet ready on http://%s:%s", settings.api.host, settings.api.port)
            try:
                yield
            finally:
                app.state.ready_checks.update(store=False, pool=False)

    app = FastAPI(
        title="tgfleet",
        version=__version__,
        summary="Operate a fleet of Telegram accounts through per-account connection pools.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.include_router(health.router)
    return app
