"""A real app over a real runtime: the embedded sandbox, the demo fleet, a tmp data dir."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tgfleet.app import create_app
from tgfleet.settings import load_settings

ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data: Path = tmp_path_factory.mktemp("api") / "data"
    settings = load_settings(
        env_file=None, data_dir=data, sandbox_enabled=True, admin_password=ADMIN_PASSWORD
    )
    # the whole module shares one daemon: starting the sandbox and the demo fleet takes ~1 s
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def anon(client: TestClient) -> Iterator[TestClient]:
    """The shared client with no cookies and no Authorization header."""
    client.cookies.clear()
    client.headers.pop("Authorization", None)
    yield client
    client.cookies.clear()
    client.headers.pop("Authorization", None)


def sign_in(client: TestClient, password: str = ADMIN_PASSWORD) -> str:
    """Sign in as admin; returns the CSRF token."""
    response = client.post("/api/v1/auth/login", json={"username": "admin", "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


@pytest.fixture
def api(anon: TestClient) -> Iterator[TestClient]:
    """The shared client, signed in, sending the CSRF header on every request."""
    anon.headers["X-CSRF-Token"] = sign_in(anon)
    yield anon
    anon.headers.pop("X-CSRF-Token", None)


_SOCKS5 = Path(__file__).parent.parent / "services" / "socks5_server.py"


def socks5_module() -> Any:
    """The real SOCKS5 server the services tests use (tests/services is not a package)."""
    spec = importlib.util.spec_from_file_location("socks5_server", _SOCKS5)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_app_loop(api: TestClient, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on the daemon's event loop (the TestClient's portal)."""
    assert api.portal is not None
    return api.portal.call(fn)


@pytest.fixture
def socks(api: TestClient) -> Iterator[Any]:
    """A real SOCKS5 proxy with credentials, serving on the daemon's event loop."""
    server = socks5_module().Socks5Server("panel", "pr0xy-s3cret")
    in_app_loop(api, server.start)
    yield server
    in_app_loop(api, server.stop)
