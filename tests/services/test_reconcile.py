"""Reconciliation of billing invoices against ERP postings, on a planted store.

=============  ================  =====================================================
invoice        October status    how
=============  ================  =====================================================
INV-1001       matched           ERP total 100.004 against 100.00 (inside 0.005)
INV-1002       missing_in_erp    the ERP post failed (a failed step is not a posting)
INV-1003       missing_in_billing  ERP-native posting (no correlationid, no request)
INV-0901       missing_in_billing  billed 2026-09-30, posted to Oct 2026
INV-1004       amount_mismatch   250.00 against 250.01
INV-1005       currency_mismatch billing EUR, ERP USD (DE01)
INV-1006       matched           US01 in CAD: a second currency in one legal entity
INV-1007       matched           posted twice in the ERP (ids 9007, 9008): noted
=============  ================  =====================================================
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.connections import open_systems
from services.console import Console, open_console
from services.errors import InputError
from services.ingest import ingest_events
from services.reconcile import (
    period_choices,
    reconcile,
    reconcile_period,
    rows_csv,
    totals_csv,
)
from services.reconcile_live import confirm, unreachable
from services.reconcile_models import parse_period
from services.settings import load_settings
from services.systems.registry import BuildEnv
from tests.factories import make_event

ROOT = Path(__file__).resolve().parents[2]
OCTOBER = {
    "matched": 3,
    "missing_in_erp": 1,
    "missing_in_billing": 2,
    "amount_mismatch": 1,
    "currency_mismatch": 1,
}


def billing_invoice(
    number: str,
    amount: str,
    *,
    currency: str = "USD",
    entity: str = "US01",
    day: str = "2026-10-05",
) -> dict[str, Any]:
    """A succeeded billing invoice.create step, shaped like the sample data's."""
    return make_event(
        source="urn:q2c:billing",
        time=f"{day}T09:00:00Z",
        correlationid=f"o2c-{number}",
        system="billing",
        operation="invoice.create",
        keys={"invoice_number": number, "customer_id": "C-1001"},
        request={"accountNumber": "C-1001", "invoiceDate": day, "subscriptionNumbers": ["A-S1"]},
        response={"success": True, "invoiceNumber": number, "amount": amount},
        amount=amount,
        currency=currency,
        legal_entity=entity,
    )


def erp_posting(
    number: str,
    amount: str,
    *,
    currency: str = "USD",
    entity: str = "US01",
    period: str = "Oct 2026",
    day: str = "2026-10-05",
    type: str = "succeeded",
    erp_id: str = "9001",
    native: bool = False,
) -> dict[str, Any]:
    """An erp invoice.post step; ``native`` is one the ERP posted by itself (no request)."""
    data: dict[str, Any] = {"response": {"id": erp_id, "tranId": number}}
    if not native:
        data["request"] = {
            "externalId": number,
            "customer": "C-1001",
            "createdFrom": None,
            "tranDate": day,
            "postingPeriod": period,
            "total": amount,
        }
    return make_event(
        source="urn:q2c:erp",
        type=type,
        time=f"{day}T09:05:00Z",
        correlationid=None if native else f"o2c-{number}",
        system="erp",
        operation="invoice.post",
        keys={"invoice_number": number},
        amount=amount,
        currency=currency,
        legal_entity=entity,
        **data,
    )


def planted_events() -> list[dict[str, Any]]:
    """The events behind the table in the module docstring."""
    return [
        billing_invoice("INV-1001", "100.00"),
        erp_posting("INV-1001", "100.004"),
        billing_invoice("INV-1002", "40.00"),
        make_event(
            source="urn:q2c:erp",
            type="started",
            time="2026-10-05T09:04:00Z",
            correlationid="o2c-INV-1002",
            system="erp",
            operation="invoice.post",
            keys={"invoice_number": "INV-1002"},
        ),
        erp_posting("INV-1002", "40.00", type="failed"),
        erp_posting("INV-1003", "60.00", native=True, day="2026-10-07", erp_id="9003"),
        billing_invoice("INV-0901", "30.00", day="2026-09-30"),
        erp_posting("INV-0901", "30.00", day="2026-10-01", erp_id="9009"),
        billing_invoice("INV-1004", "250.00"),
        erp_posting("INV-1004", "250.01", erp_id="9004"),
        billing_invoice("INV-1005", "80.00", currency="EUR", entity="DE01"),
        erp_posting("INV-1005", "80.00", currency="USD", entity="DE01", erp_id="9005"),
        billing_invoice("INV-1006", "500.00", currency="CAD"),
        erp_posting("INV-1006", "500.00", currency="CAD", erp_id="9006"),
        billing_invoice("INV-1007", "10.00"),
        erp_posting("INV-1007", "10.00", erp_id="9007"),
        erp_posting("INV-1007", "10.00", erp_id="9008", day="2026-10-06"),
    ]


