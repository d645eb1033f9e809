"""Test a proxy: one typed in before it is given to an account (the panel's "test proxy"
button), or the one an account already has, whose password the API never shows."""

from __future__ import annotations

from fastapi import APIRouter

from tgfleet.api.deps import CurrentUser, RuntimeDep
from tgfleet.api.routes.lookups import find_account, problems
from tgfleet.api.schemas import ProxyTestIn, ProxyTestOut
from tgfleet.errors import Conflict
from tgfleet.services.proxy_check import (
    ProxyProbe,
    ProxySpec,
    probe_proxy,
    probe_proxy_url,
    telegram_address,
)

router = APIRouter(prefix="/api/v1", tags=["proxies"])


@router.post(
    "/proxies/test",
    summary="Open a TCP connection through the proxy to the Telegram endpoint, and close it",
    response_model=ProxyTestOut,
    responses=problems(),
)
async def test_proxy(body: ProxyTestIn, user: CurrentUser, runtime: RuntimeDep) -> ProxyTestOut:
    given = body.proxy
    spec = ProxySpec(
        scheme=given.scheme.value,
        host=given.host,
        port=given.port,
        username=given.username,
        password=None if given.password is None else given.password.get_secret_value(),
    )
    # a proxy that fails is an answer (ok: false, and why), not an error of this request
    return _out(await probe_proxy(spec, telegram_address(runtime.factory.target)))


@router.post(
    "/accounts/{key}/proxy/test",
    summary="Test the proxy the account connects through (its own, else the fleet default)",
    response_model=ProxyTestOut,
    responses=problems(404, 409),
)
async def test_account_proxy(key: str, user: CurrentUser, runtime: RuntimeDep) -> ProxyTestOut:
    account = await find_account(runtime, key)
    target = runtime.factory.target
    url = account.proxy_url.reveal() if account.proxy_url else target.default_proxy
    if url is None:
        raise Conflict(
            f"account {account.key} has no proxy and the fleet has no default one: "
            "it connects directly"
        )
    return _out(await probe_proxy_url(url, telegram_address(target)))


def _out(probe: ProxyProbe) -> ProxyTestOut:
    return ProxyTestOut(
        ok=probe.ok,
        latency_ms=probe.latency_ms,
        target=probe.target,
        error=probe.error,
        checked=probe.checked,
    )
