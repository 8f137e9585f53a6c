"""``q2c replay``, ``resubmit``, ``acknowledge``/``resolve``/``ignore`` and ``audit``.

The same services as the Trace and Audit pages, with the same role checks:
``--actor`` and ``--role`` say who acts (demo mode; outside it, actions need a
configured identity and are refused). Exit codes: 0 done (or a dry run), 1 the
action did not succeed or was refused, 2 usage, file or database errors.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from services.audit import entries, export, verify, verify_file
from services.cli_output import emit as _emit
from services.connections import open_systems
from services.console import open_console
from services.errors import InputError
from services.replay import ActionResult, Actions
from services.roles import Actor, PermissionDenied
from services.settings import Settings, load_settings

__all__ = ["audit_app", "register"]

ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (goes on the record).")]
CodeOpt = Annotated[str, typer.Option("--reason-code", help="One of Q2C_REASON_CODES.")]
ActorOpt = Annotated[str, typer.Option("--actor", help="Who acts.")]
RoleOpt = Annotated[str, typer.Option("--role", help="viewer, support, revops or admin.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]
StepOpt = Annotated[
    str | None, typer.Option("--step", help="SYSTEM.OPERATION; default: the failed step.")
]
DryOpt = Annotated[bool, typer.Option("--dry-run", help="Check the target, send nothing.")]

audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
_DONE = {"succeeded", "linked", "dry_run"}


def _settings() -> Settings:
    from services.cli import _state

    return load_settings(database_url=_state.get("database"))


def _actor(settings: Settings, name: str, role: str) -> Actor:
    if settings.mode != "demo":
        raise PermissionDenied(
            "--role is accepted in demo mode only; production identity is not configured"
        )
    return Actor(name, role)


def _actions(settings: Settings) -> Actions:
    return Actions(open_console(settings), open_systems(settings))


def _request_line(result: ActionResult) -> dict[str, Any]:
    """One request sent, as ``--json`` names it."""
    return {
        "system": result.step.split(".", 1)[0],
        "step": result.step,
        "idempotency_key": result.idempotency_key,
        "outcome": result.outcome,
    }


def _report(result: ActionResult, as_json: bool) -> None:
    if as_json:
        out = result.model_dump(mode="json")
        out["requests"] = [_request_line(result)] if result.sent else []
        _emit(out)
    else:
        check = result.target_check.message if result.target_check else ""
        sys.stdout.write(f"{result.transaction_id} {result.step}: {result.outcome}\n")
        if check:
            sys.stdout.write(f"  target check: {check}\n")
        sys.stdout.write(f"  {result.message}\n")
        if result.diff:
            for d in result.diff:
                sys.stdout.write(
                    f"  {d['path']}: {json.dumps(d.get('old'))} -> {json.dumps(d.get('new'))}\n"
                )
        if result.audit_seq:
            sys.stdout.write(f"  recorded as audit entry {result.audit_seq}\n")
    raise typer.Exit(0 if result.outcome in _DONE else 1)


def replay(
    key: Annotated[str, typer.Argument(help="Any key of the transaction.")],
    reason: ReasonOpt,
    reason_code: CodeOpt,
    actor: ActorOpt,
    role: RoleOpt,
    step: StepOpt = None,
    dry_run: DryOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Send a failed step again: same request, same idempotency key, target checked first."""
    settings = _settings()
    who = _actor(settings, actor, role)
    result = _actions(settings).replay(
        key=key, step=step, actor=who, reason=reason, reason_code=reason_code, dry_run=dry_run
    )
    _report(result, as_json)


