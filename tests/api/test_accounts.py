"""Account routes on the real runtime: the embedded sandbox, its demo fleet, login code 12345."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tgfleet.telegram.server import ServerEndpoint, build_client

API = "/api/v1"
# tgfleet's own records at every level; Kurigram's DEBUG dumps raw requests (a bot token
# included), which is why the daemon keeps the "pyrogram" logger at WARNING or above
TGFLEET = "tgfleet"
CODE = "12345"


def test_list_filters_and_pages_by_keyset(api: TestClient) -> None:
    everything = api.get(f"{API}/accounts").json()
    keys = [a["key"] for a in everything["items"]]
    assert {"+15550000001", "+15550000002", "+15550000003"} <= set(keys)
    assert any(key.startswith("bot:") for key in keys)

    bots = api.get(f"{API}/accounts", params={"kind": "bot"}).json()["items"]
    assert bots and all(a["kind"] == "bot" and a["bot_id"] for a in bots)
    active = api.get(f"{API}/accounts", params={"status": "active"}).json()["items"]
    assert active and all(a["status"] == "active" for a in active)
    banned = api.get(f"{API}/accounts", params={"status": "banned"}).json()
    assert banned == {"items": [], "next_cursor": None}

    first = api.get(f"{API}/accounts", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"] == first["items"][-1]["id"]
    rest = api.get(f"{API}/accounts", params={"after": first["next_cursor"]}).json()
    paged = [a["key"] for a in first["items"] + rest["items"]]
    assert paged == keys

    bad = api.get(f"{API}/accounts", params={"status": "sleeping"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
    assert api.get(f"{API}/accounts", params={"limit": 0}).status_code == 422


def test_get_accepts_any_spelling_and_lists_authorizations_without_keys(
    api: TestClient,
) -> None:
    spaced = api.get(f"{API}/accounts/+1 (555) 000-0001")
    assert spaced.status_code == 200, spaced.text
    account = spaced.json()
    assert account == api.get(f"{API}/accounts/0015550000001").json()
    assert account["key"] == "+15550000001" and account["label"] == "support desk"
    assert account["status"] == "active" and account["keep_online"] is True
    [authorization] = account["authorizations"]
    assert authorization["state"] == "active" and authorization["user_id"]
    assert not any("key" in field for field in authorization)

    bot_key = api.get(f"{API}/accounts", params={"kind": "bot"}).json()["items"][0]["key"]
    assert api.get(f"{API}/accounts/{bot_key}").json()["kind"] == "bot"


def test_unknown_account_is_404_and_malformed_key_422(api: TestClient) -> None:
    for path in ("", "/me", "/dialogs", "/history?peer=demo_bob"):
        unknown = api.get(f"{API}/accounts/+15559999999{path}")
        assert unknown.status_code == 404, (path, unknown.text)
        assert unknown.json()["type"].endswith("/account-not-found")
        assert "+15559999999" in unknown.json()["detail"]
    gone = api.patch(f"{API}/accounts/bot:4242", json={"label": "x"})
    assert gone.status_code == 404
    bad = api.get(f"{API}/accounts/12-ab")
    assert bad.status_code == 422 and bad.json()["detail"].startswith("key:")
    bad_start = api.post(f"{API}/logins", json={"phone": "555-0001"})
    assert bad_start.status_code == 422
    assert bad_start.json()["detail"].startswith("phone:")


def test_patch_changes_only_given_fields_masks_the_proxy_and_syncs_the_pool(
    api: TestClient,
) -> None:
    key = "+15550000003"
    before = api.get(f"{API}/accounts/{key}").json()
    changed = api.patch(
        f"{API}/accounts/{key}",
        json={
            "label": "outreach (paused)",
            "proxy": "socks5://carol:hunter2secret@10.0.0.9:1080",
            "device": {"device_model": "Pixel 8"},
        },
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["label"] == "outreach (paused)"
    assert after["proxy"] == "socks5://carol:***@10.0.0.9:1080"
    assert "hunter2secret" not in changed.text
    assert after["device"] == {**before["device"], "device_model": "Pixel 8"}
    assert after["keep_online"] == before["keep_online"] and after["enabled"] is True

    cleared = api.patch(f"{API}/accounts/{key}", json={"proxy": None}).json()
    assert cleared["proxy"] is None and cleared["label"] == "outreach (paused)"

    # disabling takes the account out of the pool, and its actions are refused
    assert api.patch(f"{API}/accounts/{key}", json={"enabled": False}).json()["enabled"] is False
    assert api.get(f"{API}/pool/stats/{key}").json()["authorizations"] == 0
    refused = api.get(f"{API}/accounts/{key}/me")
    assert refused.status_code == 409 and "disabled" in refused.json()["detail"]
    assert api.patch(f"{API}/accounts/{key}", json={"enabled": True}).json()["enabled"] is True
    assert api.get(f"{API}/pool/stats/{key}").json()["authorizations"] == 1
    me = api.get(f"{API}/accounts/{key}/me")
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "demo_carol"

    bad_proxy = api.patch(f"{API}/accounts/{key}", json={"proxy": "ftp://h:21"})
    assert bad_proxy.status_code == 422 and bad_proxy.json()["detail"].startswith("proxy_url:")
    unknown_field = api.patch(f"{API}/accounts/{key}", json={"status": "active"})
    assert unknown_field.status_code == 422


def test_send_to_username_then_read_it_in_the_peers_history(api: TestClient) -> None:
    alice, bob = "+15550000001", "+15550000002"
    text = "route test: the digest is late today"
    sent = api.post(f"{API}/accounts/{alice}/messages", json={"peer": "@demo_bob", "text": text})
    assert sent.status_code == 201, sent.text
    assert sent.json()["text"] == text

    me = api.get(f"{API}/accounts/{alice}/me").json()
    assert me["username"] == "demo_alice" and me["phone"] == "15550000001"
    history = api.get(f"{API}/accounts/{bob}/history", params={"peer": "demo_alice"})
    assert history.status_code == 200, history.text
    newest = history.json()[0]
    assert newest["text"] == text and newest["sender_id"] == me["id"]
    assert newest["outgoing"] is False

    dialogs = api.get(f"{API}/accounts/{bob}/dialogs").json()
    with_alice = next(d for d in dialogs if d["chat_id"] == me["id"])
    assert with_alice["unread"] >= 1
    read = api.post(f"{API}/accounts/{bob}/read", json={"peer": str(me["id"])})
    assert read.status_code == 200 and read.json() == {"read": True}
    dialogs = api.get(f"{API}/accounts/{bob}/dialogs").json()
    assert next(d for d in dialogs if d["chat_id"] == me["id"])["unread"] == 0


def test_unknown_peer_is_a_4xx_naming_telegrams_error(api: TestClient) -> None:
    response = api.post(
        f"{API}/accounts/+15550000001/messages", json={"peer": "nobody_here_zz", "text": "hi"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["type"].endswith("/telegram-error")
    assert response.json()["telegram_error"].startswith("USERNAME")


def test_login_with_a_wrong_code_then_the_right_one_then_remove(api: TestClient) -> None:
    phone = "+15550000042"
    started = api.post(f"{API}/logins", json={"phone": "+1 555 000 0042", "label": "route test"})
    assert started.status_code == 201, started.text
    flow = started.json()
    assert flow["step"] == "code_sent" and flow["account"] == phone
    login = f"{API}/logins/{flow['id']}"

    again = api.post(f"{API}/logins", json={"phone": phone})
    assert again.status_code == 409 and flow["id"] in again.json()["detail"]

    wrong = api.post(f"{login}/code", json={"code": "99999"})
    assert 400 <= wrong.status_code < 500, wrong.text
    assert wrong.json()["telegram_error"] == "PHONE_CODE_INVALID"
    assert api.get(login).json()["step"] == "code_sent"  # the flow goes on

    done = api.post(f"{login}/code", json={"code": CODE})
    assert done.status_code == 200, done.text
    assert done.json()["step"] == "done" and done.json()["account_id"]
    assert api.get(login).status_code == 404

    account = api.get(f"{API}/accounts/{phone}").json()
    assert account["label"] == "route test" and account["status"] == "active"
    assert len(account["authorizations"]) == 1
    assert api.get(f"{API}/accounts/{phone}/me").json()["phone"] == phone.lstrip("+")
    exists = api.post(f"{API}/logins", json={"phone": phone})
    assert exists.status_code == 409 and exists.json()["type"].endswith("/account-exists")

    # one more authorization for the same account: a second login, asked for explicitly
    more = api.post(f"{API}/logins", json={"phone": phone, "add_to_existing": True}).json()
    added = api.post(f"{API}/logins/{more['id']}/code", json={"code": CODE}).json()
    assert added["step"] == "done" and added["account_id"] == done.json()["account_id"]
    assert len(api.get(f"{API}/accounts/{phone}").json()["authorizations"]) == 2
    not_there = api.post(f"{API}/logins", json={"phone": "+15550000049", "add_to_existing": True})
    assert not_there.status_code == 422

    removed = api.delete(f"{API}/accounts/{phone}")
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"key": phone, "logged_out": 2}
    assert api.get(f"{API}/accounts/{phone}").status_code == 404
    assert api.delete(f"{API}/accounts/{phone}").status_code == 404


def test_a_login_can_be_cancelled(api: TestClient) -> None:
    flow = api.post(f"{API}/logins", json={"phone": "+15550000043"}).json()
    assert api.delete(f"{API}/logins/{flow['id']}").status_code == 204
    after = api.post(f"{API}/logins/{flow['id']}/code", json={"code": CODE})
    assert after.status_code == 404 and after.json()["telegram_error"] == "LOGIN_NOT_FOUND"
    assert api.get(f"{API}/accounts/+15550000043").status_code == 404


def test_secrets_are_never_echoed(api: TestClient) -> None:
    response = api.post(f"{API}/accounts/bot", json={"token": "not-a-token-s3cr3t"})
    assert response.status_code == 422
    assert "s3cr3t" not in response.text
    bad_session = api.post(f"{API}/accounts/import", json={"session_string": "garbage-s3cr3t"})
    assert bad_session.status_code == 422, bad_session.text
    assert "s3cr3t" not in bad_session.text
    proxy = api.patch(
        f"{API}/accounts/+15550000002", json={"proxy": "http://bob:s3cr3t@10.0.0.8:3128"}
    )
    assert proxy.status_code == 200 and "s3cr3t" not in proxy.text
    assert api.patch(f"{API}/accounts/+15550000002", json={"proxy": None}).status_code == 200


def test_unsafe_methods_need_the_csrf_header(api: TestClient) -> None:
    api.headers.pop("X-CSRF-Token")
    response = api.patch(f"{API}/accounts/+15550000001", json={"label": "x"})
    assert response.status_code == 403
    assert api.get(f"{API}/accounts/+15550000001").json()["label"] == "support desk"


def _world(api: TestClient) -> Any:
    return api.app.state.runtime.sandbox.world  # type: ignore[attr-defined]


def in_app_loop(api: TestClient, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on the daemon's event loop, where the sandbox's world lives."""
    assert api.portal is not None
    return api.portal.call(fn)


