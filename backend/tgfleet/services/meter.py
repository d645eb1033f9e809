"""Telegram calls made through the pool, counted as each one ends.

Two views of the same calls, both kept in O(1) per call and in bounded memory:

* a rolling window (60 one-second buckets in a ring) for the panel's live figures: calls per
  second, error and success rate, p50/p95 duration. Each bucket holds a fixed log-spaced
  histogram, so a percentile is read from at most 60 × ~100 counters whatever the traffic;
* totals since start (ok/error, errors by name, flood waits by method, a Prometheus-style
  duration histogram) for ``/metrics``.

The meter is plain synchronous code: it is fed and read on the event loop, and it never awaits.
A clock is injected so tests move time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

# Prometheus buckets for Telegram calls: a sandbox call takes milliseconds, a real one tens to
# hundreds, a slow proxy or a lost connection seconds up to the request deadline (60 s).
CALL_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

# Window buckets for percentiles: 1 ms .. ~5 min, each 15 % wider than the last, so an
# estimate is within ~7 % of the true duration (clamped to the window's min and max).
_WINDOW_BOUNDS: tuple[float, ...] = tuple(0.001 * 1.15**i for i in range(88))

# Names become label values and dict keys: a flood of distinct names (a bug, an odd server)
# must not grow memory or series without end.
MAX_NAMES = 64
OTHER = "other"


@dataclass(frozen=True)
class HistogramSnapshot:
    """Cumulative buckets ``(le, count of values <= le)``, le ascending; +Inf is ``count``."""

    buckets: tuple[tuple[float, int], ...]
    sum: float
    count: int

    def as_dict(self) -> dict[str, Any]:
        """The shape the pool's stats use for ``acquire_seconds``."""
        return {"buckets": [list(b) for b in self.buckets], "sum": self.sum, "count": self.count}


class Histogram:
    """A fixed-bucket histogram: observe is one bisect and two additions."""

    def __init__(self, bounds: Sequence[float] = CALL_BUCKETS) -> None:
        ordered = tuple(float(b) for b in bounds)
        if not ordered or any(a >= b for a, b in pairwise(ordered)):
            raise ValueError(f"histogram bounds must be non-empty and ascending, got {bounds!r}")
        self._bounds = ordered
        self._counts = [0] * (len(ordered) + 1)  # the last one is +Inf
        self._sum = 0.0
        self._count = 0

    def observe(self, value: float) -> None:
        # le semantics: a value equal to a bound falls in that bound's bucket
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value
        self._count += 1

    def snapshot(self) -> HistogramSnapshot:
        running = 0
        buckets: list[tuple[float, int]] = []
        for bound, count in zip(self._bounds, self._counts, strict=False):
            running += count
            buckets.append((bound, running))
        return HistogramSnapshot(tuple(buckets), self._sum, self._count)


class _Second:
    """One second of the window."""

    __slots__ = ("counts", "errors", "high", "low", "stamp", "total")

    def __init__(self) -> None:
        self.stamp = -1
        self.total = 0
        self.errors = 0
        self.low = float("inf")
        self.high = 0.0
        self.counts = [0] * (len(_WINDOW_BOUNDS) + 1)

    def reset(self, stamp: int) -> None:
        self.stamp = stamp
        self.total = 0
        self.errors = 0
        self.low = float("inf")
        self.high = 0.0
        self.counts = [0] * (len(_WINDOW_BOUNDS) + 1)


@dataclass(frozen=True)
class CallTotals:
    """Everything since start, for Prometheus."""

    ok: int
    errors: int
    errors_by_name: dict[str, int]
    floods_by_method: dict[str, int]
    seconds: HistogramSnapshot


def error_name(exc: BaseException) -> str:
    """Telegram's own name where it gave one (FLOOD_WAIT, PEER_ID_INVALID), else the class."""
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELLED"
    name = getattr(exc, "name", "")
    return name if isinstance(name, str) and name else type(exc).__name__


