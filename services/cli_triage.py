"""``q2c triage`` and ``q2c classify``: triage state of a failed transaction, and what
kinds of failure the store holds.

``q2c triage KEY --state assigned --assignee raj --reason ... --reason-code other
--actor ana --role support`` records the change (an audit entry) with the same role
checks as the Trace page. ``q2c classify`` counts failed transactions by their failed
step's category and origin (the error rules in ``Q2C_ERROR_RULES`` or the built-in
ones). Exit codes: 0 done, 1 refused, 2 usage, file or database errors.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from services.cli_output import emit as _emit
from services.console import open_console
from services.errors import InputError
from services.replay_plan import find_target
from services.roles import Actor, PermissionDenied, authorize
from services.settings import Settings, load_settings
from services.timeparse import check_window, parse_when
from services.triage.classify import load_rules
from services.triage.state import STATE_ACTIONS, TRIAGE_STATES, record_triage
from services.triage.views import failure_breakdown

__all__ = ["classify", "register", "triage"]

JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]


def _settings() -> Settings:
    from services.cli import _state

    return load_settings(database_url=_state.get("database"))


def _actor(settings: Settings, name: str, role: str) -> Actor:
    if settings.mode != "demo":
        raise PermissionDenied(
            "--role is accepted in demo mode only; production identity is not configured"
        )
    return Actor(name, role)


def triage(
    key: Annotated[str, typer.Argument(help="Any key of the transaction.")],
    state: Annotated[str, typer.Option("--state", help=" | ".join(TRIAGE_STATES))],
    reason: Annotated[str, typer.Option("--reason", help="Why (goes on the record).")],
    reason_code: Annotated[str, typer.Option("--reason-code", help="One of Q2C_REASON_CODES.")],
    actor: Annotated[str, typer.Option("--actor", help="Who acts.")],
    role: Annotated[str, typer.Option("--role", help="viewer, support, revops or admin.")],
    assignee: Annotated[
        str | None, typer.Option("--assignee", help="Who takes it (with --state assigned).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Set the triage state of a transaction: acknowledged, assigned, resolved, ignored, open."""
    if state not in STATE_ACTIONS:
        raise InputError(f"unknown --state {state!r}; use one of: {', '.join(TRIAGE_STATES)}")
    settings = _settings()
    who = _actor(settings, actor, role)
    authorize(who, STATE_ACTIONS[state], settings)  # refused before any look-up
    console = open_console(settings)
    traces = console.find_traces(key)
    if len(traces) != 1:
        find_target(traces, key, None)  # raises the right one-line message
    trace = traces[0]
    entry = record_triage(
        console.engine,
        settings,
        transaction_id=trace.transaction_id,
        status=trace.status,
        action=STATE_ACTIONS[state],
        actor=who,
        reason=reason,
        reason_code=reason_code,
        assignee=assignee,
        step=trace.failed_step.replace(" ", ".") if trace.failed_step else None,
    )
    if as_json:
        _emit(
            {
                "transaction_id": trace.transaction_id,
                "state": state,
                "assignee": (entry.detail or {}).get("assignee"),
                "previous": (entry.detail or {}).get("from"),
                "audit": entry.to_dict(),
            }
        )
        return
    to = f" to {assignee.strip()}" if state == "assigned" and assignee else ""
    sys.stdout.write(
        f"{trace.transaction_id}: {state}{to} (was {(entry.detail or {}).get('from')}), "
        f"recorded as audit entry {entry.seq}\n"
    )


def classify(
    since: Annotated[str | None, typer.Option(help="2026-05-11, RFC 3339, or 24h / 7d.")] = None,
    until: Annotated[str | None, typer.Option(help="End of the window.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Count failed transactions by their failed step's category and origin."""
    start = parse_when(since, name="--since") if since else None
    end = parse_when(until, name="--until") if until else None
    check_window(start, end, names=("--since", "--until"))
    settings = _settings()
    rules = load_rules(settings.error_rules)
    found = failure_breakdown(
        engine=open_console(settings).engine, rules=rules, since=start, until=end
    )
    if as_json:
        _emit(found.model_dump())
        return
    out = sys.stdout
    out.write(f"{found.failed} failed transaction{'s' if found.failed != 1 else ''}\n")
    if not found.failed:
        return
    width = max(len(p["category"]) for p in found.pairs)
    out.write(f"\n{'category':<{width}}  {'origin':<22}  count\n")
    for p in found.pairs:
        out.write(f"{p['category']:<{width}}  {p['origin']:<22}  {p['count']:>5}\n")
    for title, counts in (
        ("by category", found.categories),
        ("by origin", found.origins),
        ("by triage state", found.triage),
    ):
        out.write(f"\n{title}: " + ", ".join(f"{k} {n}" for k, n in counts.items()) + "\n")


def register(app: typer.Typer) -> None:
    """Add ``triage`` and ``classify`` to the ``q2c`` app."""
    app.command("triage")(triage)
    app.command("classify")(classify)
