"""Filing an account before its login, and its authorizations, on the real runtime (sandbox)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import in_app_loop

API = "/api/v1"
CODE = "12345"


def _world(api: TestClient) -> Any:
    return api.app.state.runtime.sandbox.world  # type: ignore[attr-defined]


def test_a_filed_account_logs_in_through_its_own_proxy_with_its_own_device(
    api: TestClient, socks: Any
) -> None:
    phone = "+15550000061"
    created = api.post(
        f"{API}/accounts",
        json={
            "phone": "+1 555 000 0061",
            "label": "filed first",
            "keep_online": False,
            "proxy": socks.url,
            "device": {"device_model": "Pixel 8", "system_version": "Android 14"},
        },
    )
    assert created.status_code == 201, created.text
    account = created.json()
    assert account["key"] == phone and account["status"] == "new"
    assert account["label"] == "filed first"
    assert account["proxy"] == f"socks5://panel:***@127.0.0.1:{socks.port}"
    assert "pr0xy-s3cret" not in created.text
    assert account["device"]["device_model"] == "Pixel 8"
    # the fields left out are the fleet's default device, not blanks
    default = api.app.state.runtime.factory.target.default_device  # type: ignore[attr-defined]
    assert account["device"]["app_version"] == default.app_version

    # the panel hears of it on the event stream
    events = api.get(f"{API}/events/history", params={"kind": "account.created"}).json()
    assert [e["account"] for e in events["items"]] == [phone]
    assert events["items"][0]["status"] == "new"

    again = api.post(f"{API}/accounts", json={"phone": phone})
    assert again.status_code == 409 and again.json()["type"].endswith("/account-exists")
    not_yet = api.get(f"{API}/accounts/{phone}/me")
    assert not_yet.status_code == 409 and "no authorization yet" in not_yet.json()["detail"]
    assert api.get(f"{API}/accounts", params={"status": "new"}).json()["items"][0]["key"] == phone

    # its login may not bring another proxy or device: the account has its own
    other = api.post(f"{API}/logins", json={"phone": phone, "device": {"device_model": "X"}})
    assert other.status_code == 422 and "PATCH" in other.json()["detail"]

    flow = api.post(f"{API}/logins", json={"phone": phone})
    assert flow.status_code == 201, flow.text
    done = api.post(f"{API}/logins/{flow.json()['id']}/code", json={"code": CODE})
    assert done.status_code == 200, done.text
    assert done.json()["account_id"] == account["id"]

    # the login went through the proxy, to the sandbox, and Telegram saw the pinned device
    sandbox = api.app.state.runtime.sandbox  # type: ignore[attr-defined]
    assert socks.counters["connected"] >= 1
    assert (sandbox.host, sandbox.port) in socks.targets
    world = _world(api)
    [key_id] = in_app_loop(api, lambda: world.auth_keys_of(phone))
    seen = world.state.auths[key_id]
    assert (seen.device_model, seen.system_version) == ("Pixel 8", "Android 14")

    after = api.get(f"{API}/accounts/{phone}").json()
    assert after["status"] == "active" and len(after["authorizations"]) == 1
    me = api.get(f"{API}/accounts/{phone}/me")
    assert me.status_code == 200, me.text
    assert api.delete(f"{API}/accounts/{phone}").json()["logged_out"] == 1


def test_create_refuses_bad_input_without_a_500(api: TestClient) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"phone": "bot:123"}, "phone"),
        ({"phone": "555"}, "phone"),
        ({"phone": "+15550000062", "proxy": "ftp://h:21"}, "proxy_url"),
        ({"phone": "+15550000062", "device": {"lang_code": ""}}, "device.lang_code"),
        ({"phone": "+15550000062", "label": "a\nb"}, "label"),
        ({"phone": "+15550000062", "status": "active"}, "status"),
    ]
    for body, field in cases:
        response = api.post(f"{API}/accounts", json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in response.text, (body, response.text)
    assert api.get(f"{API}/accounts/+15550000062").status_code == 404


def test_a_new_account_by_login_takes_the_proxy_and_device_given(
    api: TestClient, socks: Any
) -> None:
    phone = "+15550000063"
    started = api.post(
        f"{API}/logins",
        json={"phone": phone, "label": "wizard", "proxy": socks.url, "device": {"lang_code": "de"}},
    )
    assert started.status_code == 201, started.text
    assert "pr0xy-s3cret" not in started.text
    api.post(f"{API}/logins/{started.json()['id']}/code", json={"code": CODE})
    account = api.get(f"{API}/accounts/{phone}").json()
    assert account["status"] == "active" and account["device"]["lang_code"] == "de"
    assert account["proxy"] == f"socks5://panel:***@127.0.0.1:{socks.port}"
    assert socks.counters["connected"] >= 1
    assert api.delete(f"{API}/accounts/{phone}").status_code == 200


def test_a_bad_proxy_or_device_is_refused_before_a_code_is_sent(api: TestClient) -> None:
    phone = "+15550000064"
    store = api.app.state.runtime.store  # type: ignore[attr-defined]
    refused = api.post(f"{API}/logins", json={"phone": phone, "proxy": "gopher://x:1"})
    assert refused.status_code == 422 and refused.json()["detail"].startswith("proxy:")
    blank = api.post(f"{API}/logins", json={"phone": phone, "device": {"app_version": " "}})
    assert blank.status_code == 422 and "device.app_version" in blank.text
    # no login was attempted, so none was spent (DESIGN fact 6)
    assert in_app_loop(api, lambda: store.login_attempts.list_for(phone)) == ()


@pytest.mark.parametrize("proxy", ["socks5h://u:p@10.0.0.1:1080", "https://10.0.0.1:3128"])
def test_a_proxy_the_client_cannot_dial_is_refused(api: TestClient, proxy: str) -> None:
    # the store takes these forms, Kurigram does not: the account could never connect
    created = api.post(f"{API}/accounts", json={"phone": "+15550000065", "proxy": proxy})
    assert created.status_code == 422 and created.json()["detail"].startswith("proxy:")
    patched = api.patch(f"{API}/accounts/+15550000003", json={"proxy": proxy})
    assert patched.status_code == 422, patched.text
    login = api.post(f"{API}/logins", json={"phone": "+15550000065", "proxy": proxy})
    assert login.status_code == 422, login.text
    assert api.get(f"{API}/accounts/+15550000065").status_code == 404
    assert api.get(f"{API}/accounts/+15550000003").json()["proxy"] is None
