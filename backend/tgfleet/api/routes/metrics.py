"""GET /metrics: Prometheus text format (open like /healthz; the default bind is 127.0.0.1)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from tgfleet.api.deps import RuntimeDep
from tgfleet.api.http_metrics import HttpMetrics
from tgfleet.api.metrics import CONTENT_TYPE, render

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, runtime: RuntimeDep) -> Response:
    counts = await runtime.store.accounts.count_by_status()
    http = getattr(request.app.state, "http_metrics", None)
    body = render(
        runtime.pool.get_pool_stats(),
        counts,
        calls=runtime.meter.totals(),
        http=http.totals() if isinstance(http, HttpMetrics) else None,
        floods_active=len(runtime.fleet.gate.active()),
    )
    return Response(body, media_type=CONTENT_TYPE)
