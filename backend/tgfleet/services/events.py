"""The in-process event bus: pool events, account status changes, incoming messages.

Publishing is synchronous and never blocks: the pool calls it from its bookkeeping. Each
subscriber has a bounded queue; a subscriber that falls behind loses its oldest events (and is
told how many) rather than letting memory grow for months. A bounded history keeps the recent
events for the API's paged listing; chatter (a pool event per borrow and per return) goes to
live readers only, so that it cannot push the events people look back for out of it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    id: int
    kind: str  # "pool.created", "account.status", "message.incoming", ...
    at: float  # wall-clock seconds, for people and the panel
    account: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "at": self.at,
            "account": self.account,
            **self.data,
        }


class Subscription:
    """One reader's view of the bus; iterate it, and close it when done."""

    def __init__(self, bus: EventBus, kinds: frozenset[str] | None, maxsize: int) -> None:
        self._bus = bus
        self._kinds = kinds
        self._queue: deque[Event] = deque(maxlen=maxsize)
        self._ready = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def wants_kind(self, kind: str) -> bool:
        if self._kinds is None:
            return True
        return kind in self._kinds or kind.split(".", 1)[0] in self._kinds

    def offer(self, event: Event) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1  # the deque drops the oldest on append
        self._queue.append(event)
        self._ready.set()

    async def get(self, timeout: float | None = None) -> Event | None:
        """The next event, or None on timeout or when closed."""
        while not self._queue:
            if self.closed:
                return None
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None
        return self._queue.popleft()

    def close(self) -> None:
        self.closed = True
        self._bus._unsubscribe(self)
        self._ready.set()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self.get()
            if event is None:
                return
            yield event


class EventBus:
    def __init__(
        self,
        *,
        history: int = 5000,
        subscriber_queue: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ids = itertools.count(1)
        self._history: deque[Event] = deque(maxlen=history)
        self._subscribers: list[Subscription] = []
        self._queue_size = subscriber_queue
        self._clock = clock
        self.published = 0
        self._interest_listeners: list[Callable[[], None]] = []

    def publish(self, kind: str, account: str | None = None, **data: Any) -> Event:
        event = Event(next(self._ids), kind, self._clock(), account, data)
        self.published += 1
        self._history.append(event)
        for subscriber in self._subscribers:
            if subscriber.wants_kind(kind):
                subscriber.offer(event)
        return event

    def publish_live(self, kind: str, account: str | None = None, **data: Any) -> Event | None:
        """Like ``publish``, but for live readers only: not kept in the history, and not even
        built when no reader wants it. For events that come by the hundred a second."""
        subscribers = [s for s in self._subscribers if s.wants_kind(kind)]
        if not subscribers:
            return None
        event = Event(next(self._ids), kind, self._clock(), account, data)
        self.published += 1
        for subscriber in subscribers:
            subscriber.offer(event)
        return event

    def wants(self, kind: str) -> bool:
        """Whether any reader would receive an event of ``kind`` now."""
        return any(s.wants_kind(kind) for s in self._subscribers)

    def on_interest_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever a reader comes or goes (what ``wants`` says may change)."""
        self._interest_listeners.append(listener)

    def subscribe(self, kinds: Iterable[str] | None = None) -> Subscription:
        subscription = Subscription(
            self, frozenset(kinds) if kinds is not None else None, self._queue_size
        )
        self._subscribers.append(subscription)
        self._interest_changed()
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)
            self._interest_changed()

    def _interest_changed(self) -> None:
        for listener in list(self._interest_listeners):
            listener()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def history(
        self,
        *,
        after_id: int = 0,
        limit: int = 100,
        account: str | None = None,
        kind: str | None = None,
    ) -> list[Event]:
        """Up to ``limit`` recent events with id > after_id, oldest first."""
        out: list[Event] = []
        for event in self._history:
            if event.id <= after_id:
                continue
            if account is not None and event.account != account:
                continue
            if kind is not None and not (event.kind == kind or event.kind.startswith(kind + ".")):
                continue
            out.append(event)
            if len(out) >= limit:
                break
        return out

    def close(self) -> None:
        for subscriber in list(self._subscribers):
            subscriber.close()
