"""``q2c reconcile`` as an operator uses it: the JSON, the report and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services import cli
from services.cli import main
from services.cli_reconcile import register
from services.console import Console
from tests.services.test_reconcile import (
    OCTOBER,
    billing_invoice,
    erp_posting,
    planted_events,
    seed,
)

ROOT = Path(__file__).resolve().parents[2]

if not any(c.name == "reconcile" for c in cli.app.registered_commands):
    register(cli.app)  # until services/cli.py registers it


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def store(console: Console, db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The planted store; Q2C_DATABASE_URL points at it."""
    seed(console, planted_events())
    monkeypatch.setenv("Q2C_DATABASE_URL", db_url)
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(ROOT / "sample_data"))
    return db_url


def test_json_has_summary_totals_and_rows_and_exit_1_on_differences(capsys, store) -> None:
    code, out, err = run(capsys, "reconcile", "--period", "2026-10", "--json")
    assert code == 1, err
    data = json.loads(out)
    assert data["period"] == "2026-10"
    assert data["summary"] == OCTOBER
    assert {"legal_entity", "currency", "billing", "erp", "difference"} <= set(data["totals"][0])
    usd = next(t for t in data["totals"] if (t["legal_entity"], t["currency"]) == ("US01", "USD"))
    assert (usd["billing"], usd["erp"], usd["difference"]) == ("400.00", "450.014", "-50.014")
    rows = {r["invoice_number"]: r for r in data["rows"]}
    mismatch = rows["INV-1004"]
    assert mismatch["status"] == "amount_mismatch"
    assert mismatch["billing"]["amount"] == "250.00" and mismatch["erp"]["amount"] == "250.01"
    assert mismatch["transactions"] and mismatch["transactions"][0].startswith("tx-")
    assert rows["INV-1002"]["erp"] is None and rows["INV-1003"]["billing"] is None
    assert all(r["live"] is None for r in data["rows"])


def test_text_report_lists_the_differences(capsys, store) -> None:
    code, out, _ = run(capsys, "reconcile", "--period", "2026-10")
    assert code == 1
    assert out.startswith("period 2026-10: matched 3, missing in ERP 1")
    assert "INV-1004" in out and "amount mismatch" in out and "US01" in out
    assert "INV-1001 " not in out  # matched rows are only counted


def test_exit_0_when_everything_matched(capsys, console, db_url, monkeypatch) -> None:
    seed(
        console,
        [billing_invoice("INV-2001", "12.50"), erp_posting("INV-2001", "12.50")],
    )
    code, out, err = run(capsys, "--database", db_url, "reconcile", "--period", "2026-10")
    assert code == 0, err
    assert "matched 1" in out


def test_exit_0_for_a_period_without_data(capsys, store) -> None:
    code, out, _ = run(capsys, "reconcile", "--period", "2030-01", "--json")
    assert code == 0
    assert json.loads(out)["rows"] == []


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "abc"])
def test_a_bad_period_is_a_usage_error_in_one_line(capsys, store, period) -> None:
    code, out, err = run(capsys, "reconcile", "--period", period, "--json")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "YYYY-MM" in err and "Traceback" not in err


def test_a_missing_period_is_a_usage_error(capsys, store) -> None:
    code, _, err = run(capsys, "reconcile")
    assert code == 2 and "--period" in err


def test_live_confirms_each_difference(capsys, store) -> None:
    code, out, err = run(capsys, "reconcile", "--period", "2026-10", "--live", "--json")
    assert code == 1, err
    data = json.loads(out)
    assert data["live_checked"] is True
    for row in data["rows"]:
        if row["status"] == "matched":
            assert row["live"] is None
        else:
            assert row["live"]["billing"]["reached"] and row["live"]["erp"]["reached"]
            assert row["live"]["verdict"]


def test_live_with_unreadable_sandbox_reports_instead_of_crashing(
    capsys, store, monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(tmp_path / "nowhere"))
    code, out, err = run(capsys, "reconcile", "--period", "2026-10", "--live")
    assert code == 1 and "Traceback" not in err
    assert "now: " in out and "not reached" in out
