"""Ingestion: formats, de-duplication, quarantine, and every bad input of the issue."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.console import Console
from services.ingest import ingest_events
from services.models import Event, IngestRun, Quarantine
from tests.factories import make_event


def write_jsonl(path: Path, events: list[object]) -> str:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return str(path)


def count(console: Console, model: type) -> int:
    with console.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_jsonl_array_and_single_object_are_all_accepted(console: Console, tmp_path: Path) -> None:
    a, b, c, d = (make_event(id=f"f{i}", keys={"order_number": "SO-1"}) for i in range(4))
    jsonl = write_jsonl(tmp_path / "a.jsonl", [a, b])
    array = tmp_path / "b.json"
    array.write_text(json.dumps([c]))
    single = tmp_path / "c.json"
    single.write_text(json.dumps(d, indent=2))
    summary = console.ingest_paths([jsonl, str(array), str(single)])
    assert summary.to_dict() == {
        "received": 4,
        "accepted": 4,
        "duplicates": 0,
        "conflicts": 0,
        "rejected": 0,
        "rejections": [],
        "run_id": summary.run_id,
    }
    assert summary.exit_code == 0
    assert len(console.find_traces("SO-1")[0].events) == 4


def test_blank_lines_are_ignored_and_gzip_is_read(console: Console, tmp_path: Path) -> None:
    body = "\n\n" + json.dumps(make_event(id="g1")) + "\n   \n" + json.dumps(make_event(id="g2"))
    path = tmp_path / "e.jsonl.gz"
    path.write_bytes(gzip.compress(body.encode()))
    summary = console.ingest_paths([str(path)])
    assert (summary.received, summary.accepted) == (2, 2)


def test_duplicates_are_counted_once_stored_once(console: Console, tmp_path: Path) -> None:
    ev = make_event(id="dup-1")
    reordered = json.loads(json.dumps(ev, sort_keys=True))  # same value, other key order
    path = tmp_path / "d.jsonl"
    path.write_text(
        json.dumps(ev) + "\n" + json.dumps(reordered, indent=None, separators=(" , ", " : ")) + "\n"
    )
    first = console.ingest_paths([str(path)])
    assert (first.accepted, first.duplicates) == (1, 1)
    again = console.ingest_paths([str(path)])
    assert (again.accepted, again.duplicates, again.exit_code) == (0, 2, 0)
    assert count(console, Event) == 1


def test_conflict_keeps_the_first_and_quarantines_the_second(
    console: Console, tmp_path: Path
) -> None:
    first = make_event(id="c-1", type="succeeded")
    second = make_event(id="c-1", type="failed")
    path = write_jsonl(tmp_path / "c.jsonl", [first, second])
    summary = console.ingest_paths([path])
    assert (summary.accepted, summary.conflicts, summary.exit_code) == (1, 1, 1)
    where, reason = summary.rejections[0].where, summary.rejections[0].reason
    assert where == f"{path}:2"
    assert "conflict" in reason and "differs at data.error, type" in reason
    assert console.find_traces("o2c-0001")[0].events[0].status == "succeeded"
    q = console.quarantine()
    assert q[0].kind == "conflict" and json.loads(q[0].raw) == second
    # a conflict against what is already stored, in a later run
    later = console.ingest_paths([write_jsonl(tmp_path / "later.jsonl", [second])])
    assert later.conflicts == 1 and "already received from the store" in later.rejections[0].reason


def test_numbers_equal_as_json_values_are_duplicates(console: Console) -> None:
    a = make_event(id="n-1", latency_ms=412)
    b = make_event(id="n-1", latency_ms=412.0)
    summary = ingest_events(engine=console.engine, events=[a, b])
    assert (summary.accepted, summary.duplicates, summary.conflicts) == (1, 1, 0)


BAD_LINES = [
    ("this is not json", "not valid JSON"),
    ("[1, 2, 3]", "must be a JSON object, got an array"),
    (json.dumps(make_event(drop=("id",))), "missing required attribute 'id'"),
    (json.dumps(make_event(drop=("source",))), "missing required attribute 'source'"),
    (json.dumps(make_event(drop=("type",))), "missing required attribute 'type'"),
    (json.dumps(make_event(drop=("specversion",))), "missing required attribute 'specversion'"),
    (json.dumps({**make_event(), "specversion": "0.3"}), 'specversion must be "1.0"'),
    (json.dumps(make_event(type="com.q2c.step.maybe")), "unknown type"),
    (json.dumps(make_event(time="not a time")), "is not RFC 3339"),
    (json.dumps(make_event(drop=("time",))), "missing required attribute 'time'"),
    (
        json.dumps(
            {**make_event(type="failed"), "data": {"system": "erp", "operation": "invoice.post"}}
        ),
        "needs data.error",
    ),
    (
        json.dumps(make_event(correlationid=None, keys={"account_id": "001"})),
        "needs a correlationid or a transaction-scoped key",
    ),
    (json.dumps(make_event(keys={"order_number": 7})), "data.keys.order_number must be a string"),
    (json.dumps(make_event(attempt=0)), "data.attempt must be an integer >= 1"),
    (json.dumps(make_event(attempt=-1)), "data.attempt must be an integer >= 1"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_each_bad_line_is_quarantined_with_file_line_and_reason_and_good_lines_kept(
    console: Console, tmp_path: Path, line: str, reason: str
) -> None:
    good1, good2 = make_event(id="ok-1"), make_event(id="ok-2")
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(good1) + "\n" + line + "\n" + json.dumps(good2) + "\n")
    summary = console.ingest_paths([str(path)])
    assert (summary.received, summary.accepted, summary.rejected) == (3, 2, 1)
    assert summary.exit_code == 1
    assert summary.rejections[0].where == f"{path}:2"
    assert reason in summary.rejections[0].reason
    q = console.quarantine()
    assert len(q) == 1 and q[0].raw == line and q[0].where == f"{path}:2"


def test_invalid_utf8_is_quarantined_and_the_rest_kept(console: Console, tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    good = json.dumps(make_event(id="u-1")).encode()
    path.write_bytes(good + b"\n" + b'{"id": "caf\xe9"}\n' + good.replace(b"u-1", b"u-2") + b"\n")
    summary = console.ingest_paths([str(path)])
    assert (summary.accepted, summary.rejected) == (2, 1)
    assert "not valid UTF-8 (byte 0xe9 at column 12)" in summary.rejections[0].reason
    assert console.quarantine()[0].raw == '{"id": "caf\\xe9"}'


def test_a_5mb_data_field_is_quarantined_not_crashed_on(console: Console, tmp_path: Path) -> None:
    huge = make_event(id="huge", request={"blob": "x" * 5_000_000})
    path = write_jsonl(tmp_path / "big.jsonl", [make_event(id="small"), huge])
    summary = console.ingest_paths([path])
    assert (summary.accepted, summary.rejected) == (1, 1)
    assert "over the 1.0 MB limit (Q2C_MAX_EVENT_BYTES)" in summary.rejections[0].reason
    assert len(console.quarantine()[0].raw) > 5_000_000  # kept whole, nothing lost


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file, no events in it"),
        (b"  \n\n \t\n", "empty file, no events in it"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a binary file, not JSON or JSONL events"),
    ],
)
def test_unreadable_files_are_file_errors_and_others_still_load(
    console: Console, tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    good = write_jsonl(tmp_path / "good.jsonl", [make_event(id="fine")])
    summary = console.ingest_paths([str(bad), good])
    assert summary.exit_code == 2
    assert summary.accepted == 1
    assert summary.file_errors[0].where == str(bad)
    assert message in summary.file_errors[0].reason


def test_missing_file_and_directory_are_file_errors(console: Console, tmp_path: Path) -> None:
    summary = console.ingest_paths([str(tmp_path / "nope.jsonl"), str(tmp_path)])
    reasons = [e.reason for e in summary.file_errors]
    assert reasons == [
        f"{tmp_path / 'nope.jsonl'}: no such file",
        f"{tmp_path}: is a directory; give the event files inside it",
    ]


def test_broken_array_keeps_the_items_before_the_break(console: Console) -> None:
    body = "[" + json.dumps(make_event(id="a1")) + ", {oops"
    summary = console.ingest_upload(io.BytesIO(body.encode()), "upload.json")
    assert (summary.accepted, summary.rejected) == (1, 1)
    assert summary.rejections[0].where == "upload.json item 2"
    assert "the JSON array is broken after item 1" in summary.rejections[0].reason


def test_raw_payload_is_kept_exactly_as_received(console: Console, tmp_path: Path) -> None:
    line = json.dumps(make_event(id="raw-1", extra_field={"b": 2, "a": 1}), indent=None)
    path = tmp_path / "r.jsonl"
    path.write_text(line + "\n")
    console.ingest_paths([str(path)])
    with console.engine.connect() as conn:
        assert conn.execute(select(Event.raw)).scalar_one() == line
    ev = console.find_traces("o2c-0001")[0].events[0]
    assert ev.raw["data"]["extra_field"] == {"b": 2, "a": 1}


def test_every_run_is_recorded(console: Console, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [make_event(id="r1"), "bad"])
    summary = console.ingest_paths([path])
    with console.engine.connect() as conn:
        run = conn.execute(select(IngestRun).where(IngestRun.id == summary.run_id)).one()
    assert (run.received, run.accepted, run.rejected) == (2, 1, 1)
    assert json.loads(run.files) == [path]
    assert count(console, Quarantine) == 1


def test_many_events_across_batches(db_url: str, tmp_path: Path) -> None:
    from services.console import open_console
    from services.settings import load_settings

    console = open_console(load_settings(database_url=db_url, ingest_batch_size=7))
    events = [
        make_event(
            id=f"m{i}",
            correlationid=f"o2c-{i % 5}",
            keys={"order_number": f"SO-{i % 5}"},
            time=f"2026-05-11T10:{i % 60:02d}:00Z",
        )
        for i in range(100)
    ]
    summary = ingest_events(
        engine=console.engine, events=events, settings=console.settings, catalog=console.catalog
    )
    assert summary.accepted == 100
    assert sorted(len(console.find_traces(f"SO-{i}")[0].events) for i in range(5)) == [20] * 5
    console.engine.dispose()


def test_progress_reports_items_and_bytes_per_batch(db_url: str, tmp_path: Path) -> None:
    from services.console import open_console
    from services.settings import load_settings

    console = open_console(load_settings(database_url=db_url, ingest_batch_size=4))
    lines = [json.dumps(make_event(id=f"p{i}")) for i in range(9)] + ["broken"]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + "\n")
    calls: list[tuple[int, int]] = []
    summary = console.ingest_paths([str(path)], progress=lambda n, b: calls.append((n, b)))
    assert [n for n, _ in calls] == [4, 4, 2]
    assert sum(n for n, _ in calls) == summary.received == 10
    assert sum(b for _, b in calls) == path.stat().st_size
    console.engine.dispose()


def test_rejections_are_listed_batch_by_batch_as_received(db_url: str, tmp_path: Path) -> None:
    """A batch's conflicts are found when it is written, after the next batch was
    read; the summary still lists each batch's rejections before the next one's."""
    from services.console import open_console
    from services.settings import load_settings

    console = open_console(load_settings(database_url=db_url, ingest_batch_size=3))
    lines = [
        json.dumps(make_event(id="a")),
        json.dumps(make_event(id="b")),
        json.dumps(make_event(id="a", type="failed")),  # line 3: conflict, batch 1
        json.dumps(make_event(id="c")),
        "not json",  # line 5: rejected, batch 2
        json.dumps(make_event(id="c", type="failed")),  # line 6: conflict, batch 2
        "[1]",  # line 7: rejected, batch 3
    ]
    path = tmp_path / "order.jsonl"
    path.write_text("\n".join(lines) + "\n")
    summary = console.ingest_paths([str(path)])
    assert [r.where for r in summary.rejections] == [f"{path}:{n}" for n in (3, 5, 6, 7)]
    assert (summary.accepted, summary.conflicts, summary.rejected) == (3, 2, 2)
    assert len(console.quarantine()) == 4
    console.engine.dispose()


def test_a_commit_that_fails_is_a_clear_error_and_earlier_batches_stay(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits run beside the reading of the next batch: a failing one (disk full,
    say) still stops the ingest with a one-line error, and what was committed stays."""
    from sqlalchemy.exc import OperationalError

    import services.ingest as ingest_module
    from services.console import open_console
    from services.errors import StoreError
    from services.settings import load_settings

    console = open_console(load_settings(database_url=db_url, ingest_batch_size=2))
    real_commit = ingest_module._commit
    calls = 0

    def commit_then_fail(conn, trans) -> None:  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            trans.rollback()
            conn.close()
            raise OperationalError("COMMIT", {}, Exception("database or disk is full"))
        real_commit(conn, trans)

    monkeypatch.setattr(ingest_module, "_commit", commit_then_fail)
    path = write_jsonl(tmp_path / "f.jsonl", [make_event(id=f"f{i}") for i in range(6)])
    with pytest.raises(StoreError) as err:
        console.ingest_paths([path])
    assert str(err.value) == "cannot write to the database: database or disk is full"
    with console.engine.connect() as conn:
        stored = conn.execute(select(Event.event_id).order_by(Event.event_id)).scalars().all()
    assert stored == ["f0", "f1"]
    monkeypatch.setattr(ingest_module, "_commit", real_commit)
    again = console.ingest_paths([path])  # the store is usable; a re-run completes it
    assert (again.accepted, again.duplicates) == (4, 2)
    console.engine.dispose()
