"""The connection pool's state, read from counters the pool keeps as events happen."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from tgfleet.api.deps import CurrentUser, RuntimeDep
from tgfleet.api.schemas import PoolConfigOut
from tgfleet.errors import AccountNotFound
from tgfleet.runtime import Runtime
from tgfleet.store.validation import normalize_account_key

router = APIRouter(prefix="/api/v1", tags=["pool"])


class ConnectionOut(BaseModel):
    connection_id: int
    phone: str
    authorization_id: str
    state: str
    age: float
    idle_for: float
    use_count: int
    error_count: int
    last_error: str | None
    pinned: bool
    borrower: str | None


class ClosedOut(BaseModel):
    phone: str
    closed: int


async def _known_key(runtime: Runtime, value: str) -> str:
    """The account key in canonical form; 404 if the fleet has no such account."""
    key, _ = normalize_account_key(value, field="phone")
    if await runtime.store.accounts.find_by_key(key) is None:
        raise AccountNotFound(f"no account {key} in the fleet")
    return key


@router.get(
    "/pool/config",
    summary="The pool's effective settings (read-only; set in config or environment)",
    response_model=PoolConfigOut,
)
async def pool_config(user: CurrentUser, runtime: RuntimeDep) -> PoolConfigOut:
    return PoolConfigOut(**asdict(runtime.pool.config))


@router.get("/pool/stats", summary="Global pool statistics", response_model=dict[str, Any])
async def pool_stats(user: CurrentUser, runtime: RuntimeDep) -> Response:
    # The pool keeps these counters as events happen, so reading them costs microseconds; a
    # returned dict would cost more than that again in FastAPI's validation of the untyped
    # dict (~0.3 ms here, bench/api_bench.py), which a ready JSONResponse skips.
    return JSONResponse(runtime.pool.get_pool_stats())


@router.get("/pool/stats/{phone}", summary="One account's pool statistics")
async def account_pool_stats(phone: str, user: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    key = await _known_key(runtime, phone)
    return runtime.pool.get_pool_stats(key)


@router.get("/pool/connections", summary="Every live connection")
async def pool_connections(
    user: CurrentUser, runtime: RuntimeDep, phone: str | None = None
) -> list[ConnectionOut]:
    infos = runtime.pool.connections()
    if phone is not None:
        key, _ = normalize_account_key(phone, field="phone")
        infos = [info for info in infos if info.phone == key]
    return [ConnectionOut(**asdict(info)) for info in infos]


@router.post(
    "/accounts/{phone}/close-connections",
    summary="Close the account's connections (idle now, borrowed ones when returned)",
)
async def close_connections(phone: str, user: CurrentUser, runtime: RuntimeDep) -> ClosedOut:
    key = await _known_key(runtime, phone)
    closed = await runtime.pool.close_all_for_account(key)
    return ClosedOut(phone=key, closed=closed)
