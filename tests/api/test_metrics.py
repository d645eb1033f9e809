"""GET /metrics parses as Prometheus text and agrees with the pool's own stats."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from .conftest import sign_in


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
