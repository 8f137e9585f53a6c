"""Stitching and status rules of the event contract, through a real store."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.console import Console
from services.ingest import ingest_events
from services.schemas import SearchFilters
from tests.factories import flow_events, make_event

ORDER = [
    ("salesforce", "opportunity.closed_won"),
    ("middleware", "order.validate"),
    ("erp", "customer.upsert"),
    ("billing", "subscription.create"),
    ("erp", "salesorder.create"),
    ("tax", "tax.calculate"),
    ("billing", "invoice.create"),
    ("erp", "invoice.post"),
    ("salesforce", "opportunity.writeback"),
]
NOW = datetime(2026, 5, 11, 10, 30, 0)


def load(console: Console, events: list[dict]) -> None:
    summary = ingest_events(engine=console.engine, events=events, catalog=console.catalog)
    assert summary.rejected == 0, summary.rejections


def only(console: Console, key: str):
    found = console.find_traces(key, now=NOW)
    assert len(found) == 1, [t.transaction_id for t in found]
    return found[0]


def test_same_correlation_id_is_one_transaction(console: Console) -> None:
    load(console, flow_events("o2c-a", ORDER[:3], keys={"order_number": "SO-1"}))
    t = only(console, "o2c-a")
    assert t.correlation_id == "o2c-a"
    assert [e.operation for e in t.events] == [
        "opportunity.closed_won",
        "order.validate",
        "customer.upsert",
    ]


def test_different_correlation_ids_never_merge_even_with_a_shared_key(console: Console) -> None:
    load(console, flow_events("o2c-a", ORDER[:2], keys={"order_number": "SO-1"}))
    load(console, flow_events("o2c-b", ORDER[:2], keys={"order_number": "SO-1"}))
    found = console.find_traces("SO-1", now=NOW)
    assert sorted(t.correlation_id or "" for t in found) == ["o2c-a", "o2c-b"]
    a, b = found
    assert a.related == [b.transaction_id] and b.related == [a.transaction_id]


def test_event_without_correlation_id_joins_through_a_transaction_key(console: Console) -> None:
    load(console, flow_events("o2c-a", ORDER[:5], keys={"order_number": "SO-100234"}))
    load(
        console,
        [
            make_event(
                id="erp-native-1",
                correlationid=None,
                operation="invoice.post",
                keys={"order_number": "SO-100234", "invoice_number": "INV-1"},
                time="2026-05-11T10:30:00Z",
            )
        ],
    )
    t = only(console, "INV-1")
    assert t.correlation_id == "o2c-a"
    assert "erp-native-1" in [e.id for e in t.events]
    assert t.keys["invoice_number"] == ["INV-1"]


def test_links_are_transitive(console: Console) -> None:
    load(console, flow_events("o2c-a", ORDER[:2], keys={"order_number": "SO-7"}))
    load(
        console,
        [
            make_event(
                id="n1",
                correlationid=None,
                operation="invoice.post",
                keys={"invoice_number": "INV-7", "order_number": "SO-7"},
            ),
            make_event(
                id="n2",
                correlationid=None,
                operation="payment.post",
                keys={"invoice_number": "INV-7"},
            ),
        ],
    )
    t = only(console, "o2c-a")
    assert {"n1", "n2"} <= {e.id for e in t.events}


def test_provisional_transaction_is_folded_in_when_the_link_arrives(console: Console) -> None:
    load(
        console,
        [
            make_event(
                id="early",
                correlationid=None,
                operation="invoice.post",
                keys={"invoice_number": "INV-9"},
                time="2026-05-11T10:40:00Z",
            )
        ],
    )
    early = only(console, "INV-9")
    assert early.correlation_id is None and early.provisional
    load(
        console,
        [
            make_event(
                id="bridge",
                correlationid=None,
                operation="salesorder.create",
                keys={"invoice_number": "INV-9", "order_number": "SO-9"},
            )
        ],
    )
    grown = only(console, "INV-9")  # still provisional, now with both events
    assert grown.provisional and {e.id for e in grown.events} == {"early", "bridge"}
    load(console, flow_events("o2c-z", ORDER[:1], keys={"order_number": "SO-9"}))
    folded = only(console, "INV-9")
    assert folded.correlation_id == "o2c-z"
    assert {"early", "bridge"} <= {e.id for e in folded.events}
    assert console.get_trace(early.transaction_id) is None
    assert console.get_trace(grown.transaction_id) is None
    assert console.search(SearchFilters(), now=NOW).total == 1


def test_lifecycle_keys_link_as_related_but_never_merge(console: Console) -> None:
    load(
        console,
        flow_events("o2c-a", ORDER[:2], keys={"account_id": "001A", "order_number": "SO-1"}),
    )
    load(
        console,
        flow_events("o2c-b", ORDER[:2], keys={"account_id": "001A", "order_number": "SO-2"}),
    )
    load(
        console,
        [
            make_event(
                id="lonely", correlationid=None, keys={"quote_id": "Q-1", "account_id": "001A"}
            )
        ],
    )
    found = console.find_traces("001A", now=NOW)
    assert len(found) == 3
    a = only(console, "o2c-a")
    others = {t.transaction_id for t in found} - {a.transaction_id}
    assert set(a.related) == others


def test_ambiguous_link_goes_to_the_nearest_then_smallest_correlation_id(console: Console) -> None:
    load(console, [make_event(id="x", correlationid=None, keys={"order_number": "SO-5"})])
    load(console, flow_events("o2c-b", ORDER[:1], keys={"order_number": "SO-5"}))
    load(console, flow_events("o2c-a", ORDER[:1], keys={"order_number": "SO-5"}))
    assert "x" in {e.id for e in only(console, "o2c-a").events}
    assert "x" not in {e.id for e in only(console, "o2c-b").events}


# ---- status ---------------------------------------------------------------------------


def test_failed_when_the_latest_attempt_failed(console: Console) -> None:
    load(console, flow_events("o2c-f", ORDER[:5], fail_last=True))
    t = only(console, "o2c-f")
    assert t.status == "failed"
    assert t.failed_step == "erp salesorder.create"
    assert t.error_code == "PERIOD_CLOSED"


def test_retry_that_succeeds_clears_the_failure(console: Console) -> None:
    events = flow_events("o2c-r", ORDER, keys={"order_number": "SO-3"})
    events.insert(
        5,
        make_event(
            id="r-429",
            correlationid="o2c-r",
            system="tax",
            operation="tax.calculate",
            type="failed",
            attempt=1,
            time="2026-05-11T10:04:30Z",
            error={
                "code": "REQUEST_LIMIT_EXCEEDED",
                "message": "slow down",
                "http_status": 429,
                "retryable": True,
            },
        ),
    )
    events[6]["data"]["attempt"] = 2
    load(console, events)
    t = only(console, "o2c-r")
    assert t.status == "succeeded"
    assert console.search(SearchFilters(error_code="REQUEST_LIMIT_EXCEEDED"), now=NOW).total == 1


def test_succeeded_needs_the_terminal_step(console: Console) -> None:
    load(console, flow_events("o2c-p", ORDER[:8]))
    assert only(console, "o2c-p").status == "in_progress"
    load(
        console,
        [
            make_event(
                id="w",
                correlationid="o2c-p",
                system="salesforce",
                operation="opportunity.writeback",
                time="2026-05-11T11:00:00Z",
            )
        ],
    )
    assert only(console, "o2c-p").status == "succeeded"


def test_in_progress_becomes_stuck_after_the_threshold(console: Console) -> None:
    load(console, flow_events("o2c-s", ORDER[:3]))  # last event 10:02
    assert (
        console.find_traces("o2c-s", now=datetime(2026, 5, 11, 10, 20))[0].status == "in_progress"
    )
    assert console.find_traces("o2c-s", now=datetime(2026, 5, 11, 10, 40))[0].status == "stuck"
    assert console.status_counts(SearchFilters(), now=datetime(2026, 5, 11, 10, 40))["stuck"] == 1
    stuck = console.search(SearchFilters(status=["stuck"]), now=datetime(2026, 5, 11, 10, 40))
    assert [t.correlation_id for t in stuck.transactions] == ["o2c-s"]


def test_unknown_flow_succeeds_when_every_latest_attempt_succeeded(console: Console) -> None:
    load(
        console,
        [
            make_event(id="u1", correlationid="o2c-u", flow="custom_flow", operation="thing.do"),
            make_event(
                id="u2",
                correlationid="o2c-u",
                flow="custom_flow",
                operation="other.do",
                type="started",
            ),
        ],
    )
    assert only(console, "o2c-u").status == "in_progress"
    load(
        console,
        [
            make_event(
                id="u3",
                correlationid="o2c-u",
                flow="custom_flow",
                operation="other.do",
                time="2026-05-11T10:01:00Z",
            )
        ],
    )
    assert only(console, "o2c-u").status == "succeeded"


def test_later_success_of_a_failed_operation_is_not_failed(console: Console) -> None:
    load(
        console,
        [
            make_event(
                id="f1",
                correlationid="o2c-l",
                type="failed",
                attempt=1,
                time="2026-05-11T10:00:00Z",
            ),
            make_event(
                id="f2",
                correlationid="o2c-l",
                type="succeeded",
                attempt=1,
                time="2026-05-11T10:05:00Z",
            ),
        ],
    )
    assert only(console, "o2c-l").status == "in_progress"


def test_events_are_listed_in_time_order_whatever_the_arrival(console: Console) -> None:
    events = flow_events("o2c-o", ORDER[:4])
    load(console, list(reversed(events)))
    assert [e.id for e in only(console, "o2c-o").events] == [e["id"] for e in events]


def test_stuck_threshold_comes_from_settings(db_url: str) -> None:
    from services.console import open_console
    from services.settings import load_settings

    c = open_console(load_settings(database_url=db_url, stuck_after_minutes=5))
    load(c, flow_events("o2c-t", ORDER[:2]))
    assert c.find_traces("o2c-t", now=datetime(2026, 5, 11, 10, 8))[0].status == "stuck"
    assert c.stuck_after == timedelta(minutes=5)
    c.engine.dispose()
