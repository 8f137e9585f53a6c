"""Health figures against hand-computed values on a small fixture, and bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine

from services.console import Console
from services.errors import InputError
from services.health import HealthOut, compute_health
from services.ingest import ingest_events
from services.triage.classify import classify
from tests.factories import make_event

NOW = datetime(2026, 5, 11, 12, 0)
STUCK = timedelta(minutes=30)
SLA = {"payment": 60, "renewal": 1440}
PAYMENT = [
    ("billing", "payment.apply"),
    ("erp", "payment.post"),
    ("salesforce", "account.writeback"),
]
RENEWAL = [
    ("salesforce", "renewal.closed_won"),
    ("billing", "subscription.renew"),
    ("erp", "salesorder.create"),
    ("salesforce", "opportunity.writeback"),
]
PERIOD = {"code": "PERIOD_CLOSED", "message": "Posting period is closed", "http_status": 409}
CONFLICT = {"code": "SUBSCRIPTION_VERSION_CONFLICT", "message": "Version 3", "http_status": 409}


def tx(
    cid: str,
    flow: str,
    steps: list[tuple[str, str]],
    times: list[str],
    *,
    amount: str,
    currency: str,
    entity: str,
    error: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One transaction: the i-th step at ``times[i]``; the last one failed with ``error``."""
    out = []
    for i, when in enumerate(times):
        system, operation = steps[i]
        failed = error is not None and i == len(times) - 1
        out.append(
            make_event(
                id=f"{cid}-{i}",
                source=f"urn:q2c:{system}",
                type="failed" if failed else "succeeded",
                time=when if "T" in when else f"2026-05-11T{when}:00Z",
                correlationid=cid,
                system=system,
                operation=operation,
                flow=flow,
                error=error if failed else None,
                amount=amount,
                currency=currency,
                legal_entity=entity,
            )
        )
    return out


def fixture_events() -> list[dict[str, Any]]:
    """Eight transactions; the expected figures below are worked out by hand."""
    return [
        *tx("p1", "payment", PAYMENT, ["10:00", "10:01", "10:03"],
            amount="100.00", currency="USD", entity="US01"),
        *tx("p2", "payment", PAYMENT, ["10:00", "10:30", "11:30"],
            amount="50.00", currency="EUR", entity="DE01"),
        *tx("p3", "payment", PAYMENT, ["10:00", "10:05"],
            amount="10.10", currency="USD", entity="US01", error=PERIOD),
        *tx("p4", "payment", PAYMENT, ["11:45"], amount="5.00", currency="USD", entity="US01"),
        *tx("p5", "payment", PAYMENT, ["11:10"], amount="20.20", currency="USD", entity="US01"),
        *tx("r1", "renewal", RENEWAL, ["10:00", "10:01", "10:02", "10:04"],
            amount="1000.00", currency="GBP", entity="GB01"),
        *tx("r2", "renewal", RENEWAL, ["2026-05-08T09:00:00Z", "2026-05-08T09:01:00Z"],
            amount="300.30", currency="EUR", entity="DE01", error=CONFLICT),
        *tx("r3", "renewal", RENEWAL, ["10:00", "10:02", "10:04", "10:10"],
            amount="10.00", currency="GBP", entity="GB01"),
    ]  # fmt: skip


def health(engine: Engine, since: datetime | None = None, until: datetime | None = None) -> Any:
    return compute_health(
        engine=engine, since=since, until=until, stuck_after=STUCK, sla_minutes=SLA, now=NOW
    )


@pytest.fixture
def seeded(console: Console) -> Engine:
    summary = ingest_events(engine=console.engine, events=fixture_events())
    assert summary.accepted == len(fixture_events()), summary.to_dict()
    return console.engine


def test_figures_match_the_hand_computed_values(seeded: Engine) -> None:
    h = health(seeded).cli_dict()
    assert h["by_status"] == {"failed": 2, "stuck": 1, "in_progress": 1, "succeeded": 4}
    assert h["success_rate"] == {
        "by_system": {"billing": 85.71, "erp": 80.0, "salesforce": 100.0},
        "by_flow": {"payment": 50.0, "renewal": 66.67},
        "by_legal_entity": {"DE01": 50.0, "GB01": 100.0, "US01": 33.33},
    }
    assert h["latency_ms"] == {
        "payment": {"p50": 180_000, "p95": 5_400_000},
        "renewal": {"p50": 240_000, "p95": 600_000},
    }
    assert h["backlog"] == {"<1h": 1, "1-4h": 1, "4-24h": 0, "1-3d": 0, ">3d": 1}
    assert h["sla_breaches"] == {"payment": 2, "renewal": 1}
    assert h["money_at_risk"] == {"EUR": "300.30", "USD": "30.30"}
    assert [(e["code"], e["count"]) for e in h["errors"]] in (
        [("PERIOD_CLOSED", 1), ("SUBSCRIPTION_VERSION_CONFLICT", 1)],
        [("SUBSCRIPTION_VERSION_CONFLICT", 1), ("PERIOD_CLOSED", 1)],
    )
    assert set(h) == {
        "window", "by_status", "success_rate", "latency_ms", "backlog", "sla_breaches",
        "money_at_risk", "errors",
    }  # fmt: skip


