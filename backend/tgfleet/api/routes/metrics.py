"""GET /metrics: Prometheus text format (open like /healthz; the default bind is 127.0.0.1)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from tgfleet.api.deps import RuntimeDep
from tgfleet.api.metrics import CONTENT_TYPE, render

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(runtime: RuntimeDep) -> Response:
    counts = await runtime.store.accounts.count_by_status()
    body = render(runtime.pool.get_pool_stats(), counts)
    return Response(body, media_type=CONTENT_TYPE)
