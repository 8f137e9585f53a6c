"""Read side of the trace store: find by any key, search, counts, quarantine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, and_, exists, func, or_, select
from sqlalchemy.orm import aliased

from services.models import Event, Quarantine, Transaction, TransactionKey
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


def _event_out(row: Any) -> EventOut:
    raw = orjson.loads(row.raw)
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    error = None
    if row.error_code is not None or row.status == "failed":
        error = ErrorOut.model_construct(
            code=row.error_code,
            message=row.error_message,
            http_status=row.http_status,
            retryable=row.retryable,
        )
    endpoint = data.get("endpoint")
    # model_construct: these values come from our own store, already checked on ingest.
    return EventOut.model_construct(
        source=row.source,
        id=row.event_id,
        time=row.time,
        system=row.system,
        operation=row.operation,
        status=row.status,
        attempt=row.attempt,
        error=error,
        subject=row.subject,
        correlation_id=row.correlation_id,
        flow=row.flow,
        keys=orjson.loads(row.keys_json),
        idempotency_key=data.get("idempotency_key"),
        endpoint=endpoint if isinstance(endpoint, dict) else None,
        request=data.get("request"),
        response=data.get("response"),
        latency_ms=row.latency_ms,
        amount=row.amount,
        currency=row.currency,
        legal_entity=row.legal_entity,
        traceparent=raw.get("traceparent") if isinstance(raw.get("traceparent"), str) else None,
        raw=raw,
    )


def _tx_ids_for_key(conn: Any, key: str) -> list[str]:
    ids = [
        r[0]
        for r in conn.execute(
            select(TransactionKey.transaction_id).where(TransactionKey.value == key).distinct()
        )
    ]
    if key.startswith("tx-"):
        ids.extend(
            r[0]
            for r in conn.execute(
                select(Transaction.transaction_id).where(Transaction.transaction_id == key)
            )
        )
    return sorted(set(ids))


def get_trace(
    *, engine: Engine, transaction_id: str, stuck_after: timedelta, now: datetime | None = None
) -> TraceOut | None:
    """One whole transaction by its id, or None."""
    found = _load_traces(engine, [transaction_id], now or utcnow(), stuck_after)
    return found[0] if found else None


def find_traces(
    *, engine: Engine, key: str, stuck_after: timedelta, now: datetime | None = None
) -> list[TraceOut]:
    """Every transaction carrying ``key`` (correlation ID or any business key).

    Args:
        engine: the store.
        key: the value a person pasted (surrounding white space is ignored).
        stuck_after: in-progress transactions idle longer show as ``stuck``.

    Returns:
        Matching transactions, newest first, each with its events in time order.

    Example:
        >>> [t.status for t in find_traces(engine=engine, key="SO-100234",
        ...                                stuck_after=timedelta(minutes=30))]
        ['failed']
    """
    key = key.strip()
    if not key or len(key) > _MAX_KEY:
        return []
    with engine.connect() as conn:
        ids = _tx_ids_for_key(conn, key)
    return _load_traces(engine, ids, now or utcnow(), stuck_after)


def _load_traces(
    engine: Engine, ids: list[str], now: datetime, stuck_after: timedelta
) -> list[TraceOut]:
    """Whole traces of ``ids``: four queries however many transactions match."""
    if not ids:
        return []
    with engine.connect() as conn:
        txs = conn.execute(select(Transaction).where(Transaction.transaction_id.in_(ids))).all()
        keys: dict[str, dict[str, list[str]]] = {t.transaction_id: {} for t in txs}
        for tid, name, value in conn.execute(
            select(TransactionKey.transaction_id, TransactionKey.name, TransactionKey.value)
            .where(TransactionKey.transaction_id.in_(ids), TransactionKey.scope != "correlation")
            .order_by(TransactionKey.name, TransactionKey.value)
        ):
            keys[tid].setdefault(name, []).append(value)
        events: dict[str, list[EventOut]] = {t.transaction_id: [] for t in txs}
        for row in conn.execute(
            select(Event)
            .where(Event.transaction_id.in_(ids))
            .order_by(Event.time, Event.attempt, Event.pk)
        ):
            events[row.transaction_id].append(_event_out(row))
        related = _related(conn, ids)
    out = []
    for tx in sorted(txs, key=lambda r: (r.last_time, r.transaction_id), reverse=True):
        summary = _summary(tx, now, stuck_after)
        out.append(
            TraceOut.model_construct(
                **dict(summary),
                keys=keys[tx.transaction_id],
                events=events[tx.transaction_id],
                related=related.get(tx.transaction_id, []),
            )
        )
    return out


def _related(conn: Any, ids: list[str]) -> dict[str, list[str]]:
    """Per transaction: others sharing any business key, most recent first (max 100)."""
    mine = aliased(TransactionKey)
    other = aliased(TransactionKey)
    stmt = (
        select(mine.transaction_id, other.transaction_id, Transaction.last_time)
        .join(other, and_(other.value == mine.value, other.name == mine.name))
        .join(Transaction, Transaction.transaction_id == other.transaction_id)
        .where(
            mine.transaction_id.in_(ids),
            mine.scope != "correlation",
            other.transaction_id != mine.transaction_id,
        )
        .distinct()
    )
    found: dict[str, dict[str, datetime]] = {}
    for tid, rid, last in conn.execute(stmt):
        found.setdefault(tid, {})[rid] = last
    return {
        tid: sorted(rel, key=lambda r: (rel[r], r), reverse=True)[:100]
        for tid, rel in found.items()
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
    return [found[t] for t in transaction_ids if t in found]


def search_transactions(
    *,
    engine: Engine,
    filters: SearchFilters,
    stuck_after: timedelta,
    now: datetime | None = None,
) -> SearchOut:
    """Transactions matching ``filters``, newest activity first.

    Args:
        filters: key, status (``stuck`` included), system, flow, error code, window.

    Returns:
        ``total`` over the whole result set and one page of summaries.

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
    return SearchOut(total=total, transactions=[_summary(r, now, stuck_after) for r in rows])


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
