"""Audit page: the entries newest first, filters, the chain verified, tampering shown, exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from app.state import AUDIT_ACTION, AUDIT_ACTOR
from services.audit import AuditIn, append
from services.console import open_console
from services.settings import load_settings
from tests.app.conftest import ROOT, TIMEOUT, plain
from tests.app.seed import FAILED_ORDER

PAGE = ROOT / "pages" / "audit.py"
OpenAudit = Callable[..., AppTest]


@pytest.fixture
def audit_log(seeded_url: str) -> dict[str, str]:
    """Three entries on the seeded store: two on the failed order, one elsewhere."""
    console = open_console(load_settings(database_url=seeded_url))
    tx = console.find_traces(FAILED_ORDER)[0].transaction_id
    other = console.find_traces("pay-2001")[0].transaction_id
    for i, (actor, role, action, on, outcome) in enumerate(
        [
            ("ana", "support", "acknowledge", tx, "recorded"),
            ("raj", "revops", "replay", tx, "failed"),
            ("ana", "support", "resolve", other, "recorded"),
        ]
    ):
        append(
            console.engine,
            AuditIn(
                actor=actor,
                role=role,
                action=action,
                outcome=outcome,
                reason_code="other",
                reason=f"reason {i + 1}",
                transaction_id=on,
                step="erp.salesorder.create",
                idempotency_key=f"key-{i + 1}",
                request={"n": i + 1} if action == "replay" else None,
            ),
            now=datetime(2026, 5, 12, 9, i),
        )
    console.engine.dispose()
    return {"tx": tx, "other": other}


@pytest.fixture
def open_audit(audit_log: dict[str, str]) -> OpenAudit:
    def run(**query: str) -> AppTest:
        """The page opened with a URL query (``?actor=ana&since=24h``), as a link would."""
        at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
        for name, value in query.items():
            at.query_params[name] = value
        at.run()
        assert not at.exception
        return at

    return run


def table(at: AppTest):
    return at.dataframe[0].value


def test_entries_are_listed_newest_first_and_the_chain_is_intact(open_audit, audit_log) -> None:
    at = open_audit()
    [ok] = at.success
    assert plain(ok.value).startswith("Chain intact: 3 entries, head `")
    rows = table(at)
    assert list(rows["Entry"]) == [3, 2, 1]
    assert list(rows["Who"]) == ["ana", "raj", "ana"]
    assert list(rows["Action"]) == ["resolve", "replay", "acknowledge"]
    assert list(rows["Reason"]) == ["reason 3", "reason 2", "reason 1"]
    assert list(rows["Idempotency key"]) == ["key-3", "key-2", "key-1"]
    assert rows["Transaction"][1] == audit_log["tx"]
    assert rows["Trace"][1] == f"trace?key={audit_log['tx']}"


@pytest.mark.parametrize(
    ("query", "seqs"),
    [
        ({"actor": "ana"}, [3, 1]),
        ({"action": "replay"}, [2]),
        ({"key": FAILED_ORDER}, [2, 1]),  # any key a transaction carries
        ({"since": "2026-05-12T09:01:00Z"}, [3, 2]),
        ({"since": "2026-05-12", "until": "2026-05-12T09:01:00Z"}, [1]),
    ],
)
def test_filters_from_the_url(open_audit, query, seqs) -> None:
    at = open_audit(**query)
    assert list(table(at)["Entry"]) == seqs


def test_filters_from_the_widgets(open_audit) -> None:
    at = open_audit()
    at.text_input(key=AUDIT_ACTOR).input("ana").run()
    assert list(table(at)["Entry"]) == [3, 1]
    at.selectbox(key=AUDIT_ACTION).set_value("resolve").run()
    assert list(table(at)["Entry"]) == [3]
    assert at.query_params["actor"] == "ana" and at.query_params["action"] == "resolve"


def test_transaction_id_filter_and_nothing_found(open_audit, audit_log) -> None:
    assert list(table(open_audit(key=audit_log["other"]))["Entry"]) == [3]
    at = open_audit(actor="nobody")
    assert not at.dataframe
    assert plain(at.info[0].value) == "No entry matches these filters."


def test_a_bad_time_is_one_line(open_audit) -> None:
    at = open_audit(since="yesterday-ish")
    assert not at.dataframe
    [error] = at.error
    assert plain(error.value).startswith("Since: cannot read 'yesterday-ish' as a time")


def test_a_tampered_entry_is_named(open_audit, seeded_url) -> None:
    engine = create_engine(seeded_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 2"))
    engine.dispose()

    at = open_audit()
    assert not at.success
    problems = [plain(e.value) for e in at.error]
    assert problems[0].startswith("Chain broken: 1 problem in 3 entries")
    assert "entry 2: content changed (hash does not match)" in problems[1:]


def test_export_buttons_hold_the_log(open_audit, monkeypatch) -> None:
    made: dict[str, Callable[[], Any]] = {}
    add_deferred = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, **kw):  # noqa: ANN001
        made[str(file_name)] = data_callable
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    at = open_audit()
    assert [b.label for b in at.get("download_button")] == ["Export JSONL", "Export CSV"]

    lines = [json.loads(line) for line in made["q2c-audit.jsonl"]().splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3]  # oldest first, as verify_file reads it
    assert lines[1]["actor"] == "raj" and lines[1]["request"] == {"n": 2}
    assert all(len(e["hash"]) == 64 for e in lines)

    rows = list(csv.DictReader(io.StringIO(made["q2c-audit.csv"]())))
    assert [r["action"] for r in rows] == ["acknowledge", "replay", "resolve"]
    assert rows[1]["request"] == '{"n": 2}'


def test_an_empty_log_says_so(seeded_url) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert plain(at.success[0].value).startswith("Chain intact: 0 entries")
    assert plain(at.info[0].value) == "No action has been recorded yet."
