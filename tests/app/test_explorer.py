"""Explorer: KPIs, filters, the table, deep links and hostile search text."""

from __future__ import annotations

import pytest

from app import state
from tests.app.conftest import plain
from tests.app.seed import EXPECTED_COUNTS, FAILED_CODE, FAILED_ORDER

LABELS = {
    "failed": "Failed",
    "stuck": "Stuck",
    "in_progress": "In progress",
    "succeeded": "Succeeded",
}
HOSTILE = ["'; DROP TABLE events; --", "<script>alert(1)</script>"]


def kpis(at) -> dict[str, int]:
    return {m.label: int(m.value.replace(",", "")) for m in at.metric}


def test_kpis_equal_the_hand_counted_statuses(open_page) -> None:
    at = open_page()

    assert not at.exception
    assert kpis(at) == {LABELS[s]: n for s, n in EXPECTED_COUNTS.items()}


def test_table_lists_every_transaction_newest_first(open_page) -> None:
    at = open_page()

    table = at.dataframe[0].value
    assert len(table) == sum(EXPECTED_COUNTS.values())
    assert list(table.columns[:9]) == [
        "Status",
        "Trace",
        "Flow",
        "Failed step",
        "Error code",
        "Last step",
        "Subject",
        "Amount",
        "Last event (UTC)",
    ]
    assert table["Last event (UTC)"].is_monotonic_decreasing
    failed = table[table["Subject"] == FAILED_ORDER].iloc[0]
    assert failed["Status"].endswith("failed")
    assert failed["Failed step"] == "erp salesorder.create"
    assert failed["Error code"] == FAILED_CODE
    assert failed["Amount"] == "24,000.00 USD"
    assert failed["Trace"] == f"trace?key={failed['Transaction']}"


def test_key_from_the_url_prefills_the_search(open_page) -> None:
    at = open_page(key=FAILED_ORDER)

    assert not at.exception
    assert at.text_input(key=state.EXPLORER_SEARCH).value == FAILED_ORDER
    table = at.dataframe[0].value
    assert list(table["Subject"]) == [FAILED_ORDER]
    assert kpis(at) == {"Failed": 1, "Stuck": 0, "In progress": 0, "Succeeded": 0}
    assert [p.value for p in at.page_link] == ["Open its trace"]


def test_status_from_the_url_filters_the_table(open_page) -> None:
    at = open_page(status="failed,stuck")

    assert not at.exception
    assert at.multiselect(key=state.EXPLORER_STATUS).value == ["failed", "stuck"]
    table = at.dataframe[0].value
    statuses = sorted(s.split()[-1] for s in table["Status"])
    assert statuses == ["failed", "failed", "stuck"]
    stuck = table[table["Status"].str.endswith("stuck")].iloc[0]
    assert stuck["Failed step"] == ""
    assert stuck["Last step"] == "erp customer.upsert"  # where it stopped


def test_unknown_status_in_the_url_is_ignored(open_page) -> None:
    at = open_page(status="bogus")

    assert not at.exception
    assert at.multiselect(key=state.EXPLORER_STATUS).value == []
    assert len(at.dataframe[0].value) == sum(EXPECTED_COUNTS.values())


def test_typing_a_key_searches_and_updates_the_url(open_page) -> None:
    at = open_page()

    at.text_input(key=state.EXPLORER_SEARCH).set_value("ACC-1").run()

    assert not at.exception
    assert sorted(at.dataframe[0].value["Subject"]) == [FAILED_ORDER, "SO-100235"]
    assert at.query_params["key"] == "ACC-1"
    assert [p.value for p in at.page_link] == ["Compare the 2 traces"]


def test_error_code_flow_and_system_filters(open_page) -> None:
    at = open_page()
    at.text_input(key=state.EXPLORER_ERROR_CODE).set_value("GL_ACCOUNT_MISSING").run()
    assert list(at.dataframe[0].value["Flow"]) == ["payment"]

    at.text_input(key=state.EXPLORER_ERROR_CODE).set_value("").run()
    at.selectbox(key=state.EXPLORER_FLOW).set_value("renewal").run()
    assert list(at.dataframe[0].value["Flow"]) == ["renewal"]

    at.selectbox(key=state.EXPLORER_FLOW).set_value("").run()
    at.selectbox(key=state.EXPLORER_SYSTEM).set_value("billing").run()
    assert not at.exception
    # Transactions that touched billing: o2c-1001, o2c-1002 and the payment.
    assert len(at.dataframe[0].value) == 3


