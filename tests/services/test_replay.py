"""Replay and resubmit against the in-process sandbox, on a real database.

The transactions come from the sample data (their failures are the sample's):
a tax outage, an ERP item typo, a closed ERP period, a Salesforce write-back
refused for the request limit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.audit import entries, verify
from services.connections import open_systems
from services.console import Console, open_console
from services.errors import InputError, NotFoundError
from services.ingest import ingest_events
from services.replay import Actions
from services.roles import Actor, PermissionDenied
from services.settings import load_settings
from services.systems.registry import BuildEnv

ROOT = Path(__file__).resolve().parents[2]
TAX_OUTAGE = "o2c-b14e4b"  # tax.calculate failed with 503, not retried since
ITEM_TYPO = "o2c-0be703"  # erp salesorder.create: Item PLAT-ANNAUL not found
CLOSED_PERIOD = "o2c-b8531b"  # erp invoice.post: Posting period Oct 2026 is closed
ANA = Actor("ana", "support")
RAJ = Actor("raj", "revops")


def _sample(*correlation_ids: str) -> list[dict]:
    wanted = set(correlation_ids)
    out = []
    with (ROOT / "sample_data" / "events.jsonl").open() as fh:
        for line in fh:
            event = json.loads(line)
            if event.get("correlationid") in wanted:
                out.append(event)
    return out


@pytest.fixture
def setup(db_url: str) -> Iterator[tuple[Console, Actions]]:
    settings = load_settings(database_url=db_url, sample_data_dir=str(ROOT / "sample_data"))
    console = open_console(settings)
    events = _sample(TAX_OUTAGE, ITEM_TYPO, CLOSED_PERIOD)
    assert ingest_events(engine=console.engine, events=events).rejected == 0
    systems = open_systems(settings, BuildEnv(sleep=lambda s: None))
    assert systems.sandbox is not None
    systems.sandbox.sleep = lambda s: None
    yield console, Actions(console, systems)
    console.engine.dispose()


def sent(actions: Actions, system: str) -> list:
    sandbox = actions.systems.sandbox
    assert sandbox is not None
    return [r for r in sandbox.requests_to(system) if r.method != "GET"]


def test_replay_sends_the_same_request_with_the_same_key_and_records_it(setup) -> None:
    console, actions = setup
    result = actions.replay(
        key=TAX_OUTAGE, actor=ANA, reason="tax service is back", reason_code="transient_outage"
    )
    assert result.outcome == "succeeded" and result.sent
    assert result.idempotency_key == "o2c-b14e4b:tax.calculate"
    assert [r.idempotency_key for r in sent(actions, "tax")] == ["o2c-b14e4b:tax.calculate"]
    trace = console.find_traces(TAX_OUTAGE)[0]
    mine = [e for e in trace.events if e.source == "urn:q2c:console"]
    assert [(e.operation, e.status, e.attempt) for e in mine] == [("tax.calculate", "succeeded", 4)]
    assert mine[0].raw["data"]["replay_of"]["source"] != "urn:q2c:console"
    [entry] = entries(console.engine)
    assert (entry.actor, entry.role, entry.action, entry.outcome) == (
        "ana",
        "support",
        "replay",
        "succeeded",
    )
    assert entry.reason == "tax service is back" and entry.request == result.request
    assert verify(console.engine).ok


def test_a_step_that_already_succeeded_is_not_replayed(setup) -> None:
    _, actions = setup
    actions.replay(key=TAX_OUTAGE, actor=ANA, reason="back", reason_code="transient_outage")
    with pytest.raises(InputError, match="no failed step"):
        actions.replay(key=TAX_OUTAGE, actor=ANA, reason="again", reason_code="transient_outage")
    with pytest.raises(InputError, match="already succeeded"):
        actions.replay(
            key=TAX_OUTAGE,
            step="tax.tax.calculate",
            actor=ANA,
            reason="again",
            reason_code="transient_outage",
        )
    assert len(sent(actions, "tax")) == 1


def test_dry_run_checks_the_target_and_sends_nothing(setup) -> None:
    console, actions = setup
    result = actions.replay(
        key=ITEM_TYPO, actor=ANA, reason="check", reason_code="cause_fixed", dry_run=True
    )
    assert result.outcome == "dry_run" and not result.sent
    assert result.target_check is not None and result.target_check.verdict == "would_create"
    assert sent(actions, "erp") == [] and entries(console.engine) == []


def test_an_effect_that_already_exists_is_linked_not_sent(setup) -> None:
    console, actions = setup
    # Someone fixed the typo and created the order in the ERP by hand meanwhile.
    fixed = json.loads(json.dumps(actions.target(ITEM_TYPO).request))
    fixed["lines"][0]["item"] = "PLAT-ANNUAL"
    erp = actions.systems.connector("erp")
    erp.create_sales_order(fixed, idempotency_key="by-hand-1")
    before = len(sent(actions, "erp"))
    result = actions.replay(key=ITEM_TYPO, actor=ANA, reason="fixed", reason_code="cause_fixed")
    assert result.outcome == "linked" and not result.sent
    assert "already exists" in result.message
    assert len(sent(actions, "erp")) == before  # nothing written by the replay
    trace = console.find_traces(ITEM_TYPO)[0]
    linked = [e for e in trace.events if e.source == "urn:q2c:console"]
    assert linked[0].status == "succeeded" and linked[0].raw["data"]["linked_existing"] is True
    assert entries(console.engine)[0].outcome == "linked"


def test_a_replay_that_fails_again_is_recorded_and_can_be_retried(setup) -> None:
    console, actions = setup
    first = actions.replay(key=ITEM_TYPO, actor=ANA, reason="try", reason_code="cause_fixed")
    assert first.outcome == "failed" and first.error is not None
    assert "PLAT-ANNAUL" in first.message
    again = actions.replay(key=ITEM_TYPO, actor=ANA, reason="try again", reason_code="cause_fixed")
    assert again.outcome == "failed"  # a failed claim may be taken again
    assert [e.outcome for e in entries(console.engine)] == ["failed", "failed"]


def test_resubmit_sends_the_edit_with_a_derived_key_and_keeps_the_diff(setup) -> None:
    console, actions = setup
    target = actions.target(ITEM_TYPO)
    fixed = json.loads(json.dumps(target.request))
    fixed["lines"][0]["item"] = "PLAT-ANNUAL"
    result = actions.resubmit(
        key=ITEM_TYPO,
        step=None,
        payload=fixed,
        actor=RAJ,
        reason="typo in the product code",
        reason_code="data_corrected",
    )
    assert result.outcome == "succeeded", result.message
    assert result.idempotency_key == "o2c-0be703:salesorder.create#r1"
    assert result.diff == [
        {"path": "lines[0].item", "op": "changed", "old": "PLAT-ANNAUL", "new": "PLAT-ANNUAL"}
    ]
    [entry] = entries(console.engine)
    assert entry.action == "resubmit" and entry.diff == result.diff
    erp = actions.systems.sandbox.apps["erp"]  # type: ignore[union-attr]
    assert len(erp.created.get("salesOrders", [])) == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not an object", "must be a JSON object"),
        ({"externalId": "x"}, "does not fit its schema: customer: Field required"),
    ],
)
def test_resubmit_refuses_a_body_that_fails_the_schema(setup, payload, message) -> None:
    _, actions = setup
    with pytest.raises(InputError, match=message):
        actions.resubmit(
            key=ITEM_TYPO, step=None, payload=payload, actor=RAJ, reason="x", reason_code="other"
        )
    assert sent(actions, "erp") == []


def test_an_empty_reason_or_unknown_reason_code_is_refused(setup) -> None:
    _, actions = setup
    with pytest.raises(InputError, match="a reason is required"):
        actions.replay(key=TAX_OUTAGE, actor=ANA, reason="  ", reason_code="other")
    with pytest.raises(InputError, match="unknown reason code 'because'"):
        actions.replay(key=TAX_OUTAGE, actor=ANA, reason="x", reason_code="because")


def test_roles_are_checked_in_the_service(setup) -> None:
    _, actions = setup
    with pytest.raises(PermissionDenied, match=r"fin \(viewer\) may not replay"):
        actions.replay(
            key=TAX_OUTAGE, actor=Actor("fin", "viewer"), reason="x", reason_code="other"
        )
    with pytest.raises(PermissionDenied, match="may not resubmit"):
        actions.resubmit(
            key=ITEM_TYPO, step=None, payload={}, actor=ANA, reason="x", reason_code="other"
        )
    assert sent(actions, "tax") == []


def test_read_only_switch_refuses_every_action(db_url: str) -> None:
    settings = load_settings(database_url=db_url, read_only=True)
    console = open_console(settings)
    actions = Actions(
        console, open_systems(load_settings(sample_data_dir=str(ROOT / "sample_data")))
    )
    with pytest.raises(PermissionDenied, match="read-only"):
        actions.replay(key=TAX_OUTAGE, actor=RAJ, reason="x", reason_code="other")
    console.engine.dispose()


def test_unknown_key_and_no_stored_request(setup) -> None:
    console, actions = setup
    with pytest.raises(NotFoundError):
        actions.replay(key="SO-404", actor=ANA, reason="x", reason_code="other")
    bare = {
        "specversion": "1.0",
        "id": "bare-1",
        "source": "urn:test",
        "type": "com.q2c.step.failed",
        "time": "2026-11-20T10:00:00Z",
        "correlationid": "o2c-bare",
        "data": {
            "system": "erp",
            "operation": "salesorder.create",
            "error": {"code": "X", "message": "boom"},
        },
    }
    ingest_events(engine=console.engine, events=[bare])
    with pytest.raises(InputError, match="no stored request"):
        actions.replay(key="o2c-bare", actor=ANA, reason="x", reason_code="other")


def test_two_operators_at_once_send_one_request(setup) -> None:
    """Operator A's request is held inside the target while B tries the same step."""
    _, actions = setup
    sandbox = actions.systems.sandbox
    assert sandbox is not None
    inside, release = threading.Event(), threading.Event()

    def hold(_seconds: float) -> None:
        inside.set()
        release.wait(10)

    sandbox.sleep = hold
    sandbox.faults.update({"slow_ms": {"tax": 1}})
    results: dict[str, object] = {}

    def operator(name: str) -> None:
        results[name] = actions.replay(
            key=TAX_OUTAGE, actor=Actor(name, "support"), reason="back", reason_code="other"
        )

    a = threading.Thread(target=operator, args=("a",))
    a.start()
    assert inside.wait(10)
    operator("b")  # while a's request is inside the tax system
    release.set()
    a.join(10)
    assert results["b"].outcome == "in_progress"  # type: ignore[attr-defined]
    assert "already in progress" in results["b"].message  # type: ignore[attr-defined]
    assert results["a"].outcome == "succeeded"  # type: ignore[attr-defined]
    assert len(sent(actions, "tax")) == 1


