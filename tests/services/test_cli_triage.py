"""``q2c triage`` and ``q2c classify`` as an operator uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli import app, main
from services.cli_triage import register
from services.console import open_console
from services.ingest import ingest_events
from services.settings import load_settings
from tests.services.test_replay import ITEM_TYPO, ROOT, TAX_OUTAGE, _sample

WHO = ["--actor", "ana", "--role", "support", "--reason", "on it", "--reason-code", "other"]

# Until the lead registers these in services.cli, register them here (once).
if not any(c.name == "triage" for c in app.registered_commands):
    register(app)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    console = open_console(load_settings(database_url=url))
    ingest_events(engine=console.engine, events=_sample(TAX_OUTAGE, ITEM_TYPO))
    console.engine.dispose()
    monkeypatch.setenv("Q2C_DATABASE_URL", url)
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(ROOT / "sample_data"))
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_assign_then_resolve_records_state_and_audit(capsys, store) -> None:
    code, out, err = run(capsys, "triage", ITEM_TYPO, "--state", "assigned", "--assignee", "raj",
                         *WHO, "--json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert (data["state"], data["assignee"], data["previous"]) == ("assigned", "raj", "open")
    assert data["audit"]["action"] == "assign" and data["audit"]["step"] == "erp.salesorder.create"

    code, out, _ = run(capsys, "triage", ITEM_TYPO, "--state", "resolved", *WHO)
    assert code == 0
    assert out.endswith(": resolved (was assigned), recorded as audit entry 2\n")

    code, out, _ = run(capsys, "search", "--key", ITEM_TYPO, "--json")
    [row] = json.loads(out)["transactions"]
    assert (row["triage_state"], row["assignee"], row["category"], row["origin"]) == (
        "resolved",
        "raj",
        "data quality",
        "CRM data",
    )
    code, out, _ = run(capsys, "audit", "list", "--json")
    assert [e["action"] for e in json.loads(out)["entries"]] == ["resolve", "assign"]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--state", "ignored"], 1, "error: ana (support) may not ignore; allowed for: revops, admin\n"),
        (["--state", "done"], 2, "error: unknown --state 'done'; use one of: open, acknowledged, "
         "assigned, resolved, ignored\n"),
        (["--state", "assigned"], 2, "error: assign needs the name of the person (--assignee)\n"),
        (["--state", "open"], 2, "is already open: nothing to change\n"),
    ],
)  # fmt: skip
def test_refusals_and_bad_input_are_one_line(capsys, store, argv, code, message) -> None:
    got, out, err = run(capsys, "triage", TAX_OUTAGE, *argv, *WHO)
    assert (got, out) == (code, "")
    assert err.endswith(message) and err.count("\n") == 1


def test_an_unknown_key_exits_2(capsys, store) -> None:
    code, out, err = run(capsys, "triage", "SO-000", "--state", "acknowledged", *WHO)
    assert (code, out) == (2, "")
    assert err == "error: no transaction carries 'SO-000'\n"


def test_classify_counts_failed_transactions_by_category_and_origin(capsys, store) -> None:
    run(capsys, "triage", TAX_OUTAGE, "--state", "acknowledged", *WHO)
    code, out, _ = run(capsys, "classify", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["failed"] == 2
    assert data["categories"] == {"unavailable": 1, "data quality": 1}
    assert data["origins"] == {"tax engine": 1, "CRM data": 1}
    assert data["triage"] == {"acknowledged": 1, "open": 1}
    assert data["rules"] == {"tax-service-unavailable": 1, "erp-item-from-crm": 1}

    code, out, _ = run(capsys, "classify")
    assert code == 0
    assert out.startswith("2 failed transactions\n")
    assert "unavailable" in out and "tax engine" in out
    assert "by origin: CRM data 1, tax engine 1" in out


def test_classify_uses_the_rules_file_from_settings(capsys, store, tmp_path, monkeypatch) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"id": "x", "category": "tax", "origin": "ERP"}]}))
    monkeypatch.setenv("Q2C_ERROR_RULES", str(rules))
    code, out, _ = run(capsys, "classify", "--json")
    assert code == 0 and json.loads(out)["categories"] == {"tax": 2}

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rules": [{"id": "x", "category": "weather", "origin": "ERP"}]}))
    monkeypatch.setenv("Q2C_ERROR_RULES", str(bad))
    code, out, err = run(capsys, "classify")
    assert (code, out) == (2, "")
    assert err.startswith("error: Q2C_ERROR_RULES: ") and err.count("\n") == 1
    assert "rule x: unknown category 'weather'" in err


def test_classify_rejects_an_empty_window(capsys, store) -> None:
    code, _, err = run(capsys, "classify", "--since", "2026-05-12", "--until", "2026-05-11")
    assert code == 2 and "window is empty" in err
