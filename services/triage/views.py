"""Classification of transactions: each failed step's category and origin, the
transaction's own (its failed step's), its triage state, and counts for the CLI and
the health figures.

The Explorer and ``q2c search`` get ``triage_state``, ``category`` and ``origin`` on
every summary through :func:`annotate`; the Trace page calls :func:`classify_trace`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Connection, Engine, and_, exists, or_, select

from services.models import Event, Transaction
from services.schemas import EventOut, TraceOut, TransactionSummary
from services.triage.classify import Classification, RuleSet, load_rules
from services.triage.models import TriageState
from services.triage.state import TriageOut, default_state, triage_states

__all__ = [
    "Breakdown",
    "StepClassification",
    "annotate",
    "classify_trace",
    "failed_events",
    "failure_breakdown",
    "trace_classification",
    "triage_condition",
]


class StepClassification(BaseModel):
    """One failed step (its latest attempt) with its classification."""

    step: str  # system.operation, as actions name it
    system: str
    operation: str
    attempt: int
    time: datetime
    code: str | None
    http_status: int | None
    message: str | None
    category: str
    origin: str
    rule: str
    why: str | None
    runbook: str | None


class Breakdown(BaseModel):
    """Failed transactions counted by their failed step's category, origin and rule."""

    failed: int
    categories: dict[str, int]
    origins: dict[str, int]
    pairs: list[dict[str, Any]]  # {"category", "origin", "count"}, most first
    rules: dict[str, int]
    triage: dict[str, int]


def failed_events(trace: TraceOut) -> list[EventOut]:
    """Per operation, the latest attempt when it failed and nothing succeeded later."""
    latest: dict[tuple[str, str], EventOut] = {}
    for ev in trace.events:
        op = (ev.system, ev.operation)
        seen = latest.get(op)
        if ev.status != "started" and (
            seen is None or (ev.attempt, ev.time) >= (seen.attempt, seen.time)
        ):
            latest[op] = ev
    out = []
    for op, ev in latest.items():
        later_ok = any(
            e.status == "succeeded" and e.time > ev.time and (e.system, e.operation) == op
            for e in trace.events
        )
        if ev.status == "failed" and not later_ok:
            out.append(ev)
    return sorted(out, key=lambda e: e.time)


def _classify(
    rules: RuleSet,
    system: str,
    operation: str,
    code: str | None,
    status: int | None,
    message: str | None,
) -> Classification:
    return rules.classify(
        system=system, operation=operation, code=code, http_status=status, message=message
    )


def classify_trace(trace: TraceOut, rules: RuleSet | None = None) -> list[StepClassification]:
    """Every failed step of ``trace`` with its category, origin, rule, why and runbook.

    Example:
        >>> [(s.step, s.category, s.origin) for s in classify_trace(trace)]
        [('erp.salesorder.create', 'data quality', 'CRM data')]
    """
    rules = rules or load_rules()
    out = []
    for ev in failed_events(trace):
        err = ev.error
        code, status, message = (err.code, err.http_status, err.message) if err else (None,) * 3
        found = _classify(rules, ev.system, ev.operation, code, status, message)
        out.append(
            StepClassification(
                step=f"{ev.system}.{ev.operation}",
                system=ev.system,
                operation=ev.operation,
                attempt=ev.attempt,
                time=ev.time,
                code=code,
                http_status=status,
                message=message,
                category=found.category,
                origin=found.origin,
                rule=found.rule,
                why=found.why,
                runbook=found.runbook,
            )
        )
    return out


def trace_classification(
    trace: TraceOut, rules: RuleSet | None = None
) -> StepClassification | None:
    """The transaction's classification: that of its failed step (None when none failed)."""
    steps = classify_trace(trace, rules)
    wanted = trace.failed_step.replace(" ", ".", 1) if trace.failed_step else None
    return next((s for s in steps if s.step == wanted), steps[0] if steps else None)


def _statuses(conn: Connection, failed: dict[str, tuple[str, str]]) -> dict[str, int | None]:
    """HTTP status of each transaction's failed step (its latest failed attempt)."""
    found: dict[str, tuple[tuple[int, datetime], int | None]] = {}
    ids = sorted(failed)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        stmt = select(
            Event.transaction_id,
            Event.system,
            Event.operation,
            Event.attempt,
            Event.time,
            Event.http_status,
        ).where(Event.transaction_id.in_(chunk), Event.status == "failed")
        for tid, system, operation, attempt, time, status in conn.execute(stmt):
            if failed[tid] != (system, operation):
                continue
            order = (attempt, time)
            if tid not in found or order >= found[tid][0]:
                found[tid] = (order, status)
    return {tid: value[1] for tid, value in found.items()}


