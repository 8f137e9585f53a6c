"""Trace: the header, the failure, the timeline, attempts, related links, not found."""

from __future__ import annotations

import pytest

from app import state
from services.console import open_console
from services.ingest import ingest_events
from services.settings import load_settings
from tests.app.conftest import plain
from tests.app.seed import FAILED_CODE, FAILED_MESSAGE, FAILED_ORDER, SHARED_ACCOUNT
from tests.factories import make_event


def markdown_text(at) -> str:
    return "\n".join(plain(m.value) for m in at.markdown)


def test_failed_transaction_shows_its_error_prominently(open_page) -> None:
    at = open_page("trace", key=FAILED_ORDER)

    assert not at.exception
    box = plain(at.error[0].value)
    assert "Failed step: erp salesorder.create" in box
    assert FAILED_CODE in box
    assert "HTTP 409" in box
    assert "attempt 2" in box
    assert "not retryable" in box
    assert FAILED_MESSAGE in box


def test_header_shows_status_flow_correlation_keys_and_amount(open_page) -> None:
    at = open_page("trace", key=FAILED_ORDER)

    text = markdown_text(at)
    assert ":red-badge[Failed]" in text
    assert "order_activation" in text
    assert "`o2c-1001`" in text
    assert f"`{FAILED_ORDER}`" in text and "`OPP-1`" in text and f"`{SHARED_ACCOUNT}`" in text
    assert "24,000.00 USD · US01" in text


def test_timeline_and_one_expander_per_attempt(open_page) -> None:
    at = open_page("trace", key=FAILED_ORDER)

    charts = at.get("plotly_chart")
    assert len(charts) == 1
    labels = [plain(e.label) for e in at.expander]
    assert len(labels) == 6
    assert labels[-1].endswith("erp salesorder.create · attempt 2 · failed · PERIOD_CLOSED")
    # The failed attempt is open, with its request and response bodies.
    bodies = [j.value for j in at.json]
    assert any('"PLAT-ANNUAL"' in b for b in bodies)
    assert any(FAILED_CODE in b for b in bodies)


def test_related_transactions_link_to_their_trace(open_page) -> None:
    at = open_page("trace", key=FAILED_ORDER)

    related = [p for p in at.page_link if "SO-100235" in p.value]
    assert len(related) == 1
    assert related[0].proto.query_string.startswith("key=tx-")


def test_transaction_id_opens_directly(open_page) -> None:
    explorer = open_page(key=FAILED_ORDER)
    tx_id = explorer.dataframe[0].value["Transaction"][0]

    at = open_page("trace", key=tx_id)

    assert not at.exception
    assert FAILED_CODE in plain(at.error[0].value)


def test_a_key_on_several_transactions_lets_the_user_pick(open_page) -> None:
    at = open_page("trace", key=SHARED_ACCOUNT)

    assert not at.exception
    pick = at.selectbox(key=state.TRACE_PICK)
    assert len(pick.options) == 2
    # Newest activity first: the succeeded SO-100235 (10:28) before the failed one (10:06).
    assert pick.options[0].startswith("Succeeded · order_activation · SO-100235")
    assert not at.error
    failed = next(o for o in pick.options if o.startswith("Failed"))
    tx_failed = failed.rsplit(" · ", 1)[-1]

    pick.set_value(tx_failed).run()

    assert not at.exception
    assert FAILED_CODE in plain(at.error[0].value)
    assert ":red-badge[Failed]" in markdown_text(at)
    assert at.query_params == {"key": SHARED_ACCOUNT, "tx": tx_failed}


def test_pick_from_the_url(open_page) -> None:
    first = open_page("trace", key=SHARED_ACCOUNT)
    options = first.selectbox(key=state.TRACE_PICK).options
    tx_failed = next(o for o in options if o.startswith("Failed")).rsplit(" · ", 1)[-1]

    at = open_page("trace", key=SHARED_ACCOUNT, tx=tx_failed)

    assert not at.exception
    assert at.selectbox(key=state.TRACE_PICK).value == tx_failed
    assert FAILED_CODE in plain(at.error[0].value)


def test_provisional_transaction_says_so(open_page, seeded_url: str) -> None:
    console = open_console(load_settings(database_url=seeded_url))
    event = make_event(
        correlationid=None,
        keys={"invoice_number": "INV-7777"},
        system="billing",
        operation="invoice.create",
        flow=None,
    )
    ingest_events(engine=console.engine, events=[event], settings=console.settings)
    console.engine.dispose()

    at = open_page("trace", key="INV-7777")

    assert not at.exception
    text = markdown_text(at)
    assert ":violet-badge[provisional]" in text
    assert "provisional (no correlation ID yet" in text


@pytest.mark.parametrize(
    "key", ["SO-000000", "'; DROP TABLE events; --", "<script>alert(1)</script>"]
)
def test_unknown_key_is_not_found(open_page, key: str) -> None:
    at = open_page("trace", key=key)

    assert not at.exception
    assert plain(at.warning[0].value) == f"No transaction carries {key}."
    assert "<script>" not in at.warning[0].value
    assert not at.get("plotly_chart")


def test_without_a_key_the_page_asks_for_one(open_page) -> None:
    at = open_page("trace")

    assert not at.exception
    assert "Enter any key" in at.info[-1].value
