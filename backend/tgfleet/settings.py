"""The one Settings object: embedded defaults < config/tgfleet.toml < .env < TGFLEET_* variables.

Only ``cli.py``, ``app.py`` and tests build it; every component takes the values it needs as
arguments. Nested keys use ``__`` in the environment: ``TGFLEET_POOL__ACQUIRE_TIMEOUT=none``.
A bad value stops the start with a ``ConfigError`` naming the key and the expected form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tgfleet.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("config/tgfleet.toml")
ENV_PREFIX = "TGFLEET_"


def _none_words(value: Any) -> Any:
    """Let operators write ``none`` (or ``off``) for "no limit" in env vars and TOML."""
    if isinstance(value, str) and value.strip().lower() in {"none", "null", "off", ""}:
        return None
    return value


class _Section(BaseModel):
    # A typo in a config key must stop the start, not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PoolSettings(_Section):
    max_connections_per_account: int = Field(3, ge=1, le=100)
    max_total_connections: int = Field(300, ge=1)
    max_idle_time: float = Field(300.0, gt=0)
    max_connection_age: float = Field(3600.0, gt=0)
    age_jitter: float = Field(0.1, ge=0, lt=1)
    cleanup_interval: float = Field(60.0, gt=0)
    acquire_timeout: float | None = Field(30.0, gt=0)
    reuse_order: Literal["lru", "mru"] = "lru"
    min_idle_per_account: int = Field(0, ge=0)
    leak_detection_threshold: float | None = Field(None, gt=0)
    drain_timeout: float = Field(10.0, ge=0)
    max_concurrent_connects: int | None = Field(10, ge=1)

    _nullable = field_validator(
        "acquire_timeout", "leak_detection_threshold", "max_concurrent_connects", mode="before"
    )(_none_words)


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class TelegramSettings(_Section):
    """Which Telegram to talk to and as which application (DESIGN facts 7 and 9)."""

    # Fleet-wide application credentials; an account may override them.
    api_id: int = Field(0, ge=0)
    api_hash: SecretStr = SecretStr("")
    # "production": Telegram's own servers; "custom": host/port/RSA key below (a self-hosted
    # test server); "sandbox": the embedded sandbox started by `tgfleet serve --sandbox`.
    server: Literal["production", "custom", "sandbox"] = "production"
    server_host: str = ""
    server_port: int = Field(443, ge=1, le=65535)
    server_dc_id: int = Field(2, ge=1, le=5)
    rsa_public_key_file: Path | None = None
    # Kept small so that FLOOD_WAIT surfaces as an error instead of hiding in a sleep (fact 4).
    sleep_threshold: int = Field(0, ge=0, le=60)
    default_proxy: str | None = None
    device_model: str = "tgfleet"
    system_version: str = "Linux"
    app_version: str = "tgfleet 0.1"
    lang_code: str = "en"

    _nullable = field_validator("default_proxy", "rsa_public_key_file", mode="before")(_none_words)


class SandboxSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)
    login_code: str = Field("12345", pattern=r"^\d{5,6}$")
    demo_fleet: bool = True


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    file_name: str = "tgfleet.log"
    file_max_bytes: int = Field(10_000_000, ge=10_000)
    file_backups: int = Field(5, ge=0)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        frozen=True,
        toml_file=str(DEFAULT_CONFIG_FILE),
    )

    data_dir: Path = Path("data")
    # The web panel's build (frontend/dist); unset: the repository's, next to backend/.
    panel_dir: Path | None = None
    sandbox_enabled: bool = False
    # Master key of the session vault; when unset a key file is created in data_dir.
    secret_key: SecretStr | None = None
    admin_password: SecretStr | None = None
    api: ApiSettings = ApiSettings()
    pool: PoolSettings = PoolSettings()
    telegram: TelegramSettings = TelegramSettings()
    sandbox: SandboxSettings = SandboxSettings()
    logging: LoggingSettings = LoggingSettings()

    _secret_fields: ClassVar[tuple[str, ...]] = ("secret_key", "admin_password")

    _nullable = field_validator("secret_key", "admin_password", mode="before")(_none_words)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Left wins: command-line flags, then the environment, then .env, then the TOML file.
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
        )


def load_settings(
    config_file: Path | None = None,
    env_file: Path | None = Path(".env"),
    **overrides: Any,
) -> Settings:
    """Build the Settings, translating validation errors into one readable ConfigError.

    ``config_file`` defaults to ``config/tgfleet.toml`` if it exists; a file named explicitly
    must exist. ``overrides`` are command-line flags, as nested dicts (``api={"port": 9000}``).
    """
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist")
    toml_file = config_file if config_file is not None else DEFAULT_CONFIG_FILE
    env_path = env_file if env_file is not None and env_file.is_file() else None
    bound = type(
        "Settings",
        (Settings,),
        {
            "model_config": SettingsConfigDict(
                **{**Settings.model_config, "toml_file": str(toml_file), "env_file": env_path}
            ),
            "__module__": __name__,
        },
    )
    try:
        return bound(**overrides)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except (OSError, ValueError) as exc:
        # A TOML syntax error arrives as tomllib.TOMLDecodeError, a ValueError.
        raise ConfigError(f"cannot read config file {toml_file}: {exc}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad key: the dotted key, its environment variable, what was expected."""
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        env_name = ENV_PREFIX + "__".join(str(part) for part in error["loc"]).upper()
        given = error.get("input")
        secret = any(part in Settings._secret_fields for part in error["loc"]) or "hash" in key
        shown = "<hidden>" if secret else repr(given)
        if error["type"] == "extra_forbidden":
            lines.append(f"unknown setting {key!r} (from {shown}); check its spelling")
            continue
        lines.append(f"setting {key} ({env_name}): {error['msg']}; got {shown}")
    return "invalid configuration: " + "; ".join(lines)
