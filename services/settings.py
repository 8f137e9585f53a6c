"""One place for configuration: ``Settings`` (env prefix ``Q2C_``, ``.env`` file).

No other module reads ``os.environ``. Build settings with :func:`load_settings`,
which turns a validation failure into a one-line ``SettingsError`` naming the
variable, e.g. ``Q2C_STUCK_AFTER_MINUTES: Input should be a valid integer``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.errors import SettingsError

__all__ = ["Settings", "load_settings", "get_settings", "redact_url"]

ENV_PREFIX = "Q2C_"


class Settings(BaseSettings):
    """Everything the console can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        extra="ignore",
        validate_default=True,
    )

    database_url: str = Field(
        default="sqlite:///q2c.db",
        description="SQLAlchemy URL; a SQLite file q2c.db in the working folder by default.",
    )
    stuck_after_minutes: int = Field(
        default=30, ge=1, description="An in-progress transaction is stuck when idle longer."
    )
    flow_catalog: Path | None = Field(
        default=None,
        description="JSON file with the flow catalog and key scopes; built-in defaults if unset.",
    )
    sample_data_dir: Path = Field(
        default=Path("sample_data"), description="Loaded into an empty embedded database."
    )
    mode: Literal["demo", "production"] = Field(
        default="demo", description="demo: the sidebar picks a role and the UI says so."
    )
    systems: Literal["sandbox", "live"] = "sandbox"
    ingest_batch_size: int = Field(default=10_000, ge=1, le=100_000)
    max_event_bytes: int = Field(
        default=1_048_576, ge=1024, description="Events larger than this are quarantined."
    )

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        if "://" not in value:
            raise ValueError("must be a URL such as sqlite:///q2c.db or postgresql+psycopg://...")
        scheme = value.split("://", 1)[0].split("+", 1)[0]
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError(f"unsupported database {scheme!r}: use sqlite or postgresql")
        if scheme == "postgres":
            value = "postgresql" + value[len("postgres") :]
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value[len("postgresql://") :]
        return value

    @property
    def is_embedded(self) -> bool:
        """True when running on the embedded default (SQLite + sandbox systems)."""
        return self.database_url.startswith("sqlite") and self.systems == "sandbox"


def _field_env_name(loc: tuple[Any, ...]) -> str:
    return ENV_PREFIX + str(loc[0]).upper() if loc else ENV_PREFIX + "?"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, ``.env`` and ``overrides``.

    Args:
        **overrides: field values that win over the environment (tests, CLI flags).

    Returns:
        A validated ``Settings``.

    Raises:
        SettingsError: one line naming the bad variable and what is wrong.

    Example:
        >>> load_settings(database_url="sqlite:///tmp/x.db").database_url
        'sqlite:///tmp/x.db'
    """
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{_field_env_name(first['loc'])}: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return load_settings()


def redact_url(url: str) -> str:
    """A database URL safe to show: the password replaced by ``***``."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{host}"
