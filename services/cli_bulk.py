"""``q2c bulk-replay``, ``approve``, ``bulk-status``, ``bulk-run``, ``bulk-cancel``.

Registered on the main ``q2c`` app by :func:`register`. Exit codes: 0 all good
(a run awaiting approval included), 1 something failed, was blocked, is still
pending, or was refused (a role that may not, an own run to approve, nothing to
replay, ``--role`` outside demo mode), 2 usage errors (an unknown status or role,
no reason). ``bulk-status`` of a run not yet done exits 0 unless something failed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from services.bulk import BulkReplay, BulkSummary
from services.cli import DatabaseOpt, JsonOpt, _console, _emit, _fail, _out
from services.connections import open_systems
from services.errors import InputError, NotFoundError
from services.roles import ROLES, Actor, PermissionDenied
from services.schemas import SearchFilters
from services.settings import Settings
from services.timeparse import check_window, parse_when

__all__ = ["register"]

ActorOpt = Annotated[str, typer.Option("--actor", help="Who acts (goes on the record).")]
RoleOpt = Annotated[str, typer.Option("--role", help="viewer, support, revops or admin.")]
RunIdArg = Annotated[str, typer.Argument(help="The run id (bulk-...).")]


def _actor(name: str, role: str, settings: Settings) -> Actor:
    """The actor; a usage error for an unknown role, a refusal outside demo mode."""
    if role not in ROLES:
        raise _fail(f"--role {role!r} is not one of {', '.join(ROLES)}")
    if not name.strip():
        raise _fail("--actor needs the name of who acts")
    if settings.mode != "demo":
        raise _fail(
            "--role is accepted in demo mode only; production identity is not configured", 1
        )
    return Actor(name, role)


def _bulk(database: str | None) -> BulkReplay:
    """The bulk replay service on the console's store and systems."""
    console = _console(database)
    return BulkReplay(console, open_systems(console.settings))


@contextmanager
def _refusals() -> Iterator[None]:
    """A refusal or nothing to do is exit 1 with one line; a missing run too."""
    try:
        yield
    except (PermissionDenied, NotFoundError) as exc:
        raise _fail(str(exc), 1) from None
    except InputError as exc:
        raise _fail(str(exc), 1) from None


def _progress(label: str) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A progress line on a terminal's stderr (nothing when not a terminal)."""
    if not sys.stderr.isatty():
        return None, lambda: None

    def show(done: int, total: int) -> None:
        sys.stderr.write(f"\r{label}: {done}/{total}")
        sys.stderr.flush()

    def end() -> None:
        sys.stderr.write("\n")

    return show, end


def _finish(summary: BulkSummary, json_out: bool, *, pending_ok: bool = False) -> None:
    """Print a run's summary; exit 0 when nothing failed, was blocked or is left pending."""
    if json_out:
        _emit(summary.cli_dict())
    else:
        run, c = summary.run, summary.counts
        _out.print(
            f"{run.id} {run.state}: sent {c['sent']}, succeeded {c['succeeded']}, "
            f"failed {c['failed']}, skipped {c['skipped']}, blocked {c['blocked']}, "
            f"pending {c['pending']}",
            highlight=False,
        )
        for item in summary.items:
            if item.state in ("failed", "blocked", "pending"):
                _out.print(
                    f"  {item.state:<8} {item.transaction_id} {item.step}: {item.message}",
                    highlight=False,
                    markup=False,
                )
    c = summary.counts
    bad = c["failed"] or c["blocked"] or (c["pending"] and not pending_ok)
    raise typer.Exit(1 if bad else 0)


def _run(bulk: BulkReplay, run_id: str, actor: Actor, retry_failed: bool = False) -> BulkSummary:
    """Run with a progress line on a terminal."""
    show, done = _progress(run_id)
    try:
        return bulk.run(run_id=run_id, actor=actor, progress=show, retry_failed=retry_failed)
    finally:
        done()


