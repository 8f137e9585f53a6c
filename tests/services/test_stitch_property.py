"""Arrival order must not change the result: any permutation, any batch size."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from services.console import open_console
from services.ingest import ingest_events
from services.models import Event, Transaction, TransactionKey
from services.settings import load_settings
from tests.factories import make_event

CIDS = ["o2c-a", "o2c-b", "o2c-c"]
VALUES = {
    "order_number": ["SO-1", "SO-2", "SO-3"],
    "invoice_number": ["INV-1", "INV-2", "INV-3"],
    "quote_id": ["Q-1", "Q-2"],
    "account_id": ["001A", "001B"],
}
OPS = [
    ("erp", "salesorder.create"),
    ("erp", "invoice.post"),
    ("billing", "invoice.create"),
    ("salesforce", "opportunity.writeback"),
]


@st.composite
def event_sets(draw: Any) -> list[dict[str, Any]]:
    n = draw(st.integers(min_value=1, max_value=14))
    events = []
    for i in range(n):
        cid = draw(st.sampled_from([None, *CIDS]))
        keys = {}
        for name, values in VALUES.items():
            if draw(st.booleans()) and draw(st.booleans()):
                keys[name] = draw(st.sampled_from(values))
        if cid is None and not ({"order_number", "invoice_number", "quote_id"} & set(keys)):
            keys["order_number"] = draw(st.sampled_from(VALUES["order_number"]))
        system, operation = draw(st.sampled_from(OPS))
        events.append(
            make_event(
                id=f"e{i}",
                correlationid=cid,
                system=system,
                operation=operation,
                type=draw(st.sampled_from(["started", "succeeded", "failed"])),
                attempt=draw(st.integers(min_value=1, max_value=3)),
                time=f"2026-05-11T10:{draw(st.integers(min_value=0, max_value=59)):02d}:00Z",
                keys=keys,
            )
        )
    return events


def snapshot(url: str, events: list[dict[str, Any]], batch: int) -> Any:
    console = open_console(
        load_settings(database_url=url, ingest_batch_size=batch), migrate_store=False
    )
    try:
        for start in range(0, len(events), batch):
            summary = ingest_events(
                engine=console.engine,
                events=events[start : start + batch],
                settings=console.settings,
                catalog=console.catalog,
            )
            assert summary.rejected == 0, summary.rejections
        with console.engine.connect() as conn:
            members: dict[str, set[str]] = {}
            for tx, eid in conn.execute(select(Event.transaction_id, Event.event_id)):
                members.setdefault(tx, set()).add(eid)
            txs = {
                r.transaction_id: (
                    r.correlation_id,
                    r.status,
                    r.flow,
                    r.event_count,
                    r.failed_system,
                    r.error_code,
                    r.first_time,
                    r.last_time,
                )
                for r in conn.execute(select(Transaction))
            }
            keys = sorted(
                conn.execute(
                    select(
                        TransactionKey.transaction_id,
                        TransactionKey.name,
                        TransactionKey.value,
                        TransactionKey.scope,
                    )
                ).all()
            )
        assert set(members) == set(txs)
        return {tx: frozenset(ids) for tx, ids in members.items()}, txs, keys
    finally:
        console.engine.dispose()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=event_sets(), data=st.data())
def test_any_permutation_and_batching_gives_the_same_transactions(
    events: list[dict[str, Any]], data: Any, tmp_path: Path
) -> None:
    template = tmp_path / "template.db"
    if not template.exists():
        open_console(load_settings(database_url=f"sqlite:///{template}")).engine.dispose()
    runs = []
    for n in range(2):
        order = data.draw(st.permutations(events), label=f"order{n}")
        batch = data.draw(st.integers(min_value=1, max_value=5), label=f"batch{n}")
        db = tmp_path / f"run-{n}-{len(runs)}.db"
        db.unlink(missing_ok=True)
        shutil.copy(template, db)
        runs.append(snapshot(f"sqlite:///{db}", order, batch))
        db.unlink()
    assert runs[0] == runs[1]
