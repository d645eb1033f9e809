from __future__ import annotations

import pytest

from tgfleet.errors import PoolError
from tgfleet.pool import PoolConfig, get_connection_pool, init_connection_pool, registry


async def test_init_then_get_returns_the_same_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_pool", None)
    with pytest.raises(PoolError, match="init_connection_pool"):
        get_connection_pool()
    seen: list[object] = []
    pool = init_connection_pool(PoolConfig(max_total_connections=7), event_callback=seen.append)
    assert get_connection_pool() is pool and pool.config.max_total_connections == 7
    with pytest.raises(PoolError, match="already initialised"):
        init_connection_pool()
    await pool.stop()
    assert init_connection_pool() is not pool  # a stopped pool can be replaced
    await get_connection_pool().stop()
