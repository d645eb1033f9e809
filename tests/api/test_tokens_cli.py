"""`tgfleet tokens create/list/revoke` on a data dir, then the token used against the app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tgfleet.app import create_app
from tgfleet.cli import main
from tgfleet.settings import load_settings


def test_token_from_the_cli_works_in_the_app_until_revoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray config/tgfleet.toml or .env from the repo
    for name in [k for k in os.environ if k.startswith("TGFLEET_")]:
        monkeypatch.delenv(name)
    data = tmp_path / "data"

    assert main(["tokens", "create", "--name", "ci", "--data-dir", str(data)]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("tgf_") and "\n" not in token
    # no user existed: admin was created and its generated password shown once, on stderr
    assert "created user 'admin' with password" in err
    assert token not in err

    assert main(["tokens", "create", "--name", "ci", "--data-dir", str(data)]) == 1
    assert "revoke it first" in capsys.readouterr().err
    assert main(["tokens", "create", "--name", "backup", "--data-dir", str(data)]) == 0
    second_err = capsys.readouterr().err
    assert "password" not in second_err  # shown once only

    assert main(["tokens", "list", "--data-dir", str(data)]) == 0
    listing = capsys.readouterr().out
    assert "ci\t" in listing and "backup\t" in listing and "tgf_" not in listing

    settings = load_settings(env_file=None, data_dir=data)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/v1/auth/me", headers=headers).json()["username"] == "admin"
        # revoked while the daemon runs: the next request is refused
        assert main(["tokens", "revoke", "--name", "ci", "--data-dir", str(data)]) == 0
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    assert main(["tokens", "revoke", "--name", "ci", "--data-dir", str(data)]) == 1
    assert "revoked" in capsys.readouterr().out
    assert main(["tokens", "list", "--data-dir", str(data)]) == 0
    assert "ci\tcreated" in capsys.readouterr().out
