"""Bulk replay: plan a filter's failed steps, request a run, approve it, run, resume, cancel.

``plan`` (the dry run) takes every transaction of a search (all pages; status
``failed`` unless given), finds each one's failed replayable step and asks the
target whether its effect exists. ``create`` stores the run and its items; above
``bulk_approval_items`` steps or ``bulk_approval_amount`` in any one currency it
waits for an admin other than the requester to ``approve`` it. ``run`` sends the
pending items (:mod:`services.bulk_run`); running a run again continues where a
killed one stopped, and ``retry_failed`` sends its failed items again.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import insert, select, update

from services.action_models import BulkItem, BulkRun, StepClaim
from services.audit import AuditIn, _lock, append_in
from services.bulk_run import (
    Breaker,
    RunContext,
    TokenBucket,
    execute,
    load_items,
    set_state,
)
from services.connections import Systems
from services.console import Console
from services.db import writer_connection
from services.errors import InputError, NotFoundError
from services.replay_plan import (
    StepTarget,
    check_target,
    find_target,
    require_replayable,
    step_call,
)
from services.roles import Actor, PermissionDenied, authorize
from services.schemas import SearchFilters

__all__ = [
    "BulkItemOut",
    "BulkPlan",
    "BulkPlanItem",
    "BulkReplay",
    "BulkRunOut",
    "BulkSummary",
    "trace_url",
]

PlanState = Literal["pending", "skipped", "blocked"]


def trace_url(transaction_id: str) -> str:
    """The Trace page's address for one transaction."""
    return f"/trace?key={transaction_id}"


class BulkPlanItem(BaseModel):
    """One transaction of a plan: its step and whether it would be sent."""

    transaction_id: str
    step: str
    state: PlanState
    reason: str
    amount: str | None = None
    currency: str | None = None
    target: StepTarget | None = Field(default=None, exclude=True)


class BulkPlan(BaseModel):
    """A dry run: what a bulk replay of ``filters`` would do."""

    filters: SearchFilters
    items: list[BulkPlanItem]
    money: dict[str, str]
    needs_approval: bool
    approval_reasons: list[str]

    def count(self, state: PlanState) -> int:
        """How many items are in ``state``."""
        return sum(1 for i in self.items if i.state == state)

    def cli_dict(self) -> dict[str, Any]:
        """The ``--json`` shape."""
        return {
            "matched": len(self.items),
            "would_send": self.count("pending"),
            "skipped": self.count("skipped"),
            "blocked": self.count("blocked"),
            "money": self.money,
            "needs_approval": self.needs_approval,
            "approval_reasons": self.approval_reasons,
            "items": [
                {**i.model_dump(), "trace_url": trace_url(i.transaction_id)} for i in self.items
            ],
        }


class BulkRunOut(BaseModel):
    """One stored run."""

    id: str
    created: datetime
    requester: str
    requester_role: str
    reason_code: str
    reason: str
    filters: dict[str, Any]
    state: str
    needs_approval: bool
    approver: str | None
    approved_at: datetime | None
    items: int
    money: dict[str, str]
    counts: dict[str, int]
    cancel_requested: bool


class BulkItemOut(BaseModel):
    """One item of a run, as the summary lists it."""

    position: int
    transaction_id: str
    step: str
    state: str
    outcome: str | None = None
    sent: bool = False
    message: str = ""
    idempotency_key: str | None = None

    @property
    def trace_url(self) -> str:
        """Where the Trace page shows this transaction."""
        return trace_url(self.transaction_id)


class BulkSummary(BaseModel):
    """A run and each of its items, with the counts people ask for first."""

    run: BulkRunOut
    counts: dict[str, int]
    items: list[BulkItemOut]

    @property
    def ok(self) -> bool:
        """Nothing failed, blocked or left pending."""
        return not (self.counts["failed"] or self.counts["blocked"] or self.counts["pending"])

    def cli_dict(self) -> dict[str, Any]:
        """The ``--json`` shape."""
        return {
            "run": self.run.model_dump(mode="json"),
            "counts": self.counts,
            "requests": [
                {
                    "transaction_id": i.transaction_id,
                    "step": i.step,
                    "idempotency_key": i.idempotency_key,
                    "outcome": i.outcome,
                    "state": i.state,
                    "message": i.message,
                }
                for i in self.items
                if i.sent
            ],
            "items": [{**i.model_dump(), "trace_url": i.trace_url} for i in self.items],
        }


