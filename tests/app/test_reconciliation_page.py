"""Reconciliation page: period picker and deep link, metrics, chart, filtered table, totals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from services.console import open_console
from services.settings import load_settings
from tests.app.conftest import ROOT, TIMEOUT, plain
from tests.services.test_reconcile import planted_events, seed

PAGE = ROOT / "pages" / "reconciliation.py"
OpenPage = Callable[..., AppTest]


@pytest.fixture
def planted_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite store holding the planted invoices (tests.services.test_reconcile)."""
    url = f"sqlite:///{tmp_path / 'recon.db'}"
    console = open_console(load_settings(database_url=url))
    seed(console, planted_events())
    console.engine.dispose()
    monkeypatch.setenv("Q2C_DATABASE_URL", url)
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(ROOT / "sample_data"))  # the live sandbox
    return url


@pytest.fixture
def open_recon(planted_url: str) -> OpenPage:
    def run(**query: str) -> AppTest:
        """The page opened with a URL query (``?period=2026-10``), as a link would."""
        at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
        for name, value in query.items():
            at.query_params[name] = value
        at.run()
        assert not at.exception
        return at

    return run


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_a_deep_link_shows_the_periods_summary_table_and_totals(open_recon) -> None:
    at = open_recon(period="2026-10")
    assert at.text_input(key="recon_period").value == "2026-10"
    assert at.selectbox(key="recon_month").value == "2026-10"
    assert metrics(at) == {
        "Matched": "3",
        "Missing in ERP": "1",
        "Missing in billing": "2",
        "Amount mismatch": "1",
        "Currency mismatch": "1",
    }
    assert at.get("plotly_chart")
    table = at.dataframe[0].value
    # By default the differences are listed, the worst first, each linking to its trace.
    assert list(table["Invoice"]) == ["INV-1005", "INV-1004", "INV-1002", "INV-0901", "INV-1003"]
    assert all(url.startswith("trace?key=tx-") for url in table["Trace"])
    assert "Systems now" not in table.columns
    totals = at.dataframe[1].value
    assert [(r["Legal entity"], r["Currency"]) for _, r in totals.iterrows()] == [
        ("DE01", "EUR"),
        ("DE01", "USD"),
        ("US01", "CAD"),
        ("US01", "USD"),
    ]
    assert len(at.get("download_button")) == 2


def test_the_status_filter_lists_the_matched_rows_too(open_recon) -> None:
    at = open_recon(period="2026-10")
    at.pills(key="recon_status_2026-10").set_value(["matched"]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["Invoice"]) == ["INV-1001", "INV-1006", "INV-1007"]
    assert set(table["Status"]) == {"Matched"}


def test_without_a_link_the_newest_month_with_data_is_shown(open_recon) -> None:
    at = open_recon()
    assert at.text_input(key="recon_period").value == "2026-10"
    assert at.selectbox(key="recon_month").options == ["2026-10", "2026-09"]
    assert at.query_params["period"] == "2026-10"


def test_picking_a_month_changes_the_period_and_the_link(open_recon) -> None:
    at = open_recon(period="2026-10")
    at.selectbox(key="recon_month").select("2026-09").run()
    assert not at.exception
    assert at.text_input(key="recon_period").value == "2026-09"
    assert at.query_params["period"] == "2026-09"
    assert metrics(at)["Missing in ERP"] == "1"
    assert list(at.dataframe[0].value["Invoice"]) == ["INV-0901"]


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "abc"])
def test_a_bad_period_is_one_line_of_error(open_recon, period) -> None:
    at = open_recon(period=period)
    assert len(at.error) == 1
    assert "expected YYYY-MM" in plain(at.error[0].value)
    assert not at.dataframe


def test_a_period_without_data_says_so(open_recon) -> None:
    at = open_recon(period="2027-03")
    assert "No billing invoice or ERP posting" in at.info[0].value
    assert set(metrics(at).values()) == {"0"}


def test_live_confirmation_adds_what_the_systems_say_now(open_recon) -> None:
    at = open_recon(period="2026-10")
    at.checkbox(key="recon_live").check().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert "Systems now" in table.columns
    assert all(text for text in table["Systems now"])
    assert any("no such invoice" in text for text in table["Systems now"])


def test_an_empty_store_has_no_months_and_no_table(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("Q2C_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(tmp_path / "no-sample-data"))
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert at.selectbox(key="recon_month").options == []
    assert len(at.error) == 1 and "YYYY-MM" in plain(at.error[0].value)


def test_the_page_through_the_app_with_a_period_link(open_page) -> None:
    at = open_page("reconciliation", period="2026-10")
    assert not at.exception
    assert [t.value for t in at.title] == ["Reconciliation"]
