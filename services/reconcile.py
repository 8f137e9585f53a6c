"""Reconciliation: billing invoices against ERP invoice postings for one accounting period.

A billing invoice (a succeeded billing ``invoice.create`` step whose invoice date
is in the period) is matched by invoice number with an ERP posting (a succeeded
erp ``invoice.post`` step whose posting period, else transaction date, is in the
period). Each invoice number gets one status:

- ``matched``: same currency, amounts equal within ``TOLERANCE`` (0.005)
- ``amount_mismatch``: same currency, amounts differ (or one side has none)
- ``currency_mismatch``: the two sides name different currencies
- ``missing_in_erp`` / ``missing_in_billing``: only one side is in the period

Totals are per legal entity and currency, never summed across currencies. The
optional live confirmation is :mod:`services.reconcile_live`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from services.console import Console
from services.reconcile_models import (
    DIFFERENCES,
    STATUSES,
    SUMMARY_ORDER,
    Period,
    Reconciliation,
    ReconRow,
    ReconTotal,
    Side,
    Status,
    parse_period,
)
from services.reconcile_read import data_months, read_sides

__all__ = [
    "DIFFERENCES",
    "ROW_COLUMNS",
    "STATUSES",
    "TOLERANCE",
    "Reconciliation",
    "default_statuses",
    "period_choices",
    "reconcile",
    "reconcile_period",
    "rows_csv",
    "table_rows",
    "totals_csv",
    "totals_rows",
    "unconfirmed",
    "with_statuses",
]

TOLERANCE = Decimal("0.005")
ROW_COLUMNS = (
    "status",
    "invoice_number",
    "legal_entity",
    "billing_amount",
    "billing_currency",
    "billing_date",
    "erp_amount",
    "erp_currency",
    "erp_period",
    "erp_id",
    "difference",
    "note",
    "live",
    "transactions",
)


def _compare(billing: Side, erp: Side, tolerance: Decimal) -> tuple[Status, Decimal | None, str]:
    """Status, difference (billing - ERP) and a note for a number both systems have."""
    if billing.currency and erp.currency and billing.currency != erp.currency:
        return "currency_mismatch", None, f"billing {billing.currency}, ERP {erp.currency}"
    if billing.amount is None or erp.amount is None:
        which = "billing" if billing.amount is None else "ERP"
        return "amount_mismatch", None, f"no amount in {which}"
    diff = billing.amount - erp.amount
    if abs(diff) > tolerance:
        return "amount_mismatch", diff, f"billing - ERP = {diff:,}"
    return "matched", diff, ""


def _extra_notes(billing: Side | None, erp: Side | None) -> list[str]:
    """Duplicates on either side."""
    notes = []
    if billing is not None and billing.postings > 1:
        notes.append(f"created {billing.postings} times in billing")
    if erp is not None and erp.postings > 1:
        notes.append(f"posted {erp.postings} times in ERP (a duplicate posting)")
    return notes


def _row(
    number: str,
    billing: Side | None,
    erp: Side | None,
    elsewhere: dict[str, Side],
    tolerance: Decimal,
) -> ReconRow:
    """One invoice number of the period, compared."""
    difference: Decimal | None = None
    status: Status
    if billing is not None and erp is not None:
        status, difference, note = _compare(billing, erp, tolerance)
    elif billing is not None:
        status = "missing_in_erp"
        other = elsewhere.get(number)
        note = f"posted in ERP to {other.period}" if other else "no succeeded ERP posting"
    else:
        status = "missing_in_billing"
        other = elsewhere.get(number)
        note = (
            f"billing invoice dated {other.date} (period {other.period})"
            if other
            else "no succeeded billing invoice"
        )
    notes = [n for n in (note, *_extra_notes(billing, erp)) if n]
    txs = [*(billing.transaction_ids if billing else []), *(erp.transaction_ids if erp else [])]
    return ReconRow(
        invoice_number=number,
        status=status,
        legal_entity=(billing.legal_entity if billing else None)
        or (erp.legal_entity if erp else None),
        billing=billing,
        erp=erp,
        difference=difference,
        note="; ".join(notes) or None,
        transactions=list(dict.fromkeys(txs)),
    )


def _totals(billing: list[Side], erp: list[Side]) -> list[ReconTotal]:
    """Per legal entity and currency: each side's sum and billing - ERP."""
    groups: dict[tuple[str | None, str | None], ReconTotal] = {}
    for side in (*billing, *erp):
        key = (side.legal_entity, side.currency)
        total = groups.setdefault(key, ReconTotal(legal_entity=key[0], currency=key[1]))
        amount = side.amount or Decimal("0")
        if side.system == "billing":
            total.billing += amount
            total.billing_count += 1
        else:
            total.erp += amount
            total.erp_count += 1
    for total in groups.values():
        total.difference = total.billing - total.erp
    return [groups[k] for k in sorted(groups, key=lambda k: (k[0] or "", k[1] or ""))]


