"""One place for configuration: ``Settings`` (env prefix ``Q2C_``, ``.env`` file).

No other module reads ``os.environ``. Build settings with :func:`load_settings`,
which turns a validation failure into a one-line ``SettingsError`` naming the
variable, e.g. ``Q2C_STUCK_AFTER_MINUTES: Input should be a valid integer``.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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
    systems: Literal["sandbox", "live"] = Field(
        default="sandbox",
        description="sandbox: the simulated systems in-process (or at Q2C_SANDBOX_URL); "
        "live: the real endpoints below.",
    )
    sandbox_url: str | None = Field(
        default=None,
        description="A running `q2c sandbox serve` (http://127.0.0.1:PORT) instead of in-process.",
    )
    read_only: bool = Field(default=False, description="Refuse every action that writes.")
    reason_codes: list[str] = Field(
        default=[
            "cause_fixed",
            "transient_outage",
            "data_corrected",
            "duplicate_delivery",
            "not_needed",
            "customer_request",
            "other",
        ],
        min_length=1,
        description="Reason codes an action must carry (JSON list in the environment).",
    )
    bulk_approval_items: int = Field(
        default=100, ge=1, description="Bulk replays above this many steps need a second person."
    )
    bulk_approval_amount: float = Field(
        default=100_000, ge=0, description="... or above this money total in any one currency."
    )
    validation_concurrency: int = Field(
        default=16, ge=1, le=64, description="Look-ups a validation runs at once."
    )
    validation_cache_seconds: float = Field(
        default=60, ge=0, description="How long master data answers are reused."
    )
    discount_approval_percent: float = Field(
        default=20, ge=0, le=100, description="Discounts beyond this need a pricing approval."
    )
    error_rules: Path | None = Field(
        default=None, description="JSON error classification rules; built-in defaults if unset."
    )
    sla_minutes: dict[str, int] = Field(
        default={
            "order_activation": 240,
            "amendment": 240,
            "renewal": 1440,
            "usage_trueup": 1440,
            "payment": 60,
        },
        description="End-to-end SLA per flow, minutes (JSON object in the environment).",
    )
    alert_rules: Path | None = Field(
        default=None, description="JSON alert threshold rules; built-in defaults if unset."
    )
    alert_webhook_url: str | None = Field(
        default=None, description="Where firing alerts are posted (JSON); unset: not posted."
    )
    bulk_concurrency: int = Field(default=8, ge=1, le=64)
    bulk_rate_per_system: float = Field(
        default=50, gt=0, description="Requests per second per target system in a bulk run."
    )

    # -- systems (live mode). Secrets come from the environment or
    # .streamlit/secrets.toml, are SecretStr here and are never logged or shown.
    http_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    retry_attempts: int = Field(default=4, ge=1, le=10, description="Tries per call in all.")
    retry_cap_seconds: float = Field(default=8.0, gt=0, le=300)

    salesforce_instance_url: str | None = None
    salesforce_api_version: str = "61.0"
    salesforce_auth: Literal["session", "password", "jwt", "client_credentials"] = "session"
    salesforce_session_id: SecretStr | None = None
    salesforce_username: str | None = None
    salesforce_password: SecretStr | None = None
    salesforce_security_token: SecretStr | None = None
    salesforce_domain: str = Field(default="login", description="login, test or a My Domain")
    salesforce_consumer_key: str | None = None
    salesforce_consumer_secret: SecretStr | None = None
    salesforce_private_key_file: Path | None = None
    salesforce_status_field: str = "Integration_Status__c"
    salesforce_detail_field: str = "Integration_Detail__c"

    erp_base_url: str | None = Field(
        default=None, description="e.g. https://ACCOUNT.suitetalk.api.netsuite.com"
    )
    erp_token_url: str | None = None
    erp_client_id: str | None = None
    erp_client_secret: SecretStr | None = None

    billing_base_url: str | None = Field(default=None, description="e.g. https://rest.zuora.com")
    billing_token_url: str | None = None
    billing_client_id: str | None = None
    billing_client_secret: SecretStr | None = None

    tax_base_url: str | None = Field(
        default=None, description="e.g. https://sandbox-rest.avatax.com"
    )
    tax_account_id: str | None = None
    tax_license_key: SecretStr | None = None
    tax_company_code: str | None = None
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

    @field_validator(
        "salesforce_session_id",
        "salesforce_password",
        "salesforce_security_token",
        "salesforce_consumer_secret",
        "erp_client_secret",
        "billing_client_secret",
        "tax_license_key",
    )
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            return None
        secret = value.get_secret_value().strip()
        if not secret:
            return None
        if info.data.get("mode") == "production" and secret.lower() in _PLACEHOLDERS:
            raise ValueError("is a placeholder; set the real secret (the value is not shown)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then ``.env``, then Streamlit's secrets file."""
        return (init_settings, env_settings, dotenv_settings, _StreamlitSecrets(settings_cls))

    @property
    def is_embedded(self) -> bool:
        """True when running on the embedded default (SQLite + sandbox systems)."""
        return self.database_url.startswith("sqlite") and self.systems == "sandbox"


_PLACEHOLDERS = frozenset({"changeme", "change-me", "placeholder", "secret", "xxx", "todo", "..."})
SECRETS_FILE = Path(".streamlit/secrets.toml")


class _StreamlitSecrets(PydanticBaseSettingsSource):
    """``.streamlit/secrets.toml``: top-level ``Q2C_*`` keys, or a ``[q2c]`` table of
    field names (``erp_client_secret = "..."``). Read without importing Streamlit."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the whole file

    def __call__(self) -> dict[str, Any]:
        if not SECRETS_FILE.is_file():
            return {}
        try:
            data = tomllib.loads(SECRETS_FILE.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"{SECRETS_FILE}: cannot be read ({exc})") from None
        fields = self.settings_cls.model_fields
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key.upper().startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in fields:
                out[key[len(ENV_PREFIX) :].lower()] = value
        table = data.get("q2c")
        if isinstance(table, dict):
            out.update({k.lower(): v for k, v in table.items() if k.lower() in fields})
        return out


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