def _payload(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None


def resubmit(
    key: Annotated[str, typer.Argument(help="Any key of the transaction.")],
    payload: Annotated[str, typer.Option("--payload", help="Edited request JSON file (- stdin).")],
    reason: ReasonOpt,
    reason_code: CodeOpt,
    actor: ActorOpt,
    role: RoleOpt,
    step: StepOpt = None,
    dry_run: DryOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Send an edited request (schema-checked, diffed) with a new idempotency key."""
    settings = _settings()
    who = _actor(settings, actor, role)
    body = _payload(payload)
    result = _actions(settings).resubmit(
        key=key,
        step=step,
        payload=body,
        actor=who,
        reason=reason,
        reason_code=reason_code,
        dry_run=dry_run,
    )
    _report(result, as_json)


def continue_(
    key: Annotated[str, typer.Argument(help="Any key of the transaction.")],
    reason: ReasonOpt,
    reason_code: CodeOpt,
    actor: ActorOpt,
    role: RoleOpt,
    dry_run: DryOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """After the failed step succeeded: run the flow's remaining steps, stop at a failure."""
    from services.replay_continue import continue_flow

    settings = _settings()
    who = _actor(settings, actor, role)
    result = continue_flow(
        _actions(settings),
        key=key,
        actor=who,
        reason=reason,
        reason_code=reason_code,
        dry_run=dry_run,
    )
    if as_json:
        out = result.model_dump(mode="json")
        out["requests"] = [_request_line(r) for r in result.steps if r.sent]
        _emit(out)
    else:
        for r in result.steps:
            sys.stdout.write(f"{r.step}: {r.outcome}: {r.message}\n")
        if result.stopped:
            sys.stdout.write(f"stopped at {result.stopped}\n")
        else:
            sys.stdout.write("every remaining step succeeded\n")
    raise typer.Exit(0 if result.stopped is None or dry_run else 1)


def _note(action: str) -> Callable[..., None]:
    def command(
        key: Annotated[str, typer.Argument(help="Any key of the transaction.")],
        reason: ReasonOpt,
        reason_code: CodeOpt,
        actor: ActorOpt,
        role: RoleOpt,
        as_json: JsonOpt = False,
    ) -> None:
        settings = _settings()
        who = _actor(settings, actor, role)
        entry = _actions(settings).note(
            key=key, action=action, actor=who, reason=reason, reason_code=reason_code
        )
        if as_json:
            _emit(entry.to_dict())
        else:
            sys.stdout.write(
                f"{entry.transaction_id}: {action} recorded as audit entry {entry.seq}\n"
            )

    command.__doc__ = f"Record '{action}' on a transaction (with a reason)."
    return command


@audit_app.command("verify")
def audit_verify(
    file: Annotated[
        Path | None, typer.Option("--file", help="Verify a JSONL export instead of the store.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the hash chain; name every edited, deleted or reordered entry."""
    result = verify_file(file) if file else verify(open_console(_settings()).engine)
    if as_json:
        _emit(result.to_dict())
    elif result.ok:
        sys.stdout.write(f"audit log intact: {result.entries} entries, head {result.head[:16]}\n")
    else:
        sys.stdout.write(f"audit log NOT intact ({result.entries} entries read):\n")
        for problem in result.problems:
            sys.stdout.write(f"  {problem}\n")
    raise typer.Exit(0 if result.ok else 1)


@audit_app.command("export")
def audit_export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    out: Annotated[Path | None, typer.Option("--out", help="File; default stdout.")] = None,
) -> None:
    """Write every entry, oldest first (JSONL verifies with `q2c audit verify --file`)."""
    engine = open_console(_settings()).engine
    if fmt not in ("jsonl", "csv"):
        raise InputError(f"unknown format {fmt!r}: use jsonl or csv")
    if out is None:
        export(engine, sys.stdout, fmt=fmt)
        return
    with out.open("w", encoding="utf-8", newline="") as handle:
        count = export(engine, handle, fmt=fmt)
    sys.stderr.write(f"{count} entries written to {out}\n")


@audit_app.command("list")
def audit_list(
    transaction: Annotated[str | None, typer.Option("--transaction")] = None,
    actor: Annotated[str | None, typer.Option("--actor")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The newest entries."""
    rows = entries(
        open_console(_settings()).engine,
        transaction_id=transaction,
        actor=actor,
        limit=limit,
        newest_first=True,
    )
    if as_json:
        _emit({"entries": [r.to_dict() for r in rows]})
        return
    for r in rows:
        sys.stdout.write(
            f"{r.seq:>6} {r.created:%Y-%m-%d %H:%M:%S} {r.actor} ({r.role}) {r.action} "
            f"{r.transaction_id or r.target or ''} {r.step or ''} -> {r.outcome}\n"
        )


def register(app: typer.Typer) -> None:
    """Add the action commands to the ``q2c`` app."""
    app.command("replay")(replay)
    app.command("resubmit")(resubmit)
    app.command("continue")(continue_)
    for action in ("acknowledge", "resolve", "ignore"):
        app.command(action)(_note(action))
    app.add_typer(audit_app, name="audit")
