"""Connections page: every system with its mode, base URL and masked auth; test buttons."""

from __future__ import annotations

import pytest

from app import state
from tests.app.conftest import ROOT, plain, rendered_text


@pytest.fixture
def sandbox_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process sandbox needs the sample master data."""
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(ROOT / "sample_data"))


def test_each_system_is_listed_with_mode_url_and_auth(open_page, sandbox_data) -> None:
    at = open_page("connections")
    assert not at.exception
    text = plain(rendered_text(at))
    assert "Mode: **sandbox (in-process)**" in text
    for system in ("salesforce", "erp", "billing", "tax"):
        assert f"**{system}**" in text
        assert f"sandbox.q2c.invalid/{system}" in text
    table = at.dataframe[0].value
    assert list(table["system"]) == ["salesforce", "erp", "billing", "tax"]
    assert table["last successful call"].isna().all()  # nothing called yet


def test_test_connection_calls_the_system_and_says_how_it_went(open_page, sandbox_data) -> None:
    at = open_page("connections")
    at.button(key=state.connection_test_key("erp")).click().run()
    assert not at.exception
    assert any(s.value.startswith("Connected in") for s in at.success)
    table = at.dataframe[0].value.set_index("system")
    assert table.loc["erp", "last successful call"] is not None
    assert table.loc["erp", "latency ms"] > 0


def test_a_system_that_is_down_shows_its_error(open_page, sandbox_data) -> None:
    at = open_page("connections")
    from app.resources import systems_or_stop  # the same cached object the page uses

    systems = systems_or_stop()
    assert systems.sandbox is not None
    systems.sandbox.faults.update({"tax_outage": True})
    at.button(key=state.connection_test_key("tax")).click().run()
    assert not at.exception
    assert any(e.value.startswith("tax ") and "HTTP 503" in e.value for e in at.error)


def test_live_mode_without_settings_names_what_is_missing(open_page, monkeypatch) -> None:
    monkeypatch.setenv("Q2C_SYSTEMS", "live")
    at = open_page("connections")
    assert not at.exception
    warnings = plain(" ".join(w.value for w in at.warning))
    assert "Q2C_ERP_BASE_URL" in warnings or "Q2C_ERP_CLIENT_ID" in warnings
    assert "Q2C_TAX_" in warnings and "Q2C_SALESFORCE_" in warnings
    assert "Mode: **live**" in plain(rendered_text(at))
