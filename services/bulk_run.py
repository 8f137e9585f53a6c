"""Running a bulk replay: bounded threads, a rate per system, a breaker, batched records.

Each item goes the way a single replay goes (:class:`services.replay.Actions`):
claim the effect (one winner among bulk runs and operators) -> ask the target
whether it exists -> send with the stored idempotency key -> write the console's
event back -> append the audit entry -> release the claim. Workers claim, check
and send; the coordinator thread writes events, audit entries, item states and
claim releases in batches, in that order, so a released claim always has its
event and audit entry (and a killed run leaves at most a batch of claims
``in_progress``, taken over once stale like any abandoned claim).

When a system fails ``breaker_after`` times in a row (503, timeout, rate limit,
or a target check that could not ask it) the run stops sending to it: its
remaining items are marked ``failed`` ("not sent") with the reason, and can be
retried by running the run again with ``retry_failed``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from services.action_models import BulkItem, BulkRun, StepClaim
from services.audit import AuditIn, append_many_in, lock_audit
from services.catalog import Catalog
from services.connections import Systems
from services.db import writer_connection
from services.errors import ConnectorError, InputError, RateLimited, StoreError, TimedOut
from services.errors import Unavailable as UnavailableError
from services.ingest import ingest_events
from services.replay import claim_effect, console_event, release_effect
from services.replay_plan import (
    StepTarget,
    TargetCheck,
    check_target,
    require_replayable,
    step_call,
)
from services.roles import Actor
from services.settings import Settings

__all__ = [
    "Breaker",
    "ItemResult",
    "RunContext",
    "RunItem",
    "TokenBucket",
    "execute",
    "load_items",
    "set_state",
]

_SYSTEM_FAILURES = (UnavailableError, TimedOut, RateLimited)
_STATE_OF = {
    "succeeded": "succeeded",
    "linked": "succeeded",
    "already_done": "skipped",
    "conflict": "blocked",
    "in_progress": "pending",
    "not_started": "pending",
}
_UNRECORDED = ("in_progress", "not_started")  # nothing happened: no audit entry


class TokenBucket:
    """``rate`` requests per second with bursts up to ``burst``; thread-safe.

    Example:
        >>> bucket = TokenBucket(50, clock=time.monotonic, sleep=time.sleep)
        >>> bucket.take()  # waits when the bucket is empty; returns the seconds waited
        0.0
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self._clock, self._sleep = clock, sleep
        self._tokens = self.burst
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Reserve one token; sleep until it is due. Returns the wait."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1
            wait_s = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait_s > 0:
            self._sleep(wait_s)
        return wait_s


class Breaker:
    """Counts consecutive failures per system; open after ``after`` of them."""

    def __init__(self, after: int) -> None:
        self.after = after
        self._count: dict[str, int] = {}
        self._why: dict[str, str] = {}
        self._lock = threading.Lock()

    def reason(self, system: str) -> str | None:
        """Why ``system`` gets nothing more in this run (None: it does)."""
        return self._why.get(system)

    def record(self, system: str, failure: str | None) -> None:
        """One answer from ``system``: ``failure`` is the message, None when it answered."""
        with self._lock:
            if failure is None:
                self._count[system] = 0
                return
            self._count[system] = self._count.get(system, 0) + 1
            if self._count[system] >= self.after and system not in self._why:
                self._why[system] = (
                    f"not sent: {system} failed {self._count[system]} times in a row "
                    f"(last: {failure}); run again with retry_failed once it is back"
                )


@dataclass(slots=True)
class RunItem:
    """One pending item of a run, with the step target stored when it was planned."""

    position: int
    transaction_id: str
    step: str
    target: StepTarget


@dataclass(slots=True)
class ItemResult:
    """What happened to one item; written by the coordinator."""

    item: RunItem
    outcome: str
    message: str
    sent: bool = False
    verdict: str | None = None
    response: Any = None
    error: dict[str, Any] | None = None
    event: dict[str, Any] | None = None
    claimed: bool = False

    @property
    def state(self) -> str:
        """The item state this outcome leaves."""
        return _STATE_OF.get(self.outcome, "failed")


@dataclass(slots=True)
class RunContext:
    """Everything a run needs besides its items."""

    engine: Engine
    settings: Settings
    catalog: Catalog
    systems: Systems
    actor: Actor
    run_id: str
    reason: str
    reason_code: str
    concurrency: int
    rate: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    batch_size: int = 100
    flush_seconds: float = 0.5
    breaker: Breaker = field(default_factory=lambda: Breaker(5))
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def bucket(self, system: str) -> TokenBucket:
        """The rate limiter of ``system`` (made on first use; coordinator thread only)."""
        if system not in self.buckets:
            self.buckets[system] = TokenBucket(self.rate, clock=self.clock, sleep=self.sleep)
        return self.buckets[system]

    @property
    def holder(self) -> str:
        """Who holds this run's claims."""
        return f"{self.actor.name} (bulk {self.run_id})"


