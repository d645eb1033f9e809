"""A real app over a real runtime: the embedded sandbox, the demo fleet, a tmp data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
