"""Tables of the health roll-ups: transaction counts and money per month, day and hour.

Each row adds up the transactions of one bucket: ``grain`` is ``month``, ``day`` or ``hour``;
``last_start`` and ``first_start`` are the starts of the buckets holding the
transaction's last and first event. Key columns are never NULL (``''`` stands for
none), so an upsert finds its row on both databases. Rows whose counts went back to
zero stay; they add nothing to a sum.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.models import Base

__all__ = ["RollupErrors", "RollupLatency", "RollupTx"]


class RollupTx(Base):
    """Transactions by flow, legal entity, systems, failed system, status and currency.

    Money is kept exact as whole units plus millionths (``amount_units`` +
    ``amount_micros`` / 10**6); an amount that does not fit (more than six decimals,
    or a trillion or more) is counted in ``odd_amounts`` and summed from the rows.
    """

    __tablename__ = "rollup_tx"
    __table_args__ = (Index("ix_rollup_tx_first", "grain", "first_start"),)

    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    last_start: Mapped[datetime] = mapped_column(DateTime(), primary_key=True)
    first_start: Mapped[datetime] = mapped_column(DateTime(), primary_key=True)
    flow: Mapped[str] = mapped_column(String(64), primary_key=True)
    legal_entity: Mapped[str] = mapped_column(String(64), primary_key=True)
    systems: Mapped[str] = mapped_column(String(512), primary_key=True)
    failed_system: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    with_amount: Mapped[int] = mapped_column(BigInteger)
    amount_units: Mapped[int] = mapped_column(BigInteger)
    amount_micros: Mapped[int] = mapped_column(BigInteger)
    odd_amounts: Mapped[int] = mapped_column(Integer)


class RollupLatency(Base):
    """Succeeded transactions by flow and end-to-end latency (``rollups.latency_bucket``)."""

    __tablename__ = "rollup_latency"
    __table_args__ = (Index("ix_rollup_latency_first", "grain", "first_start"),)

    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    last_start: Mapped[datetime] = mapped_column(DateTime(), primary_key=True)
    first_start: Mapped[datetime] = mapped_column(DateTime(), primary_key=True)
    flow: Mapped[str] = mapped_column(String(64), primary_key=True)
    seconds: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class RollupErrors(Base):
    """Failed transactions by failed system, operation, error code and message.

    The message is keyed by its SHA-1 (a message can be longer than an index
    entry may be); ``error_message`` holds the text.
    """

    __tablename__ = "rollup_errors"
    __table_args__ = (Index("ix_rollup_errors_first", "grain", "first_start"),)

    grain: Mapped[str] = mapped_column(String(8), primary_key=True)
    last_start: Mapped[datetime] = mapped_column(DateTime(), primary_key=True)
    first_start: Mapped[datetime] = mapped_column(DateTime(), primary_key=True)
    failed_system: Mapped[str] = mapped_column(String(64), primary_key=True)
    failed_operation: Mapped[str] = mapped_column(String(128), primary_key=True)
    error_code: Mapped[str] = mapped_column(String(128), primary_key=True)
    message_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    error_message: Mapped[str] = mapped_column(Text)
    n: Mapped[int] = mapped_column(BigInteger)
