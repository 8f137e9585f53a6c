"""The stored life of a bulk run: its rows, each change on the audit record, and reads.

:class:`services.bulk.BulkReplay` checks roles and states, then calls these:
:func:`insert_run` (the run, its items and the ``requested`` audit entry),
:func:`approve_run`, :func:`cancel_run`, and the reads :func:`load_run`,
:func:`list_runs` and :func:`load_item_outs`. The run engine's own batched
writes are in :mod:`services.bulk_records`.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from services.action_models import BulkItem, BulkRun
from services.audit import AuditIn, append_in, lock_audit
from services.bulk_models import BulkItemOut, BulkPlan, BulkRunOut
from services.db import writer_connection
from services.errors import InputError, NotFoundError
from services.roles import Actor

__all__ = ["approve_run", "cancel_run", "insert_run", "list_runs", "load_item_outs", "load_run"]


def _now() -> datetime:
    """Naive UTC now (how the tables store times)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _run_out(row: Any) -> BulkRunOut:
    """A ``bulk_runs`` row as the model pages and the CLI see."""
    return BulkRunOut(
        id=row.id,
        created=row.created,
        requester=row.requester,
        requester_role=row.requester_role,
        reason_code=row.reason_code,
        reason=row.reason,
        filters=json.loads(row.filters_json),
        state=row.state,
        needs_approval=bool(row.needs_approval),
        approver=row.approver,
        approved_at=row.approved_at,
        items=row.items,
        money=json.loads(row.money_json or "{}"),
        counts=json.loads(row.counts_json or "{}"),
        cancel_requested=bool(row.cancel_requested),
    )


def _item_out(row: Any) -> BulkItemOut:
    """A ``bulk_items`` row, its detail JSON unpacked."""
    detail = json.loads(row.detail) if row.detail else {}
    target = detail.get("target") or {}
    return BulkItemOut(
        position=row.position,
        transaction_id=row.transaction_id,
        step=row.step,
        state=row.state,
        outcome=detail.get("outcome"),
        sent=bool(detail.get("sent")),
        message=detail.get("message") or "",
        idempotency_key=detail.get("idempotency_key") or target.get("idempotency_key"),
    )


def insert_run(
    engine: Engine, *, plan: BulkPlan, actor: Actor, reason: str, reason_code: str
) -> str:
    """Store a requested run and its planned items, with its audit entry; the new run id."""
    run_id = f"bulk-{uuid.uuid4().hex[:12]}"
    created = _now()
    state = "awaiting_approval" if plan.needs_approval else "ready"
    counts = {s: plan.count(s) for s in ("pending", "skipped", "blocked")}
    with writer_connection(engine) as conn, conn.begin():
        conn.execute(
            insert(BulkRun).values(
                id=run_id,
                created=created,
                requester=actor.name,
                requester_role=actor.role,
                reason_code=reason_code,
                reason=reason.strip(),
                filters_json=plan.filters.model_dump_json(exclude={"limit", "offset"}),
                state=state,
                needs_approval=plan.needs_approval,
                items=len(plan.items),
                money_json=json.dumps(plan.money),
                counts_json=json.dumps(counts),
                cancel_requested=False,
            )
        )
        conn.execute(
            insert(BulkItem),
            [
                {
                    "run_id": run_id,
                    "transaction_id": i.transaction_id,
                    "step": i.step,
                    "position": n,
                    "state": i.state,
                    "detail": json.dumps(
                        {
                            "message": i.reason,
                            "planned": i.state,
                            "target": i.target.model_dump(mode="json") if i.target else None,
                        },
                        default=str,
                    ),
                }
                for n, i in enumerate(plan.items, start=1)
            ],
        )
        lock_audit(conn)
        append_in(
            conn,
            AuditIn(
                actor=actor.name,
                role=actor.role,
                action="bulk_replay",
                outcome="requested",
                reason_code=reason_code,
                reason=reason.strip(),
                target=run_id,
                request=plan.filters.model_dump(mode="json", exclude={"limit", "offset"}),
                detail={**counts, "money": plan.money, "state": state},
            ),
            created,
        )
    return run_id


def approve_run(engine: Engine, *, run: BulkRunOut, actor: Actor) -> None:
    """Move ``run`` from awaiting approval to ready, on the record (InputError if it moved)."""
    now = _now()
    with writer_connection(engine) as conn, conn.begin():
        changed = conn.execute(
            update(BulkRun)
            .where(BulkRun.id == run.id, BulkRun.state == "awaiting_approval")
            .values(state="ready", approver=actor.name, approved_at=now)
        ).rowcount
        if changed != 1:
            raise InputError(f"{run.id} is no longer awaiting approval")
        lock_audit(conn)
        append_in(
            conn,
            AuditIn(
                actor=actor.name,
                role=actor.role,
                action="approve",
                outcome="approved",
                target=run.id,
                detail={"requester": run.requester, "items": run.items, "money": run.money},
            ),
            now,
        )


def cancel_run(engine: Engine, *, run: BulkRunOut, actor: Actor) -> None:
    """Flag ``run`` cancelled (and cancel it at once if not started), on the record."""
    now = _now()
    with writer_connection(engine) as conn, conn.begin():
        values: dict[str, Any] = {"cancel_requested": True}
        if run.state in ("awaiting_approval", "ready"):
            values["state"] = "cancelled"
        conn.execute(update(BulkRun).where(BulkRun.id == run.id).values(**values))
        lock_audit(conn)
        append_in(
            conn,
            AuditIn(
                actor=actor.name,
                role=actor.role,
                action="bulk_cancel",
                outcome="cancel_requested",
                target=run.id,
                detail={"state": run.state},
            ),
            now,
        )


def load_run(engine: Engine, run_id: str) -> BulkRunOut:
    """One run by id (raises NotFoundError)."""
    with engine.connect() as conn:
        row = conn.execute(select(BulkRun.__table__).where(BulkRun.id == run_id)).first()
    if row is None:
        raise NotFoundError(f"no bulk run {run_id!r}")
    return _run_out(row)


def list_runs(engine: Engine, *, limit: int) -> list[BulkRunOut]:
    """The latest runs, newest first."""
    stmt = select(BulkRun.__table__).order_by(BulkRun.created.desc()).limit(limit)
    with engine.connect() as conn:
        return [_run_out(r) for r in conn.execute(stmt)]


def load_item_outs(engine: Engine, run_id: str) -> list[BulkItemOut]:
    """Every item of a run, in plan order."""
    stmt = select(BulkItem.__table__).where(BulkItem.run_id == run_id).order_by(BulkItem.position)
    with engine.connect() as conn:
        return [_item_out(r) for r in conn.execute(stmt)]
