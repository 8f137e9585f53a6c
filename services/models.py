"""SQLAlchemy 2 tables of the trace store.

``events`` keeps every accepted event with its raw payload; ``transactions`` and
``transaction_keys`` are derived by stitching and rewritten whenever a component
of linked events changes; ``quarantine`` keeps what was received but not accepted;
``ingest_runs`` records each ingest. Schema changes go through ``migrations/``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
    type_coerce,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "Event",
    "EVENT_TIME_AS_TEXT",
    "IngestRun",
    "Quarantine",
    "Transaction",
    "TransactionKey",
    "stored_time",
    "time_binder",
]

# BigInteger primary keys autoincrement on PostgreSQL and are INTEGER on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class IngestRun(Base):
    __tablename__ = "ingest_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    origin: Mapped[str] = mapped_column(String(40))  # cli, page, api, seed
    files: Mapped[str] = mapped_column(Text, default="")
    received: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    conflicts: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("event_id", "source", name="uq_events_id_source"),
        Index("ix_events_tx_time", "transaction_id", "time"),
        Index(
            "ix_events_error_code",
            "error_code",
            sqlite_where=text("error_code IS NOT NULL"),
            postgresql_where=text("error_code IS NOT NULL"),
        ),
    )

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(512))
    event_id: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))
    time: Mapped[datetime] = mapped_column(DateTime())
    system: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(128))
    flow: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    correlation_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    keys_json: Mapped[str] = mapped_column(Text, default="{}")
    error_code: Mapped[str | None] = mapped_column(String(128), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    retryable: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    amount: Mapped[str | None] = mapped_column(String(64), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    legal_entity: Mapped[str | None] = mapped_column(String(64), nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[str] = mapped_column(Text)
    transaction_id: Mapped[str] = mapped_column(String(40))
    ingest_run_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ingest_runs.id"), nullable=True
    )
    received_at: Mapped[datetime] = mapped_column(DateTime())


class Transaction(Base):
    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_status_last", "status", "last_time"),
        Index("ix_transactions_last_time", "last_time"),
        Index("ix_transactions_first_time", "first_time"),
        Index("ix_transactions_flow", "flow"),
    )

    transaction_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    correlation_id: Mapped[str | None] = mapped_column(String(256), nullable=True, unique=True)
    flow: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # failed | succeeded | in_progress
    first_time: Mapped[datetime] = mapped_column(DateTime())
    last_time: Mapped[datetime] = mapped_column(DateTime())
    event_count: Mapped[int] = mapped_column(Integer)
    systems: Mapped[str] = mapped_column(String(512), default="")  # ",erp,billing,"
    failed_system: Mapped[str | None] = mapped_column(String(64), nullable=True)
    failed_operation: Mapped[str | None] = mapped_column(String(128), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(128), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_step: Mapped[str | None] = mapped_column(String(200), nullable=True)
    subject: Mapped[str | None] = mapped_column(Text, nullable=True)
    amount: Mapped[str | None] = mapped_column(String(64), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    legal_entity: Mapped[str | None] = mapped_column(String(64), nullable=True)


class TransactionKey(Base):
    __tablename__ = "transaction_keys"
    __table_args__ = (
        Index("ix_transaction_keys_value", "value"),
        UniqueConstraint("transaction_id", "name", "value", name="uq_transaction_keys"),
    )

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(512))
    scope: Mapped[str] = mapped_column(String(16))  # transaction | lifecycle


class Quarantine(Base):
    __tablename__ = "quarantine"
    __table_args__ = (Index("ix_quarantine_source_id", "source", "event_id"),)

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ingest_run_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ingest_runs.id"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # rejected | conflict
    location: Mapped[str] = mapped_column(Text)  # file:line or file item N
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(512), nullable=True)
    event_id: Mapped[str | None] = mapped_column(String(512), nullable=True)
    raw: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime())


# Reading many events: the stored time as it is, parsed by ``stored_time``, which is
# several times faster than SQLAlchemy's SQLite datetime parser.
EVENT_TIME_AS_TEXT = type_coerce(Event.time, String).label("time")


def stored_time(value: datetime | str) -> datetime:
    """An event time read through ``EVENT_TIME_AS_TEXT``: PostgreSQL hands back a
    datetime, SQLite the text it stored."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _sqlite_time(value: datetime) -> str:
    return value.isoformat(" ", "microseconds")


def time_binder(dialect: Any) -> Callable[[datetime], Any]:
    """How a naive-UTC datetime is passed to the driver in hand-written statements.

    The same text SQLAlchemy stores on SQLite (``2026-05-11 10:00:00.000000``, always
    with microseconds), so stored times and bound parameters compare as text;
    PostgreSQL takes the datetime.
    """
    return _sqlite_time if dialect.name == "sqlite" else _identity


def _identity(value: datetime) -> datetime:
    return value
