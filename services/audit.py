"""The audit log: append-only, hash-chained, verifiable, exportable.

Each entry's ``hash`` is the SHA-256 of its canonical JSON (every field but the
hash itself, including ``seq`` and ``prev_hash``), so changing any byte of an
entry, deleting one, or reordering them breaks the chain at a place
:func:`verify` names. ``audit_head`` holds the last sequence number and hash,
written in the same transaction as each entry, so deleting the last entry shows
too. Appends are serialised (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory
lock), so two writers can never both extend the chain from the same entry.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from services.action_models import AuditEntry, AuditHead
from services.db import writer_connection
from services.errors import InputError, StoreError

__all__ = [
    "GENESIS",
    "append_many_in",
    "lock_audit",
    "AuditIn",
    "AuditOut",
    "VerifyResult",
    "append",
    "entries",
    "export",
    "verify",
    "verify_file",
]

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x51324302
FIELDS = (
    "seq",
    "created",
    "actor",
    "role",
    "action",
    "reason_code",
    "reason",
    "transaction_id",
    "step",
    "target",
    "idempotency_key",
    "request",
    "diff",
    "outcome",
    "response",
    "detail",
    "prev_hash",
)


class AuditIn(BaseModel):
    """What a caller records; ``seq``, ``created`` and the hashes are added here."""

    actor: str
    role: str
    action: str
    outcome: str
    reason_code: str | None = None
    reason: str | None = None
    transaction_id: str | None = None
    step: str | None = None
    target: str | None = None
    idempotency_key: str | None = None
    request: Any = None
    diff: Any = None
    response: Any = None
    detail: Any = None


class AuditOut(AuditIn):
    """One stored entry, as listed and exported."""

    seq: int
    created: datetime
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        out = self.model_dump(mode="json")
        out["created"] = _iso(self.created)
        return out


@dataclass(slots=True)
class VerifyResult:
    """What ``q2c audit verify`` prints: ok, entries checked, and each problem found."""

    entries: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)
    last_seq: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head": self.head,
            "problems": self.problems,
        }


def _iso(value: datetime) -> str:
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _digest(entry: dict[str, Any]) -> str:
    body = {k: entry.get(k) for k in FIELDS}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def lock_audit(conn: Connection) -> None:
    """Serialise appends: call first in the (writer) transaction that appends."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_AUDIT_LOCK})")


_lock = lock_audit
_JSON_FIELDS = ("request", "diff", "response", "detail")


def append_many_in(conn: Connection, items: list[AuditIn], created: datetime) -> list[int]:
    """Append ``items`` in order inside the caller's serialised transaction (see
    :func:`lock_audit`): one insert and one head update. Returns their sequence numbers."""
    head = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    seq, prev = (head[0], head[1]) if head else (0, GENESIS)
    rows, seqs = [], []
    for entry in items:
        seq += 1
        data = entry.model_dump()
        digest = _digest({**data, "seq": seq, "created": _iso(created), "prev_hash": prev})
        row = {k: v for k, v in data.items() if k not in _JSON_FIELDS}
        row.update({f"{k}_json": _dumps(data[k]) for k in _JSON_FIELDS})
        row.update(seq=seq, created=created, prev_hash=prev, hash=digest)
        rows.append(row)
        seqs.append(seq)
        prev = digest
    if rows:
        conn.execute(insert(AuditEntry), rows)
        if head:
            conn.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=seq, hash=prev))
        else:
            conn.execute(insert(AuditHead).values(id=1, seq=seq, hash=prev))
    return seqs


def append(engine: Engine, entry: AuditIn, *, now: datetime | None = None) -> AuditOut:
    """Add one entry at the end of the chain, in its own transaction.

    Example:
        >>> append(engine, AuditIn(actor="ana", role="support", action="acknowledge",
        ...                        outcome="recorded", reason_code="other", reason="seen"))
    """
    created = (now or datetime.now(UTC)).replace(tzinfo=None)
    try:
        with writer_connection(engine) as conn, conn.begin():
            _lock(conn)
            return append_in(conn, entry, created)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot write the audit log: {exc.__class__.__name__}") from None


def append_in(conn: Connection, entry: AuditIn, created: datetime) -> AuditOut:
    """Append one entry inside the caller's (already serialised) transaction."""
    [seq] = append_many_in(conn, [entry], created)
    row = conn.execute(
        select(AuditEntry.prev_hash, AuditEntry.hash).where(AuditEntry.seq == seq)
    ).one()
    return AuditOut(**entry.model_dump(), seq=seq, created=created, prev_hash=row[0], hash=row[1])


