"""Bulk replay: plan a filter's failed steps, request a run, approve it, run, resume, cancel.

``plan`` (the dry run, :mod:`services.bulk_plan`) takes every transaction of a
search (all pages; status ``failed`` unless given), finds each one's failed
replayable step and asks the target whether its effect exists. ``create`` stores
the run and its items (:mod:`services.bulk_store`); above ``bulk_approval_items``
steps or ``bulk_approval_amount`` in any one currency it waits for an admin other
than the requester to ``approve`` it. ``run`` sends the pending items
(:mod:`services.bulk_run`); running a run again continues where a killed one
stopped, and ``retry_failed`` sends its failed items again.

The models pages and the CLI see live in :mod:`services.bulk_models` and are
re-exported here.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from services.bulk_models import (
    BulkItemOut,
    BulkPlan,
    BulkPlanItem,
    BulkRunOut,
    BulkSummary,
    trace_url,
)
from services.bulk_plan import make_plan
from services.bulk_run import Breaker, RunContext, execute, load_items, set_state
from services.bulk_store import (
    approve_run,
    cancel_run,
    insert_run,
    list_runs,
    load_item_outs,
    load_run,
)
from services.connections import Systems
from services.console import Console
from services.errors import InputError
from services.roles import Actor, PermissionDenied, authorize, check_reason
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
        return make_plan(
            console=self.console,
            systems=self.systems,
            settings=self.settings,
            filters=filters,
            clock=self.clock,
            sleep=self.sleep,
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
        check_reason(reason, reason_code, self.settings)
        plan = plan or self.plan(filters=filters)
        if not plan.count("pending"):
            raise InputError(
                f"nothing to replay: {len(plan.items)} matched, {plan.count('skipped')} "
                f"skipped, {plan.count('blocked')} blocked"
            )
        run_id = insert_run(
            self.console.engine, plan=plan, actor=actor, reason=reason, reason_code=reason_code
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
        approve_run(self.console.engine, run=run, actor=actor)
        return self.get(run_id=run_id)

    def cancel(self, *, run_id: str, actor: Actor) -> BulkRunOut:
        """Stop a run: at once when it has not started, between items when it is running."""
        authorize(actor, "bulk_replay", self.settings)
        run = self.get(run_id=run_id)
        if run.state in ("done", "cancelled"):
            raise InputError(f"{run_id} is already {run.state}")
        cancel_run(self.console.engine, run=run, actor=actor)
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
        return load_run(self.console.engine, run_id)

    def runs(self, *, limit: int = 50) -> list[BulkRunOut]:
        """The latest runs, newest first."""
        return list_runs(self.console.engine, limit=limit)

    def summary(self, *, run_id: str) -> BulkSummary:
        """A run with every item and the counts (sent, succeeded, failed, ...)."""
        run = self.get(run_id=run_id)
        items = load_item_outs(self.console.engine, run_id)
        counts = {"sent": sum(1 for i in items if i.sent)}
        for state in ("succeeded", "failed", "skipped", "blocked", "pending"):
            counts[state] = sum(1 for i in items if i.state == state)
        return BulkSummary(run=run, counts=counts, items=items)
