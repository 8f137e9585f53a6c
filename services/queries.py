"""Read side of the trace store: find by any key, search, counts, quarantine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel
from sqlalchemy import (
    BindParameter,
    Engine,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
)

from services.models import (
    EVENT_TIME_AS_TEXT,
    Event,
    Quarantine,
    Transaction,
    TransactionKey,
    stored_time,
)
from services.schemas import (
    ErrorOut,
    EventOut,
    QuarantineOut,
    SearchFilters,
    SearchOut,
    TraceOut,
    TransactionSummary,
)
from services.stitch import display_status
from services.triage.classify import RuleSet
from services.triage.models import TriageState
from services.triage.state import TriageOut
from services.triage.views import annotate, triage_condition

__all__ = [
    "STATUSES",
    "find_traces",
    "get_trace",
    "list_quarantine",
    "search_transactions",
    "status_counts",
    "summaries",
    "utcnow",
]

STATUSES = ("failed", "stuck", "in_progress", "succeeded")
_M = TypeVar("_M", bound=BaseModel)
_MAX_KEY = 512


def utcnow() -> datetime:
    """Now, as naive UTC (how the store keeps time)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _summary(row: Any, now: datetime, stuck_after: timedelta) -> TransactionSummary:
    return TransactionSummary(
        transaction_id=row.transaction_id,
        correlation_id=row.correlation_id,
        provisional=row.correlation_id is None,
        flow=row.flow,
        status=display_status(row.status, row.last_time, now=now, stuck_after=stuck_after),
        first_time=row.first_time,
        last_time=row.last_time,
        event_count=row.event_count,
        systems=[s for s in row.systems.split(",") if s],
        failed_step=(f"{row.failed_system} {row.failed_operation}" if row.failed_system else None),
        error_code=row.error_code,
        error_message=row.error_message,
        last_step=row.last_step,
        subject=row.subject,
        amount=row.amount,
        currency=row.currency,
        legal_entity=row.legal_entity,
    )


def _trusted(cls: type[_M], **values: Any) -> _M:
    """A model from values our own store already checked on ingest, without validation.

    Like ``model_construct`` but about four times cheaper, which matters when a key
    returns hundreds of events; every field must be given.
    """
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def _event_out(row: Any) -> EventOut:
    error = None
    if row.error_code is not None or row.status == "failed":
        error = ErrorOut.model_construct(
            code=row.error_code,
            message=row.error_message,
            http_status=row.http_status,
            retryable=row.retryable,
        )
    return _trusted(
        EventOut,
        source=row.source,
        id=row.event_id,
        time=stored_time(row.time),
        system=row.system,
        operation=row.operation,
        status=row.status,
        attempt=row.attempt,
        error=error,
        subject=row.subject,
        correlation_id=row.correlation_id,
        flow=row.flow,
        keys=orjson.loads(row.keys_json),
        latency_ms=row.latency_ms,
        amount=row.amount,
        currency=row.currency,
        legal_entity=row.legal_entity,
        raw_text=row.raw,
    )


# Built once: the statements of a lookup (expanding IN lists), so a lookup pays only
# for executing them. Event rows skip columns a trace never shows.
_IDS: BindParameter[list[str]] = bindparam("ids", expanding=True)
_VALUES: BindParameter[list[str]] = bindparam("values", expanding=True)
_Q_BY_KEY = select(TransactionKey.transaction_id).where(TransactionKey.value == bindparam("key"))
_Q_BY_ID = select(Transaction.transaction_id).where(Transaction.transaction_id == bindparam("key"))
_Q_TXS = (
    select(Transaction, TriageState.state.label("t_state"), TriageState.assignee.label("t_who"))
    .outerjoin(TriageState, TriageState.transaction_id == Transaction.transaction_id)
    .where(Transaction.transaction_id.in_(_IDS))
)
_Q_KEYS = select(
    TransactionKey.transaction_id, TransactionKey.name, TransactionKey.value, TransactionKey.scope
).where(TransactionKey.transaction_id.in_(_IDS))
_EVENT_OUT_COLS = (
    Event.transaction_id, Event.source, Event.event_id,
    EVENT_TIME_AS_TEXT,
    Event.system, Event.operation, Event.status, Event.attempt, Event.error_code,
    Event.error_message,
    Event.http_status, Event.retryable, Event.subject, Event.correlation_id, Event.flow,
    Event.keys_json, Event.latency_ms, Event.amount, Event.currency, Event.legal_entity,
    Event.raw,
)  # fmt: skip
_Q_EVENTS = (
    select(*_EVENT_OUT_COLS)
    .where(Event.transaction_id.in_(_IDS))
    .order_by(Event.time, Event.attempt, Event.pk)
)
_Q_SHARING = select(TransactionKey.transaction_id, TransactionKey.name, TransactionKey.value).where(
    TransactionKey.value.in_(_VALUES), TransactionKey.scope != "correlation"
)
_Q_LAST = select(Transaction.transaction_id, Transaction.last_time).where(
    Transaction.transaction_id.in_(_IDS)
)
_RELATED_MAX = 100