def test_login_with_a_two_step_password(api: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=TGFLEET)
    phone, password = "+15550000044", "tr0ub4dor-route"
    world = _world(api)
    in_app_loop(api, lambda: world.add_user(phone, "Dave", username="route_dave"))
    in_app_loop(api, lambda: world.set_password(phone, password, "the usual"))

    flow = api.post(f"{API}/logins", json={"phone": phone}).json()
    login = f"{API}/logins/{flow['id']}"
    waiting = api.post(f"{login}/code", json={"code": CODE}).json()
    assert waiting["step"] == "password_needed" and waiting["password_hint"] == "the usual"
    assert api.post(f"{login}/code", json={"code": CODE}).status_code == 409

    wrong = api.post(f"{login}/password", json={"password": "not-it"})
    assert 400 <= wrong.status_code < 500, wrong.text
    assert wrong.json()["telegram_error"] == "PASSWORD_HASH_INVALID"
    done = api.post(f"{login}/password", json={"password": password})
    assert done.status_code == 200, done.text
    assert done.json()["step"] == "done"
    assert "authorized by code login" in caplog.text  # the check below sees the log
    assert password not in done.text and password not in caplog.text
    assert api.get(f"{API}/accounts/{phone}/me").json()["username"] == "route_dave"
    assert api.delete(f"{API}/accounts/{phone}").json()["logged_out"] == 1


