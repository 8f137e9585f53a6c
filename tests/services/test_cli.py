"""``q2c`` as a person or a script uses it: JSON shapes, tables, exit codes, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.cli import main
from tests.factories import flow_events, make_event

STEPS = [
    ("salesforce", "opportunity.closed_won"),
    ("middleware", "order.validate"),
    ("erp", "customer.upsert"),
    ("billing", "subscription.create"),
    ("erp", "salesorder.create"),
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    events = flow_events(
        "o2c-7f3a91",
        STEPS,
        fail_last=True,
        keys={
            "opportunity_id": "0065g00000AbCdEAAA",
            "order_number": "SO-100234",
            "account_id": "0015g00000XyZ12AAA",
        },
    )
    events.append(
        make_event(
            id="native-1",
            source="urn:q2c:erp-native",
            correlationid=None,
            operation="invoice.post",
            time="2026-05-11T10:09:00Z",
            keys={"order_number": "SO-100234", "invoice_number": "INV-200001"},
        )
    )
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def test_ingest_then_trace_json_shape(capsys, db_url: str, events_file: Path) -> None:
    code, out, _ = run(capsys, "--database", db_url, "ingest", str(events_file), "--json")
    assert code == 0
    assert json.loads(out) | {"run_id": 0} == {
        "received": 6,
        "accepted": 6,
        "duplicates": 0,
        "conflicts": 0,
        "rejected": 0,
        "rejections": [],
        "run_id": 0,
    }
    code, out, _ = run(capsys, "--database", db_url, "trace", "INV-200001", "--json")
    assert code == 0
    (tx,) = json.loads(out)["transactions"]
    assert set(tx) == {
        "transaction_id",
        "correlation_id",
        "flow",
        "status",
        "keys",
        "events",
        "related",
    }
    assert tx["correlation_id"] == "o2c-7f3a91"
    assert tx["status"] == "failed"
    assert tx["flow"] == "order_activation"
    assert tx["keys"]["order_number"] == ["SO-100234"]
    assert tx["keys"]["invoice_number"] == ["INV-200001"]
    assert tx["related"] == []
    times = [e["time"] for e in tx["events"]]
    assert times == sorted(times) and len(times) == 6
    failed = tx["events"][4]
    assert set(failed) == {
        "source",
        "id",
        "time",
        "system",
        "operation",
        "status",
        "attempt",
        "error",
    }
    assert failed["error"] == {
        "code": "PERIOD_CLOSED",
        "message": "Posting period is closed",
        "http_status": 409,
        "retryable": None,
    }
    assert tx["events"][0]["error"] is None


def test_trace_by_every_kind_of_key_and_nothing_matching(capsys, sqlite_url, events_file) -> None:
    run(capsys, "--database", sqlite_url, "ingest", str(events_file))
    for key in [
        "o2c-7f3a91",
        "0065g00000AbCdEAAA",
        "SO-100234",
        "INV-200001",
        "0015g00000XyZ12AAA",
    ]:
        code, out, _ = run(capsys, "--database", sqlite_url, "trace", key, "--json")
        assert code == 0 and len(json.loads(out)["transactions"]) == 1, key
    code, out, err = run(capsys, "--database", sqlite_url, "trace", "SO-999999", "--json")
    assert code == 1 and json.loads(out) == {"transactions": []}
    code, out, err = run(capsys, "--database", sqlite_url, "trace", "SO-999999")
    assert code == 1 and "nothing matches 'SO-999999'" in err


def test_trace_table_is_readable(capsys, sqlite_url, events_file) -> None:
    run(capsys, "--database", sqlite_url, "ingest", str(events_file))
    code, out, _ = run(capsys, "--database", sqlite_url, "trace", "SO-100234")
    assert code == 0
    assert "FAILED" in out and "PERIOD_CLOSED 409 Posting period is closed" in out
    assert "salesorder.create" in out


def test_search_filters_and_json(capsys, sqlite_url, events_file, tmp_path) -> None:
    run(capsys, "--database", sqlite_url, "ingest", str(events_file))
    ok = flow_events("o2c-ok", STEPS[:2], keys={"order_number": "SO-2"}, start_minute=30)
    other = tmp_path / "ok.jsonl"
    other.write_text("".join(json.dumps(e) + "\n" for e in ok))
    run(capsys, "--database", sqlite_url, "ingest", str(other))

    code, out, _ = run(capsys, "--database", sqlite_url, "search", "--status", "failed", "--json")
    data = json.loads(out)
    assert code == 0 and data["total"] == 1
    assert data["transactions"][0]["error_code"] == "PERIOD_CLOSED"
    assert data["transactions"][0]["failed_step"] == "erp salesorder.create"

    def total(*args: str) -> int:
        return json.loads(run(capsys, "--database", sqlite_url, "search", *args, "--json")[1])[
            "total"
        ]

    assert total() == 2
    assert total("--system", "billing") == 1
    assert total("--system", "middleware") == 2
    assert total("--flow", "order_activation") == 2
    assert total("--flow", "renewal") == 0
    assert total("--error-code", "PERIOD_CLOSED") == 1
    assert total("--since", "2026-05-11T10:20:00Z") == 1
    assert total("--until", "2026-05-11T10:20:00Z") == 1
    assert total("--since", "2026-05-12") == 0
    assert total("--limit", "1") == 2
    assert (
        len(
            json.loads(
                run(capsys, "--database", sqlite_url, "search", "--limit", "1", "--json")[1]
            )["transactions"]
        )
        == 1
    )
    code, out, _ = run(capsys, "--database", sqlite_url, "search")
    assert code == 0 and "2 transactions" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["search", "--since", "2026-06-01", "--until", "2026-05-01"],
            "--since (2026-06-01T00:00:00Z) is after --until",
        ),
        (["search", "--since", "last tuesday"], "--since: cannot read 'last tuesday' as a time"),
        (["search", "--status", "broken"], "--status 'broken' is not one of"),
        (["ingest"], "Missing argument"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(capsys, sqlite_url, args, message) -> None:
    code, out, err = run(capsys, "--database", sqlite_url, *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out


def test_ingest_exit_codes(capsys, sqlite_url, tmp_path, events_file) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(make_event(id="ok")) + "\nnot json\n")
    code, out, _ = run(capsys, "--database", sqlite_url, "ingest", str(bad), "--json")
    assert code == 1
    (rejection,) = json.loads(out)["rejections"]
    assert rejection["where"] == f"{bad}:2"
    assert rejection["reason"].startswith("not valid JSON")
    code, out, err = run(
        capsys, "--database", sqlite_url, "ingest", str(tmp_path / "missing.jsonl")
    )
    assert code == 2 and "missing.jsonl: no such file" in err
    code, out, err = run(capsys, "--database", sqlite_url, "ingest", str(tmp_path))
    assert code == 2 and "is a directory" in err
    binary = tmp_path / "x.bin"
    binary.write_bytes(bytes(range(256)))
    code, out, err = run(capsys, "--database", sqlite_url, "ingest", str(binary))
    assert code == 2 and "a binary file" in err
    code, out, err = run(capsys, "--database", sqlite_url, "ingest", str(events_file), "--json")
    assert code == 0 and json.loads(out)["accepted"] == 6
    code, out, err = run(capsys, "--database", sqlite_url, "ingest", str(events_file), "--json")
    assert code == 0 and json.loads(out)["duplicates"] == 6


def test_unreachable_database_is_one_line_without_the_password(capsys) -> None:
    code, out, err = run(
        capsys, "--database", "postgresql+psycopg://ops:s3cret@127.0.0.1:1/q2c", "search"
    )
    assert code == 2
    assert "cannot reach the database at postgresql+psycopg://ops:***@127.0.0.1:1/q2c" in err
    assert "s3cret" not in err + out and "Traceback" not in err


def test_bad_setting_names_the_variable(capsys, monkeypatch) -> None:
    monkeypatch.setenv("Q2C_STUCK_AFTER_MINUTES", "soon")
    code, out, err = run(capsys, "search")
    assert code == 2
    assert "Q2C_STUCK_AFTER_MINUTES: Input should be a valid integer" in err


def test_database_from_environment_and_stdin_through_the_real_script(
    tmp_path: Path, events_file: Path
) -> None:
    env = {"Q2C_DATABASE_URL": f"sqlite:///{tmp_path / 'env.db'}", "PATH": "/usr/bin:/bin"}
    q2c = Path(sys.executable).parent / "q2c"
    done = subprocess.run(
        [str(q2c), "ingest", "-", "--json"],
        input=events_file.read_bytes(),
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] == 6
    assert (tmp_path / "env.db").exists()
    done = subprocess.run(
        [str(q2c), "trace", "SO-100234", "--json"], capture_output=True, env=env, timeout=120
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)["transactions"][0]["status"] == "failed"


def test_ingest_on_a_terminal_shows_a_bar_and_the_same_summary(
    capsys, sqlite_url, events_file, monkeypatch
) -> None:
    from services import cli

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert cli._total_bytes([str(events_file)]) == events_file.stat().st_size
    assert cli._total_bytes(["-"]) is None
    code, out, _ = run(capsys, "--database", sqlite_url, "ingest", str(events_file), "--json")
    assert code == 0 and json.loads(out)["accepted"] == 6