def test_time_window(open_page) -> None:
    at = open_page(since="2026-05-11T10:30:00Z", until="2026-05-11T11:00:00Z")

    assert not at.exception
    # Last activity after 10:30 and first event before 11:00: o2c-1003 (10:40) and the payment.
    assert sorted(at.dataframe[0].value["Flow"]) == ["order_activation", "payment"]


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [("yesterday-ish", "", "Since: cannot read"), ("2026-05-12", "2026-05-11", "window is empty")],
)
def test_bad_time_window_is_an_error_not_an_exception(open_page, since, until, expected) -> None:
    at = open_page(since=since, **({"until": until} if until else {}))

    assert not at.exception
    assert expected in plain(at.error[0].value)
    assert not at.dataframe


def test_unknown_key_finds_nothing(open_page) -> None:
    at = open_page(key="SO-000000")

    assert not at.exception
    assert plain(at.warning[0].value) == "No transaction carries SO-000000."
    assert not at.dataframe


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_search_text_finds_nothing_and_breaks_nothing(open_page, text: str) -> None:
    at = open_page()
    at.text_input(key=state.EXPLORER_SEARCH).set_value(text).run()

    assert not at.exception
    warning = at.warning[0].value
    assert plain(warning) == f"No transaction carries {text}."
    assert "<script>" not in warning  # escaped, never raw HTML
    assert kpis(at) == {"Failed": 0, "Stuck": 0, "In progress": 0, "Succeeded": 0}

    # The store is intact afterwards.
    at.text_input(key=state.EXPLORER_SEARCH).set_value(FAILED_ORDER).run()
    assert list(at.dataframe[0].value["Subject"]) == [FAILED_ORDER]


def test_selecting_a_row_opens_its_trace(open_page) -> None:
    at = open_page(key=FAILED_ORDER)
    tx_id = at.dataframe[0].value["Transaction"][0]

    at.session_state[state.EXPLORER_TABLE] = {
        "selection": {"rows": [0], "columns": [], "cells": []}
    }
    at.run()

    assert not at.exception
    assert [t.value for t in at.title] == ["Trace"]
    assert at.query_params == {"key": tx_id}
    assert any(FAILED_CODE in plain(e.value) for e in at.error)


# -- triage state, category and origin ------------------------------------------------

TRIAGE = "explorer_triage"  # the Explorer's triage widget key


def _triage(url: str, key: str, action: str, assignee: str | None = None) -> None:
    from services.console import open_console
    from services.roles import Actor
    from services.settings import load_settings
    from services.triage.state import record_triage

    console = open_console(load_settings(database_url=url))
    [trace] = console.find_traces(key)
    record_triage(
        console.engine,
        console.settings,
        transaction_id=trace.transaction_id,
        status=trace.status,
        action=action,
        assignee=assignee,
        actor=Actor("ana", "support"),
        reason="on it",
        reason_code="other",
    )
    console.engine.dispose()


def test_table_shows_triage_category_and_origin(open_page) -> None:
    at = open_page()

    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.columns[9:]) == ["Triage", "Category", "Origin", "Transaction"]
    failed = table[table["Subject"] == FAILED_ORDER].iloc[0]
    assert (failed["Triage"], failed["Category"], failed["Origin"]) == (
        "open",
        "ERP posting",
        "ERP",
    )
    done = table[table["Status"].str.endswith("succeeded")].iloc[0]
    assert (done["Triage"], done["Category"], done["Origin"]) == ("", "", "")


def test_triage_from_the_url_filters_the_table(seeded_url, open_page) -> None:
    _triage(seeded_url, FAILED_ORDER, "assign", assignee="raj")

    at = open_page(triage="assigned")
    assert not at.exception
    assert at.multiselect(key=TRIAGE).value == ["assigned"]
    table = at.dataframe[0].value
    assert list(table["Subject"]) == [FAILED_ORDER]
    assert list(table["Triage"]) == ["assigned to raj"]
    assert kpis(at) == {"Failed": 1, "Stuck": 0, "In progress": 0, "Succeeded": 0}

    at = open_page(triage="open,bogus")
    assert not at.exception
    assert at.multiselect(key=TRIAGE).value == ["open"]
    assert list(at.dataframe[0].value["Flow"]) == ["payment"]


def test_choosing_a_triage_state_updates_the_url(open_page) -> None:
    at = open_page()

    at.multiselect(key=TRIAGE).set_value(["open"]).run()

    assert not at.exception
    assert at.query_params["triage"] == "open"
    assert sorted(at.dataframe[0].value["Triage"]) == ["open", "open"]

    at.multiselect(key=TRIAGE).set_value(["resolved"]).run()
    assert "No transaction matches these filters." in [plain(i.value) for i in at.info]
