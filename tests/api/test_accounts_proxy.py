"""POST /proxies/test (the panel's "test proxy" button) through a real SOCKS5 proxy on loopback
to the sandbox the daemon talks to."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import in_app_loop

API = "/api/v1"
TEST = f"{API}/proxies/test"


def _spec(socks: Any, **changes: Any) -> dict[str, Any]:
    return {
        "scheme": "socks5",
        "host": "127.0.0.1",
        "port": socks.port,
        "username": "panel",
        "password": "pr0xy-s3cret",
        **changes,
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_working_proxy_reaches_the_telegram_endpoint(api: TestClient, socks: Any) -> None:
    sandbox = api.app.state.runtime.sandbox  # type: ignore[attr-defined]
    response = api.post(TEST, json={"proxy": _spec(socks)})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["ok"] is True and result["error"] is None
    assert result["latency_ms"] > 0
    assert result["target"] == f"{sandbox.host}:{sandbox.port}"
    # it really went through the proxy, to the sandbox
    assert socks.counters["connected"] == 1
    assert socks.targets == [(sandbox.host, sandbox.port)]


def test_a_failing_proxy_is_an_answer_that_says_why(api: TestClient, socks: Any) -> None:
    wrong = api.post(TEST, json={"proxy": _spec(socks, password="not-the-one")}).json()
    assert wrong["ok"] is False and wrong["latency_ms"] is None
    assert "refused" in wrong["error"] and "not-the-one" not in str(wrong)
    assert socks.counters["bad_credentials"] == 1

    anonymous = api.post(TEST, json={"proxy": _spec(socks, username=None, password=None)})
    assert anonymous.json()["ok"] is False
    assert socks.counters["refused_method"] == 1

    closed = api.post(TEST, json={"proxy": _spec(socks, port=_free_port())}).json()
    assert closed["ok"] is False and "cannot connect to the proxy" in closed["error"]

    # an HTTP CONNECT sent to a SOCKS5 server
    confused = api.post(TEST, json={"proxy": _spec(socks, scheme="http")}).json()
    assert confused["ok"] is False and confused["error"]
    assert socks.counters["connected"] == 0


@pytest.mark.parametrize(
    ("proxy", "field"),
    [
        ({"scheme": "ftp", "host": "h", "port": 1}, "proxy.scheme"),
        ({"scheme": "socks5", "host": "h", "port": 0}, "proxy.port"),
        ({"scheme": "socks5", "host": "h", "port": 70000}, "proxy.port"),
        ({"scheme": "socks5", "host": "", "port": 1080}, "proxy.host"),
        ({"scheme": "socks5", "host": "a b", "port": 1080}, "proxy.host"),
        ({"scheme": "socks5", "port": 1080}, "proxy.host"),
        ({"scheme": "socks5", "host": "h", "port": 1080, "secret": "x"}, "proxy.secret"),
    ],
)
def test_malformed_proxy_is_422_naming_the_field(
    api: TestClient, proxy: dict[str, Any], field: str
) -> None:
    response = api.post(TEST, json={"proxy": proxy})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


def test_proxy_test_needs_sign_in(anon: TestClient) -> None:
    response = anon.post(TEST, json={"proxy": {"scheme": "socks5", "host": "h", "port": 1}})
    assert response.status_code == 401


def test_an_accounts_own_proxy_is_tested_without_showing_it(api: TestClient, socks: Any) -> None:
    phone = "+15550000091"
    created = api.post(f"{API}/accounts", json={"phone": phone, "proxy": socks.url})
    assert created.status_code == 201, created.text
    try:
        result = api.post(f"{API}/accounts/{phone}/proxy/test")
        assert result.status_code == 200, result.text
        assert result.json()["ok"] is True and result.json()["checked"] == "telegram_through_proxy"
        assert socks.counters["connected"] == 1 and "pr0xy-s3cret" not in result.text

        in_app_loop(api, socks.stop)  # the proxy dies: the same button says so
        down = api.post(f"{API}/accounts/{phone}/proxy/test").json()
        assert down["ok"] is False and "cannot connect to the proxy" in down["error"]
    finally:
        assert api.delete(f"{API}/accounts/{phone}").status_code == 200

    direct = api.post(f"{API}/accounts/+15550000001/proxy/test")
    assert direct.status_code == 409 and "connects directly" in direct.json()["detail"]
    assert api.post(f"{API}/accounts/+15559999992/proxy/test").status_code == 404


async def test_an_mtproxy_is_only_tried_for_reachability() -> None:
    from tgfleet.services.proxy_check import probe_proxy_url

    accepted: list[bool] = []

    async def on_connect(reader: Any, writer: Any) -> None:
        accepted.append(True)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"tg://proxy?server=127.0.0.1&port={port}&secret=dd{'00' * 16}"
    try:
        up = await probe_proxy_url(url, ("127.0.0.1", 1))
    finally:
        server.close()
        await server.wait_closed()
    assert up.ok and up.checked == "proxy_reachable" and up.target == f"127.0.0.1:{port}"
    assert accepted == [True]
    down = await probe_proxy_url(url, ("127.0.0.1", 1))
    assert not down.ok and "cannot connect to the proxy" in (down.error or "")
    unusable = await probe_proxy_url("socks5h://u:p@h:1", ("127.0.0.1", 1))
    assert not unusable.ok and "Kurigram cannot use" in (unusable.error or "")
    assert "u:p@" not in (unusable.error or "")
