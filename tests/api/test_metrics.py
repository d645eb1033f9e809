"""GET /metrics parses as Prometheus text, agrees with the pool's own stats, and its counters
move by what a test did through the real daemon."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from itertools import pairwise

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tgfleet.api.http_metrics import install_http_metrics
from tgfleet.api.metrics import render
from tgfleet.app import create_app
from tgfleet.settings import load_settings

from .conftest import ADMIN_PASSWORD, sign_in


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_match_pool_stats_and_account_counts(anon: TestClient) -> None:
    response = anon.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(response.text)
    sign_in(anon)
    stats = anon.get("/api/v1/pool/stats").json()
    assert (
        samples[("tgfleet_pool_connections_created_total", ())]
        == (stats["total_connections_created"])
    )
    assert samples[("tgfleet_pool_timeouts_total", ())] == stats["timeouts"]
    assert samples[("tgfleet_pool_waiting", ())] == stats["waiting"]
    assert (
        samples[("tgfleet_pool_connections", (("state", "idle"),))] == (stats["idle_connections"])
    )
    assert (
        samples[("tgfleet_pool_connections", (("state", "active"),))]
        == (stats["current_active_connections"])
    )
    assert ("tgfleet_pool_acquire_wait_seconds", (("quantile", "0.99"),)) in samples
    # the demo fleet: three users and a bot, all signed in
    active = samples[("tgfleet_accounts", (("status", "active"),))]
    assert active >= 4
    assert sum(v for (name, _), v in samples.items() if name == "tgfleet_accounts") >= active
    assert "+1555" not in response.text  # no phone numbers as labels


# --- Telegram calls and HTTP requests on the real daemon -------------------------------------

API = "/api/v1"
ALICE, CAROL = "+15550000001", "+15550000003"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    return _samples(response.text)


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return _value(after, name, **labels) - _value(before, name, **labels)


def _hist_count(samples: Samples, name: str) -> float:
    return _value(samples, f"{name}_count")


def test_telegram_calls_and_http_requests_move_the_counters(anon: TestClient) -> None:
    anon.headers["X-CSRF-Token"] = sign_in(anon)
    try:
        before = _scrape(anon)
        sent = anon.post(
            f"{API}/accounts/{ALICE}/messages", json={"peer": "@demo_bob", "text": "metrics"}
        )
        assert sent.status_code == 201, sent.text
        assert anon.get(f"{API}/accounts/{ALICE}/me").status_code == 200
        refused = anon.post(
            f"{API}/accounts/{ALICE}/messages", json={"peer": "nobody_here_zz", "text": "hi"}
        )
        assert 400 <= refused.status_code < 500
        telegram_error = refused.json()["telegram_error"]
        # a 404 from a matched route makes no Telegram call; an unmatched path has no route
        assert anon.get(f"{API}/accounts/+15559999999").status_code == 404
        assert anon.get("/no/such/page/+15559999999").status_code == 404
        after = _scrape(anon)
        text = anon.get("/metrics").text
    finally:
        anon.headers.pop("X-CSRF-Token", None)

    requests = "tgfleet_telegram_requests_total"
    assert _delta(before, after, requests, result="error") == 1
    # two calls worked; the daemon's health check may add getState pings of keep_online accounts
    ok = _delta(before, after, requests, result="ok")
    assert ok >= 2
    assert _delta(before, after, "tgfleet_telegram_errors_total", error=telegram_error) == 1
    seconds = "tgfleet_telegram_request_seconds"
    assert _hist_count(after, seconds) - _hist_count(before, seconds) == ok + 1
    assert _value(after, f"{seconds}_bucket", le="+Inf") == _hist_count(after, seconds)
    assert _value(after, f"{seconds}_sum") > _value(before, f"{seconds}_sum")

    http = "tgfleet_http_requests_total"
    messages = f"{API}/accounts/{{key}}/messages"
    assert _delta(before, after, http, method="POST", route=messages, status="201") == 1
    refused_status = str(refused.status_code)
    assert _delta(before, after, http, method="POST", route=messages, status=refused_status) == 1
    me = f"{API}/accounts/{{key}}/me"
    assert _delta(before, after, http, method="GET", route=me, status="200") == 1
    key = f"{API}/accounts/{{key}}"
    assert _delta(before, after, http, method="GET", route=key, status="404") == 1
    assert _delta(before, after, http, method="GET", route="unmatched", status="404") == 1
    # the first scrape itself finished before the second one read the counts
    assert _delta(before, after, http, method="GET", route="/metrics", status="200") == 1
    http_seconds = "tgfleet_http_request_seconds"
    assert _hist_count(after, http_seconds) - _hist_count(before, http_seconds) == 6
    assert "+1555" not in text  # routes are templates: no phone number became a label


def test_a_flood_wait_counts_by_method_and_gates_the_account(anon: TestClient) -> None:
    runtime = anon.app.state.runtime  # type: ignore[attr-defined]
    anon.headers["X-CSRF-Token"] = sign_in(anon)
    method = "messages.sendMessage"
    try:
        before = _scrape(anon)
        runtime.sandbox.faults.flood_wait(30, phone=CAROL, method=method)
        flooded = anon.post(
            f"{API}/accounts/{CAROL}/messages", json={"peer": "@demo_alice", "text": "hi"}
        )
        assert flooded.status_code == 429, flooded.text
        # the gate answers now, without a call: not a second Telegram request
        again = anon.post(
            f"{API}/accounts/{CAROL}/messages", json={"peer": "@demo_alice", "text": "hi"}
        )
        assert again.status_code == 429
        after = _scrape(anon)
    finally:
        anon.headers.pop("X-CSRF-Token", None)
        runtime.sandbox.faults.clear()

    assert _delta(before, after, "tgfleet_flood_waits_total", method=method) == 1
    assert _delta(before, after, "tgfleet_telegram_errors_total", error="FLOOD_WAIT") == 1
    assert _delta(before, after, "tgfleet_telegram_requests_total", result="error") == 1
    assert _value(after, "tgfleet_floods_active") == _value(before, "tgfleet_floods_active") + 1
    assert _value(after, "tgfleet_accounts", status="flood_wait") >= 1
    window = runtime.meter.snapshot()
    assert window["errors"] >= 1 and window["error_rate"] > 0


def test_pool_acquire_seconds_is_a_histogram(anon: TestClient) -> None:
    sign_in(anon)
    before = _scrape(anon)
    assert anon.get(f"{API}/accounts/{ALICE}/me").status_code == 200
    samples = _scrape(anon)
    name = "tgfleet_pool_acquire_seconds"
    count = _hist_count(samples, name)
    assert count - _hist_count(before, name) >= 1  # the call above borrowed a connection
    assert _value(samples, f"{name}_bucket", le="+Inf") == count
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (sample, labels), value in samples.items()
        if sample == f"{name}_bucket"
    )
    assert len(buckets) >= 2
    assert all(a[1] <= b[1] for a, b in pairwise(buckets))  # cumulative
    stats = anon.get(f"{API}/pool/stats").json()["acquire_seconds"]
    assert stats["count"] >= count  # the pool's own figure, read after the scrape


# --- the renderer and the middleware on their own --------------------------------------------


def test_render_turns_the_pools_acquire_seconds_into_a_histogram() -> None:
    stats = {
        "acquire_seconds": {"buckets": [[0.01, 3], [0.1, 5], [1.0, 6]], "sum": 0.9, "count": 7}
    }
    families = {f.name: f for f in text_string_to_metric_families(render(stats, {}).decode())}
    family = families["tgfleet_pool_acquire_seconds"]
    assert family.type == "histogram"
    got = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert got == {
        ("tgfleet_pool_acquire_seconds_bucket", "0.01"): 3,
        ("tgfleet_pool_acquire_seconds_bucket", "0.1"): 5,
        ("tgfleet_pool_acquire_seconds_bucket", "1.0"): 6,
        ("tgfleet_pool_acquire_seconds_bucket", "+Inf"): 7,
        ("tgfleet_pool_acquire_seconds_count", None): 7,
        ("tgfleet_pool_acquire_seconds_sum", None): 0.9,
    }
    # without the key (an older pool) the family is simply absent
    assert "tgfleet_pool_acquire_seconds" not in render({}, {}).decode()


def test_event_streams_are_counted_but_not_timed() -> None:
    app = FastAPI()
    metrics = install_http_metrics(app)

    @app.get("/stream/{topic}")
    async def stream(topic: str) -> StreamingResponse:
        async def frames() -> AsyncIterator[bytes]:
            yield f"data: {topic}\n\n".encode()
            await asyncio.sleep(0.05)
            yield b"data: bye\n\n"

        return StreamingResponse(frames(), media_type="text/event-stream")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("broken on purpose")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/stream/+15550000001")
        assert response.text == "data: +15550000001\n\ndata: bye\n\n"
        assert client.get("/boom").status_code == 500
        assert client.request("BREW", "/stream/x").status_code == 405
    totals = metrics.totals()
    assert totals.requests == {
        ("GET", "/stream/{topic}", "200"): 1,
        ("GET", "/boom", "500"): 1,
        ("other", "/stream/{topic}", "405"): 1,
    }
    assert totals.seconds.count == 2  # the stream is not in the histogram


# --- an endless event stream over a real socket (TestClient buffers whole responses) --------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app under uvicorn on a loopback port, in a thread of this process."""
    settings = load_settings(
        env_file=None,
        data_dir=tmp_path_factory.mktemp("served") / "data",
        sandbox_enabled=True,
        admin_password=ADMIN_PASSWORD,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)
    assert not thread.is_alive(), "uvicorn did not stop"


def test_an_open_event_stream_is_counted_but_never_timed(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as http:
        login = http.post(
            f"{API}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        before = _samples(http.get("/metrics").text)
        with http.stream("GET", f"{API}/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            assert any(line == "event: stats" for line in lines)  # the stream is live
            during = _samples(http.get("/metrics").text)
        time.sleep(0.3)  # the server notices the reader left and ends the response
        after = _samples(http.get("/metrics").text)

    events = {"method": "GET", "route": f"{API}/events", "status": "200"}
    # counted as it opened, while still open; once only
    assert _delta(before, during, "tgfleet_http_requests_total", **events) == 1
    assert _delta(before, after, "tgfleet_http_requests_total", **events) == 1
    # timed: only the scrapes that finished in between (one before "during", two before "after")
    seconds = "tgfleet_http_request_seconds"
    assert _hist_count(during, seconds) - _hist_count(before, seconds) == 1
    assert _hist_count(after, seconds) - _hist_count(before, seconds) == 2
    assert _value(after, f"{seconds}_bucket", le="10.0") == _hist_count(after, seconds)
