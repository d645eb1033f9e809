"""One text from many accounts (POST /messages/bulk) on the real runtime: every sender gets its
own outcome, and a flood, a refusal or an unknown account never fails the others."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import in_app_loop

API = "/api/v1"
BULK = f"{API}/messages/bulk"
CODE = "12345"
ALICE, BOB, CAROL = "+15550000001", "+15550000002", "+15550000003"


def _sandbox(api: TestClient) -> Any:
    return api.app.state.runtime.sandbox  # type: ignore[attr-defined]


def _log_in(api: TestClient, phone: str) -> None:
    flow = api.post(f"{API}/logins", json={"phone": phone}).json()
    done = api.post(f"{API}/logins/{flow['id']}/code", json={"code": CODE})
    assert done.status_code == 200, done.text


def _history_texts(api: TestClient, key: str, peer: str) -> list[str]:
    response = api.get(f"{API}/accounts/{key}/history", params={"peer": peer, "limit": 10})
    assert response.status_code == 200, response.text
    return [m["text"] for m in response.json()]


def test_each_sender_sends_once_to_the_common_or_its_own_peer(api: TestClient) -> None:
    text = f"bulk digest {time.time_ns()}"
    response = api.post(
        BULK,
        json={
            "from": [ALICE, "+1 555 000 0002", CAROL],
            "to": "demo_alice",
            "peers": {ALICE: "@demo_bob"},
            "text": text,
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sent"] == 3 and body["failed"] == 0
    assert [r["account"] for r in body["results"]] == [ALICE, BOB, CAROL]
    assert all(r["ok"] and r["message_id"] and r["problem"] is None for r in body["results"])
    # each message arrived where it was sent, once: bob's chat with alice holds the one
    # alice sent him and the one he sent her; alice's chat with carol holds carol's alone
    with_alice = api.get(f"{API}/accounts/{BOB}/history", params={"peer": "demo_alice"}).json()
    mine = sorted(m["outgoing"] for m in with_alice if m["text"] == text)
    assert mine == [False, True]
    assert _history_texts(api, ALICE, "demo_carol").count(text) == 1


def test_a_flood_a_refusal_and_unknown_accounts_fail_alone(api: TestClient) -> None:
    flooded, disabled = "+15550000081", "+15550000082"
    for phone in (flooded, disabled):
        _log_in(api, phone)
    api.patch(f"{API}/accounts/{disabled}", json={"enabled": False})
    faults = _sandbox(api).faults
    in_app_loop(api, lambda: faults.flood_wait(120, phone=flooded, method="messages.sendMessage"))
    try:
        response = api.post(
            BULK,
            json={
                "from": [flooded, BOB, "+15559999991", disabled, CAROL],
                "to": "demo_alice",
                "peers": {CAROL: "nobody_here_zz"},
                "text": "bulk: some of these fail",
            },
        )
    finally:
        in_app_loop(api, faults.clear)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sent"] == 1 and body["failed"] == 4
    by_account = {r["account"]: r for r in body["results"]}
    assert by_account[BOB]["ok"] is True and by_account[BOB]["message_id"]

    flood = by_account[flooded]["problem"]
    assert flood["status"] == 429 and flood["type"].endswith("/flood-wait")
    assert flood["telegram_error"] == "FLOOD_WAIT" and 100 <= flood["retry_after"] <= 120
    assert by_account["+15559999991"]["problem"]["status"] == 404
    assert by_account[disabled]["problem"]["status"] == 409
    assert "disabled" in by_account[disabled]["problem"]["detail"]
    refused = by_account[CAROL]["problem"]
    assert 400 <= refused["status"] < 500 and refused["telegram_error"].startswith("USERNAME")

    # the flood is the fleet's to remember: the account is gated and shown as flooded
    assert api.get(f"{API}/accounts/{flooded}").json()["status"] == "flood_wait"
    again = api.post(BULK, json={"from": [flooded], "to": "demo_alice", "text": "still?"})
    assert again.json()["results"][0]["problem"]["status"] == 429
    for phone in (flooded, disabled):
        api.patch(f"{API}/accounts/{phone}", json={"enabled": True})
        assert api.delete(f"{API}/accounts/{phone}").status_code == 200


def test_senders_send_at_the_same_time(api: TestClient) -> None:
    faults = _sandbox(api).faults
    for key in (ALICE, BOB, CAROL):  # every connection warm, so only the sends are timed
        assert api.get(f"{API}/accounts/{key}/me").status_code == 200
    in_app_loop(api, lambda: faults.add_latency(1.0, method="messages.sendMessage"))
    try:
        started = time.monotonic()
        response = api.post(
            BULK, json={"from": [ALICE, BOB, CAROL], "to": "demo_alice", "text": "together"}
        )
        elapsed = time.monotonic() - started
    finally:
        in_app_loop(api, faults.clear)
    assert response.json()["sent"] == 3, response.text
    # one after another would take 3 s or more
    assert elapsed < 2.5, elapsed


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": [], "to": "demo_bob", "text": "x"}, "from"),
        ({"from": [f"+1555000{i:04d}" for i in range(101)], "to": "demo_bob", "text": "x"}, "from"),
        ({"from": [ALICE, "001 555 000 0001"], "to": "demo_bob", "text": "x"}, "from.1"),
        ({"from": [ALICE, "555-01"], "to": "demo_bob", "text": "x"}, "from.1"),
        ({"from": [ALICE], "to": "demo_bob", "text": ""}, "text"),
        ({"from": [ALICE], "to": "demo_bob", "text": "x" * 4097}, "text"),
        ({"from": [ALICE, BOB], "peers": {ALICE: "demo_bob"}, "text": "x"}, "to"),
        ({"from": [ALICE], "to": "demo_bob", "peers": {BOB: "demo_alice"}, "text": "x"}, "peers"),
        ({"from": [ALICE], "to": "", "text": "x"}, "to"),
        ({"from": [ALICE], "to": "demo_bob", "text": "x", "priority": 1}, "priority"),
    ],
)
def test_a_malformed_request_sends_nothing(
    api: TestClient, body: dict[str, Any], field: str
) -> None:
    before = _history_texts(api, BOB, "demo_alice")
    response = api.post(BULK, json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/invalid-input")
    assert field in problem["detail"], problem
    assert _history_texts(api, BOB, "demo_alice") == before
