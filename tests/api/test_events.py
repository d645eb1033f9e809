"""The event stream over real HTTP: a ``tgfleet serve --sandbox`` process, an SSE reader.

TestClient buffers whole responses, so an endless stream needs a real server and socket.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from served_daemon import ServedDaemon, start_daemon

PASSWORD = "events test password"
ALICE = "+15550000001"
CAROL = "+15550000003"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedDaemon]:
    running = start_daemon(tmp_path_factory.mktemp("events"), PASSWORD)
    yield running
    running.stop()


@pytest.fixture
def http(daemon: ServedDaemon) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=daemon.base_url, timeout=10) as client:
        response = client.post(
            "/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        yield client


def _frames(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse an SSE body into frames: {"event", "id", "data"} (data JSON-decoded)."""
    frame: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in frame:
                frame["data"] = json.loads(frame["data"])
                yield frame
            frame = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            frame[name] = value.removeprefix(" ")


def _first(response: httpx.Response, want: Any, within: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    for frame in _frames(response):
        if want(frame):
            return frame
        assert time.monotonic() < deadline, f"no matching frame within {within}s"
    raise AssertionError("the stream ended")


def test_the_stream_sends_a_stats_sample_every_second(http: httpx.Client) -> None:
    with http.stream("GET", "/api/v1/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        samples = []
        for frame in _frames(response):
            if frame.get("event") == "stats":
                samples.append(frame)
            if len(samples) == 3:
                break
    assert all("id" not in s for s in samples), "samples are not history: no id"
    pool = samples[-1]["data"]["pool"]
    assert pool["max_total_connections"] == 300
    assert pool["accounts"] >= 2  # the demo fleet's keep_online accounts
    spacing = samples[2]["data"]["at"] - samples[1]["data"]["at"]
    assert 0.5 < spacing < 2.0


def test_an_incoming_message_reaches_a_filtered_stream(http: httpx.Client) -> None:
    text = f"hello alice {time.time_ns()}"
    params = {"kinds": "message", "account": ALICE, "stats": "false"}
    with http.stream("GET", "/api/v1/events", params=params) as response:
        assert response.status_code == 200
        sent = http.post(
            f"/api/v1/accounts/{CAROL}/messages", json={"peer": "demo_alice", "text": text}
        )
        assert sent.status_code == 201, sent.text
        frame = _first(response, lambda f: f.get("event") == "message.incoming")
    assert frame["data"]["account"] == ALICE
    assert frame["data"]["text"] == text
    assert int(frame["id"]) == frame["data"]["id"]


def test_pool_events_stream_and_page_through_history(http: httpx.Client) -> None:
    with http.stream("GET", "/api/v1/events", params={"kinds": "pool", "stats": "0"}) as response:
        assert http.get(f"/api/v1/accounts/{CAROL}/me").status_code == 200
        frame = _first(
            response,
            lambda f: f.get("event") == "pool.returned" and f["data"]["account"] == CAROL,
        )
    assert frame["data"]["reason"] == "returned"  # the borrow's end, live...
    kept = http.get("/api/v1/events/history", params={"kind": "pool", "limit": 1000}).json()
    # ...but not kept: one per borrow would push every flood, error and login out of it
    assert not {"pool.reused", "pool.returned"} & {item["kind"] for item in kept["items"]}
    first = http.get("/api/v1/events/history", params={"kind": "pool", "limit": 2}).json()
    assert len(first["items"]) == 2
    assert all(item["kind"].startswith("pool.") for item in first["items"])
    second = http.get(
        "/api/v1/events/history", params={"kind": "pool", "limit": 2, "after": first["next_after"]}
    ).json()
    assert second["items"][0]["id"] > first["items"][-1]["id"]


def test_last_event_id_replays_what_a_reconnecting_reader_missed(http: httpx.Client) -> None:
    history = http.get("/api/v1/events/history", params={"limit": 1000}).json()["items"]
    assert len(history) >= 3
    resume_from = history[-3]["id"]
    headers = {"Last-Event-ID": str(resume_from)}
    with http.stream("GET", "/api/v1/events", headers=headers, params={"stats": "0"}) as response:
        replayed = []
        for frame in _frames(response):
            replayed.append(int(frame["id"]))
            if len(replayed) == 2:
                break
    assert replayed == [history[-2]["id"], history[-1]["id"]]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/events/history", {"kind": "pool;drop"}),
        ("/api/v1/events/history", {"account": "not a phone"}),
        ("/api/v1/events/history", {"limit": 0}),
        ("/api/v1/events", {"kinds": "pool,../x"}),
    ],
)
def test_bad_filters_are_refused_naming_the_parameter(
    http: httpx.Client, path: str, params: dict[str, Any]
) -> None:
    response = http.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_the_stream_needs_a_signed_in_user(daemon: ServedDaemon) -> None:
    response = httpx.get(f"{daemon.base_url}/api/v1/events", timeout=5)
    assert response.status_code == 401


def test_sigterm_ends_open_streams_and_the_daemon_exits_0(tmp_path: Path) -> None:
    running = start_daemon(tmp_path, PASSWORD)
    try:
        with httpx.Client(base_url=running.base_url, timeout=30) as client:
            login = {"username": "admin", "password": PASSWORD}
            assert client.post("/api/v1/auth/login", json=login).status_code == 200
            with client.stream("GET", "/api/v1/events") as response:
                frames = _frames(response)
                assert next(frames)["event"] == "stats"
                started = time.monotonic()
                running.proc.send_signal(signal.SIGTERM)
                for _ in frames:
                    pass  # the server ends the stream
                ended = time.monotonic() - started
    finally:
        code = running.stop()
    assert code == 0, running.log_tail()
    assert ended < 10, f"the stream held the shutdown for {ended:.1f}s"


def test_signing_out_ends_the_sessions_open_stream(daemon: ServedDaemon) -> None:
    with httpx.Client(base_url=daemon.base_url, timeout=10) as client:
        login = client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
        with client.stream("GET", "/api/v1/events", params={"stats": "0"}) as response:
            frames = _frames(response)
            assert client.post("/api/v1/auth/logout", headers=csrf).status_code == 204
            # the stream carries message text: it ends with its session, within a second or two
            started = time.monotonic()
            last = [frame["event"] for frame in frames][-1]
            assert last == "signed_out"
            assert time.monotonic() - started < 5
