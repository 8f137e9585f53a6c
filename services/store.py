"""Writing batches of parsed events: de-duplication, stitching, derived tables.

One batch is one database transaction. For the batch's new events the writer
loads the closed component of already-stored events they link to (by correlation
ID or transaction-scoped key), re-stitches that component with the pure
functions of :mod:`services.stitch`, and rewrites the derived ``transactions``
and ``transaction_keys`` rows of every transaction it touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, update

from services.catalog import Catalog
from services.contract import StepEvent
from services.models import Event, Quarantine, Transaction, TransactionKey
from services.stitch import EventRow, TransactionRecord, anchored_id, assign, summarize

__all__ = ["Parsed", "BatchResult", "write_batch", "content_hash", "canonical"]

_IN_CHUNK = 900  # bound parameters per IN (...) list, safe on every SQLite build


@dataclass(slots=True)
class Parsed:
    """An event that passed the contract, with what was received."""

    where: str
    raw: str
    value: dict[str, Any]
    event: StepEvent
    digest: str


@dataclass(slots=True)
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    conflicts: list[tuple[Parsed, str]] | None = None


def canonical(value: Any) -> Any:
    """The JSON value with integral floats as ints, so 1.0 and 1 compare equal."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def content_hash(value: Any) -> str:
    """Hash of the JSON value: key order and whitespace do not matter."""
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits
        import json

        data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()


def _diff_paths(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            sub = f"{path}.{key}" if path else key
            if key not in a or key not in b:
                out.append(sub)
            else:
                out.extend(_diff_paths(a[key], b[key], sub))
        return out
    return [] if canonical(a) == canonical(b) else [path or "(whole event)"]


def _chunks(seq: Sequence[Any], size: int = _IN_CHUNK) -> list[Sequence[Any]]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]


def _row_to_event(row: Any) -> EventRow:
    return EventRow(
        pk=row.pk,
        source=row.source,
        id=row.event_id,
        time=row.time,
        system=row.system,
        operation=row.operation,
        status=row.status,
        attempt=row.attempt,
        keys=orjson.loads(row.keys_json),
        correlation_id=row.correlation_id,
        flow=row.flow,
        subject=row.subject,
        error_code=row.error_code,
        error_message=row.error_message,
        amount=row.amount,
        currency=row.currency,
        legal_entity=row.legal_entity,
    )


def _step_to_row(ev: StepEvent) -> EventRow:
    return EventRow(
        source=ev.source,
        id=ev.id,
        time=ev.time,
        system=ev.system,
        operation=ev.operation,
        status=ev.status,
        attempt=ev.attempt,
        keys=ev.keys,
        correlation_id=ev.correlation_id,
        flow=ev.flow,
        subject=ev.subject,
        error_code=ev.error_code,
        error_message=ev.error_message,
        amount=ev.amount,
        currency=ev.currency,
        legal_entity=ev.legal_entity,
    )


_EVENT_COLS = (
    Event.pk,
    Event.source,
    Event.event_id,
    Event.time,
    Event.system,
    Event.operation,
    Event.status,
    Event.attempt,
    Event.keys_json,
    Event.correlation_id,
    Event.flow,
    Event.subject,
    Event.error_code,
    Event.error_message,
    Event.amount,
    Event.currency,
    Event.legal_entity,
    Event.transaction_id,
)


