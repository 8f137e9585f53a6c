"""Tables of triage and alerts: the current triage state per transaction, and what
each alert rule last did (so a rule that stays red does not post every run)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.models import Base

__all__ = ["AlertState", "TriageState"]


class TriageState(Base):
    """The latest triage state of a failed transaction; every change is also an audit entry."""

    __tablename__ = "triage_states"
    __table_args__ = (Index("ix_triage_states_state", "state"),)

    transaction_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # open|acknowledged|assigned|resolved|ignored
    assignee: Mapped[str | None] = mapped_column(String(128), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime())
    updated_by: Mapped[str] = mapped_column(String(128))


class AlertState(Base):
    """One alert rule's last evaluation and post."""

    __tablename__ = "alert_states"

    rule_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    firing: Mapped[bool] = mapped_column(Boolean, default=False)
    since: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    last_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_checked: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    last_posted: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    post_pending: Mapped[bool] = mapped_column(Boolean, default=False)  # a post failed: retry
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