def test_a_timeout_after_the_target_committed_creates_one_record(setup) -> None:
    _, actions = setup
    sandbox = actions.systems.sandbox
    assert sandbox is not None
    sandbox.faults.update({"timeout_after_commit": {"erp": 1}})
    target = actions.target(ITEM_TYPO)
    fixed = json.loads(json.dumps(target.request))
    fixed["lines"][0]["item"] = "PLAT-ANNUAL"
    result = actions.resubmit(
        key=ITEM_TYPO, step=None, payload=fixed, actor=RAJ, reason="typo", reason_code="other"
    )
    assert result.outcome == "succeeded", result.message
    posts = [r for r in sent(actions, "erp") if r.path.endswith("/salesOrder")]
    assert len(posts) == 2 and posts[1].replayed  # the retry got the first answer again
    assert len(sandbox.apps["erp"].created["salesOrders"]) == 1


def test_continue_the_flow_runs_the_remaining_steps_and_stops_at_a_failure(setup) -> None:
    from services.replay_continue import continue_flow, remaining_steps

    console, actions = setup
    fixed = json.loads(json.dumps(actions.target(ITEM_TYPO).request))
    fixed["lines"][0]["item"] = "PLAT-ANNUAL"
    actions.resubmit(
        key=ITEM_TYPO, step=None, payload=fixed, actor=RAJ, reason="typo", reason_code="other"
    )
    trace = console.find_traces(ITEM_TYPO)[0]
    assert trace.keys["order_number"][0].startswith("SO-")  # the created order's number
    assert remaining_steps(actions, trace) == [
        "tax.tax.calculate",
        "billing.invoice.create",
        "erp.invoice.post",
        "salesforce.opportunity.writeback",
    ]
    result = continue_flow(
        actions, key=ITEM_TYPO, actor=RAJ, reason="order is in", reason_code="cause_fixed"
    )
    outcomes = [(r.step, r.outcome) for r in result.steps]
    assert outcomes[:2] == [
        ("tax.tax.calculate", "succeeded"),
        ("billing.invoice.create", "succeeded"),
    ]
    # October 2026 is closed in the ERP: the run stops there and says why.
    assert outcomes[2] == ("erp.invoice.post", "failed")
    assert result.stopped is not None and "erp.invoice.post" in result.stopped
    assert result.remaining == ["erp.invoice.post", "salesforce.opportunity.writeback"]
    keys = {r.step: r.idempotency_key for r in result.steps}
    assert keys["billing.invoice.create"] == "o2c-0be703:invoice.create"
    assert sent(actions, "salesforce") == []  # nothing after the failure was sent


def test_continue_refuses_while_a_step_is_still_failed(setup) -> None:
    from services.replay_continue import continue_flow

    _, actions = setup
    with pytest.raises(InputError, match="still has a failed step"):
        continue_flow(actions, key=ITEM_TYPO, actor=RAJ, reason="x", reason_code="other")
    with pytest.raises(PermissionDenied, match="may not continue"):
        continue_flow(actions, key=ITEM_TYPO, actor=ANA, reason="x", reason_code="other")
