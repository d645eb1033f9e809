"""Liveness and readiness: /healthz answers while the process runs, /readyz when it can work."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    status: str
    checks: dict[str, bool]


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The store and the pool are ready to work",
    # not a problem: a supervisor reads the same shape either way, with Retry-After when not ready
    responses={503: {"model": Readiness, "description": "Starting or stopping"}},
)
async def readyz(request: Request, response: Response) -> Readiness:
    checks: dict[str, bool] = getattr(request.app.state, "ready_checks", {})
    ready = bool(checks) and all(checks.values())
    if not ready:
        response.status_code = 503
        response.headers["Retry-After"] = "1"
    return Readiness(status="ready" if ready else "starting", checks=checks)
