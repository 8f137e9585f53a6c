"""Live confirmation: ask billing and the ERP what they say now about each difference.

The trace store shows what the integration did; this asks the systems of record
whether it still holds (a replay may have posted the invoice since, or someone
fixed it by hand). Billing is asked with ``get_invoice(number)``, the ERP with
``find_invoice(tran_id=...)`` (then ``external_id``). A system that cannot be
reached is reported on every row it could not answer, never raised; after it is
found down (unavailable, timed out, credentials refused) it is not asked again.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.connections import Systems
from services.errors import (
    AuthError,
    ConnectorError,
    ForbiddenError,
    Q2CError,
    TimedOut,
    Unavailable,
)
from services.reconcile_models import LiveCheck, LiveSide, Reconciliation, ReconRow
from services.reconcile_read import erp_period_label

__all__ = ["LIVE_LIMIT", "confirm", "unreachable"]

LIVE_LIMIT = 200  # rows asked about per run; the rest say "not checked"
_DOWN = (Unavailable, TimedOut, AuthError, ForbiddenError)


def _money(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _ref(value: Any) -> str | None:
    """A NetSuite reference (``{"refName": "USD"}``) or a plain value as text."""
    if isinstance(value, dict):
        value = value.get("refName") or value.get("id")
    return str(value) if value not in (None, "") else None


def _fmt(side: LiveSide) -> str:
    """What one system says, in a few words."""
    name = "billing" if side.system == "billing" else "ERP"
    if not side.reached:
        return f"{name} not reached ({side.message})"
    if not side.found:
        return f"{name}: no such invoice"
    amount = f"{side.amount:,.2f}" if side.amount is not None else "no amount"
    extra = ", ".join(x for x in (side.period, side.status) if x)
    return f"{name}: {amount} {side.currency or ''}".rstrip() + (f" ({extra})" if extra else "")


class _Asker:
    """Asks one system, remembering when it is down."""

    def __init__(self, systems: Systems | None, system: str, problem: str | None) -> None:
        self.system = system
        self.down: str | None = problem
        self.conn: Any = None
        if self.down is None and systems is not None:
            try:
                self.conn = systems.connector(system)
            except Q2CError as exc:
                self.down = str(exc)

    def ask(self, row: ReconRow) -> LiveSide:
        """What the system says about this row's invoice number now."""
        if self.down is not None or self.conn is None:
            message = self.down or "no connector"
            return LiveSide(system=self.system, reached=False, message=message)
        try:
            return self._billing(row) if self.system == "billing" else self._erp(row)
        except ConnectorError as exc:
            if isinstance(exc, _DOWN):
                self.down = str(exc)
            return LiveSide(system=self.system, reached=False, message=str(exc))

    def _billing(self, row: ReconRow) -> LiveSide:
        invoice = self.conn.get_invoice(row.invoice_number)
        if invoice is None:
            return LiveSide(system="billing", reached=True, found=False, message="not found")
        period = invoice.invoice_date.strftime("%Y-%m") if invoice.invoice_date else None
        return LiveSide(
            system="billing",
            reached=True,
            found=True,
            amount=invoice.amount,
            currency=invoice.currency,
            period=period,
            status=invoice.status,
            message="found",
        )

    def _erp(self, row: ReconRow) -> LiveSide:
        tran_id = (row.erp.invoice_number if row.erp else None) or row.invoice_number
        record = self.conn.find_invoice(tran_id=tran_id)
        if record is None:
            record = self.conn.find_invoice(external_id=row.invoice_number)
        if record is None:
            return LiveSide(system="erp", reached=True, found=False, message="not found")
        return LiveSide(
            system="erp",
            reached=True,
            found=True,
            amount=_money(record.get("total")),
            currency=_ref(record.get("currency")),
            period=erp_period_label(record.get("postingPeriod")),
            status=_ref(record.get("status")),
            message="found",
        )


def _verdict(billing: LiveSide, erp: LiveSide) -> tuple[bool | None, str]:
    """Whether the systems agree now, and the sentence that says so."""
    said = f"{_fmt(billing)}; {_fmt(erp)}"
    if not (billing.reached and erp.reached):
        return None, said
    if billing.found and erp.found:
        same_currency = (billing.currency or "").upper() == (erp.currency or "").upper()
        same_amount = (
            billing.amount is not None
            and erp.amount is not None
            and abs(billing.amount - erp.amount) <= Decimal("0.005")
        )
        if same_currency and same_amount:
            return True, f"both systems agree now: {said}"
        return False, f"still differs: {said}"
    return False, f"still differs: {said}"


def confirm(
    result: Reconciliation,
    systems: Systems | None,
    *,
    problem: str | None = None,
    limit: int = LIVE_LIMIT,
) -> Reconciliation:
    """The reconciliation with each difference confirmed against billing and the ERP.

    Args:
        result: a reconciliation from :func:`services.reconcile.reconcile`.
        systems: the connectors; None (with ``problem``) when they could not be built.
        problem: why no system can be asked (reported on every row).
        limit: at most this many rows are asked about.

    Returns:
        A copy whose non-matched rows carry ``live`` (matched rows are not asked).

    Example:
        >>> checked = confirm(result, open_systems(settings))
        >>> checked.rows[0].live.verdict
        'still differs: billing: 124,300.00 USD (2026-10, Posted); ERP: no such invoice'
    """
    billing = _Asker(systems, "billing", problem)
    erp = _Asker(systems, "erp", problem)
    rows = []
    asked = 0
    for row in result.rows:
        if row.status == "matched":
            rows.append(row)
            continue
        if asked >= limit:
            skipped = LiveSide(system="billing", reached=False, message=f"over {limit} rows")
            live = LiveCheck(
                billing=skipped,
                erp=skipped.model_copy(update={"system": "erp"}),
                agrees=None,
                verdict=f"not checked: only the first {limit} differences are asked about",
            )
        else:
            asked += 1
            b, e = billing.ask(row), erp.ask(row)
            agrees, verdict = _verdict(b, e)
            live = LiveCheck(billing=b, erp=e, agrees=agrees, verdict=verdict)
        rows.append(row.model_copy(update={"live": live}))
    return result.model_copy(update={"rows": rows, "live_checked": True})


def unreachable(result: Reconciliation, problem: str) -> Reconciliation:
    """Every difference marked "not reached" with ``problem`` (the systems could not be built)."""
    return confirm(result, None, problem=problem)
