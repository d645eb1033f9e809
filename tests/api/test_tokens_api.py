"""The panel's Settings page: API tokens over the API (shared with `tgfleet tokens`) and the
pool's effective settings, on the real runtime."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

import pytest
from fastapi.testclient import TestClient

from tgfleet.api import tokens as cli_tokens
from tgfleet.runtime import pool_config_from

from .conftest import sign_in

API = "/api/v1"


def test_a_token_is_shown_once_works_and_stops_when_revoked(api: TestClient) -> None:
    created = api.post(f"{API}/tokens", json={"name": "panel-ci"})
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["token"]
    assert token.startswith("tgf_") and body["name"] == "panel-ci"
    assert body["revoked_at"] is None and body["last_used_at"] is None

    listed = api.get(f"{API}/tokens")
    assert listed.status_code == 200
    assert token not in listed.text and "token" not in listed.json()[0]
    mine = next(t for t in listed.json() if t["id"] == body["id"])
    assert mine == {k: v for k, v in body.items() if k != "token"}

    bearer = {"Authorization": f"Bearer {token}"}
    api.cookies.clear()  # the token alone signs the request in
    assert api.get(f"{API}/auth/me", headers=bearer).json()["username"] == "admin"
    assert api.get(f"{API}/pool/config", headers=bearer).status_code == 200
    api.headers["X-CSRF-Token"] = sign_in(api)

    twin = api.post(f"{API}/tokens", json={"name": "panel-ci"})
    assert twin.status_code == 409 and "revoke it first" in twin.json()["detail"]

    revoked = api.delete(f"{API}/tokens/{body['id']}")
    assert revoked.status_code == 204, revoked.text
    api.cookies.clear()
    assert api.get(f"{API}/auth/me", headers=bearer).status_code == 401
    api.headers["X-CSRF-Token"] = sign_in(api)
    again = api.delete(f"{API}/tokens/{body['id']}")
    assert again.status_code == 404 and again.json()["type"].endswith("/no-such-token")

    assert body["id"] not in [t["id"] for t in api.get(f"{API}/tokens").json()]
    everything = api.get(f"{API}/tokens", params={"include_revoked": True}).json()
    assert next(t for t in everything if t["id"] == body["id"])["revoked_at"] is not None
    # the name is free again once its token is revoked
    reused = api.post(f"{API}/tokens", json={"name": "panel-ci"})
    assert reused.status_code == 201 and reused.json()["id"] != body["id"]
    assert api.delete(f"{API}/tokens/{reused.json()['id']}").status_code == 204


def test_a_token_made_by_the_cli_is_listed_and_revoked_here(api: TestClient) -> None:
    settings = api.app.state.settings  # type: ignore[attr-defined]
    made = asyncio.run(cli_tokens.create_token(settings, "from-cli"))
    listed = {t["name"]: t for t in api.get(f"{API}/tokens").json()}
    assert listed["from-cli"]["id"] == made.token.id
    assert api.delete(f"{API}/tokens/{made.token.id}").status_code == 204
    remaining = asyncio.run(cli_tokens.list_tokens(settings))
    assert next(t for t in remaining if t.id == made.token.id).revoked


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\there"])
def test_a_token_needs_a_sensible_name(api: TestClient, name: str) -> None:
    response = api.post(f"{API}/tokens", json={"name": name})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "name"


def test_token_routes_need_sign_in_and_csrf(anon: TestClient) -> None:
    assert anon.get(f"{API}/tokens").status_code == 401
    assert anon.post(f"{API}/tokens", json={"name": "x"}).status_code == 401
    sign_in(anon)
    assert anon.post(f"{API}/tokens", json={"name": "no-csrf"}).status_code == 403
    assert "no-csrf" not in anon.get(f"{API}/tokens").text


def test_pool_config_is_the_effective_settings(api: TestClient) -> None:
    settings = api.app.state.settings  # type: ignore[attr-defined]
    response = api.get(f"{API}/pool/config")
    assert response.status_code == 200, response.text
    assert response.json() == asdict(pool_config_from(settings))
    assert response.json()["max_connections_per_account"] == 3
    assert api.put(f"{API}/pool/config", json={}).status_code == 405


def test_a_tokens_last_use_is_kept_for_the_operator(api: TestClient) -> None:
    created = api.post(f"{API}/tokens", json={"name": "last-use"}).json()
    assert created["last_used_at"] is None
    bearer = {"Authorization": f"Bearer {created['token']}"}
    csrf = api.headers.pop("X-CSRF-Token")
    api.cookies.clear()
    for _ in range(3):  # written once, not per request
        assert api.get(f"{API}/auth/me", headers=bearer).status_code == 200
    listed = api.get(f"{API}/tokens", headers=bearer).json()
    used = next(t for t in listed if t["id"] == created["id"])["last_used_at"]
    assert used is not None
    assert api.delete(f"{API}/tokens/{created['id']}", headers=bearer).status_code == 204
    api.headers["X-CSRF-Token"] = csrf
