"""``q2c replay``, ``resubmit``, notes and ``audit`` as an operator uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli import main
from services.console import open_console
from services.ingest import ingest_events
from services.settings import load_settings
from tests.services.test_replay import ITEM_TYPO, ROOT, TAX_OUTAGE, _sample

WHO = ["--actor", "raj", "--role", "revops", "--reason", "cause fixed", "--reason-code", "other"]


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


def test_replay_json_names_the_request_sent_and_its_outcome(capsys, store) -> None:
    code, out, err = run(capsys, "replay", TAX_OUTAGE, *WHO, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["outcome"] == "succeeded" and data["audit_seq"] == 1
    assert data["requests"] == [
        {
            "system": "tax",
            "step": "tax.tax.calculate",
            "idempotency_key": "o2c-b14e4b:tax.calculate",
            "outcome": "succeeded",
        }
    ]


def test_dry_run_prints_the_target_check_and_sends_nothing(capsys, store) -> None:
    code, out, _ = run(capsys, "replay", ITEM_TYPO, *WHO, "--dry-run")
    assert code == 0
    assert "dry_run" in out and "target check: would create" in out
    code, out, _ = run(capsys, "audit", "list", "--json")
    assert json.loads(out)["entries"] == []


def test_a_viewer_is_refused_in_one_line(capsys, store) -> None:
    viewer = ["--actor", "fin", "--role", "viewer", "--reason", "x", "--reason-code", "other"]
    code, out, err = run(capsys, "replay", TAX_OUTAGE, *viewer)
    assert code == 1 and out == ""
    assert err == "error: fin (viewer) may not replay; allowed for: support, revops, admin\n"


def test_a_replay_that_fails_again_exits_1(capsys, store) -> None:
    code, out, _ = run(capsys, "replay", ITEM_TYPO, *WHO)
    assert code == 1 and ": failed" in out and "PLAT-ANNAUL" in out


def test_resubmit_from_a_file_shows_the_diff(capsys, store, tmp_path: Path) -> None:
    original = next(
        e["data"]["request"]
        for e in _sample(ITEM_TYPO)
        if e["type"].endswith("failed") and e["data"]["operation"] == "salesorder.create"
    )
    original["lines"][0]["item"] = "PLAT-ANNUAL"
    payload = tmp_path / "fixed.json"
    payload.write_text(json.dumps(original))
    code, out, err = run(capsys, "resubmit", ITEM_TYPO, "--payload", str(payload), *WHO)
    assert code == 0, err + out
    assert 'lines[0].item: "PLAT-ANNAUL" -> "PLAT-ANNUAL"' in out
    assert "recorded as audit entry 1" in out


def test_resubmit_with_invalid_json_is_one_line(capsys, store, tmp_path: Path) -> None:
    payload = tmp_path / "broken.json"
    payload.write_text('{"externalId": "x",\n  "lines": [}')
    code, _, err = run(capsys, "resubmit", ITEM_TYPO, "--payload", str(payload), *WHO)
    assert code == 2
    assert err.startswith(f"error: {payload}: not valid JSON (")
    assert "line 2 column" in err and err.count("\n") == 1


def test_resubmit_with_a_missing_file(capsys, store, tmp_path: Path) -> None:
    code, _, err = run(capsys, "resubmit", ITEM_TYPO, "--payload", str(tmp_path / "no.json"), *WHO)
    assert code == 2 and "cannot read" in err


def test_notes_and_audit_verify_and_export(capsys, store, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "acknowledge", ITEM_TYPO, *WHO)
    assert code == 0 and "acknowledge recorded as audit entry 1" in out
    code, out, _ = run(capsys, "resolve", ITEM_TYPO, *WHO, "--json")
    assert json.loads(out)["action"] == "resolve"
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 0 and out.startswith("audit log intact: 2 entries")
    export = tmp_path / "audit.jsonl"
    assert run(capsys, "audit", "export", "--out", str(export))[0] == 0
    assert run(capsys, "audit", "verify", "--file", str(export))[0] == 0
    export.write_text(export.read_text().replace("cause fixed", "cause fixer", 1))
    code, out, _ = run(capsys, "audit", "verify", "--file", str(export), "--json")
    assert code == 1
    assert json.loads(out)["problems"] == ["entry 1: content changed (hash does not match)"]


def test_support_may_not_ignore(capsys, store) -> None:
    support = ["--actor", "ana", "--role", "support", "--reason", "x", "--reason-code", "other"]
    code, _, err = run(capsys, "ignore", ITEM_TYPO, *support)
    assert code == 1 and "may not ignore" in err


def test_role_flags_are_refused_outside_demo_mode(capsys, store, monkeypatch) -> None:
    monkeypatch.setenv("Q2C_MODE", "production")
    code, _, err = run(capsys, "replay", TAX_OUTAGE, *WHO)
    assert code == 1 and "demo mode only" in err


def test_continue_runs_the_rest_and_exits_1_at_the_failure(capsys, store, tmp_path: Path) -> None:
    original = next(
        e["data"]["request"]
        for e in _sample(ITEM_TYPO)
        if e["type"].endswith("failed") and e["data"]["operation"] == "salesorder.create"
    )
    original["lines"][0]["item"] = "PLAT-ANNUAL"
    payload = tmp_path / "fixed.json"
    payload.write_text(json.dumps(original))
    assert run(capsys, "resubmit", ITEM_TYPO, "--payload", str(payload), *WHO)[0] == 0
    code, out, err = run(capsys, "continue", ITEM_TYPO, *WHO, "--json")
    assert code == 1, err
    data = json.loads(out)
    assert [r["step"] for r in data["requests"]] == [
        "tax.tax.calculate",
        "billing.invoice.create",
        "erp.invoice.post",
    ]
    assert data["requests"][-1]["outcome"] == "failed" and "erp.invoice.post" in data["stopped"]
