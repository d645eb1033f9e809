"""Pool routes on the real runtime with the sandbox demo fleet."""

from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import sign_in

GLOBAL_KEYS = {
    "total_connections_created",
    "total_connections_reused",
    "total_connections_closed",
    "current_pool_size",
    "current_active_connections",
    "idle_connections",
    "waiting",
    "errors",
    "timeouts",
    "max_total_connections",
    "utilization",
    "acquire_wait_seconds",
    "accounts",
    "state",
    "connects",
}


def test_pool_stats_has_the_global_keys(anon: TestClient) -> None:
    sign_in(anon)
    response = anon.get("/api/v1/pool/stats")
    assert response.status_code == 200
    stats = response.json()
    assert stats.keys() >= GLOBAL_KEYS
    # the demo fleet logged in and sent messages through the pool
    assert stats["total_connections_created"] >= 1
    assert stats["accounts"] >= 3


def test_account_stats_accepts_any_phone_spelling_and_404s_unknown(anon: TestClient) -> None:
    sign_in(anon)
    ok = anon.get("/api/v1/pool/stats/+1 555 000 0001")
    assert ok.status_code == 200
    assert ok.json() == anon.get("/api/v1/pool/stats/+15550000001").json()
    unknown = anon.get("/api/v1/pool/stats/+15559999999")
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/account-not-found")
    assert "+15559999999" in unknown.json()["detail"]
    bad = anon.get("/api/v1/pool/stats/not-a-phone")
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("phone:")


def test_connections_list_each_with_state_and_counters(anon: TestClient) -> None:
    sign_in(anon)
    response = anon.get("/api/v1/pool/connections")
    assert response.status_code == 200
    conns = response.json()
    assert conns, "keep_online demo accounts hold connections"
    for conn in conns:
        assert conn["state"] in {"idle", "active", "connecting"}
        assert conn["age"] >= 0 and conn["use_count"] >= 0
        assert "auth_key" not in conn
    phones = {c["phone"] for c in conns}
    one = sorted(phones)[0]
    filtered = anon.get("/api/v1/pool/connections", params={"phone": one}).json()
    assert filtered and {c["phone"] for c in filtered} == {one}


def test_close_connections_closes_the_accounts_idle_connections(anon: TestClient) -> None:
    csrf = sign_in(anon)
    before = anon.get("/api/v1/pool/connections").json()
    phone = next(c["phone"] for c in before if c["state"] == "idle")
    closed_before = anon.get("/api/v1/pool/stats").json()["total_connections_closed"]
    response = anon.post(
        f"/api/v1/accounts/{phone}/close-connections", headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 200
    assert response.json()["phone"] == phone and response.json()["closed"] >= 1
    after = anon.get("/api/v1/pool/connections", params={"phone": phone}).json()
    assert all(c["state"] != "idle" for c in after)
    assert anon.get("/api/v1/pool/stats").json()["total_connections_closed"] > closed_before
    missing = anon.post(
        "/api/v1/accounts/+15559999999/close-connections", headers={"X-CSRF-Token": csrf}
    )
    assert missing.status_code == 404