def test_errors_by_category_and_code(seeded: Engine) -> None:
    h = health(seeded)
    want = {
        ("PERIOD_CLOSED", classify(system="erp", operation="payment.post", code="PERIOD_CLOSED",
                                   http_status=409, message="Posting period is closed")),
        ("SUBSCRIPTION_VERSION_CONFLICT", classify(
            system="billing", operation="subscription.renew",
            code="SUBSCRIPTION_VERSION_CONFLICT", http_status=409, message="Version 3")),
    }  # fmt: skip
    assert {(e["code"], e["category"], e["origin"], e["count"]) for e in h.errors} == {
        (code, c.category, c.origin, 1) for code, c in want
    }


def test_errors_come_in_pareto_order(console: Console) -> None:
    events = [
        e
        for i in range(3)
        for e in tx(f"f{i}", "payment", PAYMENT, ["10:00", "10:05"], amount="1.00",
                    currency="USD", entity="US01", error=PERIOD)
    ]  # fmt: skip
    events += tx("g1", "renewal", RENEWAL, ["10:00", "10:01"], amount="1.00", currency="USD",
                 entity="US01", error=CONFLICT)  # fmt: skip
    ingest_events(engine=console.engine, events=events)
    errors = health(console.engine).errors
    assert [(e["code"], e["count"]) for e in errors] == [
        ("PERIOD_CLOSED", 3),
        ("SUBSCRIPTION_VERSION_CONFLICT", 1),
    ]


def test_window_keeps_transactions_active_in_it(seeded: Engine) -> None:
    h = health(seeded, since=datetime(2026, 5, 11))
    assert h.by_status == {"failed": 1, "stuck": 1, "in_progress": 1, "succeeded": 4}
    assert h.money_at_risk == {"USD": Decimal("30.30")}
    assert h.sla_breaches == {"payment": 2}
    assert h.trend_unit == "hour"
    assert {(t["bucket"], t["status"], t["count"]) for t in h.trends} == {
        ("2026-05-11 10", "succeeded", 3),
        ("2026-05-11 10", "failed", 1),
        ("2026-05-11 11", "succeeded", 1),
        ("2026-05-11 11", "in_progress", 1),
        ("2026-05-11 11", "stuck", 1),
    }
    spanning = health(seeded, since=datetime(2026, 5, 8, 9, 0, 30), until=datetime(2026, 5, 8, 10))
    assert spanning.by_status["failed"] == 1  # r2 started before and ended in the window
    assert spanning.trend_unit == "hour"


def test_trends_by_day_over_long_windows(seeded: Engine) -> None:
    h = health(seeded, since=datetime(2026, 5, 1))
    assert h.trend_unit == "day"
    days = {(t["bucket"], t["status"]): t["count"] for t in h.trends}
    assert days[("2026-05-08", "failed")] == 1
    assert days[("2026-05-11", "succeeded")] == 4


def test_mixed_currencies_are_never_summed(console: Console) -> None:
    events = [
        *tx("m1", "payment", PAYMENT, ["10:00", "10:05"], amount="0.10", currency="USD",
            entity="US01", error=PERIOD),
        *tx("m2", "payment", PAYMENT, ["10:00", "10:05"], amount="0.20", currency="USD",
            entity="US01", error=PERIOD),
        *tx("m3", "payment", PAYMENT, ["10:00", "10:05"], amount="1000", currency="JPY",
            entity="JP01", error=PERIOD),
        *tx("m4", "payment", PAYMENT, ["10:00", "10:05"], amount="0.10", currency="EUR",
            entity="DE01", error=PERIOD),
    ]  # fmt: skip
    ingest_events(engine=console.engine, events=events)
    money = health(console.engine).money_at_risk
    assert money == {"EUR": Decimal("0.10"), "JPY": Decimal("1000"), "USD": Decimal("0.30")}
    assert all(isinstance(v, Decimal) for v in money.values())


def _empty(h: HealthOut) -> None:
    assert h.by_status == {"failed": 0, "stuck": 0, "in_progress": 0, "succeeded": 0}
    assert h.success_rate == {"by_system": {}, "by_flow": {}, "by_legal_entity": {}}
    assert h.latency_ms == {} and h.sla_breaches == {} and h.money_at_risk == {}
    assert h.backlog == {"<1h": 0, "1-4h": 0, "4-24h": 0, "1-3d": 0, ">3d": 0}
    assert h.errors == [] and h.trends == [] and h.overall_success_rate is None


def test_empty_database(console: Console) -> None:
    _empty(health(console.engine))


def test_window_with_no_data(seeded: Engine) -> None:
    _empty(health(seeded, since=datetime(2030, 1, 1), until=datetime(2030, 2, 1)))


def test_since_after_until_is_refused(seeded: Engine) -> None:
    with pytest.raises(InputError, match=r"--since .* is after --until"):
        health(seeded, since=datetime(2026, 5, 12), until=datetime(2026, 5, 11))


def test_money_at_risk_on_one_line_keeps_each_currency_apart(seeded: Engine) -> None:
    from services.health_rows import money_at_risk_summary

    assert money_at_risk_summary(health(seeded)) == "EUR 300.30 · USD 30.30"
