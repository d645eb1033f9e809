"""The pool's settings, checked on arrival so a bad value fails at start with a clear message."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

ReuseOrder = Literal["lru", "mru"]


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (value > 0 or (allow_zero and value == 0)):
        return
    form = "a number >= 0" if allow_zero else "a number > 0"
    raise ValueError(f"pool.{name} must be {form} (seconds), got {value!r}")


def _count(name: str, value: int, *, minimum: int) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return
    raise ValueError(f"pool.{name} must be an integer >= {minimum}, got {value!r}")


def _seconds(value: float | None) -> str:
    if value is None:
        return "none"
    return f"{value:g}s"


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """Limits and timings of one ``ConnectionPool``; times are seconds of the pool's clock."""

    max_connections_per_account: int = 3
    max_total_connections: int = 300
    max_idle_time: float = 300.0
    max_connection_age: float = 3600.0
    # Each connection's age limit is max_connection_age * (1 ± age_jitter), so connections
    # opened together are not all retired (and reconnected) in the same sweep.
    age_jitter: float = 0.1
    cleanup_interval: float = 60.0
    acquire_timeout: float | None = 30.0  # None: wait forever
    reuse_order: ReuseOrder = "lru"
    min_idle_per_account: int = 0
    # A connection used this recently skips the liveness check on borrow.
    liveness_skip_window: float = 0.5
    leak_detection_threshold: float | None = None
    drain_timeout: float = 10.0
    reconnect_backoff_base: float = 1.0
    reconnect_backoff_max: float = 60.0
    # Connector calls in flight at once, fleet-wide (None: no bound). A start with a hundred
    # keep_online accounts dials them this many at a time instead of all in one storm.
    max_concurrent_connects: int | None = 10
    # How many recent acquire waits the p50/p95/p99 are computed over.
    wait_window: int = 1024

    def __post_init__(self) -> None:
        _count("max_connections_per_account", self.max_connections_per_account, minimum=1)
        _count("max_total_connections", self.max_total_connections, minimum=1)
        _positive("max_idle_time", self.max_idle_time)
        _positive("max_connection_age", self.max_connection_age)
        jitter = self.age_jitter
        if not (isinstance(jitter, int | float) and not isinstance(jitter, bool)) or not (
            0 <= jitter < 1
        ):
            raise ValueError(f"pool.age_jitter must be a fraction in [0, 1), got {jitter!r}")
        _positive("cleanup_interval", self.cleanup_interval)
        if self.acquire_timeout is not None:
            _positive("acquire_timeout", self.acquire_timeout)
        if self.reuse_order not in ("lru", "mru"):
            raise ValueError(f'pool.reuse_order must be "lru" or "mru", got {self.reuse_order!r}')
        _count("min_idle_per_account", self.min_idle_per_account, minimum=0)
        if self.min_idle_per_account > self.max_connections_per_account:
            raise ValueError(
                "pool.min_idle_per_account must be <= pool.max_connections_per_account "
                f"({self.max_connections_per_account}), got {self.min_idle_per_account}"
            )
        _positive("liveness_skip_window", self.liveness_skip_window, allow_zero=True)
        if self.leak_detection_threshold is not None:
            _positive("leak_detection_threshold", self.leak_detection_threshold)
        _positive("drain_timeout", self.drain_timeout, allow_zero=True)
        _positive("reconnect_backoff_base", self.reconnect_backoff_base, allow_zero=True)
        _positive("reconnect_backoff_max", self.reconnect_backoff_max, allow_zero=True)
        if self.reconnect_backoff_max < self.reconnect_backoff_base:
            raise ValueError(
                "pool.reconnect_backoff_max must be >= pool.reconnect_backoff_base "
                f"({self.reconnect_backoff_base:g}), got {self.reconnect_backoff_max!r}"
            )
        _count("wait_window", self.wait_window, minimum=1)
        if self.max_concurrent_connects is not None:
            _count("max_concurrent_connects", self.max_concurrent_connects, minimum=1)

    def describe(self) -> str:
        """One line for the start-up log: the settings an operator tunes most."""
        return (
            f"max_per_account={self.max_connections_per_account} "
            f"max_total={self.max_total_connections} "
            f"idle={_seconds(self.max_idle_time)} age={_seconds(self.max_connection_age)} "
            f"sweep={_seconds(self.cleanup_interval)} "
            f"acquire_timeout={_seconds(self.acquire_timeout)} "
            f"concurrent_connects={self.max_concurrent_connects or 'unbounded'}"
        )
