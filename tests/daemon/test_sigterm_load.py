"""SIGTERM while a real daemon (`tgfleet serve --sandbox`) carries load over real HTTP.

Twenty clients read pool stats, ask Telegram who an account is and send messages between demo
accounts through the pool. Mid-load the daemon gets SIGTERM. What a client may see from then
on is decided here: its request completes (2xx), or the daemon refuses it cleanly, either at
the socket (connection refused or closed before a request was answered) or with a 503 problem
that carries Retry-After. Never a 500, never another 5xx. The process exits 0 within the drain
deadline and its log says it drained the pool.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

from served_daemon import start_daemon

ADMIN_PASSWORD = "sigterm-admin-password"
WORKERS = 20
ALICE = "+15550000001"
# uvicorn's graceful-shutdown grace (cli.py: pool.drain_timeout 10 s + 5), plus slack for a
# loaded CI machine; the daemon drains in well under a second here
EXIT_DEADLINE = 20.0


@dataclass(frozen=True)
class Outcome:
    route: str
    status: int | None  # None: a transport error, named in ``error``
    error: str
    after_sigterm: bool
    retry_after: str | None


async def _worker(
    n: int, client: httpx.AsyncClient, sigterm_sent: asyncio.Event, outcomes: list[Outcome]
) -> None:
    i = 0
    refused_after_sigterm = 0
    while refused_after_sigterm < 3:
        i += 1
        kind = (n + i) % 3
        try:
            if kind == 0:
                route = "pool/stats"
                response = await client.get("/api/v1/pool/stats")
            elif kind == 1:
                route = "me"
                response = await client.get(f"/api/v1/accounts/{ALICE}/me")
            else:
                route = "messages"
                response = await client.post(
                    f"/api/v1/accounts/{ALICE}/messages",
                    json={"peer": "demo_bob", "text": f"load {n}.{i}"},
                )
        except httpx.TransportError as exc:
            # classified when the answer came: a request in flight at SIGTERM may be refused
            after = sigterm_sent.is_set()
            outcomes.append(Outcome(route, None, type(exc).__name__, after, None))
            if not after:
                # before SIGTERM nothing may fail; stop so the assertion names it
                return
            refused_after_sigterm += 1
            await asyncio.sleep(0.05)
            continue
        outcomes.append(
            Outcome(
                route,
                response.status_code,
                "",
                sigterm_sent.is_set(),
                response.headers.get("retry-after"),
            )
        )


async def _load_then_sigterm(
    base: str, token: str, proc: subprocess.Popen[str]
) -> tuple[list[Outcome], float]:
    outcomes: list[Outcome] = []
    sigterm_sent = asyncio.Event()
    limits = httpx.Limits(max_connections=WORKERS, max_keepalive_connections=WORKERS)
    async with httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {token}"},
        limits=limits,
        timeout=EXIT_DEADLINE,
    ) as client:
        workers = [
            asyncio.create_task(_worker(n, client, sigterm_sent, outcomes)) for n in range(WORKERS)
        ]
        # load first: enough answered requests that the daemon is busy on every route
        deadline = time.monotonic() + 30
        while sum(o.status is not None and o.status < 300 for o in outcomes) < 150:
            assert time.monotonic() < deadline, Counter((o.route, o.status) for o in outcomes)
            assert not any(o.status is None for o in outcomes), outcomes[-5:]
            await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        sigterm_at = time.monotonic()
        sigterm_sent.set()
        await asyncio.wait_for(asyncio.gather(*workers), timeout=EXIT_DEADLINE + 10)
    return outcomes, sigterm_at


def test_sigterm_under_load_drains_without_a_server_error_and_exits_0(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, ADMIN_PASSWORD)
    proc = daemon.proc
    try:
        outcomes, sigterm_at = asyncio.run(
            _load_then_sigterm(daemon.base_url, daemon.token("load"), proc)
        )
        proc.wait(timeout=max(0.1, sigterm_at + EXIT_DEADLINE - time.monotonic()))
        waited = time.monotonic() - sigterm_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = daemon.log()
    summary = Counter((o.route, o.status or o.error, o.after_sigterm) for o in outcomes)

    assert proc.returncode == 0, log
    before = [o for o in outcomes if not o.after_sigterm]
    after = [o for o in outcomes if o.after_sigterm]
    # before SIGTERM every request on every route succeeded
    assert {o.route for o in before} == {"pool/stats", "me", "messages"}, summary
    assert all(o.status in (200, 201) for o in before), summary
    # from SIGTERM on: done, refused at the socket, or a clean 503 that says when to retry
    for o in after:
        if o.status is None:
            assert o.error in {"ConnectError", "RemoteProtocolError", "ReadError"}, summary
        elif o.status == 503:
            assert o.retry_after is not None, summary
        else:
            assert o.status in (200, 201), summary
    assert not any(o.status is not None and o.status >= 500 and o.status != 503 for o in outcomes)
    # every worker ended on a refusal: the daemon stopped taking requests
    assert sum(o.status is None for o in after) >= WORKERS, summary
    assert " 500 " not in log and "unexpected error" not in log and "Traceback" not in log, log
    # the lifespan ran to its end: the pool drained before uvicorn reported the shutdown done
    draining = log.find("shutting down: draining the pool")
    drained = log.find("pool drained: ")
    assert 0 <= draining < drained < log.find("Application shutdown complete"), log
    print(f"exit 0 within {waited:.1f} s of SIGTERM; outcomes: {dict(summary)}")
