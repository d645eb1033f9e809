"""The event stream (Server-Sent Events) and its paged history.

One subscription per stream on the in-process bus; the bus drops a slow reader's oldest events
rather than growing, and the stream tells the reader how many it missed. Once a second the stream
also carries a ``stats`` event (no id: it is a sample, not history) so that a dashboard's charts
need no polling. A reconnecting ``EventSource`` sends ``Last-Event-ID`` and gets what it missed
from the history first. ``pool.reused`` and ``pool.returned`` (one per borrow) are live only:
the history keeps what people look back for.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from tgfleet.api.deps import CurrentUser, RuntimeDep, require_user
from tgfleet.errors import InvalidInput, NotAuthenticated, PermissionDenied
from tgfleet.runtime import Runtime
from tgfleet.services.events import Event, Subscription
from tgfleet.store.validation import normalize_account_key

router = APIRouter(prefix="/api/v1", tags=["events"])

STATS_INTERVAL = 1.0
# a comment line keeps proxies and browsers from timing out an idle stream
KEEPALIVE_INTERVAL = 15.0
RETRY_MS = 3000
STOP_CHECK_INTERVAL = 1.0
REPLAY_LIMIT = 1000


class EventOut(BaseModel):
    id: int
    kind: str = Field(description="pool.*, account.*, authorization.*, login.*, message.incoming")
    at: float = Field(description="Unix time, seconds")
    account: str | None
    model_config = {"extra": "allow"}


class EventPage(BaseModel):
    items: list[EventOut]
    next_after: int = Field(description="Pass as ?after= to read the next page")


def _kinds(value: str | None) -> list[str] | None:
    if value is None or not value.strip():
        return None
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    for kind in kinds:
        if not all(part.isidentifier() for part in kind.split(".")):
            raise InvalidInput(f"kinds: {kind!r} is not an event kind such as pool or pool.created")
    return kinds


def _matches(event: Event, kinds: list[str] | None, account: str | None) -> bool:
    if account is not None and event.account != account:
        return False
    if kinds is None:
        return True
    return any(event.kind == k or event.kind.startswith(k + ".") for k in kinds)


def live_stats(runtime: Runtime) -> dict[str, Any]:
    """The once-a-second sample: the pool's global counters and the Telegram call window."""
    meter = getattr(runtime, "meter", None)
    return {
        "at": time.time(),
        "pool": runtime.pool.get_pool_stats(),
        "requests": meter.snapshot() if meter is not None else None,
        "floods_active": len(runtime.fleet.gate.active()),
    }


async def _still_signed_in(request: Request) -> bool:
    """The stream's user is still signed in: the same check as at its start (session cookie or
    API token; a GET needs no CSRF token), repeated once a second."""
    access = getattr(request.app.state, "access", None)
    if access is None:
        return False
    try:
        await require_user(request, access)
    except (NotAuthenticated, PermissionDenied):
        return False
    return True


def _frame(event: Event) -> str:
    return f"id: {event.id}\nevent: {event.kind}\ndata: {json.dumps(event.as_dict())}\n\n"


def _sample(runtime: Runtime) -> str:
    return f"event: stats\ndata: {json.dumps(live_stats(runtime), default=str)}\n\n"


async def _stream(
    request: Request,
    runtime: Runtime,
    subscription: Subscription,
    replay: list[Event],
    kinds: list[str] | None,
    account: str | None,
    with_stats: bool,
) -> AsyncIterator[str]:
    # set by the daemon when SIGTERM arrives: uvicorn's graceful shutdown waits for open
    # responses, so an endless stream must end on its own for the drain to finish
    stopping: threading.Event = request.app.state.stopping
    try:
        yield f"retry: {RETRY_MS}\n\n"
        replayed = 0
        for missed_event in replay:
            replayed = missed_event.id
            yield _frame(missed_event)
        if with_stats:
            yield _sample(runtime)
        next_sample = time.monotonic() + STATS_INTERVAL
        last_write = time.monotonic()
        dropped = 0
        while not stopping.is_set() and not subscription.closed:
            wait = min(next_sample - time.monotonic(), STOP_CHECK_INTERVAL)
            event = await subscription.get(timeout=max(0.0, wait))
            if subscription.dropped != dropped:
                missed = subscription.dropped - dropped
                dropped = subscription.dropped
                yield f"event: dropped\ndata: {json.dumps({'missed': missed})}\n\n"
            if event is not None and event.id > replayed and _matches(event, kinds, account):
                yield _frame(event)
                last_write = time.monotonic()
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + STATS_INTERVAL
                if not await _still_signed_in(request):
                    # signed out (or the token revoked) elsewhere: the stream carries message
                    # text, so it ends with the session rather than when the tab closes
                    yield "event: signed_out\ndata: {}\n\n"
                    return
                if with_stats:
                    yield _sample(runtime)
                    last_write = now
            if now - last_write >= KEEPALIVE_INTERVAL:
                yield ": keep-alive\n\n"
                last_write = now
    finally:
        subscription.close()


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "An SSE stream"}},
)
async def events(
    request: Request,
    runtime: RuntimeDep,
    _user: CurrentUser,
    kinds: Annotated[
        str | None, Query(description="Comma-separated kind prefixes, e.g. pool,message")
    ] = None,
    account: Annotated[str | None, Query(max_length=64)] = None,
    stats: Annotated[bool, Query(description="Send a stats sample every second")] = True,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
) -> StreamingResponse:
    """Live events as Server-Sent Events, plus a ``stats`` sample every second."""
    wanted = _kinds(kinds)
    if account is not None:
        account, _ = normalize_account_key(account, field="account")
    # subscribe before reading the history, so nothing falls between the two
    # (to the kinds asked for: what no stream wants is not even built, see EventBus.wants)
    subscription = runtime.bus.subscribe(wanted)
    replay: list[Event] = []
    if last_event_id is not None:
        replay = [
            e
            for e in runtime.bus.history(after_id=last_event_id, limit=REPLAY_LIMIT)
            if _matches(e, wanted, account)
        ]
    return StreamingResponse(
        _stream(request, runtime, subscription, replay, wanted, account, stats),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/events/history", response_model=EventPage)
async def event_history(
    runtime: RuntimeDep,
    _user: CurrentUser,
    after: Annotated[int, Query(ge=0, description="Events with a larger id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    kind: Annotated[str | None, Query(max_length=64, description="A kind or prefix")] = None,
    account: Annotated[str | None, Query(max_length=64)] = None,
) -> EventPage:
    """Recent events (the daemon keeps the last few thousand in memory), oldest first.
    ``pool.reused`` and ``pool.returned``, one per borrow, are in the live stream only."""
    if kind is not None:
        _kinds(kind)
    if account is not None:
        account, _ = normalize_account_key(account, field="account")
    items = runtime.bus.history(after_id=after, limit=limit, account=account, kind=kind)
    return EventPage(
        items=[EventOut.model_validate(e.as_dict()) for e in items],
        next_after=items[-1].id if items else after,
    )
