"""The audit log as pages see it: list (by any key), per transaction, verify, export."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from services.audit import AuditIn, append, verify_file
from services.audit_view import (
    AuditFilters,
    export_log,
    list_entries,
    transaction_entries,
    verify_log,
)
from services.console import Console
from services.errors import InputError
from services.ingest import ingest_events
from tests.factories import make_event


@pytest.fixture
def logged(console: Console) -> tuple[Console, str]:
    """One transaction (order SO-1) with two entries, and one entry on no transaction."""
    events = [make_event(correlationid="o2c-1", keys={"order_number": "SO-1"})]
    assert ingest_events(engine=console.engine, events=events).accepted == 1
    tx = console.find_traces("SO-1")[0].transaction_id
    for i, (actor, action, on) in enumerate(
        [("ana", "acknowledge", tx), ("raj", "replay", tx), ("ana", "approve", None)]
    ):
        append(
            console.engine,
            AuditIn(actor=actor, role="admin", action=action, outcome="ok", transaction_id=on),
            now=datetime(2026, 5, 12, 9, i),
        )
    return console, tx


def seqs(rows) -> list[int]:
    return [e.seq for e in rows]


def test_list_is_newest_first_and_filters(logged) -> None:
    console, tx = logged
    assert seqs(list_entries(console, AuditFilters())) == [3, 2, 1]
    assert seqs(list_entries(console, AuditFilters(actor="ana"))) == [3, 1]
    assert seqs(list_entries(console, AuditFilters(action="replay"))) == [2]
    assert seqs(list_entries(console, AuditFilters(limit=1))) == [3]
    window = AuditFilters(since=datetime(2026, 5, 12, 9, 1), until=datetime(2026, 5, 12, 9, 2))
    assert seqs(list_entries(console, window)) == [2]


def test_a_key_is_a_transaction_id_or_any_key_it_carries(logged) -> None:
    console, tx = logged
    assert seqs(list_entries(console, AuditFilters(key=tx))) == [2, 1]
    assert seqs(list_entries(console, AuditFilters(key="SO-1"))) == [2, 1]
    assert seqs(list_entries(console, AuditFilters(key="SO-1", actor="raj"))) == [2]
    assert list_entries(console, AuditFilters(key="SO-404")) == []


def test_transaction_entries_are_oldest_first(logged) -> None:
    console, tx = logged
    assert [(e.seq, e.action) for e in transaction_entries(console, tx)] == [
        (1, "acknowledge"),
        (2, "replay"),
    ]


def test_verify_and_export(logged, tmp_path) -> None:
    console, _ = logged
    result = verify_log(console)
    assert result.ok and result.entries == 3
    text = export_log(console, "jsonl")
    assert [json.loads(line)["seq"] for line in text.splitlines()] == [1, 2, 3]
    exported = tmp_path / "audit.jsonl"
    exported.write_text(text)
    assert verify_file(exported).head == result.head
    assert export_log(console, "csv").splitlines()[0].startswith("seq,created,actor,")
    with pytest.raises(InputError, match="unknown export format 'xml'"):
        export_log(console, "xml")
