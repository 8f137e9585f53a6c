"""``q2c health`` and ``q2c alerts check``: JSON shape, text, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services import cli
from services.cli_health import register
from services.console import open_console
from services.ingest import ingest_events
from services.settings import load_settings
from tests.services.test_health import fixture_events

if not any(c.name == "health" for c in cli.app.registered_commands):
    register(cli.app)  # until services/cli.py registers it


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def seeded_db(db_url: str) -> str:
    console = open_console(load_settings(database_url=db_url))
    ingest_events(engine=console.engine, events=fixture_events())
    console.engine.dispose()
    return db_url


def test_health_json_has_exactly_the_documented_keys(capsys, seeded_db: str) -> None:
    code, out, err = run(capsys, "--database", seeded_db, "health", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert list(data) == [
        "window", "by_status", "success_rate", "latency_ms", "backlog", "sla_breaches",
        "money_at_risk", "errors",
    ]  # fmt: skip
    assert list(data["success_rate"]) == ["by_system", "by_flow", "by_legal_entity"]
    assert sum(data["by_status"].values()) == 8
    assert data["money_at_risk"]["EUR"] == "300.30"  # a decimal string, never a float
    assert set(data["errors"][0]) == {"category", "origin", "code", "count"}
    assert list(data["backlog"]) == ["<1h", "1-4h", "4-24h", "1-3d", ">3d"]


def test_health_window_and_text(capsys, seeded_db: str) -> None:
    code, out, _ = run(
        capsys, "--database", seeded_db, "health", "--since", "2026-05-11", "--until",
        "2026-05-11T23:59:59Z", "--json",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["window"]["since"] == "2026-05-11T00:00:00Z"
    code, out, _ = run(capsys, "--database", seeded_db, "health")
    assert code == 0
    assert "money at risk EUR 300.30, USD 35.30" in out  # p4 is stuck by now


def test_health_on_an_empty_database(capsys, db_url: str) -> None:
    code, out, _ = run(capsys, "--database", db_url, "health", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["by_status"] == {"failed": 0, "stuck": 0, "in_progress": 0, "succeeded": 0}
    assert data["errors"] == [] and data["money_at_risk"] == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-05-12", "--until", "2026-05-11"], "error: --since (2026-05-12T00:00:00Z)"
         " is after --until (2026-05-11T00:00:00Z): the window is empty\n"),
        (["--since", "last tuesday"], "error: --since: cannot read 'last tuesday' as a time; use "
         "2026-05-11, 2026-05-11T10:15:00Z or a relative 15m / 24h / 7d\n"),
    ],
)  # fmt: skip
def test_bad_windows_are_one_line_errors(capsys, sqlite_url: str, args, message) -> None:
    code, out, err = run(capsys, "--database", sqlite_url, "health", *args)
    assert (code, out, err) == (2, "", message)


def test_alerts_check_with_the_webhook_down(
    capsys, seeded_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"id": "any-failed", "metric": "failures",
                                            "threshold": 0}]}))  # fmt: skip
    monkeypatch.setenv("Q2C_ALERT_RULES", str(rules))
    monkeypatch.setenv("Q2C_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook")  # nothing listens
    code, out, err = run(capsys, "--database", seeded_db, "alerts", "check", "--json")
    assert code == 1
    data = json.loads(out)
    assert [(a["rule_id"], a["value"], a["firing"], a["post_pending"]) for a in data["alerts"]] == [
        ("any-failed", "2", True, True)
    ]
    assert err.startswith("error: any-failed: webhook http://127.0.0.1:9 unreachable: ")
    assert err.endswith("(will retry on the next check)\n") and err.count("\n") == 1


def test_alerts_check_all_clear(
    capsys, seeded_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"id": "lots", "metric": "stuck", "threshold": 99}]}))
    monkeypatch.setenv("Q2C_ALERT_RULES", str(rules))
    code, out, err = run(capsys, "--database", seeded_db, "alerts", "check")
    assert (code, err) == (0, "")
    assert out.startswith("ok     lots: ")


def test_health_verify_and_rebuild(capsys, seeded_db: str) -> None:
    code, out, _ = run(capsys, "--database", seeded_db, "health", "--verify")
    assert (code, out) == (0, "the roll-ups agree with the rows\n")
    # a roll-up edited behind q2c's back is found, and a rebuild puts it right
    from sqlalchemy import create_engine, text

    engine = create_engine(seeded_db)
    with engine.begin() as conn:
        conn.execute(text("UPDATE rollup_tx SET n = n + 5 WHERE status = 'failed'"))
    engine.dispose()
    code, out, _ = run(capsys, "--database", seeded_db, "health", "--verify")
    assert code == 1
    assert "differ from the rows in: by_status" in out and "q2c health --rebuild" in out
    code, out, _ = run(capsys, "--database", seeded_db, "health", "--rebuild")
    assert (code, out) == (0, "rebuilt the health roll-ups from 8 transactions\n")
    code, out, _ = run(capsys, "--database", seeded_db, "health", "--verify", "--since", "7d")
    assert code == 0, out


def test_health_verify_with_a_bad_window_is_a_one_line_error(capsys, seeded_db: str) -> None:
    code, out, err = run(capsys, "--database", seeded_db, "health", "--verify", "--since", "soon")
    assert code == 2 and out == ""
    assert "--since" in err and "Traceback" not in err
