"""Bulk replay against the in-process sandbox, on a real database (SQLite and PostgreSQL).

The store holds copies of sample transactions, each with its own correlation ID,
opportunity and idempotency keys: ``TAXES`` copies of a tax outage (tax.calculate
503, EUR 182,436 each), three copies of an ERP item typo (salesorder.create,
GBP 50,718 each), a middleware validation failure (not replayable) and a step
without a stored idempotency key (error code GATEWAY_TIMEOUT). More transactions than one search page.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.audit import entries, verify
from services.bulk import BulkReplay
from services.connections import Systems, open_systems
from services.console import Console, open_console
from services.errors import InputError
from services.ingest import ingest_events
from services.replay import Actions
from services.roles import Actor, PermissionDenied
from services.schemas import SearchFilters
from services.settings import load_settings
from services.systems.registry import BuildEnv

ROOT = Path(__file__).resolve().parents[2]
TAX_OUTAGE, ITEM_TYPO, NOT_REPLAYABLE = "o2c-b14e4b", "o2c-0be703", "o2c-cb3d79"
TAXES = 110
RAJ, ADA, BO = Actor("raj", "revops"), Actor("ada", "admin"), Actor("bo", "admin")
REASON = {"reason": "tax service is back", "reason_code": "transient_outage"}


def _sample(cid: str) -> list[dict[str, Any]]:
    with (ROOT / "sample_data" / "events.jsonl").open() as fh:
        return [e for e in map(json.loads, fh) if e.get("correlationid") == cid]


def _clone(events: list[dict[str, Any]], cid: str, n: int) -> list[dict[str, Any]]:
    """The transaction again under ``cid``: new event ids, opportunity and keys."""
    new_cid = f"{cid}-{n:04d}"
    text = json.dumps(events).replace(f'"{cid}', f'"{new_cid}')
    opp = events[0]["data"]["keys"]["opportunity_id"]
    text = text.replace(opp, opp[:12] + f"{n:03d}" + opp[-3:])
    out = json.loads(text)
    for i, event in enumerate(out):
        event["id"] = f"{new_cid}-{i}"
    return out


def bulk_events(taxes: int = TAXES) -> list[dict[str, Any]]:
    """The store of the module docstring."""
    events: list[dict[str, Any]] = []
    tax, typo, invalid = _sample(TAX_OUTAGE), _sample(ITEM_TYPO), _sample(NOT_REPLAYABLE)
    for n in range(taxes):
        events += _clone(tax, TAX_OUTAGE, n)
    for n in range(3):
        events += _clone(typo, ITEM_TYPO, n)
    events += _clone(invalid, NOT_REPLAYABLE, 0)
    bare = _clone(tax, TAX_OUTAGE, 999)
    for event in bare:
        event["data"].pop("idempotency_key", None)
        if "error" in event["data"]:
            event["data"]["error"]["code"] = "GATEWAY_TIMEOUT"
    return events + bare


def tax_cid(n: int) -> str:
    return f"{TAX_OUTAGE}-{n:04d}"


class FakeClock:
    """Monotonic seconds that only move when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def open_store(db_url: str, **overrides: Any) -> tuple[Console, Systems]:
    settings = load_settings(
        database_url=db_url, sample_data_dir=str(ROOT / "sample_data"), **overrides
    )
    console = open_console(settings)
    systems = open_systems(settings, BuildEnv(sleep=lambda s: None))
    assert systems.sandbox is not None
    systems.sandbox.sleep = lambda s: None
    return console, systems


@pytest.fixture
def store(db_url: str) -> Iterator[tuple[Console, Systems]]:
    console, systems = open_store(
        db_url, bulk_approval_items=10_000, bulk_approval_amount=1e12, bulk_concurrency=4
    )
    summary = ingest_events(engine=console.engine, events=bulk_events())
    assert summary.rejected == 0 and summary.conflicts == 0
    yield console, systems
    console.engine.dispose()


def bulk_of(console: Console, systems: Systems, **kw: Any) -> BulkReplay:
    clock = FakeClock()
    return BulkReplay(console, systems, clock=clock, sleep=clock.sleep, **kw)


def posts(systems: Systems, system: str) -> list[Any]:
    assert systems.sandbox is not None
    return [r for r in systems.sandbox.requests_to(system) if r.method == "POST"]


