"""A small, hand-countable set of transactions for the page tests.

=========  ==============  ================  ==========================================
corr. id   flow            status            notes
=========  ==============  ================  ==========================================
o2c-1001   order_activ.    failed            erp salesorder.create failed twice:
                                             PERIOD_CLOSED, HTTP 409; SO-100234, ACC-1
o2c-1002   order_activ.    succeeded         all nine steps; SO-100235, ACC-1 (related)
o2c-1003   order_activ.    stuck             three steps in May 2026, nothing since
o2c-1004   renewal         in_progress       one step a minute ago
pay-2001   payment         failed            erp payment.post: GL_ACCOUNT_MISSING
=========  ==============  ================  ==========================================

Counts: failed 2, stuck 1, in progress 1, succeeded 1 (5 transactions).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.catalog import load_catalog
from tests.factories import make_event

EXPECTED_COUNTS = {"failed": 2, "stuck": 1, "in_progress": 1, "succeeded": 1}
FAILED_ORDER = "SO-100234"
FAILED_CODE = "PERIOD_CLOSED"
FAILED_MESSAGE = "Posting period May 2026 is closed"
SHARED_ACCOUNT = "ACC-1"

_ORDER = [(s.system, s.operation) for s in load_catalog(None).flows["order_activation"]]


def _at(minute: int) -> str:
    return f"2026-05-11T{10 + minute // 60:02d}:{minute % 60:02d}:00Z"


def _step(cid: str, i: int, system: str, operation: str, **kw: Any) -> dict[str, Any]:
    subject = kw.pop("subject", None)
    event = make_event(
        id=f"{cid}-{i}",
        source=f"urn:q2c:{system}",
        correlationid=cid,
        system=system,
        operation=operation,
        **kw,
    )
    if subject:
        event["subject"] = subject
    return event


def seed_events() -> list[dict[str, Any]]:
    """The events behind the table in the module docstring."""
    events: list[dict[str, Any]] = []

    keys = {"opportunity_id": "OPP-1", "order_number": FAILED_ORDER, "account_id": SHARED_ACCOUNT}
    for i, (system, op) in enumerate(_ORDER[:4]):
        events.append(
            _step("o2c-1001", i, system, op, time=_at(i), keys=keys, subject=FAILED_ORDER)
        )
    for attempt in (1, 2):
        events.append(
            _step(
                "o2c-1001",
                3 + attempt,
                "erp",
                "salesorder.create",
                type="failed",
                attempt=attempt,
                time=_at(4 + attempt),
                keys=keys,
                subject=FAILED_ORDER,
                error={
                    "code": FAILED_CODE,
                    "message": FAILED_MESSAGE,
                    "http_status": 409,
                    "retryable": False,
                },
                endpoint={"method": "POST", "path": "/salesorders"},
                idempotency_key="o2c-1001:salesorder.create",
                request={"customer": "C-2231", "lines": [{"item": "PLAT-ANNUAL", "qty": 1}]},
                response={"error": {"code": FAILED_CODE}},
                amount="24000.00",
                currency="USD",
                legal_entity="US01",
            )
        )

    keys = {"opportunity_id": "OPP-2", "order_number": "SO-100235", "account_id": SHARED_ACCOUNT}
    for i, (system, op) in enumerate(_ORDER):
        events.append(
            _step("o2c-1002", i, system, op, time=_at(20 + i), keys=keys, subject="SO-100235")
        )

    keys = {"opportunity_id": "OPP-3", "order_number": "SO-100236"}
    for i, (system, op) in enumerate(_ORDER[:3]):
        events.append(_step("o2c-1003", i, system, op, time=_at(40 + i), keys=keys))

    recent = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    events.append(
        _step(
            "o2c-1004",
            0,
            "salesforce",
            "renewal.closed_won",
            flow="renewal",
            time=recent,
            keys={"opportunity_id": "OPP-4"},
        )
    )

    keys = {"invoice_number": "INV-9001", "payment_id": "PAY-1"}
    events.append(
        _step("pay-2001", 0, "billing", "payment.apply", flow="payment", time=_at(50), keys=keys)
    )
    events.append(
        _step(
            "pay-2001",
            1,
            "erp",
            "payment.post",
            flow="payment",
            type="failed",
            time=_at(51),
            keys=keys,
            error={"code": "GL_ACCOUNT_MISSING", "message": "No GL account for PAY-1"},
        )
    )
    return events
