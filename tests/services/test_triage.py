"""Triage on a real database (SQLite and PostgreSQL) with sample transactions: each
failed step's classification, the triage state, its audit entries, role checks, and
the search filter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.audit import entries, verify
from services.connections import open_systems
from services.console import Console, open_console
from services.errors import InputError, NotFoundError
from services.ingest import ingest_events
from services.replay import Actions
from services.roles import Actor, PermissionDenied
from services.schemas import SearchFilters
from services.settings import load_settings
from services.systems.registry import BuildEnv
from services.triage.state import get_triage
from services.triage.views import classify_trace, failure_breakdown, trace_classification
from tests.services.test_replay import CLOSED_PERIOD, ITEM_TYPO, ROOT, TAX_OUTAGE, _sample

CURRENCY = "o2c-eaad19"  # erp salesorder.create: Currency EUR is not allowed for US01
POSTAL_CODE = "o2c-cb3d79"  # middleware order.validate: account has no billing postal code
STALE_AMENDMENT = "o2c-ba0fa4"  # billing subscription.amend: SUBSCRIPTION_VERSION_CONFLICT
RATE_LIMITED = "o2c-3433bb"  # salesforce writeback 429, then succeeded: not failed
ANA = Actor("ana", "support")
RAJ = Actor("raj", "revops")
FIN = Actor("fin", "viewer")
EXPECTED = {
    TAX_OUTAGE: ("tax.tax.calculate", "unavailable", "tax engine"),
    ITEM_TYPO: ("erp.salesorder.create", "data quality", "CRM data"),
    CLOSED_PERIOD: ("erp.invoice.post", "ERP posting", "ERP"),
    CURRENCY: ("erp.salesorder.create", "data quality", "CRM data"),
    POSTAL_CODE: ("middleware.order.validate", "data quality", "CRM data"),
    STALE_AMENDMENT: ("billing.subscription.amend", "version conflict", "billing"),
}


@pytest.fixture
def setup(db_url: str) -> Iterator[tuple[Console, Actions]]:
    settings = load_settings(database_url=db_url, sample_data_dir=str(ROOT / "sample_data"))
    console = open_console(settings)
    events = _sample(*EXPECTED, RATE_LIMITED)
    assert ingest_events(engine=console.engine, events=events).rejected == 0
    systems = open_systems(settings, BuildEnv(sleep=lambda s: None))
    yield console, Actions(console, systems)
    console.engine.dispose()


def _trace(console: Console, key: str):
    [trace] = console.find_traces(key)
    return trace


@pytest.mark.parametrize("key", list(EXPECTED))
def test_each_failed_step_and_the_transaction_are_classified(setup, key: str) -> None:
    console, _ = setup
    trace = _trace(console, key)
    step, category, origin = EXPECTED[key]

    [only] = classify_trace(trace)
    assert (only.step, only.category, only.origin) == (step, category, origin)
    assert only.why and only.runbook and only.runbook.startswith("docs/runbooks.md#")
    headline = trace_classification(trace)
    assert headline is not None and headline.step == step
    assert (trace.category, trace.origin, trace.triage_state) == (category, origin, "open")


def test_a_transaction_that_recovered_has_no_failed_step_and_nothing_to_triage(setup) -> None:
    console, _ = setup
    trace = _trace(console, RATE_LIMITED)
    assert trace.status == "succeeded"
    assert classify_trace(trace) == [] and trace_classification(trace) is None
    assert (trace.category, trace.origin, trace.triage_state) == (None, None, None)
    assert get_triage(console.engine, transaction_id=trace.transaction_id, status="x") is None


def test_search_results_carry_triage_category_and_origin(setup) -> None:
    console, _ = setup
    found = console.search(SearchFilters(status=["failed"])).transactions
    got = {t.correlation_id: (t.triage_state, t.category, t.origin) for t in found}
    assert got == {key: ("open", c, o) for key, (_, c, o) in EXPECTED.items()}
    summary = console.summaries([found[0].transaction_id])[0]
    assert (summary.category, summary.triage_state) == (found[0].category, "open")


def test_acknowledge_assign_resolve_reopen_each_change_state_and_audit(setup) -> None:
    console, actions = setup
    tx = _trace(console, ITEM_TYPO).transaction_id
    why = dict(reason_code="other")

    actions.note(key=ITEM_TYPO, action="acknowledge", actor=ANA, reason="looking", **why)
    state = get_triage(console.engine, transaction_id=tx, status="failed")
    assert state is not None
    assert (state.state, state.assignee, state.note, state.updated_by) == (
        "acknowledged",
        None,
        "looking",
        "ana",
    )
    actions.note(
        key=ITEM_TYPO, action="assign", assignee=" raj ", actor=ANA, reason="RevOps fix", **why
    )
    assert _trace(console, ITEM_TYPO).assignee == "raj"
    actions.note(key=ITEM_TYPO, action="resolve", actor=RAJ, reason="code fixed", **why)
    resolved = _trace(console, ITEM_TYPO)
    assert (resolved.triage_state, resolved.assignee) == ("resolved", "raj")
    actions.note(key=ITEM_TYPO, action="reopen", actor=ANA, reason="failed again", **why)
    assert (_trace(console, ITEM_TYPO).triage_state, _trace(console, ITEM_TYPO).assignee) == (
        "open",
        None,
    )

    log = entries(console.engine, transaction_id=tx)
    assert [(e.action, e.actor, e.detail["from"], e.detail["to"]) for e in log] == [
        ("acknowledge", "ana", "open", "acknowledged"),
        ("assign", "ana", "acknowledged", "assigned"),
        ("resolve", "raj", "assigned", "resolved"),
        ("reopen", "ana", "resolved", "open"),
    ]
    assert log[1].detail["assignee"] == "raj"
    assert {e.step for e in log} == {"erp.salesorder.create"}
    assert verify(console.engine).ok


def test_roles_decide_who_may_triage(setup) -> None:
    console, actions = setup
    with pytest.raises(PermissionDenied, match=r"fin \(viewer\) may not assign"):
        actions.note(
            key=TAX_OUTAGE, action="assign", assignee="ana", actor=FIN, reason="x",
            reason_code="other",
        )  # fmt: skip
    with pytest.raises(PermissionDenied, match="ana \\(support\\) may not ignore"):
        actions.note(key=TAX_OUTAGE, action="ignore", actor=ANA, reason="x", reason_code="other")
    actions.note(key=TAX_OUTAGE, action="ignore", actor=RAJ, reason="known", reason_code="other")
    assert _trace(console, TAX_OUTAGE).triage_state == "ignored"
    assert [e.action for e in entries(console.engine)] == ["ignore"]


def test_read_only_console_refuses_triage(db_url: str) -> None:
    settings = load_settings(database_url=db_url, read_only=True)
    console = open_console(settings)
    ingest_events(engine=console.engine, events=_sample(TAX_OUTAGE))
    actions = Actions(console, open_systems(settings, BuildEnv(sleep=lambda s: None)))
    with pytest.raises(PermissionDenied, match="read-only"):
        actions.note(key=TAX_OUTAGE, action="assign", assignee="x", actor=RAJ, reason="r",
                     reason_code="other")  # fmt: skip
    console.engine.dispose()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "assign"}, "assign needs the name of the person"),
        ({"action": "resolve", "assignee": "raj"}, "--assignee goes with assign only"),
        ({"action": "assign", "assignee": "x" * 129}, "longer than 128"),
        ({"action": "reopen"}, "is already open: nothing to change"),
        ({"action": "acknowledge", "reason": "  "}, "a reason is required"),
        ({"action": "acknowledge", "reason_code": "whim"}, "unknown reason code 'whim'"),
        ({"action": "escalate"}, "unknown note 'escalate'"),
    ],
)
def test_bad_triage_input_is_a_one_line_error_and_changes_nothing(setup, kwargs, message) -> None:
    console, actions = setup
    args = {"key": CLOSED_PERIOD, "actor": RAJ, "reason": "why", "reason_code": "other"}
    with pytest.raises(InputError, match=message):
        actions.note(**{**args, **kwargs})
    assert entries(console.engine) == []
    assert _trace(console, CLOSED_PERIOD).triage_state == "open"


def test_a_key_of_no_transaction_is_not_found(setup) -> None:
    _, actions = setup
    with pytest.raises(NotFoundError):
        actions.note(key="SO-000", action="acknowledge", actor=ANA, reason="r",
                     reason_code="other")  # fmt: skip


def test_the_triage_filter_and_counts(setup) -> None:
    console, actions = setup
    why = {"reason": "r", "reason_code": "other"}
    actions.note(key=ITEM_TYPO, action="acknowledge", actor=ANA, **why)
    actions.note(key=CURRENCY, action="assign", assignee="raj", actor=ANA, **why)
    actions.note(key=CLOSED_PERIOD, action="resolve", actor=ANA, **why)
    actions.note(key=POSTAL_CODE, action="acknowledge", actor=ANA, **why)
    actions.note(key=POSTAL_CODE, action="reopen", actor=ANA, **why)

    def ids(*states: str) -> set[str | None]:
        found = console.search(SearchFilters(triage=list(states))).transactions
        return {t.correlation_id for t in found}

    assert ids("open") == {TAX_OUTAGE, STALE_AMENDMENT, POSTAL_CODE}
    assert ids("acknowledged") == {ITEM_TYPO}
    assert ids("assigned", "resolved") == {CURRENCY, CLOSED_PERIOD}
    assert ids("ignored") == set()
    assert ids() == {*EXPECTED, RATE_LIMITED}
    counts = console.status_counts(SearchFilters(triage=["open"]))
    assert counts["failed"] == 3 and counts["succeeded"] == 0
    assert console.search(SearchFilters(triage=["open"], status=["succeeded"])).total == 0

    breakdown = failure_breakdown(engine=console.engine)
    assert breakdown.failed == len(EXPECTED)
    assert breakdown.triage == {"open": 3, "acknowledged": 1, "assigned": 1, "resolved": 1}
    assert breakdown.categories["data quality"] == 3
    assert breakdown.origins["CRM data"] == 3
    assert {"category": "data quality", "origin": "CRM data", "count": 3} in breakdown.pairs
    assert breakdown.rules["erp-item-from-crm"] == 1