def reconcile(
    *, engine: Engine, period: str | Period, tolerance: Decimal = TOLERANCE
) -> Reconciliation:
    """Billing invoices against ERP postings for one period, from the trace store.

    Args:
        engine: the trace store.
        period: ``YYYY-MM`` (or a parsed :class:`Period`).
        tolerance: the largest amount difference still counted as matched.

    Returns:
        Rows (differences first), a count per status and totals per legal entity
        and currency.

    Raises:
        InputError: ``period`` is not YYYY-MM.

    Example:
        >>> result = reconcile(engine=console.engine, period="2026-10")
        >>> result.summary["missing_in_erp"]
        64
    """
    month = period if isinstance(period, Period) else parse_period(period)
    billing_all, erp_all, skipped = read_sides(engine=engine, period=month)
    billing = {s.invoice_number: s for s in billing_all if s.period == month.label}
    erp = {s.invoice_number: s for s in erp_all if s.period == month.label}
    billing_elsewhere = {s.invoice_number: s for s in billing_all if s.period != month.label}
    erp_elsewhere = {s.invoice_number: s for s in erp_all if s.period != month.label}
    rows = []
    for number in sorted(billing.keys() | erp.keys()):
        b, e = billing.get(number), erp.get(number)
        elsewhere = erp_elsewhere if e is None else billing_elsewhere
        rows.append(_row(number, b, e, elsewhere, tolerance))
    rank = {status: i for i, status in enumerate(STATUSES)}
    rows.sort(key=lambda r: (rank[r.status], r.invoice_number))
    summary = {status: 0 for status in SUMMARY_ORDER}
    for row in rows:
        summary[row.status] += 1
    return Reconciliation(
        period=month.label,
        summary=summary,
        totals=_totals(list(billing.values()), list(erp.values())),
        rows=rows,
        skipped=skipped,
    )


def reconcile_period(console: Console, period: str) -> Reconciliation:
    """:func:`reconcile` on the console's store (what pages and the CLI call)."""
    return reconcile(engine=console.engine, period=period)


def period_choices(console: Console) -> list[str]:
    """Months (YYYY-MM, newest first) the store has billing or ERP invoice steps in."""
    return data_months(engine=console.engine)


def _amount(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def table_rows(result: Reconciliation) -> list[dict[str, Any]]:
    """The rows flattened for a table or a CSV file (columns ``ROW_COLUMNS``)."""
    out = []
    for r in result.rows:
        b, e = r.billing, r.erp
        out.append(
            {
                "status": r.status,
                "invoice_number": r.invoice_number,
                "legal_entity": r.legal_entity or "",
                "billing_amount": _amount(b.amount) if b else "",
                "billing_currency": (b.currency or "") if b else "",
                "billing_date": str(b.date or "") if b else "",
                "erp_amount": _amount(e.amount) if e else "",
                "erp_currency": (e.currency or "") if e else "",
                "erp_period": (e.period or "") if e else "",
                "erp_id": (e.document_id or "") if e else "",
                "difference": _amount(r.difference),
                "note": r.note or "",
                "live": r.live.verdict if r.live else "",
                "transactions": " ".join(r.transactions),
            }
        )
    return out


def _csv(rows: list[dict[str, Any]], header: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def rows_csv(result: Reconciliation) -> str:
    """Every row as CSV (one line per invoice number)."""
    return _csv(table_rows(result), list(ROW_COLUMNS))


def totals_csv(result: Reconciliation) -> str:
    """Totals per legal entity and currency as CSV."""
    rows = [
        {
            "legal_entity": t.legal_entity or "",
            "currency": t.currency or "",
            "billing": _amount(t.billing),
            "erp": _amount(t.erp),
            "difference": _amount(t.difference),
            "billing_count": t.billing_count,
            "erp_count": t.erp_count,
        }
        for t in result.totals
    ]
    header = ["legal_entity", "currency", "billing", "erp", "difference"]
    return _csv(rows, [*header, "billing_count", "erp_count"])


def default_statuses(result: Reconciliation) -> list[Status]:
    """The statuses a status filter starts on: the differences found, else ``matched``."""
    differing: list[Status] = [s for s in STATUSES if s != "matched" and result.summary.get(s)]
    return differing or ["matched"]


def with_statuses(result: Reconciliation, statuses: Iterable[str] | None) -> Reconciliation:
    """The result keeping only the rows whose status is one of ``statuses`` (none if None)."""
    keep = set(statuses or [])
    return result.model_copy(update={"rows": [r for r in result.rows if r.status in keep]})


def unconfirmed(result: Reconciliation) -> list[ReconRow]:
    """Rows asked about live whose systems could not both be asked."""
    return [r for r in result.rows if r.live is not None and r.live.agrees is None]


def totals_rows(result: Reconciliation) -> list[dict[str, Any]]:
    """Totals per legal entity and currency, shaped for a table (amounts as floats)."""
    return [
        {
            "Legal entity": t.legal_entity or "",
            "Currency": t.currency or "",
            "Billing": float(t.billing),
            "ERP": float(t.erp),
            "Difference": float(t.difference),
            "Billing invoices": t.billing_count,
            "ERP postings": t.erp_count,
        }
        for t in result.totals
    ]