def get_trace(
    *,
    engine: Engine,
    transaction_id: str,
    stuck_after: timedelta,
    now: datetime | None = None,
    rules: RuleSet | None = None,
) -> TraceOut | None:
    """One whole transaction by its id, or None."""
    with engine.connect() as conn:
        found = _load_traces(conn, [transaction_id], now or utcnow(), stuck_after, rules)
    return found[0] if found else None


def find_traces(
    *,
    engine: Engine,
    key: str,
    stuck_after: timedelta,
    now: datetime | None = None,
    rules: RuleSet | None = None,
) -> list[TraceOut]:
    """Every transaction carrying ``key`` (correlation ID or any business key).

    Args:
        engine: the store.
        key: the value a person pasted (surrounding white space is ignored).
        stuck_after: in-progress transactions idle longer show as ``stuck``.
        rules: error classification rules (default: the built-in ones).

    Returns:
        Matching transactions, newest first, each with its events in time order, its
        triage state and its failed step's category and origin.

    Example:
        >>> [t.status for t in find_traces(engine=engine, key="SO-100234",
        ...                                stuck_after=timedelta(minutes=30))]
        ['failed']
    """
    key = key.strip()
    if not key or len(key) > _MAX_KEY:
        return []
    with engine.connect() as conn:
        ids = {r[0] for r in conn.execute(_Q_BY_KEY, {"key": key})}
        if key.startswith("tx-"):
            ids.update(r[0] for r in conn.execute(_Q_BY_ID, {"key": key}))
        return _load_traces(conn, sorted(ids), now or utcnow(), stuck_after, rules)


def _load_traces(
    conn: Any, ids: list[str], now: datetime, stuck_after: timedelta, rules: RuleSet | None
) -> list[TraceOut]:
    """Whole traces of ``ids``: six queries however many transactions match."""
    if not ids:
        return []
    txs = conn.execute(_Q_TXS, {"ids": ids}).all()
    keys: dict[str, dict[str, list[str]]] = {t.transaction_id: {} for t in txs}
    mine: dict[str, set[tuple[str, str]]] = {t.transaction_id: set() for t in txs}
    for tid, name, value, scope in conn.execute(_Q_KEYS, {"ids": ids}):
        if scope != "correlation":
            keys[tid].setdefault(name, []).append(value)
            mine[tid].add((name, value))
    for by_name in keys.values():
        for values in by_name.values():
            values.sort()
    events: dict[str, list[EventOut]] = {t.transaction_id: [] for t in txs}
    for row in conn.execute(_Q_EVENTS, {"ids": ids}):
        events[row.transaction_id].append(_event_out(row))
    related = _related(conn, mine)
    out = []
    for tx in sorted(txs, key=lambda r: (r.last_time, r.transaction_id), reverse=True):
        summary = _summary(tx, now, stuck_after)
        out.append(
            TraceOut.model_construct(
                **dict(summary),
                keys=dict(sorted(keys[tx.transaction_id].items())),
                events=events[tx.transaction_id],
                related=related.get(tx.transaction_id, []),
            )
        )
    stored = {
        t.transaction_id: TriageOut(
            transaction_id=t.transaction_id, state=t.t_state, assignee=t.t_who
        )
        for t in txs
        if t.t_state is not None
    }
    annotate(conn, out, rules, stored)
    return out


def _related(conn: Any, mine: dict[str, set[tuple[str, str]]]) -> dict[str, list[str]]:
    """Per transaction: others sharing any business key, most recent first."""
    values = sorted({v for pairs in mine.values() for _, v in pairs})
    if not values:
        return {}
    holders: dict[tuple[str, str], set[str]] = {}
    for tid, name, value in conn.execute(_Q_SHARING, {"values": values}):
        holders.setdefault((name, value), set()).add(tid)
    found: dict[str, set[str]] = {}
    for tid, pairs in mine.items():
        others = set().union(*(holders.get(p, set()) for p in pairs)) - {tid}
        if others:
            found[tid] = others
    every = sorted(set().union(*found.values())) if found else []
    last = {r[0]: r[1] for r in conn.execute(_Q_LAST, {"ids": every})} if every else {}
    return {
        tid: sorted(others, key=lambda r: (last.get(r, datetime.min), r), reverse=True)[
            :_RELATED_MAX
        ]
        for tid, others in found.items()
    }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(
    stmt: Any, f: SearchFilters, now: datetime, stuck_after: timedelta, *, status: bool
) -> Any:
    cutoff = now - stuck_after
    if f.key:
        key = f.key.strip()[:_MAX_KEY]
        matches = select(TransactionKey.transaction_id).where(TransactionKey.value == key)
        stmt = stmt.where(
            or_(Transaction.transaction_id.in_(matches), Transaction.transaction_id == key)
        )
    if status and f.status:
        conds = []
        for s in f.status:
            if s == "stuck":
                conds.append(
                    and_(Transaction.status == "in_progress", Transaction.last_time < cutoff)
                )
            elif s == "in_progress":
                conds.append(
                    and_(Transaction.status == "in_progress", Transaction.last_time >= cutoff)
                )
            else:
                conds.append(Transaction.status == s)
        stmt = stmt.where(or_(*conds))
    if f.system:
        stmt = stmt.where(Transaction.systems.like(f"%,{_escape_like(f.system)},%", escape="\\"))
    if f.flow:
        stmt = stmt.where(Transaction.flow == f.flow)
    if f.triage:
        stmt = stmt.where(triage_condition(f.triage))
    if f.error_code:
        stmt = stmt.where(
            exists().where(
                Event.transaction_id == Transaction.transaction_id,
                Event.error_code == f.error_code,
            )
        )
    if f.since:
        stmt = stmt.where(Transaction.last_time >= f.since)
    if f.until:
        stmt = stmt.where(Transaction.first_time <= f.until)
    return stmt


