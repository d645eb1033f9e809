"""The demo fleet a newcomer sees with ``--sandbox``, including the account left for the wizard."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tgfleet.demo import DEMO_NEWCOMER, DEMO_USERS

from .conftest import sign_in

API = "/api/v1"


def test_the_demo_fleet_is_in_the_store_and_the_newcomer_is_not(client: TestClient) -> None:
    csrf = sign_in(client)
    client.headers["X-CSRF-Token"] = csrf
    keys = {a["key"] for a in client.get(f"{API}/accounts").json()["items"]}
    assert {phone for phone, *_ in DEMO_USERS} <= keys
    assert DEMO_NEWCOMER[0] not in keys


def test_the_newcomer_logs_in_with_the_code_and_its_two_step_password(client: TestClient) -> None:
    client.headers["X-CSRF-Token"] = sign_in(client)
    phone, _, username, password = DEMO_NEWCOMER
    flow = client.post(f"{API}/logins", json={"phone": phone}).json()
    after_code = client.post(f"{API}/logins/{flow['id']}/code", json={"code": "12345"}).json()
    assert after_code["step"] == "password_needed", after_code
    wrong = client.post(f"{API}/logins/{flow['id']}/password", json={"password": "guess"})
    assert wrong.status_code == 400
    assert wrong.json()["telegram_error"] == "PASSWORD_HASH_INVALID"
    done = client.post(f"{API}/logins/{flow['id']}/password", json={"password": password})
    assert done.status_code == 200, done.text
    me = client.get(f"{API}/accounts/{phone}/me").json()
    assert me["username"] == username
