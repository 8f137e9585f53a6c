"""A bulk run's batched writes: claims, events, audit entries, item states and run state.

The coordinator of :mod:`services.bulk_run` claims a chunk of items in one
transaction (:func:`claim_many`) and records finished items in batches
(:func:`record_results`): events first, then audit entries, item states and
claim releases in one transaction, so a released claim always has its event
and audit entry. :func:`load_items` and :func:`set_state` read and move a run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from services.action_models import BulkItem, BulkRun, StepClaim
from services.audit import AuditIn, append_many_in, lock_audit
from services.bulk_context import ItemResult, RunContext, RunItem
from services.db import writer_connection
from services.errors import StoreError
from services.ingest import ingest_events
from services.replay import release_effect
from services.replay_plan import StepTarget

__all__ = ["claim_many", "load_items", "record_results", "set_state"]

_UNRECORDED = ("in_progress", "not_started")  # nothing happened: no audit entry
_CLAIM_STATE = {"succeeded": "succeeded", "linked": "linked"}

_ITEMS = cast(Table, BulkItem.__table__)
_SET_ITEM = (
    update(_ITEMS)
    .where(
        _ITEMS.c.run_id == bindparam("b_run"),
        _ITEMS.c.transaction_id == bindparam("b_tx"),
        _ITEMS.c.step == bindparam("b_step"),
    )
    .values(state=bindparam("b_state"), detail=bindparam("b_detail"))
)
_CLAIMS = cast(Table, StepClaim.__table__)
_RELEASE = (
    update(_CLAIMS)
    .where(_CLAIMS.c.effect_key == bindparam("b_effect"))
    .values(
        state=bindparam("b_state"), finished_at=bindparam("b_at"), outcome_json=bindparam("b_out")
    )
)


def _detail(result: ItemResult, audit_seq: int | None) -> str:
    """The item's ``detail`` JSON: the outcome, and the stored target for a retry."""
    target = result.item.target
    return json.dumps(
        {
            "message": result.message,
            "outcome": result.outcome,
            "sent": result.sent,
            "idempotency_key": target.idempotency_key,
            "verdict": result.verdict,
            "error": result.error,
            "event_id": result.event["id"] if result.event else None,
            "audit_seq": audit_seq,
            "target": target.model_dump(mode="json"),
        },
        default=str,
    )


def _audit_in(ctx: RunContext, result: ItemResult) -> AuditIn:
    """The item's audit entry (``target`` is the run id)."""
    target = result.item.target
    return AuditIn(
        actor=ctx.actor.name,
        role=ctx.actor.role,
        action="bulk_replay",
        outcome=result.outcome,
        reason_code=ctx.reason_code,
        reason=ctx.reason,
        transaction_id=target.transaction_id,
        step=target.step,
        target=ctx.run_id,
        idempotency_key=target.idempotency_key,
        request=target.request,
        response=result.response if result.outcome != "failed" else result.error,
        detail={
            "target_check": result.verdict,
            "event_id": result.event["id"] if result.event else None,
            "sent": result.sent,
            "message": result.message,
            "original": {"source": target.original_source, "id": target.original_id},
        },
    )


def claim_many(ctx: RunContext, items: list[RunItem]) -> set[str]:
    """Claim every item's effect in one transaction; the effects won (not held before)."""
    if not items:
        return set()
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        {
            "effect_key": i.target.effect_key,
            "transaction_id": i.transaction_id,
            "step": i.step,
            "state": "in_progress",
            "holder": ctx.holder,
            "claimed_at": now,
        }
        for i in items
    ]
    try:
        with writer_connection(ctx.engine) as conn, conn.begin():
            make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            stmt = make(_CLAIMS).on_conflict_do_nothing(index_elements=["effect_key"])
            won = conn.execute(stmt.returning(_CLAIMS.c.effect_key), rows)
            return {r[0] for r in won}
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot record the action: {exc.__class__.__name__}") from None


def record_results(ctx: RunContext, results: list[ItemResult]) -> None:
    """Events, then audit entries + item states + claim releases in one transaction."""
    if not results:
        return
    try:
        events = [r.event for r in results if r.event is not None]
        if events:
            summary = ingest_events(
                engine=ctx.engine,
                events=events,
                name=f"bulk {ctx.run_id}",
                settings=ctx.settings,
                catalog=ctx.catalog,
            )
            if summary.accepted != len(events):
                reasons = "; ".join(r.reason for r in summary.rejections) or "not accepted"
                raise StoreError(f"the console's own events were not stored: {reasons}")
        now = datetime.now(UTC).replace(tzinfo=None)
        recorded = [r for r in results if r.outcome not in _UNRECORDED]
        with writer_connection(ctx.engine) as conn, conn.begin():
            lock_audit(conn)
            seqs = append_many_in(conn, [_audit_in(ctx, r) for r in recorded], now)
            seq_of = {id(r): s for r, s in zip(recorded, seqs, strict=True)}
            items, claims = [], []
            for r in results:
                seq, t = seq_of.get(id(r)), r.item.target
                items.append(
                    {
                        "b_run": ctx.run_id,
                        "b_tx": t.transaction_id,
                        "b_step": r.item.step,
                        "b_state": r.state,
                        "b_detail": _detail(r, seq),
                    }
                )
                if r.claimed:
                    claims.append(
                        {
                            "b_effect": t.effect_key,
                            "b_state": _CLAIM_STATE.get(r.outcome, "failed"),
                            "b_at": now,
                            "b_out": json.dumps({"outcome": r.outcome, "audit": seq}),
                        }
                    )
            conn.execute(_SET_ITEM, items)
            if claims:
                conn.execute(_RELEASE, claims)
    except BaseException:
        for r in results:
            if r.claimed:
                release_effect(ctx.engine, r.item.target.effect_key, "failed", None)
        raise


def load_items(engine: Engine, run_id: str) -> tuple[list[RunItem], int, int]:
    """The run's pending items, how many planned items are done, and how many there are."""
    c = _ITEMS.c
    stmt = select(c.position, c.transaction_id, c.step, c.state, c.detail)
    stmt = stmt.where(c.run_id == run_id)
    pending: list[RunItem] = []
    done = total = 0
    with engine.connect() as conn:
        for position, tx, step, state, detail in conn.execute(stmt.order_by(_ITEMS.c.position)):
            data = json.loads(detail) if detail else {}
            if data.get("planned", "pending") != "pending" or not data.get("target"):
                continue
            total += 1
            if state == "pending":
                target = StepTarget.model_validate(data["target"])
                pending.append(RunItem(position, tx, step, target))
            else:
                done += 1
    return pending, done, total


def set_state(
    engine: Engine, run_id: str, state: str, *, retry_failed: bool = False, counts: bool = False
) -> None:
    """Set the run's state; put failed items back to pending; store the item counts."""
    with writer_connection(engine) as conn, conn.begin():
        if retry_failed:
            conn.execute(
                update(_ITEMS)
                .where(_ITEMS.c.run_id == run_id, _ITEMS.c.state == "failed")
                .values(state="pending")
            )
        values: dict[str, Any] = {"state": state}
        if counts:
            rows = conn.execute(
                select(_ITEMS.c.state, func.count())
                .where(_ITEMS.c.run_id == run_id)
                .group_by(_ITEMS.c.state)
            )
            values["counts_json"] = json.dumps({s: n for s, n in rows})
        conn.execute(update(BulkRun).where(BulkRun.id == run_id).values(**values))
