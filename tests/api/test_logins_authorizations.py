"""More authorizations for an account already in the fleet (a second login, a QR handoff),
listed without their keys and logged out one by one, on the real runtime (sandbox)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from .conftest import in_app_loop

API = "/api/v1"
CODE = "12345"


def _world(api: TestClient) -> Any:
    return api.app.state.runtime.sandbox.world  # type: ignore[attr-defined]


def _log_in(api: TestClient, phone: str) -> dict[str, Any]:
    flow = api.post(f"{API}/logins", json={"phone": phone, "keep_online": True}).json()
    done = api.post(f"{API}/logins/{flow['id']}/code", json={"code": CODE})
    assert done.status_code == 200, done.text
    return dict(done.json())


def test_second_login_and_qr_handoff_then_log_out_one_by_one(api: TestClient) -> None:
    phone = "+15550000071"
    first = _log_in(api, phone)
    world = _world(api)

    listed = api.get(f"{API}/accounts/{phone}/authorizations")
    assert listed.status_code == 200, listed.text
    [only] = listed.json()
    assert only["id"] == first["authorization_id"] and only["state"] == "active"
    assert only["dc_id"] >= 1 and only["device"]["device_model"]
    assert not any("key" in field for field in only)
    # keep_online: the pool holds a live client on it
    assert only["connection"] in {"idle", "active", "connecting"}

    # a second login asks Telegram for a code and goes through the usual steps
    second = api.post(f"{API}/accounts/{phone}/authorizations")
    assert second.status_code == 201, second.text
    assert second.json()["step"] == "code_sent" and second.json()["account"] == phone
    # a wizard opened again finds the login waiting for its code
    assert second.json() in api.get(f"{API}/logins").json()
    added = api.post(f"{API}/logins/{second.json()['id']}/code", json={"code": CODE}).json()
    assert added["step"] == "done" and added["account_id"] == first["account_id"]
    assert second.json()["id"] not in [f["id"] for f in api.get(f"{API}/logins").json()]

    # a QR handoff sends no code: the live authorization accepts the new key's login token
    qr = api.post(f"{API}/accounts/{phone}/authorizations/qr")
    assert qr.status_code == 201, qr.text
    assert qr.json()["step"] == "done" and qr.json()["kind"] == "qr"
    ids = [a["id"] for a in api.get(f"{API}/accounts/{phone}/authorizations").json()]
    assert len(ids) == 3 and ids[:2] == [first["authorization_id"], added["authorization_id"]]
    assert qr.json()["authorization_id"] == ids[2]
    assert len(in_app_loop(api, lambda: world.auth_keys_of(phone))) == 3

    # logging one out ends it on Telegram too, and the others keep working
    gone = api.delete(f"{API}/accounts/{phone}/authorizations/{ids[1]}")
    assert gone.status_code == 200, gone.text
    assert gone.json() == {"key": phone, "authorization_id": ids[1], "remaining": 2}
    assert len(in_app_loop(api, lambda: world.auth_keys_of(phone))) == 2
    again = api.delete(f"{API}/accounts/{phone}/authorizations/{ids[1]}")
    assert again.status_code == 404 and again.json()["type"].endswith("/no-such-authorization")
    assert api.get(f"{API}/accounts/{phone}/me").status_code == 200

    for authorization_id, remaining in ((ids[2], 1), (ids[0], 0)):
        response = api.delete(f"{API}/accounts/{phone}/authorizations/{authorization_id}")
        assert response.status_code == 200, response.text
        assert response.json()["remaining"] == remaining
    assert in_app_loop(api, lambda: world.auth_keys_of(phone)) == []
    # nothing left to act with: the account is new again, and a plain login revives it
    account = api.get(f"{API}/accounts/{phone}").json()
    assert account["status"] == "new" and account["authorizations"] == []
    assert api.get(f"{API}/accounts/{phone}/me").status_code == 409
    no_qr = api.post(f"{API}/accounts/{phone}/authorizations/qr")
    assert no_qr.status_code == 409 and "log it in first" in no_qr.json()["detail"]
    _log_in(api, phone)
    assert api.get(f"{API}/accounts/{phone}/me").status_code == 200
    assert api.delete(f"{API}/accounts/{phone}").json()["logged_out"] == 1


def test_another_accounts_authorization_is_not_this_ones(api: TestClient) -> None:
    bob = api.get(f"{API}/accounts/+15550000002/authorizations").json()
    response = api.delete(f"{API}/accounts/+15550000003/authorizations/{bob[0]['id']}")
    assert response.status_code == 404, response.text
    assert api.get(f"{API}/accounts/+15550000002/authorizations").json() == bob
    assert api.get(f"{API}/accounts/+15550000002/me").status_code == 200


def test_authorization_routes_refuse_unknown_accounts_and_bad_ids(api: TestClient) -> None:
    for method, path in (
        ("GET", "/accounts/+15559999990/authorizations"),
        ("POST", "/accounts/+15559999990/authorizations"),
        ("POST", "/accounts/+15559999990/authorizations/qr"),
        ("DELETE", "/accounts/+15559999990/authorizations/1"),
    ):
        response = api.request(method, f"{API}{path}")
        assert response.status_code == 404, (path, response.text)
        assert response.json()["type"].endswith("/account-not-found")
    bad = api.delete(f"{API}/accounts/+15550000001/authorizations/abc")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "authorization_id"


def test_qr_handoff_with_a_two_step_password_waits_for_it(api: TestClient) -> None:
    phone, password = "+15550000072", "qr-tw0-step"
    world = _world(api)
    in_app_loop(api, lambda: world.add_user(phone, "Quinn", username="route_quinn"))
    in_app_loop(api, lambda: world.set_password(phone, password, "qr hint"))
    flow = api.post(f"{API}/logins", json={"phone": phone}).json()
    api.post(f"{API}/logins/{flow['id']}/code", json={"code": CODE})
    done = api.post(f"{API}/logins/{flow['id']}/password", json={"password": password})
    assert done.json()["step"] == "done", done.text

    qr = api.post(f"{API}/accounts/{phone}/authorizations/qr")
    assert qr.status_code == 201, qr.text
    assert qr.json()["step"] == "password_needed" and qr.json()["password_hint"] == "qr hint"
    finished = api.post(f"{API}/logins/{qr.json()['id']}/password", json={"password": password})
    assert finished.status_code == 200, finished.text
    assert finished.json()["step"] == "done"
    assert len(api.get(f"{API}/accounts/{phone}/authorizations").json()) == 2
    assert api.delete(f"{API}/accounts/{phone}").json()["logged_out"] == 2
