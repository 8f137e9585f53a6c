"""Writers that interleave: each sees the other's work, nothing is lost or doubled."""

from __future__ import annotations

import json
import threading
from datetime import datetime

from services.checks import check_item
from services.console import Console
from services.db import lock_writers, writer_connection
from services.ingest import ingest_events
from services.reader import Item
from services.store import Parsed, write_batch
from tests.factories import make_event


def _write(console: Console, events: list[dict]) -> None:
    batch = []
    for e in events:
        checked = check_item(
            Item("t", json.dumps(e), e), catalog=console.catalog, max_event_bytes=1_000_000
        )
        assert isinstance(checked, Parsed)
        batch.append(checked)
    with writer_connection(console.engine) as conn, conn.begin():
        lock_writers(conn)
        write_batch(
            conn,
            batch,
            catalog=console.catalog,
            run_id=None,
            now=datetime(2026, 5, 11),
        )


def test_writes_in_turn_build_on_each_other(console: Console) -> None:
    _write(console, [make_event(id="a1", keys={"order_number": "SO-1"})])
    _write(
        console,
        [
            make_event(
                id="b1",
                correlationid=None,
                operation="invoice.post",
                keys={"order_number": "SO-1", "invoice_number": "INV-1"},
            )
        ],
    )
    _write(
        console,
        [
            make_event(
                id="a2",
                correlationid=None,
                operation="payment.post",
                keys={"invoice_number": "INV-1"},
            )
        ],
    )
    (trace,) = console.find_traces("SO-1")
    assert {e.id for e in trace.events} == {"a1", "b1", "a2"}
    assert trace.keys["invoice_number"] == ["INV-1"]


def test_concurrent_ingests_store_each_event_once(console: Console) -> None:
    events = [
        make_event(
            id=f"c{i}",
            correlationid=f"o2c-{i % 7}",
            keys={"order_number": f"SO-{i % 7}"},
            time=f"2026-05-11T10:{i % 60:02d}:00Z",
        )
        for i in range(300)
    ]
    errors: list[BaseException] = []

    def run(chunk: list[dict]) -> None:
        try:
            ingest_events(engine=console.engine, events=chunk, catalog=console.catalog)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(events[k::2] + events[:50],)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    traces = [console.find_traces(f"SO-{i}")[0] for i in range(7)]
    assert sum(len(t.events) for t in traces) == 300
    assert all(t.event_count == len(t.events) for t in traces)