class CallMeter:
    """Counts Telegram calls through the pool: a rolling window and totals since start."""

    def __init__(
        self,
        *,
        window_seconds: int = 60,
        clock: Callable[[], float] = time.monotonic,
        buckets: Sequence[float] = CALL_BUCKETS,
    ) -> None:
        if window_seconds < 1:
            raise ValueError(f"window_seconds must be at least 1, got {window_seconds}")
        self._window = window_seconds
        self._clock = clock
        self._ring = [_Second() for _ in range(window_seconds)]
        self._started = clock()
        self._ok = 0
        self._errors = 0
        self._errors_by_name: dict[str, int] = {}
        self._floods_by_method: dict[str, int] = {}
        self._seconds = Histogram(buckets)

    @property
    def window_seconds(self) -> int:
        return self._window

    # --- feeding --------------------------------------------------------------------------

    def record(self, seconds: float, *, error: str | None = None) -> None:
        """One call ended after ``seconds``; ``error`` names its failure, None if it worked."""
        seconds = max(0.0, seconds)
        now = int(self._clock())
        slot = self._ring[now % self._window]
        if slot.stamp != now:
            slot.reset(now)  # this slot last held a second that has left the window
        slot.total += 1
        slot.counts[bisect_left(_WINDOW_BOUNDS, seconds)] += 1
        slot.low = min(slot.low, seconds)
        slot.high = max(slot.high, seconds)
        self._seconds.observe(seconds)
        if error is None:
            self._ok += 1
            return
        slot.errors += 1
        self._errors += 1
        _bump(self._errors_by_name, error)

    def record_flood(self, method: str) -> None:
        """Telegram answered FLOOD_WAIT to ``method`` (on a call or while connecting)."""
        _bump(self._floods_by_method, method or "?")

    @contextmanager
    def measure(self) -> Iterator[None]:
        """Time the body as one call: it worked if it returned, failed with what it raised."""
        started = self._clock()
        try:
            yield
        except BaseException as exc:
            self.record(self._clock() - started, error=error_name(exc))
            raise
        self.record(self._clock() - started)

    # --- reading --------------------------------------------------------------------------

    def snapshot(self) -> dict[str, float | int | None]:
        """The last ``window_seconds``: rps, error/success rate, p50/p95 (s), total, errors.

        Rates and percentiles are None when the window holds no call: "no data" is not 0 %.
        """
        now_f = self._clock()
        now = int(now_f)
        live = [s for s in self._ring if now - self._window < s.stamp <= now]
        total = sum(s.total for s in live)
        errors = sum(s.errors for s in live)
        # The window holds the current second only up to now: it spans (window - 1) whole
        # seconds and a part. A meter younger than that divides by its age, not by zeros.
        span = max(1.0, min(self._window - 1 + (now_f - now), now_f - self._started))
        if total == 0:
            return {
                "rps": 0.0,
                "error_rate": None,
                "success_rate": None,
                "p50": None,
                "p95": None,
                "total": 0,
                "errors": 0,
            }
        counts = [sum(col) for col in zip(*(s.counts for s in live), strict=True)]
        low = min(s.low for s in live)
        high = max(s.high for s in live)
        return {
            "rps": total / span,
            "error_rate": errors / total,
            "success_rate": (total - errors) / total,
            "p50": _quantile(counts, total, 0.50, low, high),
            "p95": _quantile(counts, total, 0.95, low, high),
            "total": total,
            "errors": errors,
        }

    def totals(self) -> CallTotals:
        return CallTotals(
            ok=self._ok,
            errors=self._errors,
            errors_by_name=dict(self._errors_by_name),
            floods_by_method=dict(self._floods_by_method),
            seconds=self._seconds.snapshot(),
        )

    def __repr__(self) -> str:
        return (
            f"<CallMeter ok={self._ok} errors={self._errors} "
            f"floods={sum(self._floods_by_method.values())} window={self._window}s>"
        )


def _bump(counts: dict[str, int], name: str) -> None:
    if name not in counts and len(counts) >= MAX_NAMES:
        name = OTHER
    counts[name] = counts.get(name, 0) + 1


def _quantile(counts: list[int], total: int, q: float, low: float, high: float) -> float:
    """The q-quantile (nearest rank) of a bucketed window, interpolated inside its bucket."""
    rank = max(1.0, q * total)
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            lower = _WINDOW_BOUNDS[index - 1] if index > 0 else 0.0
            upper = _WINDOW_BOUNDS[index] if index < len(_WINDOW_BOUNDS) else high
            estimate = lower + (upper - lower) * (rank - seen) / count
            return min(high, max(low, estimate))
        seen += count
    return high
