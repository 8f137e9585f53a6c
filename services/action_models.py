"""Tables of actions: the hash-chained audit log, step claims, bulk replay runs.

``audit_log`` is append-only: the services never update or delete a row, and
each row carries the hash of the one before (``services.audit``). ``step_claims``
is how two operators replaying the same step at once produce one request: the
claim's primary key is the effect (system, operation, idempotency key), so only
one insert wins, on SQLite and PostgreSQL alike. ``bulk_runs``/``bulk_items``
hold a bulk replay and each step of it, so a run killed half way can be resumed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.models import Base, BigId

__all__ = ["AuditEntry", "AuditHead", "BulkItem", "BulkRun", "StepClaim"]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_transaction", "transaction_id"),
        Index("ix_audit_log_created", "created"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    created: Mapped[datetime] = mapped_column(DateTime())
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    reason_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    transaction_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    step: Mapped[str | None] = mapped_column(String(200), nullable=True)
    target: Mapped[str | None] = mapped_column(String(256), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(256), nullable=True)
    request_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    diff_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome: Mapped[str] = mapped_column(String(32))
    response_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The last entry's sequence number and hash, written with every append, so a
    deleted last entry is noticed too (one row, ``id`` 1)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigId)
    hash: Mapped[str] = mapped_column(String(64))


class StepClaim(Base):
    __tablename__ = "step_claims"

    effect_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(40))
    step: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))  # in_progress | succeeded | failed | linked
    holder: Mapped[str] = mapped_column(String(128))
    claimed_at: Mapped[datetime] = mapped_column(DateTime())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    outcome_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class BulkRun(Base):
    __tablename__ = "bulk_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime())
    requester: Mapped[str] = mapped_column(String(128))
    requester_role: Mapped[str] = mapped_column(String(16))
    reason_code: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    filters_json: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(24))  # awaiting_approval|ready|running|done|cancelled
    needs_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    approver: Mapped[str | None] = mapped_column(String(128), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    items: Mapped[int] = mapped_column(Integer, default=0)
    money_json: Mapped[str] = mapped_column(Text, default="{}")  # {currency: total}
    counts_json: Mapped[str] = mapped_column(Text, default="{}")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)


class BulkItem(Base):
    __tablename__ = "bulk_items"
    __table_args__ = (Index("ix_bulk_items_run_state", "run_id", "state"),)

    run_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    step: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # pending|skipped|blocked|succeeded|failed
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