def summaries(
    *,
    engine: Engine,
    transaction_ids: list[str],
    stuck_after: timedelta,
    now: datetime | None = None,
    rules: RuleSet | None = None,
) -> list[TransactionSummary]:
    """Summaries of the given transactions, in the order given (unknown ids left out)."""
    now = now or utcnow()
    found: dict[str, TransactionSummary] = {}
    with engine.connect() as conn:
        for start in range(0, len(transaction_ids), 500):
            chunk = transaction_ids[start : start + 500]
            stmt = select(Transaction).where(Transaction.transaction_id.in_(chunk))
            for row in conn.execute(stmt):
                found[row.transaction_id] = _summary(row, now, stuck_after)
        annotate(conn, list(found.values()), rules)
    return [found[t] for t in transaction_ids if t in found]


def search_transactions(
    *,
    engine: Engine,
    filters: SearchFilters,
    stuck_after: timedelta,
    now: datetime | None = None,
    rules: RuleSet | None = None,
) -> SearchOut:
    """Transactions matching ``filters``, newest activity first.

    Args:
        filters: key, status (``stuck`` included), system, flow, error code, triage
            state, window.
        rules: error classification rules (default: the built-in ones).

    Returns:
        ``total`` over the whole result set and one page of summaries, each with its
        triage state and its failed step's category and origin.

    Example:
        >>> search_transactions(engine=engine, filters=SearchFilters(status=["failed"]),
        ...                     stuck_after=timedelta(minutes=30)).total
    """
    now = now or utcnow()
    with engine.connect() as conn:
        count = _filtered(
            select(func.count()).select_from(Transaction), filters, now, stuck_after, status=True
        )
        total = conn.execute(count).scalar_one()
        page = (
            _filtered(select(Transaction), filters, now, stuck_after, status=True)
            .order_by(Transaction.last_time.desc(), Transaction.transaction_id)
            .limit(filters.limit)
            .offset(filters.offset)
        )
        rows = conn.execute(page).all()
        found = [_summary(r, now, stuck_after) for r in rows]
        annotate(conn, found, rules)
    return SearchOut(total=total, transactions=found)


def status_counts(
    *,
    engine: Engine,
    filters: SearchFilters,
    stuck_after: timedelta,
    now: datetime | None = None,
) -> dict[str, int]:
    """Counts by displayed status (``stuck`` split from ``in_progress``).

    Every filter applies except ``status`` itself, so a KPI row shows all four counts.
    """
    now = now or utcnow()
    cutoff = now - stuck_after
    counts = dict.fromkeys(STATUSES, 0)
    stmt = _filtered(
        select(
            Transaction.status,
            (Transaction.last_time < cutoff).label("idle"),
            func.count(),
        ).select_from(Transaction),
        filters,
        now,
        stuck_after,
        status=False,
    ).group_by(Transaction.status, "idle")
    with engine.connect() as conn:
        for status, idle, n in conn.execute(stmt):
            label = "stuck" if status == "in_progress" and idle else status
            counts[label] = counts.get(label, 0) + n
    return counts


def list_quarantine(
    *, engine: Engine, limit: int = 200, run_id: int | None = None
) -> list[QuarantineOut]:
    """Quarantined items, newest first (optionally of one ingest run)."""
    stmt = select(Quarantine).order_by(Quarantine.pk.desc()).limit(limit)
    if run_id is not None:
        stmt = stmt.where(Quarantine.ingest_run_id == run_id)
    with engine.connect() as conn:
        return [
            QuarantineOut(
                kind=r.kind,
                where=r.location,
                reason=r.reason,
                source=r.source,
                event_id=r.event_id,
                raw=r.raw,
                received_at=r.received_at,
            )
            for r in conn.execute(stmt)
        ]
