"""The stored validation runs: one row per run, the whole result as JSON."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.models import Base, BigId

__all__ = ["ValidationRun"]


class ValidationRun(Base):
    __tablename__ = "validation_runs"
    __table_args__ = (Index("ix_validation_runs_opportunity", "opportunity_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    opportunity_id: Mapped[str] = mapped_column(String(18))
    created: Mapped[datetime] = mapped_column(DateTime())
    verdict: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(128), nullable=True)
    took_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    result_json: Mapped[str] = mapped_column(Text)
