"""Test a proxy before giving it to an account: the panel's "test proxy" button."""

from __future__ import annotations

from fastapi import APIRouter

from tgfleet.api.deps import CurrentUser, RuntimeDep
from tgfleet.api.routes.lookups import problems
from tgfleet.api.schemas import ProxyTestIn, ProxyTestOut
from tgfleet.services.proxy_check import ProxySpec, probe_proxy, telegram_address

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
    probe = await probe_proxy(spec, telegram_address(runtime.factory.target))
    return ProxyTestOut(
        ok=probe.ok, latency_ms=probe.latency_ms, target=probe.target, error=probe.error
    )