def test_dry_run_counts_every_page_and_sends_nothing(store) -> None:
    console, systems = store
    fixed = json.loads(json.dumps(Actions(console, systems).target(f"{ITEM_TYPO}-0001").request))
    fixed["lines"][0]["item"] = "PLAT-ANNUAL"
    systems.connector("erp").create_sales_order(fixed, idempotency_key="by-hand")
    before = len(posts(systems, "erp"))

    plan = bulk_of(console, systems).plan(filters=SearchFilters())
    counts = plan.cli_dict()
    assert (counts["matched"], counts["would_send"], counts["skipped"], counts["blocked"]) == (
        TAXES + 5,
        TAXES + 2,
        1,
        2,
    )
    assert plan.money == {"EUR": str(Decimal("182436.00") * TAXES), "GBP": "101436.00"}
    reasons = {i.transaction_id: i.reason for i in plan.items if i.state != "pending"}
    by_cid = {t: r for t, r in reasons.items()}
    assert any("already exists in erp" in r for r in by_cid.values())
    assert any("cannot be replayed" in r for r in by_cid.values())
    assert any("no stored idempotency key" in r for r in by_cid.values())
    assert plan.needs_approval is False
    assert len(posts(systems, "erp")) == before and posts(systems, "tax") == []
    assert entries(console.engine) == []


def test_a_run_sends_each_step_once_and_puts_it_on_the_record(store) -> None:
    console, systems = store
    bulk = bulk_of(console, systems, batch_size=16)
    run = bulk.create(filters=SearchFilters(system="tax"), actor=RAJ, **REASON)
    assert run.state == "ready" and run.counts == {"pending": TAXES, "skipped": 0, "blocked": 1}
    seen: list[tuple[int, int]] = []
    summary = bulk.run(run_id=run.id, actor=RAJ, progress=lambda d, t: seen.append((d, t)))
    assert summary.run.state == "done"
    assert summary.counts == {
        "sent": TAXES,
        "succeeded": TAXES,
        "failed": 0,
        "skipped": 0,
        "blocked": 1,
        "pending": 0,
    }
    assert seen[-1] == (TAXES, TAXES) and len(seen) == TAXES
    keys = Counter(r.idempotency_key for r in posts(systems, "tax"))
    assert len(keys) == TAXES and set(keys.values()) == {1}
    log = entries(console.engine)
    assert [(e.action, e.outcome) for e in log[:1]] == [("bulk_replay", "requested")]
    items = [e for e in log if e.transaction_id]
    assert len(items) == TAXES and {e.target for e in log} == {run.id}
    assert {e.outcome for e in items} == {"succeeded"}
    assert verify(console.engine).ok
    trace = console.find_traces(tax_cid(7))[0]
    assert trace.status != "failed"  # the flow goes on after tax
    assert [e.source for e in trace.events][-1] == "urn:q2c:console"
    sent = summary.cli_dict()["requests"]
    assert len(sent) == TAXES and sent[0]["outcome"] == "succeeded"
    assert summary.cli_dict()["items"][0]["trace_url"].startswith("/trace?key=")


def test_a_large_run_waits_for_another_admin(db_url: str) -> None:
    console, systems = open_store(db_url)  # approval above 100 steps (the default)
    ingest_events(engine=console.engine, events=bulk_events())
    bulk = bulk_of(console, systems)
    run = bulk.create(filters=SearchFilters(system="tax"), actor=ADA, **REASON)
    assert run.state == "awaiting_approval" and run.needs_approval
    with pytest.raises(InputError, match="awaits approval"):
        bulk.run(run_id=run.id, actor=ADA)
    with pytest.raises(PermissionDenied, match="ada requested .* cannot approve it"):
        bulk.approve(run_id=run.id, actor=ADA)
    with pytest.raises(PermissionDenied, match=r"raj \(revops\) may not approve"):
        bulk.approve(run_id=run.id, actor=RAJ)
    approved = bulk.approve(run_id=run.id, actor=BO)
    assert (approved.state, approved.approver) == ("ready", "bo")
    assert [(e.action, e.actor, e.target) for e in entries(console.engine, action="approve")] == [
        ("approve", "bo", run.id)
    ]
    summary = bulk.run(run_id=run.id, actor=BO)
    assert summary.counts["succeeded"] == TAXES and summary.run.state == "done"
    console.engine.dispose()


