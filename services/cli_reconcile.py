"""``q2c reconcile --period YYYY-MM [--live] [--json]``: billing invoices against ERP postings.

Exit codes: 0 every invoice of the period matched (or the period has none), 1 there
are differences, 2 usage errors (a period that is not YYYY-MM, an unreachable store).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from services.cli_output import emit as _emit
from services.connections import open_systems
from services.console import open_console
from services.errors import Q2CError
from services.reconcile import reconcile_period
from services.reconcile_live import confirm, unreachable
from services.reconcile_models import Reconciliation, parse_period
from services.settings import Settings, load_settings

__all__ = ["reconcile", "register"]

SHOWN = 50  # differing rows printed without --json
_LABELS = {
    "matched": "matched",
    "missing_in_erp": "missing in ERP",
    "missing_in_billing": "missing in billing",
    "amount_mismatch": "amount mismatch",
    "currency_mismatch": "currency mismatch",
}


def _settings(database: str | None) -> Settings:
    from services.cli import _state

    return load_settings(database_url=database or _state.get("database"))


def _live(result: Reconciliation, settings: Settings) -> Reconciliation:
    """Each difference confirmed with the systems; a failure to start them is reported."""
    try:
        systems = open_systems(settings)
    except Q2CError as exc:
        return unreachable(result, str(exc))
    return confirm(result, systems)


def _money(value: Any) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _print(result: Reconciliation) -> None:
    """The human-readable report: summary, totals, the differing rows."""
    out = sys.stdout
    counts = ", ".join(f"{_LABELS[s]} {n}" for s, n in result.summary.items())
    out.write(f"period {result.period}: {counts}\n")
    if not result.rows:
        out.write("no billing invoice or ERP posting in this period\n")
        return
    out.write("\ntotals (per legal entity and currency)\n")
    out.write(f"  {'entity':<8} {'cur':<4} {'billing':>18} {'ERP':>18} {'difference':>16}\n")
    for t in result.totals:
        out.write(
            f"  {t.legal_entity or '-':<8} {t.currency or '-':<4} {_money(t.billing):>18} "
            f"{_money(t.erp):>18} {_money(t.difference):>16}\n"
        )
    differing = [r for r in result.rows if r.status != "matched"]
    if differing:
        out.write("\ndifferences\n")
    for r in differing[:SHOWN]:
        b = f"{_money(r.billing.amount)} {r.billing.currency or ''}" if r.billing else "-"
        e = f"{_money(r.erp.amount)} {r.erp.currency or ''}" if r.erp else "-"
        out.write(
            f"  {r.invoice_number:<14} {_LABELS[r.status]:<18} billing {b:<20} ERP {e:<20} "
            f"{r.note or ''}  [{' '.join(r.transactions)}]\n"
        )
        if r.live is not None:
            out.write(f"      now: {r.live.verdict}\n")
    if len(differing) > SHOWN:
        out.write(f"  ... {len(differing) - SHOWN} more (use --json)\n")
    if result.skipped:
        out.write(f"\n{result.skipped} succeeded steps named no invoice number (not matched)\n")


def reconcile(
    period: Annotated[str, typer.Option("--period", help="Accounting period, YYYY-MM.")],
    live: Annotated[
        bool, typer.Option("--live", help="Confirm each difference with billing and the ERP.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    database: Annotated[
        str | None, typer.Option("--database", help="SQLAlchemy URL; default Q2C_DATABASE_URL.")
    ] = None,
) -> None:
    """Reconcile billing invoices against ERP postings; exit 1 when anything differs."""
    month = parse_period(period)  # a bad period is a usage error before the store is opened
    settings = _settings(database)
    console = open_console(settings)
    try:
        result = reconcile_period(console, month.label)
        if live:
            result = _live(result, settings)
    finally:
        console.engine.dispose()
    if as_json:
        _emit(result.cli_dict())
    else:
        _print(result)
    raise typer.Exit(1 if result.differences else 0)


def register(app: typer.Typer) -> None:
    """Add ``reconcile`` to the ``q2c`` app."""
    app.command("reconcile")(reconcile)