def test_add_a_bot_by_token(api: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=TGFLEET)
    token = in_app_loop(api, lambda: _world(api).add_bot("route_test_bot", "Route Bot"))
    added = api.post(f"{API}/accounts/bot", json={"token": token, "label": "route bot"})
    assert added.status_code == 201, added.text
    bot = added.json()
    assert bot["kind"] == "bot" and bot["key"] == f"bot:{token.split(':')[0]}"
    assert bot["label"] == "route bot" and bot["status"] == "active"
    secret = token.split(":")[1]
    assert "authorized by bot login" in caplog.text  # the check below sees the log
    assert secret not in added.text and secret not in caplog.text
    me = api.get(f"{API}/accounts/{bot['key']}/me").json()
    assert me["is_bot"] is True and me["username"] == "route_test_bot"
    again = api.post(f"{API}/accounts/bot", json={"token": token})
    assert again.status_code == 409
    assert api.delete(f"{API}/accounts/{bot['key']}").status_code == 200


def test_import_a_session_string_from_another_tool(api: TestClient) -> None:
    phone = "+15550000045"
    world = _world(api)
    in_app_loop(api, lambda: world.add_user(phone, "Erin", username="route_erin"))
    endpoint = ServerEndpoint.of(api.app.state.runtime.sandbox)  # type: ignore[attr-defined]

    async def log_in_elsewhere() -> str:
        other = build_client("elsewhere", endpoint, api_id=7, api_hash="0" * 32, no_updates=True)
        await other.connect()
        sent = await other.send_code(phone)
        await other.sign_in(phone, sent.phone_code_hash, CODE)
        text = str(await other.export_session_string())
        await other.disconnect()
        return text

    text = asyncio.run(log_in_elsewhere())
    imported = api.post(f"{API}/accounts/import", json={"session_string": text, "label": "erin"})
    assert imported.status_code == 201, imported.text
    assert imported.json()["key"] == phone and imported.json()["label"] == "erin"
    assert text not in imported.text
    assert api.get(f"{API}/accounts/{phone}/me").json()["username"] == "route_erin"
    twice = api.post(f"{API}/accounts/import", json={"session_string": text})
    assert twice.status_code == 409
    assert api.delete(f"{API}/accounts/{phone}").status_code == 200