def test_a_target_down_for_every_request_stops_early_and_can_be_retried(store) -> None:
    console, systems = store
    assert systems.sandbox is not None
    systems.sandbox.faults.update({"tax_outage": True})
    bulk = bulk_of(console, systems, breaker_after=5)
    run = bulk.create(filters=SearchFilters(system="tax"), actor=RAJ, **REASON)
    summary = bulk.run(run_id=run.id, actor=RAJ)
    assert summary.run.state == "done"
    assert summary.counts["failed"] == TAXES and summary.counts["succeeded"] == 0
    # 5 failures in a row open the breaker; at most 4 more were in flight; 4 tries each.
    assert summary.counts["sent"] <= 5 + 4
    assert len(posts(systems, "tax")) <= (5 + 4) * 4
    not_sent = [i for i in summary.items if i.outcome == "not_sent"]
    assert len(not_sent) >= TAXES - 9 and "tax failed 5 times in a row" in not_sent[0].message
    assert len([e for e in entries(console.engine) if e.transaction_id]) == TAXES

    systems.sandbox.faults.update({"tax_outage": False})
    again = bulk.run(run_id=run.id, actor=RAJ, retry_failed=True)
    assert again.counts["succeeded"] == TAXES and again.counts["failed"] == 0
    ok = Counter(r.idempotency_key for r in posts(systems, "tax") if r.status < 300)
    assert len(ok) == TAXES and set(ok.values()) == {1}


class Killed(Exception):
    """Stands for the process dying half way."""


def test_a_run_killed_half_way_continues_and_sends_nothing_twice(store) -> None:
    console, systems = store
    bulk = bulk_of(console, systems, batch_size=8)
    run = bulk.create(filters=SearchFilters(system="tax"), actor=RAJ, **REASON)

    def die(done: int, total: int) -> None:
        if done == 30:
            raise Killed

    with pytest.raises(Killed):
        bulk.run(run_id=run.id, actor=RAJ, progress=die)
    stopped = bulk.summary(run_id=run.id)
    assert stopped.run.state == "running"
    assert 30 <= stopped.counts["succeeded"] < TAXES
    assert stopped.counts["pending"] == TAXES - stopped.counts["succeeded"]

    seen: list[tuple[int, int]] = []
    resumed = bulk_of(console, systems).run(
        run_id=run.id, actor=RAJ, progress=lambda d, t: seen.append((d, t))
    )
    assert resumed.run.state == "done" and resumed.counts["succeeded"] == TAXES
    assert seen[0] == (stopped.counts["succeeded"] + 1, TAXES) and seen[-1] == (TAXES, TAXES)
    keys = Counter(r.idempotency_key for r in posts(systems, "tax"))
    assert len(keys) == TAXES and set(keys.values()) == {1}
    assert not any(r.replayed for r in posts(systems, "tax"))


def test_cancel_stops_between_items(store) -> None:
    console, systems = store
    console.settings.bulk_concurrency = 1
    bulk = bulk_of(console, systems, batch_size=1)
    run = bulk.create(filters=SearchFilters(system="tax"), actor=RAJ, **REASON)

    def cancel_at_five(done: int, total: int) -> None:
        if done == 5:
            bulk.cancel(run_id=run.id, actor=RAJ)

    summary = bulk.run(run_id=run.id, actor=RAJ, progress=cancel_at_five)
    assert summary.run.state == "cancelled" and summary.run.cancel_requested
    # The item already in flight when the cancel is seen finishes (one worker: one item).
    done = summary.counts["succeeded"]
    assert done in (5, 6) and summary.counts["pending"] == TAXES - done
    assert len(posts(systems, "tax")) == done
    with pytest.raises(InputError, match="was cancelled"):
        bulk.run(run_id=run.id, actor=RAJ)
    assert [e.outcome for e in entries(console.engine, action="bulk_cancel")] == [
        "cancel_requested"
    ]
    ready = bulk.create(filters=SearchFilters(system="tax"), actor=RAJ, **REASON)
    assert bulk.cancel(run_id=ready.id, actor=RAJ).state == "cancelled"


