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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, tuple_

from services.catalog import Catalog
from services.contract import StepEvent
from services.models import (
    EVENT_TIME_AS_TEXT,
    Event,
    Quarantine,
    TransactionKey,
    stored_time,
    time_binder,
)
from services.rollups import Deltas, Facts, apply, old_facts
from services.stitch import EventRow, TransactionRecord, anchored_id, assign, summarize

__all__ = [
    "BatchResult",
    "Parsed",
    "canonical",
    "EVENT_COLUMNS",
    "insert_quarantine",
    "quarantine_row",
    "raw_digest",
    "write_batch",
]

_IN_CHUNK = 900  # bound parameters per IN (...) list, safe on every SQLite build


@dataclass(slots=True)
class Parsed:
    """An event that passed the contract, with what was received.

    The decoded JSON is not kept: it is most of an event's memory, and only the
    rare duplicate-with-other-bytes and conflict paths need it again (``value``).
    """

    where: str
    raw: str
    event: StepEvent
    digest: str

    @property
    def value(self) -> Any:
        """The received JSON value, decoded again from ``raw``."""
        return orjson.loads(self.raw)


@dataclass(slots=True)
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    conflicts: list[tuple[Parsed, str]] = field(default_factory=list)


def canonical(value: Any) -> Any:
    """The JSON value with integral floats as ints, so 1.0 and 1 compare equal."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def raw_digest(raw: str) -> str:
    """Hash of the bytes as received: equal hashes are certainly duplicates.

    Different hashes may still be the same JSON value (other key order or
    white space); :func:`write_batch` then compares the decoded values.
    """
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


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
        time=stored_time(row.time),
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
    EVENT_TIME_AS_TEXT,
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


def _stored_raw(conn: Connection, idents: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The stored payloads of ``idents``, in one query per chunk."""
    found: dict[tuple[str, str], str] = {}
    for chunk in _chunks(idents, _IN_CHUNK // 2):
        stmt = select(Event.source, Event.event_id, Event.raw).where(
            tuple_(Event.source, Event.event_id).in_(chunk)
        )
        for source, event_id, raw in conn.execute(stmt):
            found[(source, event_id)] = raw
    return found


def _component(
    conn: Connection, new: list[EventRow], catalog: Catalog
) -> dict[str, list[EventRow]]:
    """Every stored transaction linked to ``new``, with its events, by tx id."""
    tx_keys = catalog.transaction_keys
    to_load: set[str] = {anchored_id(e.correlation_id) for e in new if e.correlation_id}
    pending: set[str] = {v for e in new for k, v in e.keys.items() if k in tx_keys}
    seen_values: set[str] = set()
    loaded: dict[str, list[EventRow]] = {}
    while pending or to_load:
        values = sorted(pending - seen_values)
        seen_values |= pending
        pending = set()
        for chunk in _chunks(values):
            stmt = select(TransactionKey.transaction_id).where(
                TransactionKey.value.in_(chunk), TransactionKey.scope == "transaction"
            )
            to_load.update(r[0] for r in conn.execute(stmt))
        to_load -= set(loaded)
        if not to_load:
            break
        missing = sorted(to_load)
        for chunk in _chunks(missing):
            rows = conn.execute(select(*_EVENT_COLS).where(Event.transaction_id.in_(chunk)))
            for row in rows:
                loaded.setdefault(row.transaction_id, []).append(_row_to_event(row))
        for tid in to_load:
            evs = loaded.setdefault(tid, [])
            for ev in evs:
                for k, v in ev.keys.items():
                    if k in tx_keys and v not in seen_values:
                        pending.add(v)
        to_load = set()
    return loaded


EVENT_COLUMNS = (
    "source",
    "event_id",
    "status",
    "time",
    "system",
    "operation",
    "flow",
    "attempt",
    "correlation_id",
    "subject",
    "keys_json",
    "error_code",
    "error_message",
    "http_status",
    "retryable",
    "amount",
    "currency",
    "legal_entity",
    "latency_ms",
    "content_hash",
    "raw",
    "transaction_id",
    "ingest_run_id",
    "received_at",
)
_TX_COLS = (
    "transaction_id",
    "correlation_id",
    "flow",
    "status",
    "first_time",
    "last_time",
    "event_count",
    "systems",
    "failed_system",
    "failed_operation",
    "error_code",
    "error_message",
    "last_step",
    "subject",
    "amount",
    "currency",
    "legal_entity",
)
_KEY_COLS = ("transaction_id", "name", "value", "scope")


class _Sql:
    """Driver-level statements for the hot path (SQLAlchemy Core costs ~10 us a row)."""

    def __init__(self, conn: Connection) -> None:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        self.time = time_binder(conn.dialect)

        def ins(table: str, cols: tuple[str, ...]) -> str:
            return (
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
            )

        self.insert_event = ins("events", EVENT_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in _TX_COLS[1:])
        self.upsert_tx = (
            ins("transactions", _TX_COLS) + f" ON CONFLICT (transaction_id) DO UPDATE SET {updates}"
        )
        self.insert_key = ins("transaction_keys", _KEY_COLS)
        self.move_event = (
            f"UPDATE events SET transaction_id = {mark} WHERE event_id = {mark} AND source = {mark}"
        )
        self.delete_tx = f"DELETE FROM transactions WHERE transaction_id = {mark}"
        self.delete_keys = f"DELETE FROM transaction_keys WHERE transaction_id = {mark}"


def _event_tuple(p: Parsed, tx_id: str, run_id: int | None, received: Any, sql: _Sql) -> tuple:
    ev = p.event
    return (
        ev.source,
        ev.id,
        ev.status,
        sql.time(ev.time),
        ev.system,
        ev.operation,
        ev.flow,
        ev.attempt,
        ev.correlation_id,
        ev.subject,
        orjson.dumps(ev.keys).decode(),
        ev.error_code,
        ev.error_message,
        ev.http_status,
        ev.retryable,
        ev.amount,
        ev.currency,
        ev.legal_entity,
        ev.latency_ms,
        p.digest,
        p.raw,
        tx_id,
        run_id,
        received,
    )


def _tx_tuple(rec: TransactionRecord, sql: _Sql) -> tuple:
    return (
        rec.transaction_id,
        rec.correlation_id,
        rec.flow,
        rec.status,
        sql.time(rec.first_time),
        sql.time(rec.last_time),
        rec.event_count,
        "," + ",".join(rec.systems) + ",",
        rec.failed_system,
        rec.failed_operation,
        rec.error_code,
        rec.error_message,
        rec.last_step,
        rec.subject,
        rec.amount,
        rec.currency,
        rec.legal_entity,
    )


def _key_tuples(rec: TransactionRecord, catalog: Catalog) -> set[tuple[str, str, str, str]]:
    keys = {
        (rec.transaction_id, name, value, catalog.scope_of(name))
        for name, values in rec.keys.items()
        for value in values
    }
    if rec.correlation_id:
        keys.add((rec.transaction_id, "correlation_id", rec.correlation_id, "correlation"))
    return keys


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
    result = BatchResult()
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
    differing: list[Parsed] = []  # same (source, id), other bytes: compare the JSON values
    for ident, p in first.items():
        digest = stored.get(ident)
        if digest is None:
            fresh.append(p)
        elif digest == p.digest:
            result.duplicates += 1
        else:
            differing.append(p)
    stored_raw = _stored_raw(conn, [(p.event.source, p.event.id) for p in differing])
    for p in differing:
        old = orjson.loads(stored_raw[(p.event.source, p.event.id)])
        if canonical(old) == canonical(p.value):
            result.duplicates += 1
        else:
            result.conflicts.append((p, _conflict_reason(p, old, "the store")))
    if not fresh:
        return result

    sql = _Sql(conn)
    new_rows = [_step_to_row(p.event) for p in fresh]
    loaded = _component(conn, new_rows, catalog)
    rollups = Deltas()
    for old in old_facts(conn, loaded):
        rollups.add(old, -1)
    old_events = [e for evs in loaded.values() for e in evs]
    old_tx_of = {e.ident: tid for tid, evs in loaded.items() for e in evs}
    mapping = assign([*old_events, *new_rows], catalog)

    moved = [
        (mapping[e.ident], e.id, e.source)
        for e in old_events
        if mapping[e.ident] != old_tx_of[e.ident]
    ]
    lost_members = {
        old_tx_of[e.ident] for e in old_events if mapping[e.ident] != old_tx_of[e.ident]
    }
    received = sql.time(now)
    conn.exec_driver_sql(
        sql.insert_event,
        [
            _event_tuple(p, mapping[(p.event.source, p.event.id)], run_id, received, sql)
            for p in fresh
        ],
    )
    if moved:
        conn.exec_driver_sql(sql.move_event, moved)
    result.accepted = len(fresh)

    members: dict[str, list[EventRow]] = {}
    for e in [*old_events, *new_rows]:
        members.setdefault(mapping[e.ident], []).append(e)
    dead = [tid for tid in loaded if tid not in members]
    if dead:
        conn.exec_driver_sql(sql.delete_keys, [(t,) for t in dead])
        conn.exec_driver_sql(sql.delete_tx, [(t,) for t in dead])
    tx_rows, key_rows, key_resets = [], [], []
    for tid, evs in members.items():
        rec = summarize(tid, evs, catalog)
        row = _tx_tuple(rec, sql)
        tx_rows.append(row)
        rollups.add(_facts(rec, row[7]), 1)
        keys = _key_tuples(rec, catalog)
        if tid in loaded and tid not in lost_members:
            before = loaded.get(tid, [])
            old_keys = {(tid, n, v) for e in before for n, v in e.keys.items()}
            old_keys.update(
                (tid, "correlation_id", e.correlation_id) for e in before if e.correlation_id
            )
            keys = {k for k in keys if k[:3] not in old_keys}
        elif tid in loaded:
            key_resets.append((tid,))
        key_rows.extend(sorted(keys))
    if key_resets:
        conn.exec_driver_sql(sql.delete_keys, key_resets)
    conn.exec_driver_sql(sql.upsert_tx, tx_rows)
    if key_rows:
        conn.exec_driver_sql(sql.insert_key, key_rows)
    apply(conn, rollups)
    return result


def _facts(rec: TransactionRecord, systems: str) -> Facts:
    return Facts(
        rec.first_time,
        rec.last_time,
        rec.flow,
        rec.legal_entity,
        systems,
        rec.failed_system,
        rec.failed_operation,
        rec.status,
        rec.currency,
        rec.amount,
        rec.error_code,
        rec.error_message,
    )


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