def seed(console: Console, events: list[dict[str, Any]]) -> None:
    summary = ingest_events(engine=console.engine, events=events, settings=console.settings)
    assert summary.accepted == len(events), summary.to_dict()


@pytest.fixture
def planted(console: Console) -> Console:
    seed(console, planted_events())
    return console


def by_number(console: Console, period: str) -> dict[str, Any]:
    return {r.invoice_number: r for r in reconcile_period(console, period).rows}


def test_each_kind_of_difference_is_found(planted: Console) -> None:
    result = reconcile(engine=planted.engine, period="2026-10")
    assert result.period == "2026-10"
    assert result.summary == OCTOBER
    assert list(result.summary) == list(OCTOBER)  # the documented order
    rows = {r.invoice_number: r for r in result.rows}
    assert {n: r.status for n, r in rows.items()} == {
        "INV-1001": "matched",
        "INV-1002": "missing_in_erp",
        "INV-1003": "missing_in_billing",
        "INV-0901": "missing_in_billing",
        "INV-1004": "amount_mismatch",
        "INV-1005": "currency_mismatch",
        "INV-1006": "matched",
        "INV-1007": "matched",
    }
    assert [r.status for r in result.rows][:2] == ["currency_mismatch", "amount_mismatch"]
    assert rows["INV-1004"].difference == Decimal("-0.01")  # Decimal, outside the tolerance
    matched = rows["INV-1001"]  # inside it
    assert matched.erp and matched.erp.amount == Decimal("100.004")
    assert matched.difference == Decimal("-0.004")
    assert rows["INV-1005"].difference is None and "EUR" in (rows["INV-1005"].note or "")
    assert rows["INV-1002"].note == "no succeeded ERP posting"
    assert rows["INV-1003"].erp is not None and rows["INV-1003"].erp.period == "2026-10"
    assert "2 times" in (rows["INV-1007"].note or "")


def test_each_row_names_its_transactions(planted: Console) -> None:
    rows = by_number(planted, "2026-10")
    for number in ("INV-1001", "INV-1002", "INV-1004"):
        assert len(rows[number].transactions) == 1
        trace = planted.get_trace(rows[number].transactions[0])
        assert trace is not None and number in trace.keys["invoice_number"]
    assert rows["INV-1003"].transactions  # the ERP-native posting has a (provisional) trace


def test_totals_are_per_legal_entity_and_currency_never_summed_across(planted: Console) -> None:
    totals = reconcile_period(planted, "2026-10").totals
    got = {(t.legal_entity, t.currency): (t.billing, t.erp, t.difference) for t in totals}
    assert got == {
        ("DE01", "EUR"): (Decimal("80.00"), Decimal("0"), Decimal("80.00")),
        ("DE01", "USD"): (Decimal("0"), Decimal("80.00"), Decimal("-80.00")),
        ("US01", "CAD"): (Decimal("500.00"), Decimal("500.00"), Decimal("0.00")),
        ("US01", "USD"): (Decimal("400.00"), Decimal("450.014"), Decimal("-50.014")),
    }


def test_documents_in_another_period_say_where_they_went(planted: Console) -> None:
    october = by_number(planted, "2026-10")
    assert october["INV-0901"].note == "billing invoice dated 2026-09-30 (period 2026-09)"
    september = reconcile_period(planted, "2026-09")
    assert [(r.invoice_number, r.status) for r in september.rows] == [
        ("INV-0901", "missing_in_erp")
    ]
    assert september.rows[0].note == "posted in ERP to 2026-10"


def test_period_choices_are_the_months_with_invoice_steps(planted: Console) -> None:
    assert period_choices(planted) == ["2026-10", "2026-09"]


def test_an_empty_database_has_nothing_to_reconcile(console: Console) -> None:
    result = reconcile_period(console, "2026-10")
    assert result.rows == [] and result.totals == [] and result.differences == 0
    assert set(result.summary.values()) == {0}
    assert period_choices(console) == []