def test_a_single_replay_during_a_bulk_run_sends_once(store) -> None:
    """The bulk run's request is held inside the target while an operator replays it."""
    console, systems = store
    sandbox = systems.sandbox
    assert sandbox is not None
    inside, release = threading.Event(), threading.Event()

    def hold(_seconds: float) -> None:
        inside.set()
        release.wait(10)

    bulk = bulk_of(console, systems)
    run = bulk.create(filters=SearchFilters(key=tax_cid(3)), actor=RAJ, **REASON)
    sandbox.sleep = hold
    sandbox.faults.update({"slow_ms": {"tax": 1}})
    done: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: done.update(s=bulk.run(run_id=run.id, actor=RAJ)), daemon=True
    )
    worker.start()
    assert inside.wait(10)
    single = Actions(console, systems).replay(
        key=tax_cid(3), actor=Actor("ana", "support"), **REASON
    )
    release.set()
    worker.join(10)
    assert single.outcome == "in_progress" and not single.sent
    assert done["s"].counts["succeeded"] == 1
    assert [r.idempotency_key for r in posts(systems, "tax")] == [f"{tax_cid(3)}:tax.calculate"]


def test_two_runs_over_the_same_steps_send_them_once(store) -> None:
    console, systems = store
    bulk = bulk_of(console, systems)
    first = bulk.create(filters=SearchFilters(system="tax"), actor=RAJ, **REASON)
    second = bulk.create(filters=SearchFilters(system="tax"), actor=RAJ, **REASON)
    bulk.run(run_id=first.id, actor=RAJ)
    summary = bulk.run(run_id=second.id, actor=RAJ)
    assert summary.counts["skipped"] == TAXES and summary.counts["sent"] == 0
    assert "already done (succeeded)" in summary.items[0].message
    assert len(posts(systems, "tax")) == TAXES


def test_a_viewer_is_refused_and_a_reason_is_required(store) -> None:
    console, systems = store
    bulk = bulk_of(console, systems)
    viewer = Actor("fin", "viewer")
    with pytest.raises(PermissionDenied, match=r"fin \(viewer\) may not bulk replay"):
        bulk.create(filters=SearchFilters(system="tax"), actor=viewer, **REASON)
    with pytest.raises(PermissionDenied, match="may not bulk replay"):
        bulk.create(filters=SearchFilters(), actor=Actor("ana", "support"), **REASON)
    with pytest.raises(InputError, match="a reason is required"):
        bulk.create(filters=SearchFilters(), actor=RAJ, reason=" ", reason_code="other")
    with pytest.raises(InputError, match="unknown reason code"):
        bulk.create(filters=SearchFilters(), actor=RAJ, reason="x", reason_code="nope")
    with pytest.raises(InputError, match="nothing to replay"):
        bulk.create(filters=SearchFilters(error_code="NO_SUCH_CODE"), actor=RAJ, **REASON)
    run = bulk.create(filters=SearchFilters(system="tax"), actor=RAJ, **REASON)
    with pytest.raises(PermissionDenied):
        bulk.run(run_id=run.id, actor=viewer)
    with pytest.raises(PermissionDenied):
        bulk.cancel(run_id=run.id, actor=viewer)
    assert posts(systems, "tax") == []


def test_claims_left_by_a_hard_killed_run_are_taken_over_once_stale(store) -> None:
    """The process died after sending 3 steps, before recording them (claims in_progress)."""
    from datetime import timedelta

    from sqlalchemy import update

    from services.action_models import StepClaim
    from services.replay import claim_effect

    console, systems = store
    bulk = bulk_of(console, systems)
    run = bulk.create(filters=SearchFilters(system="tax"), actor=RAJ, **REASON)
    actions = Actions(console, systems)
    dead = [actions.target(tax_cid(n)) for n in range(3)]
    for target in dead:
        assert claim_effect(console.engine, target.effect_key, target, f"raj (bulk {run.id})")[0]
        systems.connector("tax").calculate(target.request, idempotency_key=target.idempotency_key)

    fresh = bulk.run(run_id=run.id, actor=RAJ)
    assert fresh.counts["pending"] == 3 and fresh.counts["succeeded"] == TAXES - 3
    assert all("is sending it now" in i.message for i in fresh.items if i.state == "pending")

    with console.engine.begin() as conn:  # ten minutes later
        conn.execute(
            update(StepClaim).values(claimed_at=StepClaim.claimed_at - timedelta(minutes=11))
        )
    later = bulk.run(run_id=run.id, actor=RAJ)
    assert later.counts["succeeded"] == TAXES and later.counts["pending"] == 0
    for target in dead:
        sent = [r for r in posts(systems, "tax") if r.idempotency_key == target.idempotency_key]
        assert [r.replayed for r in sent] == [False, True]  # one effect: the target's first answer
