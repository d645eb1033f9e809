"""The FastAPI app: serves the runtime that ``tgfleet.runtime`` opens in its lifespan."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tgfleet import __version__
from tgfleet.api.access import ADMIN_USERNAME, REVOCATION_MARKER, Access
from tgfleet.api.http_metrics import install_http_metrics
from tgfleet.api.panel import install_panel
from tgfleet.api.problems import install_problem_handlers
from tgfleet.api.routes import accounts, auth, events, health, metrics, pool
from tgfleet.runtime import open_runtime
from tgfleet.settings import Settings
from tgfleet.store.users import UsersStore

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ready_checks = {"store": False, "pool": False}
        async with open_runtime(settings) as runtime:
            access = Access(
                UsersStore(runtime.store.db),
                revocation_marker=settings.data_dir / REVOCATION_MARKER,
            )
            await announce_admin(access, settings)
            app.state.access = access
            app.state.runtime = runtime
            app.state.ready_checks.update(store=True, pool=True)
            log.info(
                "tgfleet ready: open http://%s:%s/ and sign in as %r (API docs at /docs)",
                settings.api.host,
                settings.api.port,
                ADMIN_USERNAME,
            )
            try:
                yield
            finally:
                app.state.stopping.set()
                app.state.ready_checks.update(store=False, pool=False)
                app.state.runtime = None
                app.state.access = None

    app = FastAPI(
        title="tgfleet",
        version=__version__,
        summary="Operate a fleet of Telegram accounts through per-account connection pools.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # set on SIGTERM (``tgfleet.cli``) and at shutdown: endless responses (the event stream) end
    app.state.stopping = threading.Event()
    install_problem_handlers(app)
    install_http_metrics(app)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(pool.router)
    app.include_router(metrics.router)
    app.include_router(events.router)
    accounts.install(app)
    install_panel(app, settings.panel_dir)  # last: the web panel at / and /assets/
    return app


async def announce_admin(access: Access, settings: Settings) -> None:
    """Create the first user; a generated password is shown once, on stderr, never logged."""
    given = settings.admin_password.get_secret_value() if settings.admin_password else None
    generated = await access.ensure_admin(given)
    if generated is not None:
        # straight to stderr: the log file outlives this moment, and the mask would hide it
        print(
            f"tgfleet: created user {ADMIN_USERNAME!r} with password {generated} "
            "(shown once; set TGFLEET_ADMIN_PASSWORD to choose it)",
            file=sys.stderr,
            flush=True,
        )
