"""``q2c validate`` and ``q2c accept``: order validation from the command line.

Exit codes: ``validate`` 0 for accept, 1 for needs_approval or reject, 2 for
usage errors (a malformed id, an unknown opportunity, Salesforce unreachable);
``accept`` 0 when accepted (or already accepted), 1 when refused or not done.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from services.cli_output import emit as _emit
from services.connections import open_systems
from services.console import open_console
from services.validation.service import Validation

__all__ = ["register"]

JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]
_MARK = {"pass": "ok  ", "warn": "warn", "fail": "FAIL", "unknown": "??  "}


def _validation() -> Validation:
    from services.cli_actions import _settings

    settings = _settings()
    return Validation(open_console(settings), open_systems(settings))


def validate(
    opportunity_id: Annotated[str, typer.Argument(help="Salesforce Opportunity id.")],
    as_json: JsonOpt = False,
) -> None:
    """Check an order against the systems of record before it is accepted."""
    out = _validation().validate(opportunity_id)
    if as_json:
        _emit(out.cli_dict())
    else:
        sys.stdout.write(f"{out.opportunity_id}: {out.verdict.upper()} ({out.summary})\n")
        for c in out.checks:
            sys.stdout.write(f"  {_MARK[c.status]} {c.id:<36} [{c.system}] {c.message}\n")
            if c.status != "pass" and c.remediation:
                sys.stdout.write(f"       -> {c.remediation}\n")
        if out.unreached:
            sys.stdout.write(f"not asked (unreachable): {', '.join(out.unreached)}\n")
    raise typer.Exit(0 if out.verdict == "accept" else 1)


def accept(
    opportunity_id: Annotated[str, typer.Argument(help="Salesforce Opportunity id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (goes on the record).")],
    reason_code: Annotated[str, typer.Option("--reason-code")],
    actor: Annotated[str, typer.Option("--actor")],
    role: Annotated[str, typer.Option("--role")],
    as_json: JsonOpt = False,
) -> None:
    """Accept a validated order: Salesforce is updated and the action recorded."""
    from services.cli_actions import _actor, _settings

    who = _actor(_settings(), actor, role)
    out = _validation().accept(opportunity_id, actor=who, reason=reason, reason_code=reason_code)
    if as_json:
        _emit(out.model_dump(mode="json"))
    else:
        sys.stdout.write(f"{out.opportunity_id}: {out.outcome}: {out.message}\n")
    raise typer.Exit(0 if out.outcome in ("accepted", "already_accepted") else 1)


def register(app: typer.Typer) -> None:
    """Add ``validate`` and ``accept`` to the ``q2c`` app."""
    app.command("validate")(validate)
    app.command("accept")(accept)
