"""What a reconciliation reads and returns: the accounting period and the result models.

Money is ``Decimal`` throughout (serialised as a string in JSON); amounts in
different currencies are never added together.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.errors import InputError

__all__ = [
    "DIFFERENCES",
    "LiveCheck",
    "LiveSide",
    "Period",
    "ReconRow",
    "ReconTotal",
    "Reconciliation",
    "STATUSES",
    "SUMMARY_ORDER",
    "Side",
    "Status",
    "parse_period",
]

Status = Literal[
    "matched", "missing_in_erp", "missing_in_billing", "amount_mismatch", "currency_mismatch"
]
# In the order rows are listed: the worst first.
STATUSES: tuple[Status, ...] = (
    "currency_mismatch",
    "amount_mismatch",
    "missing_in_erp",
    "missing_in_billing",
    "matched",
)
DIFFERENCES: tuple[Status, ...] = STATUSES[:-1]
# The order of ``summary``.
SUMMARY_ORDER: tuple[Status, ...] = (
    "matched",
    "missing_in_erp",
    "missing_in_billing",
    "amount_mismatch",
    "currency_mismatch",
)

_PERIOD = re.compile(r"(\d{4})-(\d{2})")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Period:
    """One accounting period: a calendar month."""

    year: int
    month: int

    @property
    def label(self) -> str:
        """``2026-10``."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def erp_name(self) -> str:
        """The ERP's period name, ``Oct 2026``."""
        return f"{_MONTHS[self.month - 1]} {self.year}"

    @property
    def start(self) -> datetime:
        """First instant of the period (naive UTC)."""
        return datetime(self.year, self.month, 1)

    @property
    def end(self) -> datetime:
        """First instant after the period (naive UTC)."""
        if self.month == 12:
            return datetime(self.year + 1, 1, 1)
        return datetime(self.year, self.month + 1, 1)


def parse_period(text: str) -> Period:
    """``2026-10`` -> :class:`Period`.

    Raises:
        InputError: anything but a YYYY-MM month (``2026-13``, ``2026-1``, ``abc``).

    Example:
        >>> parse_period("2026-10").erp_name
        'Oct 2026'
    """
    found = _PERIOD.fullmatch((text or "").strip())
    if found is None or not 1 <= int(found[2]) <= 12 or int(found[1]) < 1:
        raise InputError(
            f"period {text!r} is not an accounting period: expected YYYY-MM, e.g. 2026-10"
        )
    return Period(int(found[1]), int(found[2]))


class Side(BaseModel):
    """One system's document for an invoice number: billing's invoice or ERP's posting."""

    system: str  # billing | erp
    invoice_number: str
    amount: Decimal | None = None
    currency: str | None = None
    legal_entity: str | None = None
    date: dt.date | None = None  # billing: invoice date; ERP: transaction date
    period: str | None = None  # YYYY-MM the document belongs to
    customer: str | None = None
    document_id: str | None = None  # the ERP's internal id
    transaction_id: str
    time: datetime  # when the step succeeded (naive UTC)
    postings: int = 1  # distinct documents for this number (more than 1: a duplicate)
    transaction_ids: list[str] = Field(default_factory=list)


class LiveSide(BaseModel):
    """What one system says now about an invoice number."""

    system: str
    reached: bool
    found: bool | None = None  # None when not reached
    amount: Decimal | None = None
    currency: str | None = None
    period: str | None = None
    status: str | None = None
    message: str


class LiveCheck(BaseModel):
    """Both systems asked about one row, and a one-line verdict."""

    billing: LiveSide
    erp: LiveSide
    agrees: bool | None  # None when a system could not be asked
    verdict: str


class ReconRow(BaseModel):
    """One invoice number in the period."""

    invoice_number: str
    status: Status
    legal_entity: str | None = None
    billing: Side | None = None
    erp: Side | None = None
    difference: Decimal | None = None  # billing - ERP, same currency only
    note: str | None = None
    transactions: list[str] = Field(default_factory=list)
    live: LiveCheck | None = None

    def cli_dict(self) -> dict[str, Any]:
        """The row as ``q2c reconcile --json`` prints it."""
        return self.model_dump(mode="json", exclude_none=False)


class ReconTotal(BaseModel):
    """Totals of one legal entity in one currency (never summed across currencies)."""

    legal_entity: str | None
    currency: str | None
    billing: Decimal = Decimal("0")
    erp: Decimal = Decimal("0")
    difference: Decimal = Decimal("0")
    billing_count: int = 0
    erp_count: int = 0


class Reconciliation(BaseModel):
    """Billing invoices against ERP postings for one period."""

    period: str
    summary: dict[str, int]
    totals: list[ReconTotal]
    rows: list[ReconRow]
    skipped: int = 0  # succeeded steps without an invoice number (cannot be matched)
    live_checked: bool = False

    @property
    def differences(self) -> int:
        """Rows that are not matched."""
        return sum(n for status, n in self.summary.items() if status != "matched")

    def cli_dict(self) -> dict[str, Any]:
        """The JSON ``q2c reconcile --json`` prints."""
        return {
            "period": self.period,
            "summary": dict(self.summary),
            "totals": [t.model_dump(mode="json") for t in self.totals],
            "rows": [r.cli_dict() for r in self.rows],
            "skipped": self.skipped,
            "live_checked": self.live_checked,
        }