def _process(ctx: RunContext, item: RunItem, bucket: TokenBucket, claimed: bool) -> ItemResult:
    """Check and send one item (a worker thread); nothing but the claim is written here.

    ``claimed``: the coordinator already holds the item's claim; if not, it is taken
    here the way a single replay takes it (a failed or stale claim is taken over).
    """
    target = item.target
    if ctx.stop.is_set():
        return ItemResult(item, "not_started", "stopped before it was sent", claimed=claimed)
    if not claimed:
        won, previous = claim_effect(ctx.engine, target.effect_key, target, ctx.holder)
        if not won:
            assert previous is not None
            state, holder = previous
            if state == "in_progress":
                return ItemResult(item, "in_progress", f"{holder} is sending it now: not sent")
            return ItemResult(item, "already_done", f"already done ({state}) by {holder}")
    result = ItemResult(item, "failed", "", claimed=True)
    why = ctx.breaker.reason(target.system)
    if why is not None:
        result.outcome, result.message = "not_sent", why
        return result
    try:
        key = target.idempotency_key or ""
        spec = require_replayable(target)
        connector = ctx.systems.connector(target.system)
        call = step_call(target, target.request, key)
        if spec.check is not None:
            bucket.take()
        checked = check_target(spec, connector, call)
        result.verdict = checked.verdict
        _decide(ctx, result, spec, connector, call, checked, bucket)
        if result.outcome in ("succeeded", "failed", "linked"):
            result.event = console_event(
                action="bulk_replay",
                target=target,
                request=target.request,
                key=key,
                outcome=result.outcome,
                response=result.response,
                error=result.error,
                actor=ctx.actor,
            )
    except BaseException:
        release_effect(ctx.engine, target.effect_key, "failed", None)
        raise
    return result


def _decide(
    ctx: RunContext,
    result: ItemResult,
    spec: Any,
    connector: Any,
    call: Any,
    checked: TargetCheck,
    bucket: TokenBucket,
) -> None:
    """Link, block or send, by the target check; feeds the breaker."""
    system = result.item.target.system
    if checked.verdict == "exists":
        result.outcome, result.response, result.message = "linked", checked.record, checked.message
    elif checked.verdict == "conflict":
        result.outcome, result.message = "conflict", checked.message
    elif checked.verdict == "unknown":
        result.outcome, result.message = "blocked", checked.message
        ctx.breaker.record(system, checked.message)
        return
    else:
        bucket.take()
        result.sent = True
        try:
            result.response = _plain(spec.send(connector, call))
            result.outcome, result.message = "succeeded", f"{result.item.step} succeeded"
        except ConnectorError as exc:
            result.outcome, result.message, result.error = "failed", str(exc), exc.to_dict()
            if isinstance(exc, _SYSTEM_FAILURES):
                ctx.breaker.record(system, str(exc))
                return
        except InputError as exc:
            result.outcome, result.message = "failed", str(exc)
            result.error = {"code": "REFUSED", "message": str(exc)}
    ctx.breaker.record(system, None)


def _plain(value: Any) -> Any:
    """A connector's answer as plain JSON values."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return json.loads(json.dumps(asdict(value), default=str))
    return json.loads(json.dumps(value, default=str))


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


def _claim_many(ctx: RunContext, items: list[RunItem]) -> set[str]:
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


def _flush(ctx: RunContext, results: list[ItemResult]) -> None:
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


_CLAIM_STATE = {"succeeded": "succeeded", "linked": "linked"}


def execute(
    ctx: RunContext,
    items: list[RunItem],
    *,
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool],
    done_before: int,
    total: int,
) -> bool:
    """Run ``items``; True when all were processed, False when stopped by a cancel.

    The coordinator claims a chunk of items at a time (one transaction), hands
    them to ``ctx.concurrency`` workers, and records finished items every
    ``ctx.batch_size`` items or ``ctx.flush_seconds``; after each record it asks
    ``cancelled()``. An exception (from the progress callback too) stops the
    workers before their next send, records what finished, then propagates: the
    items not sent stay ``pending`` for the next run.
    """
    queue = deque(items)
    done = done_before
    buffer: list[ItemResult] = []
    inflight: set[Future[ItemResult]] = set()
    last_flush = time.monotonic()

    def flush() -> None:
        """Record the buffer, report progress, look for a cancel."""
        nonlocal done, last_flush
        batch, buffer[:] = list(buffer), []
        last_flush = time.monotonic()
        if not batch:
            return
        _flush(ctx, batch)
        for result in batch:
            if result.state != "pending":
                done += 1
                if progress is not None:
                    progress(done, total)
        if cancelled():
            ctx.stop.set()

    with ThreadPoolExecutor(max_workers=ctx.concurrency, thread_name_prefix="bulk") as pool:
        try:
            while (queue and not ctx.stop.is_set()) or inflight:
                room = 2 * ctx.concurrency - len(inflight)
                if queue and not ctx.stop.is_set() and room >= ctx.concurrency:
                    chunk: list[RunItem] = []
                    while queue and len(chunk) < room:
                        item = queue.popleft()
                        why = ctx.breaker.reason(item.target.system)
                        if why is None:
                            chunk.append(item)
                        else:
                            buffer.append(ItemResult(item, "not_sent", why))
                    won = _claim_many(ctx, chunk)
                    for item in chunk:
                        bucket = ctx.bucket(item.target.system)
                        claimed = item.target.effect_key in won
                        inflight.add(pool.submit(_process, ctx, item, bucket, claimed))
                if inflight:
                    finished, inflight = wait(inflight, timeout=1.0, return_when=FIRST_COMPLETED)
                    _collect(finished, buffer)
                due = time.monotonic() - last_flush >= ctx.flush_seconds
                if len(buffer) >= ctx.batch_size or not inflight or due:
                    flush()
        except BaseException:
            ctx.stop.set()
            queue.clear()
            try:
                _collect(inflight, buffer)
            finally:
                _flush(ctx, buffer)
            raise
    return not queue


def _collect(futures: set[Future[ItemResult]], into: list[ItemResult]) -> None:
    """Results of finished ``futures`` into ``into``; then the first worker error, if any."""
    error: BaseException | None = None
    for f in futures:
        try:
            into.append(f.result())
        except BaseException as exc:  # its claim was released by the worker
            error = error or exc
    if error is not None:
        raise error


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