def _row_out(row: Any) -> AuditOut:
    return AuditOut(
        seq=row.seq,
        created=row.created,
        actor=row.actor,
        role=row.role,
        action=row.action,
        outcome=row.outcome,
        reason_code=row.reason_code,
        reason=row.reason,
        transaction_id=row.transaction_id,
        step=row.step,
        target=row.target,
        idempotency_key=row.idempotency_key,
        request=_loads(row.request_json),
        diff=_loads(row.diff_json),
        response=_loads(row.response_json),
        detail=_loads(row.detail_json),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def entries(
    engine: Engine,
    *,
    transaction_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[AuditOut]:
    """Stored entries, filtered; oldest first unless ``newest_first``."""
    stmt = select(AuditEntry.__table__)
    if transaction_id:
        stmt = stmt.where(AuditEntry.transaction_id == transaction_id)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if target:
        stmt = stmt.where(AuditEntry.target == target)
    if since:
        stmt = stmt.where(AuditEntry.created >= since.replace(tzinfo=None))
    if until:
        stmt = stmt.where(AuditEntry.created < until.replace(tzinfo=None))
    stmt = stmt.order_by(AuditEntry.seq.desc() if newest_first else AuditEntry.seq)
    if limit:
        stmt = stmt.limit(limit)
    with engine.connect() as conn:
        return [_row_out(r) for r in conn.execute(stmt)]


def _check_chain(items: Iterable[tuple[str, dict[str, Any] | None, str | None]]) -> VerifyResult:
    """Walk ``(where, entry dict, problem)``; report edits, gaps, reorders."""
    result = VerifyResult()
    prev_hash, prev_seq = GENESIS, 0
    for where, entry, problem in items:
        if problem is not None:
            result.problems.append(f"{where}: {problem}")
            continue
        assert entry is not None
        result.entries += 1
        seq = entry.get("seq")
        if not isinstance(seq, int):
            result.problems.append(f"{where}: no sequence number")
            continue
        if seq != prev_seq + 1:
            if seq <= prev_seq:
                result.problems.append(f"entry {seq}: out of order (after entry {prev_seq})")
            else:
                missing = f"{prev_seq + 1}" if seq == prev_seq + 2 else f"{prev_seq + 1}-{seq - 1}"
                result.problems.append(f"entry {missing}: missing (deleted)")
        if _digest(entry) != entry.get("hash"):
            result.problems.append(f"entry {seq}: content changed (hash does not match)")
        elif entry.get("prev_hash") != prev_hash and seq == prev_seq + 1:
            result.problems.append(f"entry {seq}: does not follow entry {prev_seq} (chain broken)")
        prev_hash, prev_seq = str(entry.get("hash")), seq
    result.head, result.last_seq = prev_hash, prev_seq
    return result


def verify(engine: Engine) -> VerifyResult:
    """Check the stored chain and its head.

    Returns:
        ``ok`` with the number of entries and the head hash, or each problem
        with the entry it concerns.
    """
    with engine.connect() as conn:
        head = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
        rows = conn.execute(select(AuditEntry.__table__).order_by(AuditEntry.seq))
        result = _check_chain((f"entry {r.seq}", _row_out(r).to_dict(), None) for r in rows)
    if head is None:
        if result.entries:
            result.problems.append("the audit head is missing")
    elif head[0] > result.last_seq:
        gone = (
            f"{result.last_seq + 1}"
            if head[0] == result.last_seq + 1
            else (f"{result.last_seq + 1}-{head[0]}")
        )
        result.problems.append(f"entry {gone}: missing (deleted; the log ended at entry {head[0]})")
    elif head[1] != result.head:
        result.problems.append("the audit head does not match the last entry")
    return result


def export(engine: Engine, out: IO[str], *, fmt: str = "jsonl") -> int:
    """Write every entry, oldest first, as JSONL (verifiable with :func:`verify_file`)
    or CSV (JSON columns as text). Returns the number of entries written."""
    rows = entries(engine)
    if fmt == "jsonl":
        for e in rows:
            out.write(json.dumps(e.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        names = [*FIELDS, "hash"]
        writer = csv.DictWriter(out, fieldnames=names)
        writer.writeheader()
        for e in rows:
            d = e.to_dict()
            writer.writerow(
                {
                    k: (json.dumps(d[k], sort_keys=True) if isinstance(d[k], dict | list) else d[k])
                    for k in names
                }
            )
    else:
        raise InputError(f"unknown export format {fmt!r}: use jsonl or csv")
    return len(rows)


def _file_items(path: Path) -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    with handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                yield f"{path}:{n}", None, f"not a valid entry ({exc.__class__.__name__})"
                continue
            if not isinstance(value, dict):
                yield f"{path}:{n}", None, "not a JSON object"
                continue
            yield f"{path}:{n}", value, None


def verify_file(path: Path) -> VerifyResult:
    """Check a JSONL export on its own (no database): same checks as :func:`verify`."""
    return _check_chain(_file_items(Path(path)))
