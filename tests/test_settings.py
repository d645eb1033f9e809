"""Settings: defaults, TOML < .env < environment < flags, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tgfleet.errors import ConfigError
from tgfleet.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Run from an empty directory so no developer's config/tgfleet.toml or .env leaks in.
    monkeypatch.chdir(tmp_path)
    import os

    for name in list(os.environ):
        if name.startswith("TGFLEET_"):
            monkeypatch.delenv(name)


def test_embedded_defaults_match_the_design() -> None:
    s = load_settings()
    assert s.pool.max_connections_per_account == 3
    assert s.pool.max_total_connections == 300
    assert s.pool.max_idle_time == 300
    assert s.pool.max_connection_age == 3600
    assert s.pool.cleanup_interval == 60
    assert s.pool.acquire_timeout == 30
    assert (s.api.host, s.api.port) == ("127.0.0.1", 8080)
    assert s.data_dir == Path("data")


def test_precedence_toml_then_dotenv_then_environment_then_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text(
        "[pool]\nmax_connections_per_account = 2\nmax_idle_time = 100\nacquire_timeout = 5\n"
        "[api]\nhost = '127.0.0.2'\nport = 9000\n"
    )
    dotenv = tmp_path / ".env"
    dotenv.write_text("TGFLEET_POOL__MAX_IDLE_TIME=200\nTGFLEET_POOL__ACQUIRE_TIMEOUT=7\n")
    monkeypatch.setenv("TGFLEET_POOL__ACQUIRE_TIMEOUT", "none")

    s = load_settings(config_file=config, env_file=dotenv, api={"port": 9100})

    assert s.pool.max_connections_per_account == 2  # from the TOML file
    assert s.pool.max_idle_time == 200  # .env beats TOML
    assert s.pool.acquire_timeout is None  # environment beats .env; "none" = wait forever
    assert s.api.port == 9100  # the flag beats everything
    assert s.api.host == "127.0.0.2"  # and leaves the other keys of its section alone


def test_default_config_file_is_read_when_present(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "tgfleet.toml").write_text("[pool]\nmax_total_connections = 42\n")
    assert load_settings().pool.max_total_connections == 42


@pytest.mark.parametrize(
    ("env", "value", "named"),
    [
        ("TGFLEET_POOL__MAX_CONNECTIONS_PER_ACCOUNT", "five", "pool.max_connections_per_account"),
        ("TGFLEET_POOL__ACQUIRE_TIMEOUT", "-1", "pool.acquire_timeout"),
        ("TGFLEET_POOL__REUSE_ORDER", "random", "pool.reuse_order"),
        ("TGFLEET_API__PORT", "70000", "api.port"),
    ],
)
def test_bad_environment_value_names_key_and_form(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert named in message
    assert env in message
    assert repr(value) in message


def test_unknown_toml_key_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text("[pool]\nmax_conections_per_account = 3\n")
    with pytest.raises(ConfigError, match="max_conections_per_account"):
        load_settings(config_file=config)


def test_missing_or_broken_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[pool\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(config_file=broken)


def test_secrets_are_not_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGFLEET_TELEGRAM__API_HASH", "x" * 40)
    monkeypatch.setenv("TGFLEET_TELEGRAM__API_ID", "not-a-number-s3cr3t")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "x" * 40 not in str(caught.value)
    monkeypatch.setenv("TGFLEET_TELEGRAM__API_ID", "12345")
    assert "x" * 40 not in repr(load_settings())  # the settings object masks secrets too


def test_example_config_is_valid_and_equals_defaults() -> None:
    example = Path(__file__).resolve().parents[1] / "config" / "tgfleet.example.toml"
    assert load_settings(config_file=example).model_dump() == load_settings().model_dump()