def test_a_period_without_data_is_empty_not_an_error(planted: Console) -> None:
    result = reconcile_period(planted, "2027-03")
    assert result.rows == [] and result.differences == 0


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "abc", "", "2026-00", "26-10", "2026/10"])
def test_a_bad_period_is_one_line_naming_the_form(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_period(text)
    message = str(caught.value)
    assert "YYYY-MM" in message and "\n" not in message


def test_parse_period_knows_the_erp_name_and_bounds() -> None:
    december = parse_period(" 2026-12 ")
    assert december.label == "2026-12" and december.erp_name == "Dec 2026"
    assert (december.start.month, december.end.year, december.end.month) == (12, 2027, 1)


def test_csv_exports_hold_every_row_and_total(planted: Console) -> None:
    result = reconcile_period(planted, "2026-10")
    rows = rows_csv(result).splitlines()
    assert rows[0].startswith("status,invoice_number,legal_entity,billing_amount")
    assert len(rows) == 1 + len(result.rows)
    assert any(line.startswith("amount_mismatch,INV-1004,US01,250.00") for line in rows)
    totals = totals_csv(result).splitlines()
    assert totals[0] == "legal_entity,currency,billing,erp,difference,billing_count,erp_count"
    assert "US01,CAD,500.00,500.00,0.00,1,1" in totals


def _systems(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(ROOT / "sample_data"))
    return open_systems(load_settings(), BuildEnv(sleep=lambda _s: None))


def test_live_confirmation_says_what_the_systems_say_now(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    # INV-200003 is in the sandbox's billing and ERP master data (10,633.33 USD, Sep 2026).
    seed(console, [billing_invoice("INV-200003", "10633.33", day="2026-09-01"), *planted_events()])
    result = confirm(reconcile_period(console, "2026-09"), _systems(monkeypatch))
    assert result.live_checked
    row = {r.invoice_number: r for r in result.rows}["INV-200003"]
    assert row.status == "missing_in_erp" and row.live is not None
    assert row.live.agrees is True and row.live.verdict.startswith("both systems agree now")
    assert row.live.erp.found and row.live.erp.period == "2026-09"
    unknown = {r.invoice_number: r for r in result.rows}["INV-0901"]
    assert unknown.live and unknown.live.agrees is False
    assert "no such invoice" in unknown.live.verdict


def test_a_system_that_cannot_be_reached_is_reported_not_raised(
    planted: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    systems = _systems(monkeypatch)
    assert systems.sandbox is not None
    systems.sandbox.faults.update({"unavailable": ["erp"]})
    result = confirm(reconcile_period(planted, "2026-10"), systems)
    checked = [r for r in result.rows if r.status != "matched"]
    assert checked and all(r.live and r.live.agrees is None for r in checked)
    assert all(r.live and not r.live.erp.reached and r.live.billing.reached for r in checked)
    assert "ERP not reached" in (checked[0].live.verdict if checked[0].live else "")
    assert all(r.live is None for r in result.rows if r.status == "matched")
    down = unreachable(reconcile_period(planted, "2026-10"), "no sandbox master data")
    assert all(
        r.live and "no sandbox master data" in r.live.verdict
        for r in down.rows
        if r.status != "matched"
    )


@pytest.fixture(scope="module")
def sample_console(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The sample data set in a SQLite store, loaded once for this module."""
    url = f"sqlite:///{tmp_path_factory.mktemp('sample') / 'sample.db'}"
    console = open_console(load_settings(database_url=url, sample_data_dir=ROOT / "sample_data"))
    assert console.load_sample_data() is not None
    yield console
    console.engine.dispose()


def test_the_sample_data_october_2026_gives_plausible_counts(sample_console: Console) -> None:
    result = reconcile_period(sample_console, "2026-10")
    # sample_data/README.md: 38 invoices dated 2026-10-31 failed to post (PERIOD_CLOSED);
    # ERP-native postings carry no request and are placed by their event time.
    assert result.summary["missing_in_erp"] == 38
    assert result.summary["matched"] > 400
    assert result.summary["missing_in_billing"] == 0
    assert result.summary["amount_mismatch"] == result.summary["currency_mismatch"] == 0
    missing = [r for r in result.rows if r.status == "missing_in_erp"]
    assert {r.billing.date.isoformat() for r in missing if r.billing and r.billing.date} == {
        "2026-10-31"
    }
    assert {t.currency for t in result.totals} == {"USD", "EUR", "GBP", "CAD", "AUD"}
    assert len({(t.legal_entity, t.currency) for t in result.totals}) == len(result.totals)
    assert period_choices(sample_console)[:2] == ["2026-11", "2026-10"]