def _existing(conn: Connection, idents: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    wanted = set(idents)
    found: dict[tuple[str, str], str] = {}
    ids = sorted({i for _, i in idents})
    for chunk in _chunks(ids):
        stmt = select(Event.source, Event.event_id, Event.content_hash).where(
            Event.event_id.in_(chunk)
        )
        for source, event_id, digest in conn.execute(stmt):
            if (source, event_id) in wanted:
                found[(source, event_id)] = digest
    return found


def _component(
    conn: Connection, new: list[EventRow], catalog: Catalog
) -> tuple[dict[str, list[EventRow]], set[str]]:
    """Load every stored event linked to ``new``; returns events by old tx id."""
    tx_keys = catalog.transaction_keys
    tx_ids: set[str] = {anchored_id(e.correlation_id) for e in new if e.correlation_id}
    pending_values: set[str] = {v for e in new for k, v in e.keys.items() if k in tx_keys}
    seen_values: set[str] = set()
    loaded: dict[str, list[EventRow]] = {}
    to_load = set(tx_ids)
    while pending_values or to_load:
        values = sorted(pending_values - seen_values)
        seen_values |= pending_values
        pending_values = set()
        for chunk in _chunks(values):
            stmt = select(TransactionKey.transaction_id).where(
                TransactionKey.value.in_(chunk), TransactionKey.scope == "transaction"
            )
            to_load.update(r[0] for r in conn.execute(stmt))
        to_load -= set(loaded)
        if not to_load:
            break
        for chunk in _chunks(sorted(to_load)):
            rows = conn.execute(select(*_EVENT_COLS).where(Event.transaction_id.in_(chunk)))
            for row in rows:
                ev = _row_to_event(row)
                loaded.setdefault(row.transaction_id, []).append(ev)
                for k, v in ev.keys.items():
                    if k in tx_keys and v not in seen_values:
                        pending_values.add(v)
        for tid in to_load:
            loaded.setdefault(tid, [])
        to_load = set()
    return loaded, set(loaded)


def _event_insert_row(p: Parsed, tx_id: str, run_id: int | None, now: datetime) -> dict[str, Any]:
    ev = p.event
    return {
        "source": ev.source,
        "event_id": ev.id,
        "status": ev.status,
        "time": ev.time,
        "system": ev.system,
        "operation": ev.operation,
        "flow": ev.flow,
        "attempt": ev.attempt,
        "correlation_id": ev.correlation_id,
        "subject": ev.subject,
        "keys_json": orjson.dumps(ev.keys).decode(),
        "error_code": ev.error_code,
        "error_message": ev.error_message,
        "http_status": ev.http_status,
        "retryable": ev.retryable,
        "amount": ev.amount,
        "currency": ev.currency,
        "legal_entity": ev.legal_entity,
        "latency_ms": ev.latency_ms,
        "content_hash": p.digest,
        "raw": p.raw,
        "transaction_id": tx_id,
        "ingest_run_id": run_id,
        "received_at": now,
    }


def _tx_rows(
    rec: TransactionRecord, catalog: Catalog
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row = {
        "transaction_id": rec.transaction_id,
        "correlation_id": rec.correlation_id,
        "flow": rec.flow,
        "status": rec.status,
        "first_time": rec.first_time,
        "last_time": rec.last_time,
        "event_count": rec.event_count,
        "systems": "," + ",".join(rec.systems) + ",",
        "failed_system": rec.failed_system,
        "failed_operation": rec.failed_operation,
        "error_code": rec.error_code,
        "error_message": rec.error_message,
        "last_step": rec.last_step,
        "subject": rec.subject,
        "amount": rec.amount,
        "currency": rec.currency,
        "legal_entity": rec.legal_entity,
    }
    keys = [
        {
            "transaction_id": rec.transaction_id,
            "name": name,
            "value": value,
            "scope": catalog.scope_of(name),
        }
        for name, values in sorted(rec.keys.items())
        for value in sorted(values)
    ]
    if rec.correlation_id:
        keys.append(
            {
                "transaction_id": rec.transaction_id,
                "name": "correlation_id",
                "value": rec.correlation_id,
                "scope": "correlation",
            }
        )
    return row, keys


def write_batch(
    conn: Connection,
    batch: list[Parsed],
    *,
    catalog: Catalog,
    run_id: int | None,
    now: datetime,
) -> BatchResult:
    """De-duplicate, stitch and store one batch inside the caller's transaction.

    Returns:
        Counts of accepted and duplicate events, and the conflicts (each with the
        reason to quarantine it under); the caller quarantines conflicts.
    """
    result = BatchResult(conflicts=[])
    assert result.conflicts is not None
    first: dict[tuple[str, str], Parsed] = {}
    for p in batch:
        ident = (p.event.source, p.event.id)
        seen = first.get(ident)
        if seen is None:
            first[ident] = p
        elif seen.digest == p.digest or canonical(seen.value) == canonical(p.value):
            result.duplicates += 1
        else:
            result.conflicts.append((p, _conflict_reason(p, seen.value, seen.where)))
    stored = _existing(conn, list(first))
    fresh: list[Parsed] = []
    for ident, p in first.items():
        digest = stored.get(ident)
        if digest is None:
            fresh.append(p)
        elif digest == p.digest:
            result.duplicates += 1
        else:
            raw = conn.execute(
                select(Event.raw).where(Event.source == ident[0], Event.event_id == ident[1])
            ).scalar_one()
            old = orjson.loads(raw)
            if canonical(old) == canonical(p.value):
                result.duplicates += 1
            else:
                result.conflicts.append((p, _conflict_reason(p, old, "the store")))
    if not fresh:
        return result

    new_rows = [_step_to_row(p.event) for p in fresh]
    loaded, old_tx_ids = _component(conn, new_rows, catalog)
    old_events = [e for evs in loaded.values() for e in evs]
    old_tx_of = {e.ident: tid for tid, evs in loaded.items() for e in evs}
    mapping = assign([*old_events, *new_rows], catalog)

    moved = [
        {"b_pk": e.pk, "b_tx": mapping[e.ident]}
        for e in old_events
        if mapping[e.ident] != old_tx_of[e.ident]
    ]
    if moved:
        from sqlalchemy import bindparam

        conn.execute(
            update(Event)
            .where(Event.pk == bindparam("b_pk"))
            .values(transaction_id=bindparam("b_tx")),
            moved,
        )
    conn.execute(
        insert(Event),
        [_event_insert_row(p, mapping[(p.event.source, p.event.id)], run_id, now) for p in fresh],
    )
    result.accepted = len(fresh)

    members: dict[str, list[EventRow]] = {}
    for e in [*old_events, *new_rows]:
        members.setdefault(mapping[e.ident], []).append(e)
    stale = sorted(old_tx_ids | set(members))
    for chunk in _chunks(stale):
        conn.execute(delete(TransactionKey).where(TransactionKey.transaction_id.in_(chunk)))
        conn.execute(delete(Transaction).where(Transaction.transaction_id.in_(chunk)))
    tx_rows, key_rows = [], []
    for tid, evs in members.items():
        row, keys = _tx_rows(summarize(tid, evs, catalog), catalog)
        tx_rows.append(row)
        key_rows.extend(keys)
    conn.execute(insert(Transaction), tx_rows)
    if key_rows:
        conn.execute(insert(TransactionKey), key_rows)
    return result


def _conflict_reason(p: Parsed, old: Any, where_first: str) -> str:
    paths = _diff_paths(old, p.value)
    shown = ", ".join(paths[:5]) + (" ..." if len(paths) > 5 else "")
    return (
        f"conflict: source {p.event.source!r} id {p.event.id!r} was already received from "
        f"{where_first} with different content (differs at {shown}); the first is kept"
    )


def quarantine_row(
    *,
    kind: str,
    where: str,
    reason: str,
    raw: str,
    run_id: int | None,
    now: datetime,
    value: Any = None,
) -> dict[str, Any]:
    """A row for the ``quarantine`` table."""
    source = value.get("source") if isinstance(value, dict) else None
    event_id = value.get("id") if isinstance(value, dict) else None
    return {
        "ingest_run_id": run_id,
        "kind": kind,
        "location": where,
        "reason": reason,
        "source": source if isinstance(source, str) else None,
        "event_id": event_id if isinstance(event_id, str) else None,
        "raw": raw,
        "received_at": now,
    }


def insert_quarantine(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(Quarantine), rows)
