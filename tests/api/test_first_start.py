"""First start without TGFLEET_ADMIN_PASSWORD: a generated password is shown once and works."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tgfleet.app import create_app
from tgfleet.settings import load_settings


def test_generated_admin_password_is_printed_once_never_logged_and_signs_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(env_file=None, data_dir=tmp_path / "data", admin_password=None)
    with caplog.at_level(logging.DEBUG), TestClient(create_app(settings)) as client:
        err = capsys.readouterr().err
        found = re.findall(r"created user 'admin' with password (\S+)", err)
        assert len(found) == 1
        password = found[0]
        assert len(password) >= 32
        assert all(password not in record.getMessage() for record in caplog.records)
        ok = client.post("/api/v1/auth/login", json={"username": "admin", "password": password})
        assert ok.status_code == 200
        # the OpenAPI description lists the routes (and builds without error)
        paths = client.get("/openapi.json").json()["paths"]
        assert {"/api/v1/auth/login", "/api/v1/pool/stats", "/metrics"} <= paths.keys()
    with TestClient(create_app(settings)):
        assert "password" not in capsys.readouterr().err  # the second start shows nothing
