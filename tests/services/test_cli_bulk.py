"""``q2c bulk-replay``, ``approve``, ``bulk-status``, ``bulk-run``: JSON shapes and exit codes.

Each command builds its own in-process sandbox, as a separate ``q2c`` process would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from services.cli import app, main
from services.cli_bulk import register
from services.console import open_console
from services.ingest import ingest_events
from services.settings import load_settings
from tests.services.test_bulk import ROOT, TAXES, bulk_events

REASON = ["--reason", "tax is back", "--reason-code", "transient_outage"]
TAX = ["--system", "tax"]


@pytest.fixture(autouse=True)
def _registered() -> None:
    """The commands on the ``q2c`` app (once; the lead registers them in services/cli.py)."""
    if not any(c.name == "bulk-replay" for c in app.registered_commands):
        register(app)


@pytest.fixture
def db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(ROOT / "sample_data"))
    monkeypatch.setenv("Q2C_BULK_RATE_PER_SYSTEM", "100000")
    console = open_console(load_settings(database_url=db_url))
    ingest_events(engine=console.engine, events=bulk_events())
    console.engine.dispose()
    yield db_url


def run(capsys: pytest.CaptureFixture[str], db: str, *argv: str) -> tuple[int, str, str]:
    code = main(["--database", db, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_json_counts_and_exit_code(capsys, db: str) -> None:
    code, out, _ = run(
        capsys, db, "bulk-replay", *TAX, "--actor", "raj", "--role", "revops", "--dry-run", "--json"
    )
    data = json.loads(out)
    assert code == 1  # one tax transaction is blocked (no idempotency key)
    assert (data["matched"], data["would_send"], data["skipped"], data["blocked"]) == (
        TAXES + 1,
        TAXES,
        0,
        1,
    )
    assert (
        data["needs_approval"] is True
        and "110 steps is more than 100" in data["approval_reasons"][0]
    )
    assert set(data["items"][0]) == {
        "transaction_id",
        "step",
        "state",
        "reason",
        "amount",
        "currency",
        "trace_url",
    }
    code, out, _ = run(
        capsys,
        db,
        "bulk-replay",
        "--error-code",
        "SERVICE_UNAVAILABLE",
        "--flow",
        "order_activation",
        "--actor",
        "raj",
        "--role",
        "revops",
        "--dry-run",
    )
    assert "would send" in out and "money:" in out


def test_a_large_run_awaits_approval_then_an_admin_approves_and_runs_it(capsys, db: str) -> None:
    code, out, _ = run(
        capsys, db, "bulk-replay", *TAX, *REASON, "--actor", "ada", "--role", "admin", "--json"
    )
    data = json.loads(out)
    assert code == 0 and data["run"]["state"] == "awaiting_approval" and data["requests"] == []
    run_id = data["run"]["id"]

    code, _, err = run(capsys, db, "approve", run_id, "--actor", "ada", "--role", "admin")
    assert code == 1 and err.count("\n") == 1 and "cannot approve it" in err
    code, _, err = run(capsys, db, "approve", run_id, "--actor", "raj", "--role", "revops")
    assert code == 1 and "may not approve" in err

    code, out, _ = run(capsys, db, "approve", run_id, "--actor", "bo", "--role", "admin", "--json")
    data = json.loads(out)
    assert code == 1  # the transaction without an idempotency key stays blocked
    assert data["run"]["state"] == "done" and data["run"]["approver"] == "bo"
    assert data["counts"] == {
        "sent": TAXES,
        "succeeded": TAXES,
        "failed": 0,
        "skipped": 0,
        "blocked": 1,
        "pending": 0,
    }
    assert len(data["requests"]) == TAXES
    assert set(data["requests"][0]) == {
        "transaction_id",
        "step",
        "idempotency_key",
        "outcome",
        "state",
        "message",
    }
    assert data["requests"][0]["outcome"] == "succeeded"

    code, out, _ = run(capsys, db, "bulk-status", run_id, "--json")
    assert code == 1 and json.loads(out)["counts"]["succeeded"] == TAXES


def test_a_run_below_the_thresholds_runs_at_once_and_exits_0(capsys, db: str, monkeypatch) -> None:
    monkeypatch.setenv("Q2C_BULK_APPROVAL_ITEMS", "1000")
    monkeypatch.setenv("Q2C_BULK_APPROVAL_AMOUNT", "1e9")
    code, out, _ = run(
        capsys,
        db,
        "bulk-replay",
        "--error-code",
        "SERVICE_UNAVAILABLE",
        "--system",
        "tax",
        *REASON,
        "--actor",
        "raj",
        "--role",
        "revops",
        "--since",
        "2020-01-01",
    )
    assert code == 0, out
    assert (
        out.startswith("bulk-")
        and "done: sent 110, succeeded 110, failed 0, skipped 0, blocked 0, pending 0" in out
    )


def test_roles_outside_demo_mode_are_refused(capsys, db: str, monkeypatch) -> None:
    monkeypatch.setenv("Q2C_MODE", "production")
    code, out, err = run(
        capsys, db, "bulk-replay", *TAX, *REASON, "--actor", "ada", "--role", "admin"
    )
    assert (code, out) == (1, "") and "demo mode only" in err


def test_a_viewer_is_refused_in_one_line(capsys, db: str) -> None:
    code, out, err = run(
        capsys, db, "bulk-replay", *TAX, *REASON, "--actor", "fin", "--role", "viewer"
    )
    assert (code, out) == (
        1,
        "",
    ) and err == "error: fin (viewer) may not bulk replay; allowed for: revops, admin\n"
    code, _, err = run(
        capsys, db, "bulk-replay", *TAX, "--actor", "fin", "--role", "viewer", "--dry-run"
    )
    assert code == 1 and "may not bulk replay" in err
    code, _, err = run(capsys, db, "approve", "bulk-x", "--actor", "fin", "--role", "viewer")
    assert code == 1 and "may not approve" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["bulk-replay", *TAX, "--actor", "raj", "--role", "boss", *REASON],
            "--role 'boss' is not one of",
        ),
        (
            ["bulk-replay", *TAX, "--actor", "raj", "--role", "revops"],
            "--reason and --reason-code are required",
        ),
        (
            [
                "bulk-replay",
                "--status",
                "broken",
                "--actor",
                "raj",
                "--role",
                "revops",
                "--dry-run",
            ],
            "--status 'broken'",
        ),
        (
            [
                "bulk-replay",
                *TAX,
                "--actor",
                "raj",
                "--role",
                "revops",
                "--reason",
                "x",
                "--reason-code",
                "nope",
            ],
            "unknown reason code",
        ),
    ],
)
def test_usage_errors_exit_2(capsys, db: str, argv: list[str], message: str) -> None:
    code, _, err = run(capsys, db, *argv)
    assert code in (1, 2) and message in err
    if "reason code" not in message:
        assert code == 2


def test_unknown_run_and_resume_commands(capsys, db: str, monkeypatch) -> None:
    monkeypatch.setenv("Q2C_BULK_APPROVAL_AMOUNT", "1e9")
    code, _, err = run(capsys, db, "bulk-status", "bulk-404")
    assert code == 1 and "no bulk run 'bulk-404'" in err
    code, out, _ = run(
        capsys,
        db,
        "bulk-replay",
        "--error-code",
        "INVALID_ITEM",
        *REASON,
        "--actor",
        "raj",
        "--role",
        "revops",
        "--json",
    )
    data = json.loads(out)
    assert code == 1 and data["counts"]["failed"] == 3  # the ERP still does not know the item
    code, out, _ = run(
        capsys,
        db,
        "bulk-run",
        data["run"]["id"],
        "--retry-failed",
        "--actor",
        "raj",
        "--role",
        "revops",
        "--json",
    )
    assert code == 1 and json.loads(out)["counts"]["failed"] == 3
    code, out, _ = run(
        capsys, db, "bulk-cancel", data["run"]["id"], "--actor", "raj", "--role", "revops"
    )
    assert code == 1  # already done
