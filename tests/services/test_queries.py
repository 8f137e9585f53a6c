"""Finding transactions: any key, hostile input, counts, sample data on first start."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.console import Console, open_console
from services.ingest import ingest_events
from services.models import Event
from services.schemas import SearchFilters
from services.settings import load_settings
from tests.factories import flow_events, make_event

NOW = datetime(2026, 5, 11, 10, 30)
STEPS = [("salesforce", "opportunity.closed_won"), ("erp", "salesorder.create")]


@pytest.fixture
def loaded(console: Console) -> Console:
    ingest_events(
        engine=console.engine,
        events=[
            *flow_events(
                "o2c-1",
                STEPS,
                fail_last=True,
                keys={"order_number": "SO-1", "subscription_id": "A-S00000001"},
            ),
            *flow_events(
                "o2c-2",
                STEPS,
                keys={"order_number": "SO-2", "quote_id": "0Q0000000000001AAA"},
                start_minute=5,
            ),
        ],
    )
    return console


@pytest.mark.parametrize(
    "hostile",
    [
        "'; DROP TABLE events; --",
        "<script>alert(1)</script>",
        "%",
        "_",
        "SO-%",
        "\\",
        "x" * 5000,
        "   ",
        "",
    ],
)
def test_hostile_search_text_finds_nothing_and_breaks_nothing(
    loaded: Console, hostile: str
) -> None:
    assert loaded.find_traces(hostile, now=NOW) == []
    assert loaded.search(SearchFilters(key=hostile), now=NOW).total in (0, 2)  # blank = no filter
    with loaded.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Event)).scalar_one() == 4


def test_key_is_trimmed_and_transaction_id_works_too(loaded: Console) -> None:
    t = loaded.find_traces("  SO-1 \n", now=NOW)[0]
    assert loaded.find_traces(t.transaction_id, now=NOW)[0].correlation_id == "o2c-1"
    assert loaded.find_traces("A-S00000001", now=NOW)[0].transaction_id == t.transaction_id
    assert loaded.find_traces("0Q0000000000001AAA", now=NOW)[0].correlation_id == "o2c-2"


def test_counts_and_search_agree(loaded: Console) -> None:
    counts = loaded.status_counts(SearchFilters(), now=NOW)
    assert counts == {"failed": 1, "stuck": 0, "in_progress": 1, "succeeded": 0}
    assert loaded.status_counts(SearchFilters(key="SO-2"), now=NOW)["in_progress"] == 1
    page = loaded.search(SearchFilters(limit=1, offset=1), now=NOW)
    assert page.total == 2 and page.transactions[0].correlation_id == "o2c-1"


def test_sample_data_is_loaded_once_into_an_empty_store(tmp_path: Path) -> None:
    folder = tmp_path / "sample"
    folder.mkdir()
    good = [make_event(id=f"s{i}", keys={"order_number": "SO-9"}) for i in range(3)]
    (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in good))
    conflict = {**good[0], "subject": "changed"}
    (folder / "events-quarantine-demo.jsonl").write_text(json.dumps(conflict) + "\nnot json\n")
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'q.db'}", sample_data_dir=folder)
    console = open_console(settings)
    first = console.load_sample_data()
    assert first is not None and (first.accepted, first.conflicts, first.rejected) == (3, 1, 1)
    assert console.load_sample_data() is None
    assert len(console.find_traces("SO-9")[0].events) == 3
    console.engine.dispose()


def test_committed_sample_data_loads_cleanly(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "sample_data"
    if not (root / "events.jsonl").exists():
        pytest.fail("sample_data/events.jsonl is missing: run q2c seed --out sample_data")
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 's.db'}", sample_data_dir=root)
    console = open_console(settings)
    summary = console.load_sample_data()
    assert summary is not None
    # duplicate deliveries, one planted conflict and ten broken lines are part of the demo
    assert (summary.duplicates, summary.conflicts, summary.rejected) == (18, 1, 10)
    assert summary.accepted == summary.received - 29
    end = datetime(2026, 11, 25, 12, 0)
    counts = console.status_counts(SearchFilters(), now=end)
    assert counts == {"failed": 221, "stuck": 72, "in_progress": 33, "succeeded": 1174}
    assert (
        console.search(SearchFilters(status=["failed"], error_code="PERIOD_CLOSED"), now=end).total
        > 0
    )
    console.engine.dispose()


def test_a_transaction_on_a_whole_second_is_found_by_a_window_starting_or_ending_then(
    console: Console,
) -> None:
    """Stored '10:00:00' once sorted before the bound '10:00:00.000000' on SQLite."""
    ingest_events(
        engine=console.engine,
        events=[make_event(id="ws1", correlationid="ws-1", time="2026-05-11T10:00:00Z")],
    )
    at = datetime(2026, 5, 11, 10, 0, 0)
    assert console.search(SearchFilters(since=at), now=NOW).total == 1
    assert console.search(SearchFilters(until=at), now=NOW).total == 1
    assert console.search(SearchFilters(since=datetime(2026, 5, 11, 10, 0, 1)), now=NOW).total == 0
