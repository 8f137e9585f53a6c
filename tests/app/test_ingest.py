"""Ingest: an uploaded file's summary (the CLI's numbers), file errors, the quarantine."""

from __future__ import annotations

import gzip
import json

from app import state
from app.ingest_view import SUMMARY_FIELDS
from tests.app.conftest import plain
from tests.app.seed import seed_events
from tests.factories import make_event


def numbers(at) -> dict[str, int]:
    return {m.label.lower(): int(m.value.replace(",", "")) for m in at.metric}


def _mixed_file() -> bytes:
    """Two new events, one duplicate, one conflict, one line that is not JSON."""
    stored = seed_events()[0]  # o2c-1001-0, already in the store
    conflict = json.loads(json.dumps(stored))
    conflict["data"]["operation"] = "opportunity.reopened"
    lines = [
        json.dumps(make_event(id="new-1", correlationid="o2c-5001")),
        json.dumps(make_event(id="new-2", correlationid="o2c-5001", operation="invoice.post")),
        json.dumps(stored, indent=None, sort_keys=True),
        json.dumps(conflict),
        "{not json",
    ]
    return ("\n".join(lines) + "\n").encode()


def _upload(at, name: str, content: bytes):
    at.file_uploader(key=state.INGEST_UPLOAD).set_value((name, content, "application/json"))
    return at.run()


def test_summary_shows_the_cli_numbers_and_every_rejection(open_page) -> None:
    at = _upload(open_page("ingest"), "upload.jsonl", _mixed_file())

    assert not at.exception
    assert numbers(at) == {
        "received": 5,
        "accepted": 2,
        "duplicates": 1,
        "conflicts": 1,
        "rejected": 1,
    }
    assert [m.label.lower() for m in at.metric] == list(SUMMARY_FIELDS)
    assert "2 items quarantined" in plain(at.warning[0].value)
    rejections = at.dataframe[0].value
    assert list(rejections.columns) == ["Where", "Reason"]
    assert sorted(rejections["Where"]) == ["upload.jsonl:4", "upload.jsonl:5"]
    assert all(rejections["Reason"].str.len() > 0)


def test_a_rerun_does_not_ingest_the_file_again(open_page) -> None:
    at = _upload(open_page("ingest"), "upload.jsonl", _mixed_file())
    quarantined = len(at.expander)

    at.run()

    assert not at.exception
    assert numbers(at)["accepted"] == 2
    assert len(at.expander) == quarantined


def test_quarantine_lists_kind_where_reason_and_raw(open_page) -> None:
    at = _upload(open_page("ingest"), "upload.jsonl", _mixed_file())

    labels = [plain(e.label) for e in at.expander]
    assert any(label.startswith("conflict · upload.jsonl:4") for label in labels)
    assert any(label.startswith("rejected · upload.jsonl:5") for label in labels)
    assert any("{not json" in c.value for c in at.code)  # raw that is not JSON, as text
    assert any("opportunity.reopened" in j.value for j in at.json)  # raw JSON


def test_gzip_upload(open_page) -> None:
    body = gzip.compress(json.dumps(make_event(id="gz-1", correlationid="o2c-6001")).encode())

    at = _upload(open_page("ingest"), "events.json.gz", body)

    assert not at.exception
    assert numbers(at)["accepted"] == 1
    assert "accepted" in at.success[0].value


def test_empty_file_is_a_file_error(open_page) -> None:
    at = _upload(open_page("ingest"), "empty.json", b"")

    assert not at.exception
    errors = [plain(e.value) for e in at.error]
    assert errors == ["empty.json: empty file, no events in it"]
    assert numbers(at)["received"] == 0


def test_binary_file_is_a_file_error(open_page) -> None:
    at = _upload(open_page("ingest"), "blob.json", b"\x00\x01\x02\xff" * 64)

    assert not at.exception
    assert "binary file" in plain(at.error[0].value)


def test_nothing_quarantined_yet(open_page) -> None:
    at = open_page("ingest")

    assert not at.exception
    assert "Nothing is quarantined." in [c.value for c in at.caption]
