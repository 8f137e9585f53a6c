"""Planning a bulk replay (the dry run): reads and target checks, nothing sent.

:func:`make_plan` takes every transaction of a search (all pages; status
``failed`` unless given), finds each one's failed replayable step, skips or
blocks steps a replay already claimed, asks each target whether the effect
exists (rate-limited, in parallel), and prices what would be sent against the
approval thresholds.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation

from sqlalchemy import Engine, select

from services.action_models import StepClaim
from services.bulk_limits import TokenBucket
from services.bulk_models import BulkPlan, BulkPlanItem
from services.connections import Systems
from services.console import Console
from services.errors import InputError, NotFoundError
from services.replay_plan import check_target, find_target, require_replayable, step_call
from services.schemas import SearchFilters
from services.settings import Settings

__all__ = ["make_plan"]


def make_plan(
    *,
    console: Console,
    systems: Systems,
    settings: Settings,
    filters: SearchFilters,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> BulkPlan:
    """What a bulk replay of ``filters`` would do (reads and target checks only).

    Args:
        console: the store to search; systems: the connectors the checks ask.
        settings: rate, concurrency and approval thresholds.
        filters: the search; every page of it, status ``failed`` unless given.
        clock, sleep: for the rate limiter (tests pass fakes).

    Returns:
        Each transaction as ``pending`` (would send), ``skipped`` or ``blocked``
        with the reason, the money per currency of what would be sent, and
        whether a run of it would need approval.

    Example:
        >>> make_plan(console=console, systems=systems, settings=console.settings,
        ...           filters=SearchFilters(system="tax"), clock=time.monotonic,
        ...           sleep=time.sleep).count("pending")
    """
    filters = filters.model_copy(update={"status": filters.status or ["failed"]})
    items = _items(console, filters)
    _claimed(console.engine, items)
    _checked(items, systems=systems, settings=settings, clock=clock, sleep=sleep)
    return _priced(filters, items, settings)


def _decimal(value: str | None) -> Decimal | None:
    """An amount as a Decimal; None when absent or unreadable."""
    try:
        return Decimal(value) if value is not None else None
    except InvalidOperation:
        return None


def _items(console: Console, filters: SearchFilters) -> list[BulkPlanItem]:
    """Every matching transaction (all pages) with its failed step, or why it has none."""
    summaries, offset = [], 0
    while True:
        page = console.search(filters.model_copy(update={"limit": 10_000, "offset": offset}))
        summaries.extend(page.transactions)
        offset += len(page.transactions)
        if not page.transactions or offset >= page.total:
            break
    items = []
    for s in summaries:
        base = {"transaction_id": s.transaction_id, "amount": s.amount, "currency": s.currency}
        trace = console.get_trace(s.transaction_id)
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


def _claimed(engine: Engine, items: list[BulkPlanItem]) -> None:
    """Skip steps a replay already did; block those being sent right now."""
    pending = {i.target.effect_key: i for i in items if i.target and i.state == "pending"}
    keys = list(pending)
    with engine.connect() as conn:
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


def _checked(
    items: list[BulkPlanItem],
    *,
    systems: Systems,
    settings: Settings,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """Ask each target whether the effect exists (rate-limited, in parallel)."""
    todo = [i for i in items if i.state == "pending" and i.target is not None]
    buckets: dict[str, TokenBucket] = {}
    for item in todo:
        assert item.target is not None
        buckets.setdefault(
            item.target.system,
            TokenBucket(settings.bulk_rate_per_system, clock=clock, sleep=sleep),
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
        checked = check_target(spec, systems.connector(target.system), call)
        item.reason = checked.message
        if checked.verdict == "exists":
            item.state, item.reason = "skipped", f"already exists in {target.system}"
        elif checked.verdict in ("conflict", "unknown"):
            item.state = "blocked"

    with ThreadPoolExecutor(max_workers=settings.bulk_concurrency) as pool:
        list(pool.map(check, todo))


def _priced(filters: SearchFilters, items: list[BulkPlanItem], settings: Settings) -> BulkPlan:
    """Money per currency of what would be sent, and the approval verdict."""
    totals: dict[str, Decimal] = {}
    for i in items:
        amount = _decimal(i.amount)
        if i.state == "pending" and amount is not None and i.currency:
            totals[i.currency] = totals.get(i.currency, Decimal(0)) + amount
    limit_items = settings.bulk_approval_items
    limit_amount = Decimal(str(settings.bulk_approval_amount))
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
