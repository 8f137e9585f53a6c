"""``q2c``: the console's command line.

Exit codes: 0 success, 1 a negative answer (nothing matched, something rejected),
2 usage, file or database errors. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console as RichConsole
from rich.table import Table

from services.cli_output import emit as _emit
from services.console import Console, open_console
from services.errors import InputError, Q2CError
from services.ingest import IngestSummary
from services.roles import PermissionDenied
from services.schemas import SearchFilters, iso
from services.settings import load_settings
from services.timeparse import check_window, parse_when

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Q2C Console: trace, search and ingest quote-to-cash integration events.",
)
_state: dict[str, Any] = {}
_err = RichConsole(stderr=True, soft_wrap=True)
_out = RichConsole(width=None if sys.stdout.isatty() else 160)

DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database", help="SQLAlchemy URL; default Q2C_DATABASE_URL or q2c.db."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code)


def _console(database: str | None) -> Console:
    settings = load_settings(database_url=database or _state.get("database"))
    return open_console(settings)


@app.callback()
def _root(database: DatabaseOpt = None) -> None:
    _state["database"] = database


@app.command()
def init(database: DatabaseOpt = None) -> None:
    """Migrate the database and load sample_data/ when it is empty (make run)."""
    console = _console(database)
    summary = console.load_sample_data()
    if summary is None:
        _err.print(f"store ready at {console.database_label}")
    else:
        _err.print(
            f"loaded sample data into {console.database_label}: {summary.accepted} events "
            f"accepted, {summary.duplicates} duplicates, "
            f"{summary.rejected + summary.conflicts} quarantined (demo)"
        )


@app.command()
def ingest(
    paths: Annotated[
        list[str], typer.Argument(help="Event files (JSON, JSON array, JSONL); - is stdin.")
    ],
    json_out: JsonOpt = False,
    database: DatabaseOpt = None,
) -> None:
    """Ingest event files; exit 1 when anything was rejected or conflicted."""
    console = _console(database)
    if sys.stderr.isatty():
        summary = _ingest_with_bar(console, paths)
    else:
        summary = console.ingest_paths(paths)
    if json_out:
        _emit(summary.to_dict())
    else:
        _print_summary(summary.to_dict())
    for problem in summary.file_errors:
        _fail(problem.reason)
    raise typer.Exit(summary.exit_code)


def _total_bytes(paths: list[str]) -> int | None:
    """Bytes to read, when knowable up front (not for stdin or gzip)."""
    total = 0
    for name in paths:
        path = Path(name)
        if name == "-" or name.endswith(".gz") or not path.is_file():
            return None
        total += path.stat().st_size
    return total


def _ingest_with_bar(console: Console, paths: list[str]) -> IngestSummary:
    """Ingest with a progress bar on the terminal (a spinner when the size is unknown)."""
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    total = _total_bytes(paths)
    items = [0]
    with Progress(
        SpinnerColumn(),
        TextColumn("ingesting"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[items]:,} events"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_err,
        transient=True,
    ) as bar:
        task = bar.add_task("ingest", total=total, items=0)

        def advance(n_items: int, n_bytes: int) -> None:
            items[0] += n_items
            bar.update(task, advance=n_bytes, items=items[0])

        return console.ingest_paths(paths, progress=advance)


def _print_summary(data: dict[str, Any]) -> None:
    _out.print(
        f"received {data['received']}, accepted {data['accepted']}, duplicates "
        f"{data['duplicates']}, conflicts {data['conflicts']}, rejected {data['rejected']}",
        highlight=False,
    )
    for r in data["rejections"][:50]:
        _out.print(f"  {r['where']}: {r['reason']}", highlight=False, markup=False)
    if len(data["rejections"]) > 50:
        _out.print(f"  ... {len(data['rejections']) - 50} more (use --json)")


@app.command()
def trace(
    key: Annotated[str, typer.Argument(help="Correlation ID or any business key.")],
    json_out: JsonOpt = False,
    database: DatabaseOpt = None,
) -> None:
    """Show every transaction carrying KEY; exit 1 when nothing matches."""
    console = _console(database)
    traces = console.find_traces(key)
    if json_out:
        _emit({"transactions": [t.cli_dict() for t in traces]})
    else:
        for t in traces:
            _out.print(
                f"[bold]{t.transaction_id}[/]  {t.status.upper()}  flow={t.flow or '-'}  "
                f"correlation={t.correlation_id or '(provisional)'}",
                highlight=False,
            )
            for name, values in t.keys.items():
                _out.print(f"  {name}: {', '.join(values)}", highlight=False, markup=False)
            table = Table("time", "system", "operation", "attempt", "status", "error")
            for e in t.events:
                err = (
                    f"{e.error.code} {e.error.http_status or ''} {e.error.message}"
                    if e.error
                    else ""
                )
                table.add_row(iso(e.time), e.system, e.operation, str(e.attempt), e.status, err)
            _out.print(table)
            if t.related:
                _out.print(f"  related: {', '.join(t.related)}", highlight=False)
        if not traces:
            sys.stderr.write(f"nothing matches {key!r}\n")
    raise typer.Exit(0 if traces else 1)


@app.command()
def search(
    status: Annotated[
        list[str] | None, typer.Option(help="failed, stuck, in_progress or succeeded (repeat).")
    ] = None,
    system: Annotated[str | None, typer.Option(help="A system the transaction touched.")] = None,
    flow: Annotated[str | None, typer.Option(help="Flow name from the catalog.")] = None,
    error_code: Annotated[str | None, typer.Option(help="An error code any attempt got.")] = None,
    since: Annotated[str | None, typer.Option(help="2026-05-11, RFC 3339, or 24h / 7d.")] = None,
    until: Annotated[str | None, typer.Option(help="End of the window.")] = None,
    key: Annotated[str | None, typer.Option(help="Correlation ID or business key.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    json_out: JsonOpt = False,
    database: DatabaseOpt = None,
) -> None:
    """Search transactions by status, system, flow, error code and time."""
    from services.queries import STATUSES

    for s in status or []:
        if s not in STATUSES:
            raise _fail(f"--status {s!r} is not one of {', '.join(STATUSES)}")
    since_t = parse_when(since, name="--since") if since else None
    until_t = parse_when(until, name="--until") if until else None
    check_window(since_t, until_t)
    filters = SearchFilters(
        key=key,
        status=status or [],
        system=system,
        flow=flow,
        error_code=error_code,
        since=since_t,
        until=until_t,
        limit=limit,
    )
    result = _console(database).search(filters)
    if json_out:
        _emit(result.cli_dict())
        return
    table = Table("transaction", "status", "flow", "last event", "failed step", "error", "subject")
    for t in result.transactions:
        table.add_row(
            t.transaction_id,
            t.status,
            t.flow or "-",
            iso(t.last_time),
            t.failed_step or "",
            t.error_code or "",
            t.subject or "",
        )
    _out.print(table)
    _out.print(f"{result.total} transactions (showing {len(result.transactions)})")


@app.command()
def seed(
    out: Annotated[Path, typer.Option(help="Folder to write.")] = Path("sample_data"),
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
    transactions: Annotated[int, typer.Option(min=10, max=2_000_000)] = 1500,
) -> None:
    """Generate the deterministic sample data set."""
    from services.seed import generate

    summary = generate(out_dir=out, seed=seed_value, transactions=transactions)
    _emit(summary.to_dict())


def _register_systems_commands() -> None:
    from services.cli_systems import sandbox_app, systems

    app.add_typer(sandbox_app, name="sandbox")
    app.command("systems")(systems)

    from services.cli_actions import register as register_actions

    register_actions(app)

    from services.cli_validation import register as register_validation

    register_validation(app)

    from services.cli_bulk import register as register_bulk

    register_bulk(app)

    from services.cli_reconcile import register as register_reconcile

    register_reconcile(app)

    from services.cli_triage import register as register_triage

    register_triage(app)

    from services.cli_health import register as register_health

    register_health(app)


if __name__ != "__main__":  # ``python -m services.cli`` runs the imported module's app
    _register_systems_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``q2c`` script; returns the exit code."""
    try:
        code = app(args=argv, standalone_mode=False)
        return code if isinstance(code, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except PermissionDenied as exc:  # refused: a negative answer, not a usage error
        _fail(str(exc))
        return 1
    except (InputError, Q2CError) as exc:
        _fail(str(exc))
        return 2
    except KeyboardInterrupt:
        _err.print("interrupted")
        return 130
    except typer.Abort:
        return 130
    except typer.TyperException as exc:  # usage errors: bad option values, unknown commands
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            _fail(str(exc))
        return 2


if __name__ == "__main__":  # pragma: no cover
    # Run the app of the imported module (the one with every command registered), not
    # a second copy of this file, which would import the command modules in a cycle.
    from services.cli import main as _main

    sys.exit(_main())
