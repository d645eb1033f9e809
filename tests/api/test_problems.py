"""Every error class maps to its status and an RFC 9457 body, through the real handlers."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from tgfleet import errors
from tgfleet.api.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers

SECRET = "tgf_do-not-leak-this-token"

RAISED: dict[str, Exception] = {
    "invalid": errors.InvalidInput("label: at most 200 characters"),
    "config": errors.ConfigError("pool.acquire_timeout: expected a number"),
    "missing": errors.AccountNotFound("no account +15550009999"),
    "exists": errors.AccountExists("account +15550000001 exists"),
    "conflict": errors.Conflict("a login for +15550000001 is in progress"),
    "flood": errors.FloodWait(42, phone="+15550000001", method="messages.SendMessage"),
    "timeout": errors.PoolTimeout("no connection for +15550000001 within 30 s", waited=30.0),
    "closed": errors.PoolClosed("the pool is draining"),
    "anon": errors.NotAuthenticated("sign in"),
    "denied": errors.PermissionDenied("missing X-CSRF-Token"),
    "locked": errors.TooManyAttempts("too many failed sign-ins", retry_after=12.2),
    "bug": RuntimeError(f"something broke holding {SECRET}"),
}

EXPECTED = {
    "invalid": (422, None),
    "config": (422, None),
    "missing": (404, None),
    "exists": (409, None),
    "conflict": (409, None),
    "flood": (429, "42"),
    "timeout": (503, "1"),
    "closed": (503, "5"),
    "anon": (401, None),
    "denied": (403, None),
    "locked": (429, "13"),
    "bug": (500, None),
}


class Body(BaseModel):
    name: str
    count: int


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/raise/{what}")
    async def raise_it(what: str) -> None:
        raise RAISED[what]

    @app.post("/body")
    async def body(payload: Body) -> dict[str, str]:
        return {"ok": payload.name}

    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(_app(), raise_server_exceptions=False)


@pytest.mark.parametrize("what", sorted(RAISED))
def test_error_class_maps_to_status_and_problem_body(
    client: TestClient, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    status, retry_after = EXPECTED[what]
    with caplog.at_level(logging.ERROR, logger="tgfleet.api.problems"):
        response = client.get(f"/raise/{what}")
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://tgfleet.dev/problems/")
    assert body["title"] and body["detail"]
    assert body["instance"] == f"/raise/{what}"
    assert response.headers.get("retry-after") == retry_after
    if status == 500:
        assert SECRET not in response.text
        assert body["detail"] == "an unexpected error happened; it is logged on the server"
        assert any("unexpected error on GET /raise/bug" in r.getMessage() for r in caplog.records)
    else:
        assert body["detail"] == str(RAISED[what])


def test_flood_body_carries_retry_after_seconds(client: TestClient) -> None:
    assert client.get("/raise/flood").json()["retry_after"] == 42


def test_request_validation_is_422_naming_the_field_without_echoing_input(
    client: TestClient,
) -> None:
    response = client.post("/body", json={"name": "x", "count": SECRET})
    assert response.status_code == 422
    body = response.json()
    assert body["type"].endswith("/invalid-input")
    assert [e["field"] for e in body["errors"]] == ["count"]
    assert body["detail"].startswith("count:")
    assert SECRET not in response.text
    missing = client.post("/body", json={"count": 1}).json()
    assert [e["field"] for e in missing["errors"]] == ["name"]
    not_json = client.post(
        "/body", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422


def test_unknown_route_and_wrong_method_are_problems_too(client: TestClient) -> None:
    not_found = client.get("/nowhere")
    assert not_found.status_code == 404
    assert not_found.headers["content-type"] == PROBLEM_MEDIA_TYPE
    wrong = client.delete("/body")
    assert wrong.status_code == 405
    assert wrong.json()["status"] == 405