def _now() -> datetime:
    """Naive UTC now (how the tables store times)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _decimal(value: str | None) -> Decimal | None:
    """An amount as a Decimal; None when absent or unreadable."""
    try:
        return Decimal(value) if value is not None else None
    except InvalidOperation:
        return None


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


class BulkReplay:
    """Bulk replay runs for one console and its systems.

    Args:
        console: the store.
        systems: the connectors.
        clock: monotonic seconds, for the rate limiter (tests pass a fake).
        sleep: how the rate limiter waits (tests pass a fake).
        batch_size: items whose records are written together.
        breaker_after: consecutive failures of a system before the run stops sending to it.

    Example:
        >>> bulk = BulkReplay(console, systems)
        >>> run = bulk.create(filters=SearchFilters(error_code="SERVICE_UNAVAILABLE"),
        ...                   actor=Actor("raj", "revops"), reason="tax is back",
        ...                   reason_code="transient_outage")
        >>> bulk.run(run_id=run.id, actor=Actor("raj", "revops")).counts["succeeded"]
    """

    def __init__(
        self,
        console: Console,
        systems: Systems,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        batch_size: int = 100,
        breaker_after: int = 5,
    ) -> None:
        self.console = console
        self.systems = systems
        self.settings = console.settings
        self.clock, self.sleep = clock, sleep
        self.batch_size = batch_size
        self.breaker_after = breaker_after

    # -- planning --------------------------------------------------------------------

    def plan(self, *, filters: SearchFilters) -> BulkPlan:
        """What a bulk replay of ``filters`` would do (reads and target checks only).

        Args:
            filters: the search; every page of it, status ``failed`` unless given.

        Returns:
            Each transaction as ``pending`` (would send), ``skipped`` or ``blocked``
            with the reason, the money per currency of what would be sent, and
            whether a run of it would need approval.

        Example:
            >>> bulk.plan(filters=SearchFilters(system="tax")).count("pending")
        """
        filters = filters.model_copy(update={"status": filters.status or ["failed"]})
        items = self._items(filters)
        self._claimed(items)
        self._checked(items)
        return self._priced(filters, items)

    def _items(self, filters: SearchFilters) -> list[BulkPlanItem]:
        """Every matching transaction (all pages) with its failed step, or why it has none."""
        summaries, offset = [], 0
        while True:
            page = self.console.search(
                filters.model_copy(update={"limit": 10_000, "offset": offset})
            )
            summaries.extend(page.transactions)
            offset += len(page.transactions)
            if not page.transactions or offset >= page.total:
                break
        items = []
        for s in summaries:
            base = {"transaction_id": s.transaction_id, "amount": s.amount, "currency": s.currency}
            trace = self.console.get_trace(s.transaction_id)
            try:
                target = find_target([trace] if trace else [], s.transaction_id, None)
                require_replayable(target)
                if not isinstance(target.request, dict):
                    raise InputError(f"{target.step} has no stored request: nothing to replay")
                if not target.idempotency_key:
                    raise InputError(
                        f"{target.step} has no stored idempotency key: a replay could duplicate it"
                    )
            except (InputError, NotFoundError) as exc:
                step = (s.failed_step or "-").replace(" ", ".")
                items.append(BulkPlanItem(**base, step=step, state="blocked", reason=str(exc)))
                continue
            items.append(
                BulkPlanItem(
                    **base, step=target.step, state="pending", reason="would send", target=target
                )
            )
        return items

    def _claimed(self, items: list[BulkPlanItem]) -> None:
        """Skip steps a replay already did; block those being sent right now."""
        pending = {i.target.effect_key: i for i in items if i.target and i.state == "pending"}
        keys = list(pending)
        with self.console.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                rows = conn.execute(
                    select(StepClaim.effect_key, StepClaim.state, StepClaim.holder).where(
                        StepClaim.effect_key.in_(keys[start : start + 500])
                    )
                )
                for effect, state, holder in rows:
                    item = pending[effect]
                    if state in ("succeeded", "linked"):
                        item.state, item.reason = (
                            "skipped",
                            f"already replayed ({state}) by {holder}",
                        )
                    elif state == "in_progress":
                        item.state, item.reason = "blocked", f"{holder} is sending it now"

    def _checked(self, items: list[BulkPlanItem]) -> None:
        """Ask each target whether the effect exists (rate-limited, in parallel)."""
        todo = [i for i in items if i.state == "pending" and i.target is not None]
        buckets: dict[str, TokenBucket] = {}
        for item in todo:
            assert item.target is not None
            buckets.setdefault(
                item.target.system,
                TokenBucket(self.settings.bulk_rate_per_system, clock=self.clock, sleep=self.sleep),
            )

        def check(item: BulkPlanItem) -> None:
            """One item's target check (a worker thread)."""
            target = item.target
            assert target is not None
            spec = require_replayable(target)
            if spec.check is None:
                item.reason = "would send (a step that cannot exist twice)"
                return
            buckets[target.system].take()
            call = step_call(target, target.request, target.idempotency_key or "")
            checked = check_target(spec, self.systems.connector(target.system), call)
            item.reason = checked.message
            if checked.verdict == "exists":
                item.state, item.reason = "skipped", f"already exists in {target.system}"
            elif checked.verdict in ("conflict", "unknown"):
                item.state = "blocked"

        with ThreadPoolExecutor(max_workers=self.settings.bulk_concurrency) as pool:
            list(pool.map(check, todo))

    def _priced(self, filters: SearchFilters, items: list[BulkPlanItem]) -> BulkPlan:
        """Money per currency of what would be sent, and the approval verdict."""
        totals: dict[str, Decimal] = {}
        for i in items:
            amount = _decimal(i.amount)
            if i.state == "pending" and amount is not None and i.currency:
                totals[i.currency] = totals.get(i.currency, Decimal(0)) + amount
        limit_items = self.settings.bulk_approval_items
        limit_amount = Decimal(str(self.settings.bulk_approval_amount))
        reasons = []
        sending = sum(1 for i in items if i.state == "pending")
        if sending > limit_items:
            reasons.append(f"{sending} steps is more than {limit_items}")
        for currency, total in sorted(totals.items()):
            if total > limit_amount:
                reasons.append(f"{total:,} {currency} is more than {limit_amount:,.2f} {currency}")
        return BulkPlan(
            filters=filters,
            items=items,
            money={c: str(t) for c, t in sorted(totals.items())},
            needs_approval=bool(reasons),
            approval_reasons=reasons,
        )

    # -- the run's life --------------------------------------------------------------

    def create(
        self,
        *,
        filters: SearchFilters,
        actor: Actor,
        reason: str,
        reason_code: str,
        plan: BulkPlan | None = None,
    ) -> BulkRunOut:
        """Request a bulk replay of ``filters``: stored, and on the record.

        Args:
            filters: the search whose failed steps to replay.
            actor: the requester (a role with ``bulk_replay``).
            reason: why, in words; reason_code: one of ``settings.reason_codes``.
            plan: a plan of ``filters`` made just before (planned again if None).

        Returns:
            The run: ``ready``, or ``awaiting_approval`` above the thresholds.

        Raises:
            PermissionDenied: the role may not bulk replay.
            InputError: no reason, an unknown reason code, or nothing to send.
        """
        authorize(actor, "bulk_replay", self.settings)
        self._check_reason(reason, reason_code)
        plan = plan or self.plan(filters=filters)
        if not plan.count("pending"):
            raise InputError(
                f"nothing to replay: {len(plan.items)} matched, {plan.count('skipped')} "
                f"skipped, {plan.count('blocked')} blocked"
            )
        run_id = f"bulk-{uuid.uuid4().hex[:12]}"
        created = _now()
        state = "awaiting_approval" if plan.needs_approval else "ready"
        counts = {s: plan.count(s) for s in ("pending", "skipped", "blocked")}
        with writer_connection(self.console.engine) as conn, conn.begin():
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
            _lock(conn)
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
        return self.get(run_id=run_id)

    def approve(self, *, run_id: str, actor: Actor) -> BulkRunOut:
        """Approve a run awaiting approval (an admin, never the requester).

        Raises:
            PermissionDenied: not an admin, or approving one's own run.
            InputError: the run is not awaiting approval.
        """
        authorize(actor, "approve", self.settings)
        run = self.get(run_id=run_id)
        if run.requester == actor.name:
            raise PermissionDenied(
                f"{actor.name} requested {run_id} and cannot approve it: another admin must"
            )
        if run.state != "awaiting_approval":
            raise InputError(f"{run_id} is {run.state}, not awaiting approval")
        now = _now()
        with writer_connection(self.console.engine) as conn, conn.begin():
            changed = conn.execute(
                update(BulkRun)
                .where(BulkRun.id == run_id, BulkRun.state == "awaiting_approval")
                .values(state="ready", approver=actor.name, approved_at=now)
            ).rowcount
            if changed != 1:
                raise InputError(f"{run_id} is no longer awaiting approval")
            _lock(conn)
            append_in(
                conn,
                AuditIn(
                    actor=actor.name,
                    role=actor.role,
                    action="approve",
                    outcome="approved",
                    target=run_id,
                    detail={"requester": run.requester, "items": run.items, "money": run.money},
                ),
                now,
            )
        return self.get(run_id=run_id)

    def cancel(self, *, run_id: str, actor: Actor) -> BulkRunOut:
        """Stop a run: at once when it has not started, between items when it is running."""
        authorize(actor, "bulk_replay", self.settings)
        run = self.get(run_id=run_id)
        if run.state in ("done", "cancelled"):
            raise InputError(f"{run_id} is already {run.state}")
        now = _now()
        with writer_connection(self.console.engine) as conn, conn.begin():
            values: dict[str, Any] = {"cancel_requested": True}
            if run.state in ("awaiting_approval", "ready"):
                values["state"] = "cancelled"
            conn.execute(update(BulkRun).where(BulkRun.id == run_id).values(**values))
            _lock(conn)
            append_in(
                conn,
                AuditIn(
                    actor=actor.name,
                    role=actor.role,
                    action="bulk_cancel",
                    outcome="cancel_requested",
                    target=run_id,
                    detail={"state": run.state},
                ),
                now,
            )
        return self.get(run_id=run_id)

    def run(
        self,
        *,
        run_id: str,
        actor: Actor,
        progress: Callable[[int, int], None] | None = None,
        retry_failed: bool = False,
    ) -> BulkSummary:
        """Send a run's pending items (continuing a run that was stopped half way).

        Args:
            run_id: the run; ``ready`` (or approved), or ``running``/``done`` to continue.
            actor: who runs it (a role with ``bulk_replay``); the audit entries name them.
            progress: called with ``(done, total)`` as items finish.
            retry_failed: send the run's failed items again too.

        Returns:
            The summary: sent, succeeded, failed, skipped, blocked, and each item.

        Raises:
            PermissionDenied: the role may not bulk replay.
            InputError: the run awaits approval or was cancelled.
        """
        authorize(actor, "bulk_replay", self.settings)
        run = self.get(run_id=run_id)
        if run.state == "awaiting_approval":
            raise InputError(f"{run_id} awaits approval by an admin other than {run.requester}")
        if run.state == "cancelled":
            raise InputError(f"{run_id} was cancelled: request a new run")
        engine = self.console.engine
        set_state(engine, run_id, "running", retry_failed=retry_failed)
        items, done_before, total = load_items(engine, run_id)
        ctx = RunContext(
            engine=engine,
            settings=self.settings,
            catalog=self.console.catalog,
            systems=self.systems,
            actor=actor,
            run_id=run_id,
            reason=run.reason,
            reason_code=run.reason_code,
            concurrency=self.settings.bulk_concurrency,
            rate=self.settings.bulk_rate_per_system,
            clock=self.clock,
            sleep=self.sleep,
            batch_size=self.batch_size,
            breaker=Breaker(self.breaker_after),
        )
        finished = False
        try:
            finished = execute(
                ctx,
                items,
                progress=progress,
                cancelled=lambda: self.get(run_id=run_id).cancel_requested,
                done_before=done_before,
                total=total,
            )
        finally:
            state = "running"  # stopped by an error: run it again to continue
            if finished:
                state = "done"
            elif self.get(run_id=run_id).cancel_requested:
                state = "cancelled"
            set_state(engine, run_id, state, counts=True)
        return self.summary(run_id=run_id)

    # -- reading ---------------------------------------------------------------------

    def get(self, *, run_id: str) -> BulkRunOut:
        """One run by id (raises NotFoundError)."""
        with self.console.engine.connect() as conn:
            row = conn.execute(select(BulkRun.__table__).where(BulkRun.id == run_id)).first()
        if row is None:
            raise NotFoundError(f"no bulk run {run_id!r}")
        return _run_out(row)

    def runs(self, *, limit: int = 50) -> list[BulkRunOut]:
        """The latest runs, newest first."""
        stmt = select(BulkRun.__table__).order_by(BulkRun.created.desc()).limit(limit)
        with self.console.engine.connect() as conn:
            return [_run_out(r) for r in conn.execute(stmt)]

    def summary(self, *, run_id: str) -> BulkSummary:
        """A run with every item and the counts (sent, succeeded, failed, ...)."""
        run = self.get(run_id=run_id)
        stmt = (
            select(BulkItem.__table__).where(BulkItem.run_id == run_id).order_by(BulkItem.position)
        )
        with self.console.engine.connect() as conn:
            items = [_item_out(r) for r in conn.execute(stmt)]
        counts = {"sent": sum(1 for i in items if i.sent)}
        for state in ("succeeded", "failed", "skipped", "blocked", "pending"):
            counts[state] = sum(1 for i in items if i.state == state)
        return BulkSummary(run=run, counts=counts, items=items)

    def _check_reason(self, reason: str, reason_code: str) -> None:
        """Refuse an empty reason or an unknown reason code (as single replays do)."""
        if not reason or not reason.strip():
            raise InputError("a reason is required: say why (it goes on the record)")
        if reason_code not in self.settings.reason_codes:
            raise InputError(
                f"unknown reason code {reason_code!r}; use one of: "
                + ", ".join(self.settings.reason_codes)
            )
