"""Read the two sides of a reconciliation from the trace store.

One query over ``events``, filtered by system, operation, status and a time
window around the period (a document can be created before its date and posted
weeks after); each event's payload is then read for the invoice number, the
invoice date or posting period and the amount. Several succeeded steps for one
invoice number (a replay, a retry after a timeout, a duplicate post) collapse
into one :class:`Side` carrying every transaction id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import Engine, and_, or_, select

from services.models import EVENT_TIME_AS_TEXT, Event, stored_time
from services.reconcile_models import Period, Side

__all__ = [
    "BILLING_STEPS",
    "ERP_STEPS",
    "SideRows",
    "data_months",
    "erp_period_label",
    "read_sides",
]

# (system, operation) of a billing invoice and of an ERP posting of one.
BILLING_STEPS = (("billing", "invoice.create"),)
ERP_STEPS = (("erp", "invoice.post"), ("erp", "invoice.gl_post"))
BEFORE = timedelta(days=45)
AFTER = timedelta(days=100)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {name: i for i, name in enumerate(_MONTH_NAMES, 1)}
_ERP_PERIOD = re.compile(r"([A-Za-z]{3})[A-Za-z]*\.?\s+(\d{4})|(\d{4})-(\d{2})")

SideRows = tuple[list[Side], list[Side], int]


def _money(value: Any) -> Decimal | None:
    """A JSON number or numeric string as Decimal; None when absent or unreadable."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _date(value: Any) -> date | None:
    """``2026-10-01`` (or a timestamp starting with one) as a date."""
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def erp_period_label(value: Any) -> str | None:
    """The ERP's posting period (``Oct 2026``, ``October 2026``, ``2026-10``) as YYYY-MM."""
    if isinstance(value, dict):
        value = value.get("refName") or value.get("periodName")
    found = _ERP_PERIOD.fullmatch(value.strip()) if isinstance(value, str) else None
    if found is None:
        return None
    if found[3]:
        month, year = int(found[4]), int(found[3])
    else:
        month, year = _MONTHS.get(found[1].lower(), 0), int(found[2])
    return f"{year:04d}-{month:02d}" if 1 <= month <= 12 else None


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value).strip() else None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _side(system: str, row: Any) -> Side | None:
    """One succeeded step as a Side; None when it names no invoice number."""
    try:
        data = orjson.loads(row.raw).get("data") or {}
    except orjson.JSONDecodeError:
        data = {}
    request = _obj(data.get("request"))
    response = _obj(data.get("response"))
    keys = orjson.loads(row.keys_json or "{}")
    when = stored_time(row.time)
    if system == "billing":
        number = _text(keys.get("invoice_number")) or _text(response.get("invoiceNumber"))
        doc_date = _date(request.get("invoiceDate")) or when.date()
        period = doc_date.strftime("%Y-%m")
        amount = _money(row.amount) if row.amount is not None else _money(response.get("amount"))
        customer = _text(request.get("accountNumber"))
        document = None
    else:
        number = (
            _text(keys.get("invoice_number"))
            or _text(request.get("externalId"))
            or _text(response.get("tranId"))
        )
        doc_date = _date(request.get("tranDate")) or when.date()
        period = erp_period_label(request.get("postingPeriod")) or doc_date.strftime("%Y-%m")
        amount = _money(row.amount) if row.amount is not None else _money(request.get("total"))
        customer = _text(request.get("customer"))
        document = _text(response.get("id"))
    if number is None:
        return None
    return Side(
        system=system,
        invoice_number=number,
        amount=amount,
        currency=str(row.currency).upper() if row.currency else None,
        legal_entity=row.legal_entity or None,
        date=doc_date,
        period=period,
        customer=customer or _text(keys.get("customer_id")),
        document_id=document,
        transaction_id=row.transaction_id,
        time=when,
        transaction_ids=[row.transaction_id],
    )


def _collapse(sides: Iterable[Side]) -> list[Side]:
    """The newest Side per invoice number, counting distinct documents and transactions."""
    by_number: dict[str, list[Side]] = {}
    for side in sides:
        by_number.setdefault(side.invoice_number, []).append(side)
    out = []
    for number in sorted(by_number):
        group = sorted(by_number[number], key=lambda s: s.time)
        latest = group[-1]
        docs = {s.document_id or s.transaction_id for s in group}
        txs = list(dict.fromkeys(s.transaction_id for s in group))
        out.append(latest.model_copy(update={"postings": len(docs), "transaction_ids": txs}))
    return out


def _steps_filter(steps: Iterable[tuple[str, str]]) -> Any:
    return or_(*(and_(Event.system == s, Event.operation == o) for s, o in steps))


def read_sides(
    *, engine: Engine, period: Period, before: timedelta = BEFORE, after: timedelta = AFTER
) -> SideRows:
    """Billing invoices and ERP postings from succeeded steps around ``period``.

    Returns every document in the window (``period ± slack``), not only the
    period's, so a caller can say where a missing one went.

    Returns:
        ``(billing, erp, skipped)``: one Side per invoice number and system, and the
        number of succeeded steps that named no invoice number.
    """
    systems = {s: "billing" for s in BILLING_STEPS} | {s: "erp" for s in ERP_STEPS}
    query = select(
        Event.system,
        Event.operation,
        EVENT_TIME_AS_TEXT,
        Event.amount,
        Event.currency,
        Event.legal_entity,
        Event.keys_json,
        Event.raw,
        Event.transaction_id,
    ).where(
        Event.status == "succeeded",
        _steps_filter(systems),
        Event.time >= period.start - before,
        Event.time < period.end + after,
    )
    billing: list[Side] = []
    erp: list[Side] = []
    skipped = 0
    with engine.connect() as conn:
        for row in conn.execute(query):
            system = systems[(row.system, row.operation)]
            side = _side(system, row)
            if side is None:
                skipped += 1
            else:
                (billing if system == "billing" else erp).append(side)
    return _collapse(billing), _collapse(erp), skipped


def data_months(*, engine: Engine) -> list[str]:
    """Months (YYYY-MM, newest first) between the first and last billing or ERP invoice step."""
    steps = _steps_filter(BILLING_STEPS + ERP_STEPS)
    with engine.connect() as conn:
        first = conn.execute(select(EVENT_TIME_AS_TEXT).where(steps).order_by(Event.time).limit(1))
        last = conn.execute(
            select(EVENT_TIME_AS_TEXT).where(steps).order_by(Event.time.desc()).limit(1)
        )
        low, high = first.scalar(), last.scalar()
    if low is None or high is None:
        return []
    start: datetime = stored_time(low)
    end: datetime = stored_time(high)
    months = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months[::-1]
