"""HTTP request metrics: a pure ASGI middleware counting requests by method, route and status.

Pure ASGI on purpose: Starlette's ``BaseHTTPMiddleware`` buffers through a memory stream and
breaks endless responses such as the event stream. The route label is the route's template
(``/api/v1/accounts/{key}``), read after routing from ``scope["route"]``, never the raw path:
phone numbers must not become labels, and every distinct path would be a new series.

Event streams (``text/event-stream``) are counted when they start but kept out of the duration
histogram: a stream open for an hour would drown every real request's latency.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tgfleet.services.meter import CALL_BUCKETS, Histogram, HistogramSnapshot

# an API request mostly waits on one Telegram call through the pool: the same scale
HTTP_BUCKETS: tuple[float, ...] = CALL_BUCKETS
# Anything else (a scanner's "FOO" method) is one label value, not one series per spelling.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # no route: a 404 for a path the app does not serve


@dataclass(frozen=True)
class HttpTotals:
    requests: dict[tuple[str, str, str], int]  # (method, route, status) -> count
    seconds: HistogramSnapshot  # every finished response but event streams


class HttpMetrics:
    """The counts; fed by the middleware, read by ``/metrics``."""

    def __init__(self, buckets: tuple[float, ...] = HTTP_BUCKETS) -> None:
        self._requests: dict[tuple[str, str, str], int] = {}
        self._seconds = Histogram(buckets)

    def record(self, method: str, route: str, status: int, seconds: float | None) -> None:
        """One request; ``seconds=None`` counts it without timing it (an event stream)."""
        key = (method if method in METHODS else "other", route, str(status))
        self._requests[key] = self._requests.get(key, 0) + 1
        if seconds is not None:
            self._seconds.observe(seconds)

    def totals(self) -> HttpTotals:
        return HttpTotals(dict(self._requests), self._seconds.snapshot())


def route_template(scope: Scope) -> str:
    """The matched route's template, or ``unmatched``; never the request's own path."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else UNMATCHED


class HttpMetricsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        metrics: HttpMetrics,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        # an exception before the response started: the error middleware outside answers 500
        status = 500
        streaming = False

        async def send_and_watch(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = int(message["status"])
                streaming = _is_event_stream(message.get("headers", ()))
                if streaming:
                    # counted as it opens: a stream lives for minutes or hours
                    self.metrics.record(scope["method"], route_template(scope), status, None)
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            if not streaming:
                self.metrics.record(
                    scope["method"], route_template(scope), status, self.clock() - started
                )


def _is_event_stream(headers: Any) -> bool:
    for name, value in headers:
        if bytes(name).lower() == b"content-type":
            return bytes(value).lower().startswith(b"text/event-stream")
    return False


def install_http_metrics(app: FastAPI) -> HttpMetrics:
    """Count every request of ``app``; the counts are ``app.state.http_metrics``."""
    metrics = HttpMetrics()
    app.state.http_metrics = metrics
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    return metrics