def bulk_replay(
    actor: ActorOpt,
    role: RoleOpt,
    reason: Annotated[str | None, typer.Option(help="Why (goes on the record).")] = None,
    reason_code: Annotated[str | None, typer.Option(help="One of the reason codes.")] = None,
    status: Annotated[
        list[str] | None, typer.Option(help="Transaction status (repeat); default failed.")
    ] = None,
    system: Annotated[str | None, typer.Option(help="A system the transaction touched.")] = None,
    flow: Annotated[str | None, typer.Option(help="Flow name from the catalog.")] = None,
    error_code: Annotated[str | None, typer.Option(help="An error code any attempt got.")] = None,
    since: Annotated[str | None, typer.Option(help="2026-05-11, RFC 3339, or 24h / 7d.")] = None,
    until: Annotated[str | None, typer.Option(help="End of the window.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count only; send nothing.")] = False,
    json_out: JsonOpt = False,
    database: DatabaseOpt = None,
) -> None:
    """Replay the failed step of every matching transaction (after approval when large)."""
    from services.queries import STATUSES
    from services.roles import authorize

    bulk = _bulk(database)
    who = _actor(actor, role, bulk.settings)
    for s in status or []:
        if s not in STATUSES:
            raise _fail(f"--status {s!r} is not one of {', '.join(STATUSES)}")
    since_t = parse_when(since, name="--since") if since else None
    until_t = parse_when(until, name="--until") if until else None
    check_window(since_t, until_t)
    if not dry_run and (not reason or not reason_code):
        raise _fail("--reason and --reason-code are required (they go on the record)")
    filters = SearchFilters(
        status=status or ["failed"],
        system=system,
        flow=flow,
        error_code=error_code,
        since=since_t,
        until=until_t,
    )
    with _refusals():
        authorize(who, "bulk_replay", bulk.settings)
        plan = bulk.plan(filters=filters)
        if dry_run:
            _print_plan(plan.cli_dict(), json_out)
            raise typer.Exit(0 if plan.count("pending") and not plan.count("blocked") else 1)
        assert reason is not None and reason_code is not None
        run = bulk.create(
            filters=filters, actor=who, reason=reason, reason_code=reason_code, plan=plan
        )
        if run.state == "awaiting_approval":
            if json_out:
                _emit(bulk.summary(run_id=run.id).cli_dict())
            else:
                _out.print(
                    f"{run.id} awaits approval ({'; '.join(plan.approval_reasons)}): an admin "
                    f"other than {who.name} runs `q2c approve {run.id} --actor NAME --role admin`",
                    highlight=False,
                )
            raise typer.Exit(0)
        summary = _run(bulk, run.id, who)
    _finish(summary, json_out)


def _print_plan(data: dict[str, Any], json_out: bool) -> None:
    """Print a dry run: counts, money, and each item not sent with its reason."""
    if json_out:
        _emit(data)
        return
    money = ", ".join(f"{t} {c}" for c, t in data["money"].items()) or "none"
    _out.print(
        f"dry run: {data['matched']} transactions; would send {data['would_send']}, "
        f"skipped {data['skipped']}, blocked {data['blocked']}; money: {money}",
        highlight=False,
    )
    if data["needs_approval"]:
        _out.print(f"needs approval: {'; '.join(data['approval_reasons'])}", highlight=False)
    for item in data["items"]:
        if item["state"] != "pending":
            _out.print(
                f"  {item['state']:<8} {item['transaction_id']} {item['step']}: {item['reason']}",
                highlight=False,
                markup=False,
            )


def approve(
    run_id: RunIdArg,
    actor: ActorOpt,
    role: RoleOpt,
    json_out: JsonOpt = False,
    database: DatabaseOpt = None,
) -> None:
    """Approve a bulk run awaiting approval (an admin, not the requester) and run it."""
    bulk = _bulk(database)
    who = _actor(actor, role, bulk.settings)
    with _refusals():
        bulk.approve(run_id=run_id, actor=who)
        summary = _run(bulk, run_id, who)
    _finish(summary, json_out)


def bulk_run(
    run_id: RunIdArg,
    actor: ActorOpt,
    role: RoleOpt,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Send the run's failed items again too.")
    ] = False,
    json_out: JsonOpt = False,
    database: DatabaseOpt = None,
) -> None:
    """Continue a stopped bulk run (or retry its failed items)."""
    bulk = _bulk(database)
    who = _actor(actor, role, bulk.settings)
    with _refusals():
        summary = _run(bulk, run_id, who, retry_failed)
    _finish(summary, json_out)


def bulk_cancel(
    run_id: RunIdArg, actor: ActorOpt, role: RoleOpt, database: DatabaseOpt = None
) -> None:
    """Cancel a bulk run (a running one stops between items)."""
    bulk = _bulk(database)
    who = _actor(actor, role, bulk.settings)
    with _refusals():
        run = bulk.cancel(run_id=run_id, actor=who)
    _out.print(f"{run.id}: {run.state} (cancel requested)", highlight=False)


def bulk_status(run_id: RunIdArg, json_out: JsonOpt = False, database: DatabaseOpt = None) -> None:
    """A bulk run's state, counts and items; exit 1 when something failed or is blocked."""
    with _refusals():
        summary = _bulk(database).summary(run_id=run_id)
    _finish(summary, json_out, pending_ok=summary.run.state != "done")


def register(app: typer.Typer) -> None:
    """Add the bulk replay commands to ``app`` (the ``q2c`` app)."""
    app.command("bulk-replay")(bulk_replay)
    app.command("approve")(approve)
    app.command("bulk-status")(bulk_status)
    app.command("bulk-run")(bulk_run)
    app.command("bulk-cancel")(bulk_cancel)
