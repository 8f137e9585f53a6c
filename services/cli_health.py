"""``q2c health`` and ``q2c alerts check``: the health figures and threshold alerts.

Exit codes: ``health`` 0 (2 for a bad window or an unreachable store);
``alerts check`` 0 when nothing fires and every due post went out, 1 when an alert
fires or a webhook post failed (it is retried on the next check), 2 for usage or
store errors. Meant for cron: ``*/5 * * * * q2c alerts check --json``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import httpx
import typer

from services.alerts import AlertCheckOut, check_alerts, load_alert_rules
from services.cli_output import emit as _emit
from services.console import Console, open_console
from services.health import HealthOut, compute_health, rebuild_rollups, verify_rollups
from services.timeparse import parse_when

__all__ = ["register", "run_alerts_check", "run_health"]

JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Window start: 7d, 24h, 2026-11-01 (default: open).")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Window end (default: open, up to now).")
]


def _console() -> Console:
    from services.cli_actions import _settings

    return open_console(_settings())


def run_health(console: Console, since: str | None, until: str | None) -> HealthOut:
    """The health figures for the window given as option text (errors name the option)."""
    return compute_health(
        engine=console.engine,
        since=parse_when(since, name="--since") if since else None,
        until=parse_when(until, name="--until") if until else None,
        stuck_after=console.stuck_after,
        sla_minutes=console.settings.sla_minutes,
    )


def run_alerts_check(console: Console, client: httpx.Client | None = None) -> AlertCheckOut:
    """Evaluate the configured rules once and post what changed."""
    settings = console.settings
    return check_alerts(
        engine=console.engine,
        rules=load_alert_rules(settings.alert_rules),
        flows=sorted(console.catalog.flows),
        stuck_after=console.stuck_after,
        sla_minutes=settings.sla_minutes,
        webhook_url=settings.alert_webhook_url,
        client=client,
    )


def _print_health(h: HealthOut) -> None:
    w = h.window
    out = sys.stdout.write
    out(f"window {w['since'] or '(open)'} .. {w['until'] or '(open)'}: {h.total:,} transactions\n")
    out("  " + "  ".join(f"{s} {n:,}" for s, n in h.by_status.items()) + "\n")
    rate = "-" if h.overall_success_rate is None else f"{h.overall_success_rate}%"
    out(f"success rate {rate}\n")
    for kind, rates in h.success_rate.items():
        shown = ", ".join(f"{k} {'-' if v is None else f'{v}%'}" for k, v in rates.items())
        out(f"  {kind.removeprefix('by_')}: {shown or '-'}\n")
    for flow, p in h.latency_ms.items():
        out(f"latency {flow}: p50 {p['p50'] / 1000:,.0f} s, p95 {p['p95'] / 1000:,.0f} s\n")
    out("backlog " + ", ".join(f"{b} {n:,}" for b, n in h.backlog.items()) + "\n")
    breaches = ", ".join(f"{f} {n:,}" for f, n in h.sla_breaches.items())
    out(f"SLA breaches {breaches or 'none'}\n")
    money = ", ".join(f"{c} {a:,}" for c, a in h.money_at_risk.items())
    out(f"money at risk {money or 'none'}\n")
    for e in h.errors[:10]:
        out(f"  {e['count']:>6,}  {e['category']} / {e['origin']}  {e['code']}\n")


def health(
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify", help="Check the roll-ups against the rows (exit 1 if they differ)."
        ),
    ] = False,
    rebuild: Annotated[
        bool,
        typer.Option("--rebuild", help="Recompute the roll-ups from the stored transactions."),
    ] = False,
) -> None:
    """Health figures of the transactions active in a window (default: all of them)."""
    console = _console()
    if rebuild:
        n = rebuild_rollups(console.engine)
        sys.stdout.write(f"rebuilt the health roll-ups from {n:,} transactions\n")
        return
    if verify:
        _verify(console, since, until)
        return
    figures = run_health(console, since, until)
    if as_json:
        _emit(figures.cli_dict())
    else:
        _print_health(figures)


def _verify(console: Console, since: str | None, until: str | None) -> None:
    differ = verify_rollups(
        engine=console.engine,
        since=parse_when(since, name="--since") if since else None,
        until=parse_when(until, name="--until") if until else None,
        stuck_after=console.stuck_after,
        sla_minutes=console.settings.sla_minutes,
    )
    if differ:
        sys.stdout.write(
            f"the roll-ups differ from the rows in: {', '.join(differ)}; run q2c health --rebuild\n"
        )
        raise typer.Exit(1)
    sys.stdout.write("the roll-ups agree with the rows\n")


def check(as_json: JsonOpt = False) -> None:
    """Evaluate the alert rules; post to Q2C_ALERT_WEBHOOK_URL when one starts or stops."""
    out = run_alerts_check(_console())
    if as_json:
        _emit(out.model_dump(mode="json"))
    else:
        for a in out.alerts:
            mark = "FIRING" if a.firing else "ok    "
            posted = f"  posted {a.posted}" if a.posted else ""
            sys.stdout.write(f"{mark} {a.rule_id}: {a.value} ({a.op} {a.threshold}){posted}\n")
    for problem in out.post_errors:
        sys.stderr.write(f"error: {problem} (will retry on the next check)\n")
    raise typer.Exit(1 if out.firing or out.post_errors else 0)


def register(app: typer.Typer) -> None:
    """Add ``health`` and ``alerts check`` to the ``q2c`` app."""
    app.command("health")(health)
    alerts = typer.Typer(no_args_is_help=True, help="Threshold alerts on the health figures.")
    alerts.command("check")(check)
    app.add_typer(alerts, name="alerts")
