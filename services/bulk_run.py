"""Running a bulk replay: bounded threads, a rate per system, a breaker, batched records.

Each item goes the way a single replay goes (:class:`services.replay.Actions`):
claim the effect (one winner among bulk runs and operators) -> ask the target
whether it exists -> send with the stored idempotency key -> write the console's
event back -> append the audit entry -> release the claim. Workers claim, check
and send; the coordinator thread writes events, audit entries, item states and
claim releases in batches, in that order (:mod:`services.bulk_records`), so a
released claim always has its event and audit entry (and a killed run leaves at
most a batch of claims ``in_progress``, taken over once stale like any abandoned
claim).

When a system fails ``breaker_after`` times in a row (503, timeout, rate limit,
or a target check that could not ask it) the run stops sending to it: its
remaining items are marked ``failed`` ("not sent") with the reason, and can be
retried by running the run again with ``retry_failed``.

The rate limiter and breaker live in :mod:`services.bulk_limits`, the run's
dataclasses in :mod:`services.bulk_context`; both are re-exported here.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from services.bulk_context import ItemResult, RunContext, RunItem
from services.bulk_limits import Breaker, TokenBucket
from services.bulk_records import claim_many, load_items, record_results, set_state
from services.errors import ConnectorError, InputError, RateLimited, TimedOut
from services.errors import Unavailable as UnavailableError
from services.replay import claim_effect, console_event, release_effect
from services.replay_plan import TargetCheck, check_target, require_replayable, step_call

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
        record_results(ctx, batch)
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
                    won = claim_many(ctx, chunk)
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
                record_results(ctx, buffer)
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