def _failed_step(summary: TransactionSummary) -> tuple[str, str] | None:
    if not summary.failed_step or " " not in summary.failed_step:
        return None
    system, operation = summary.failed_step.split(" ", 1)
    return system, operation


def annotate(
    conn: Connection,
    summaries: Sequence[TransactionSummary],
    rules: RuleSet | None = None,
    stored: Mapping[str, TriageOut] | None = None,
) -> None:
    """Set ``triage_state``, ``assignee``, ``category`` and ``origin`` on ``summaries``.

    ``stored``: the triage states already read with the transactions (saves a query).
    """
    if not summaries:
        return
    rules = rules or load_rules()
    if stored is None:
        stored = triage_states(conn, [s.transaction_id for s in summaries])
    failed = {s.transaction_id: step for s in summaries if (step := _failed_step(s))}
    traced = {s.transaction_id for s in summaries if isinstance(s, TraceOut)}
    pending = {t: step for t, step in failed.items() if t not in traced}
    statuses = _statuses(conn, pending) if pending else {}
    for s in summaries:
        state = stored.get(s.transaction_id)
        s.triage_state = state.state if state else default_state(s.status)
        s.assignee = state.assignee if state else None
        step = failed.get(s.transaction_id)
        if step is None:
            continue
        if isinstance(s, TraceOut):
            headline = trace_classification(s, rules)
            if headline is not None:
                s.category, s.origin = headline.category, headline.origin
                continue
        found = _classify(
            rules, *step, s.error_code, statuses.get(s.transaction_id), s.error_message
        )
        s.category, s.origin = found.category, found.origin


def triage_condition(states: Sequence[str]) -> ColumnElement[bool]:
    """SQL condition on ``transactions``: the triage state is one of ``states``.

    ``open`` also matches a failed transaction nobody triaged (it has no stored state).
    """
    conds: list[ColumnElement[bool]] = [
        Transaction.transaction_id.in_(
            select(TriageState.transaction_id).where(TriageState.state.in_(list(states)))
        )
    ]
    if "open" in states:
        untouched = ~exists().where(TriageState.transaction_id == Transaction.transaction_id)
        conds.append(and_(Transaction.status == "failed", untouched))
    return or_(*conds)


def failure_breakdown(
    *,
    engine: Engine,
    rules: RuleSet | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Breakdown:
    """Failed transactions by category, origin, rule and triage state (``q2c classify``).

    Args:
        since, until: only transactions active in this window (naive UTC), like search.

    Example:
        >>> failure_breakdown(engine=engine).categories["unavailable"]
        22
    """
    rules = rules or load_rules()
    stmt = select(
        Transaction.transaction_id,
        Transaction.failed_system,
        Transaction.failed_operation,
        Transaction.error_code,
        Transaction.error_message,
    ).where(Transaction.status == "failed", Transaction.failed_system.is_not(None))
    if since:
        stmt = stmt.where(Transaction.last_time >= since)
    if until:
        stmt = stmt.where(Transaction.first_time <= until)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        statuses = _statuses(conn, {r[0]: (str(r[1]), str(r[2] or "")) for r in rows})
        stored = triage_states(conn, [r[0] for r in rows])
    pairs: Counter[tuple[str, str]] = Counter()
    by_rule: Counter[str] = Counter()
    triage: Counter[str] = Counter()
    for tid, system, operation, code, message in rows:
        found = _classify(rules, system or "", operation or "", code, statuses.get(tid), message)
        pairs[(found.category, found.origin)] += 1
        by_rule[found.rule] += 1
        triage[stored[tid].state if tid in stored else "open"] += 1
    categories: Counter[str] = Counter()
    origins: Counter[str] = Counter()
    for (category, origin), n in pairs.items():
        categories[category] += n
        origins[origin] += n
    return Breakdown(
        failed=len(rows),
        categories=_most_first(categories),
        origins=_most_first(origins),
        pairs=[
            {"category": c, "origin": o, "count": n}
            for (c, o), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        rules=_most_first(by_rule),
        triage=_most_first(triage),
    )


def _most_first(counts: Counter[str]) -> dict[str, int]:
    """Counts, most first, then by name (so ties print the same every time)."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
