from __future__ import annotations

import re

import pytest

from tgfleet.pool import PoolConfig


def test_defaults_match_the_design() -> None:
    config = PoolConfig()
    assert config.max_connections_per_account == 3
    assert config.max_total_connections == 300
    assert (config.max_idle_time, config.max_connection_age, config.cleanup_interval) == (
        300.0,
        3600.0,
        60.0,
    )
    assert config.acquire_timeout == 30.0 and config.reuse_order == "lru"
    assert config.max_concurrent_connects == 10


def test_describe_is_the_start_up_line() -> None:
    assert PoolConfig().describe() == (
        "max_per_account=3 max_total=300 idle=300s age=3600s sweep=60s acquire_timeout=30s "
        "concurrent_connects=10"
    )
    assert "acquire_timeout=none" in PoolConfig(acquire_timeout=None).describe()
    unbounded = PoolConfig(max_concurrent_connects=None).describe()
    assert "concurrent_connects=unbounded" in unbounded


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("max_connections_per_account", 0, "pool.max_connections_per_account must be an integer"),
        ("max_total_connections", 2.5, "pool.max_total_connections must be an integer >= 1"),
        ("max_idle_time", -1, "pool.max_idle_time must be a number > 0"),
        ("max_connection_age", float("nan"), "pool.max_connection_age must be a number > 0"),
        ("age_jitter", 1.0, "pool.age_jitter must be a fraction in [0, 1)"),
        ("acquire_timeout", 0, "pool.acquire_timeout must be a number > 0"),
        ("reuse_order", "fifo", 'pool.reuse_order must be "lru" or "mru"'),
        ("min_idle_per_account", 4, "pool.min_idle_per_account must be <="),
        ("leak_detection_threshold", 0, "pool.leak_detection_threshold must be a number > 0"),
        ("drain_timeout", -0.1, "pool.drain_timeout must be a number >= 0"),
        ("reconnect_backoff_max", 0.5, "pool.reconnect_backoff_max must be >="),
        ("max_idle_time", True, "pool.max_idle_time must be a number > 0"),
        ("max_concurrent_connects", 0, "pool.max_concurrent_connects must be an integer >= 1"),
        ("max_concurrent_connects", 2.0, "pool.max_concurrent_connects must be an integer"),
    ],
)
def test_bad_values_are_named(field: str, value: object, expected: str) -> None:
    with pytest.raises(ValueError, match=re.escape(expected)):
        PoolConfig(**{field: value})  # type: ignore[arg-type]


def test_config_is_frozen() -> None:
    config = PoolConfig()
    with pytest.raises(AttributeError):
        config.max_total_connections = 1  # type: ignore[misc]
