"""Settings: defaults, environment, and one-line errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.catalog import load_catalog
from services.errors import SettingsError
from services.settings import load_settings, redact_url


def test_defaults_are_the_embedded_console() -> None:
    s = load_settings()
    assert s.database_url == "sqlite:///q2c.db"
    assert s.stuck_after_minutes == 30
    assert s.is_embedded


def test_environment_wins_and_postgres_urls_get_the_psycopg_driver(monkeypatch) -> None:
    monkeypatch.setenv("Q2C_DATABASE_URL", "postgresql://u@db:5432/q2c")
    monkeypatch.setenv("Q2C_STUCK_AFTER_MINUTES", "45")
    s = load_settings()
    assert s.database_url == "postgresql+psycopg://u@db:5432/q2c"
    assert s.stuck_after_minutes == 45
    assert not s.is_embedded


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "Q2C_STUCK_AFTER_MINUTES",
            "soon",
            "Q2C_STUCK_AFTER_MINUTES: Input should be a valid integer",
        ),
        (
            "Q2C_STUCK_AFTER_MINUTES",
            "0",
            "Q2C_STUCK_AFTER_MINUTES: Input should be greater than or equal to 1",
        ),
        ("Q2C_DATABASE_URL", "mysql://x@y/z", "Q2C_DATABASE_URL: unsupported database 'mysql'"),
        ("Q2C_DATABASE_URL", "q2c.db", "Q2C_DATABASE_URL: must be a URL"),
        ("Q2C_SYSTEMS", "prod", "Q2C_SYSTEMS: Input should be 'sandbox' or 'live'"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(monkeypatch, name, value, message) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_password_is_hidden_when_a_url_is_shown() -> None:
    assert (
        redact_url("postgresql+psycopg://ops:s3cret@db/q2c")
        == "postgresql+psycopg://ops:***@db/q2c"
    )
    assert redact_url("sqlite:///q2c.db") == "sqlite:///q2c.db"


def test_flow_catalog_is_configuration(tmp_path: Path) -> None:
    default = load_catalog()
    assert default.terminal("order_activation").label == "salesforce opportunity.writeback"
    assert default.scope_of("order_number") == "transaction"
    assert default.scope_of("subscription_id") == "lifecycle"
    custom = tmp_path / "flows.json"
    custom.write_text(
        '{"key_scopes": {"transaction": ["po_number"], "lifecycle": []},'
        ' "flows": {"po": ["erp po.create", "erp po.approve"]}}'
    )
    c = load_catalog(custom)
    assert c.terminal("po").label == "erp po.approve"
    assert c.transaction_keys == {"po_number"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read"),
        ('{"flows": {"x": ["just-one-word"]}}', "must read 'system operation'"),
        ('{"key_scopes": {"transaction": ["a"], "lifecycle": ["a"]}}', "cannot be in both scopes"),
    ],
)
def test_bad_flow_catalog_says_what_and_where(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / f"bad-{abs(hash(content))}.json"
    path.write_text(content)
    with pytest.raises(SettingsError) as info:
        load_catalog(path)
    assert message in str(info.value) and str(info.value).startswith("Q2C_FLOW_CATALOG")


def test_missing_flow_catalog(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="file not found"):
        load_catalog(tmp_path / "nope.json")


def test_secrets_come_from_streamlit_secrets_toml(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text(
        'Q2C_ERP_CLIENT_SECRET = "from-top-level"\n'
        "[q2c]\n"
        'billing_client_secret = "from-table"\n'
        'tax_license_key = "from-table-too"\n'
        "[other_app]\n"
        'password = "ignored"\n'
    )
    monkeypatch.setenv("Q2C_TAX_LICENSE_KEY", "from-env")
    s = load_settings()
    assert s.erp_client_secret is not None
    assert s.erp_client_secret.get_secret_value() == "from-top-level"
    assert s.billing_client_secret.get_secret_value() == "from-table"  # type: ignore[union-attr]
    assert s.tax_license_key.get_secret_value() == "from-env"  # the environment wins
    assert "from-top-level" not in repr(s) and "from-table" not in str(s)


def test_an_unreadable_secrets_file_is_one_line(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('Q2C_ERP_CLIENT_SECRET = "unclosed\n')
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value).startswith(".streamlit/secrets.toml: cannot be read")
    assert "\n" not in str(err.value)


def test_placeholder_secrets_are_refused_outside_demo_mode_without_showing_them() -> None:
    assert load_settings(erp_client_secret="changeme").erp_client_secret is not None  # demo
    with pytest.raises(SettingsError) as err:
        load_settings(mode="production", erp_client_secret="changeme")
    assert str(err.value).startswith("Q2C_ERP_CLIENT_SECRET: is a placeholder")
    assert "changeme" not in str(err.value)


def test_a_blank_secret_counts_as_not_set() -> None:
    assert load_settings(tax_license_key="  ").tax_license_key is None
