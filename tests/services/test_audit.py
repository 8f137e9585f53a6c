"""The audit log: the chain holds, and every kind of tampering is named."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from services.audit import AuditIn, append, entries, export, verify, verify_file
from services.console import Console


def _add(console: Console, n: int, actor: str = "ana") -> None:
    for i in range(n):
        append(
            console.engine,
            AuditIn(
                actor=actor,
                role="support",
                action="acknowledge",
                outcome="recorded",
                reason_code="other",
                reason=f"note {i}",
                transaction_id=f"tx-{i:04d}",
                request={"amount": "10.00", "lines": [1, 2]},
            ),
        )


def _sql(console: Console, statement: str) -> None:
    with console.engine.begin() as conn:
        conn.execute(text(statement))


def test_an_untouched_chain_verifies(console: Console) -> None:
    _add(console, 5)
    result = verify(console.engine)
    assert result.ok and result.entries == 5
    stored = entries(console.engine)
    assert [e.seq for e in stored] == [1, 2, 3, 4, 5]
    assert stored[0].prev_hash == "0" * 64 and stored[1].prev_hash == stored[0].hash
    assert stored[0].request == {"amount": "10.00", "lines": [1, 2]}


def test_an_edited_entry_is_named(console: Console) -> None:
    _add(console, 4)
    _sql(console, "UPDATE audit_log SET reason = 'nothing happened' WHERE seq = 2")
    result = verify(console.engine)
    assert not result.ok
    assert result.problems == ["entry 2: content changed (hash does not match)"]


def test_a_deleted_entry_is_named(console: Console) -> None:
    _add(console, 5)
    _sql(console, "DELETE FROM audit_log WHERE seq = 3")
    assert verify(console.engine).problems[0] == "entry 3: missing (deleted)"


def test_a_deleted_last_entry_is_named(console: Console) -> None:
    _add(console, 3)
    _sql(console, "DELETE FROM audit_log WHERE seq = 3")
    assert verify(console.engine).problems == [
        "entry 3: missing (deleted; the log ended at entry 3)"
    ]


def test_reordered_entries_are_named(console: Console) -> None:
    _add(console, 4)
    # Swap the contents of entries 2 and 3 (keeping each row's own hash).
    _sql(console, "UPDATE audit_log SET seq = -2 WHERE seq = 2")
    _sql(console, "UPDATE audit_log SET seq = 2 WHERE seq = 3")
    _sql(console, "UPDATE audit_log SET seq = 3 WHERE seq = -2")
    problems = verify(console.engine).problems
    assert "entry 2: content changed (hash does not match)" in problems
    assert "entry 3: content changed (hash does not match)" in problems


def test_concurrent_appends_keep_one_chain(console: Console) -> None:
    threads = [threading.Thread(target=_add, args=(console, 15, f"op{i}")) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = verify(console.engine)
    assert result.ok and result.entries == 60


def test_jsonl_export_verifies_alone_and_one_changed_byte_is_found(
    console: Console, tmp_path: Path
) -> None:
    _add(console, 3)
    buf = io.StringIO()
    assert export(console.engine, buf, fmt="jsonl") == 3
    path = tmp_path / "audit.jsonl"
    path.write_text(buf.getvalue())
    assert verify_file(path).ok
    raw = bytearray(path.read_bytes())
    at = raw.index(b"note 1")
    raw[at + 5] = ord("7")  # "note 1" -> "note 7" in the second entry
    path.write_bytes(bytes(raw))
    assert verify_file(path).problems == ["entry 2: content changed (hash does not match)"]


def test_a_byte_that_breaks_the_json_is_named_by_line(console: Console, tmp_path: Path) -> None:
    _add(console, 2)
    buf = io.StringIO()
    export(console.engine, buf, fmt="jsonl")
    path = tmp_path / "audit.jsonl"
    path.write_bytes(buf.getvalue().encode().replace(b"{", b"\xff", 1))
    problems = verify_file(path).problems
    assert problems[0] == f"{path}:1: not a valid entry (UnicodeDecodeError)"


def test_csv_export_has_every_field(console: Console) -> None:
    _add(console, 2)
    buf = io.StringIO()
    export(console.engine, buf, fmt="csv")
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert list(rows[0])[:5] == ["seq", "created", "actor", "role", "action"]
    assert list(rows[0])[-2:] == ["prev_hash", "hash"]
    assert json.loads(rows[0]["request"]) == {"amount": "10.00", "lines": [1, 2]}
    assert rows[1]["prev_hash"] == rows[0]["hash"]


def test_export_refuses_an_unknown_format(console: Console) -> None:
    from services.errors import InputError

    with pytest.raises(InputError, match="unknown export format 'xml'"):
        export(console.engine, io.StringIO(), fmt="xml")
