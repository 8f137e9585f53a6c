"""Lineage on the Trace page: per step, the original attempts, the console's replays and
resubmits, and the outcome, with the first error kept in view; the actions on record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from app.ui import fmt_time, md_code, md_escape, status_badge, trace_url
from services.audit import AuditOut
from services.replay import CONSOLE_SOURCE
from services.replay_plan import steps_of
from services.schemas import ErrorOut, EventOut, TraceOut

__all__ = [
    "RECORD_COLUMNS",
    "RECORD_COLUMN_CONFIG",
    "LineageLink",
    "StepLineage",
    "failed_steps",
    "records_frame",
    "render_lineage",
    "render_records",
    "step_lineage",
]

RECORD_COLUMNS = [
    "When (UTC)",
    "Who",
    "Role",
    "Action",
    "Step",
    "Reason code",
    "Reason",
    "Outcome",
    "Idempotency key",
    "Entry",
]


@dataclass(frozen=True, slots=True)
class LineageLink:
    """One attempt of a step: from the integration, or an action the console took."""

    time: datetime
    attempt: int
    status: str
    source: str
    event_id: str
    action: str | None = None  # replay | resubmit (console events only)
    actor: str | None = None
    replay_of: str | None = None  # the id of the event it acted on
    idempotency_key: str | None = None
    linked: bool = False
    error: ErrorOut | None = None


@dataclass(slots=True)
class StepLineage:
    """A step's story: its attempts in order, its outcome, and the first error it had."""

    step: str  # system.operation
    system: str
    operation: str
    status: str  # latest outcome: failed | succeeded | started
    links: list[LineageLink] = field(default_factory=list)
    first_error: ErrorOut | None = None

    @property
    def acted_on(self) -> bool:
        return any(link.action for link in self.links)

    @property
    def troubled(self) -> bool:
        return self.first_error is not None or self.acted_on


def _link(e: EventOut) -> LineageLink:
    raw_data = e.raw.get("data")
    data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
    console = e.source == CONSOLE_SOURCE
    replay_of = data.get("replay_of") if console else None
    return LineageLink(
        time=e.time,
        attempt=e.attempt,
        status=e.status,
        source=e.source,
        event_id=e.id,
        action=str(data.get("action") or "replay") if console else None,
        actor=str(data["actor"]) if console and data.get("actor") else None,
        replay_of=str(replay_of.get("id")) if isinstance(replay_of, dict) else None,
        idempotency_key=e.idempotency_key,
        linked=bool(data.get("linked_existing")),
        error=e.error,
    )


def _outcome(events: Sequence[EventOut]) -> str:
    terminal = [e for e in events if e.status in ("succeeded", "failed")]
    return terminal[-1].status if terminal else events[-1].status


def step_lineage(trace: TraceOut) -> list[StepLineage]:
    """Every step of ``trace`` with its attempts (``started`` events left out once a
    later event of the step exists) and its first error."""
    out: list[StepLineage] = []
    for step, events in steps_of(trace).items():
        first_failure = next((e for e in events if e.status == "failed"), None)
        shown = [e for i, e in enumerate(events) if e.status != "started" or i == len(events) - 1]
        out.append(
            StepLineage(
                step=step,
                system=events[0].system,
                operation=events[0].operation,
                status=_outcome(events),
                links=[_link(e) for e in shown],
                first_error=(first_failure.error or ErrorOut(code="error"))
                if first_failure
                else None,
            )
        )
    return out


def failed_steps(trace: TraceOut) -> list[str]:
    """The steps (``system.operation``) whose latest outcome is a failure."""
    return [s.step for s in step_lineage(trace) if s.status == "failed"]


def _error_text(err: ErrorOut | None) -> str:
    if err is None:
        return ""
    parts = [p for p in (err.code, err.message) if p]
    if err.http_status is not None:
        parts.insert(1 if err.code else 0, f"HTTP {err.http_status}")
    return " · ".join(parts)


def _link_line(link: LineageLink) -> str:
    if link.action:
        who = f" by {md_escape(link.actor)}" if link.actor else ""
        head = f"**{md_escape(link.action)}**{who}"
        if link.replay_of:
            head += f" (of event {md_code(link.replay_of)})"
    else:
        head = f"original from {md_code(link.source)}"
    status = "linked to the existing record" if link.linked else link.status
    line = f"{fmt_time(link.time)} · attempt {link.attempt} · {head} → {md_escape(status)}"
    if link.idempotency_key and link.action:
        line += f" · key {md_code(link.idempotency_key)}"
    if link.error is not None and link.status == "failed":
        line += f" · {md_escape(_error_text(link.error))}"
    return line


def render_lineage(trace: TraceOut) -> None:
    """Per troubled step: first error, each attempt and action in order, the outcome."""
    steps = [s for s in step_lineage(trace) if s.troubled]
    if not steps:
        st.caption("Every step went through without a failure or an action.")
        return
    for s in steps:
        actions = sum(1 for link in s.links if link.action)
        after = f" · {actions} console action{'s' if actions != 1 else ''}" if actions else ""
        st.markdown(
            f"**{md_escape(s.system)} {md_escape(s.operation)}** {status_badge(s.status)}{after}"
        )
        if s.first_error is not None:
            st.caption(f"First error: {md_escape(_error_text(s.first_error))}")
        st.markdown("\n".join(f"1. {_link_line(link)}" for link in s.links))


def records_frame(rows: Sequence[AuditOut], *, with_transaction: bool = False) -> pd.DataFrame:
    """Audit entries as a table: who, role, when, why, outcome, idempotency key (and, for
    the Audit page, the transaction with a link to its trace)."""
    columns = [*RECORD_COLUMNS, *(["Transaction", "Trace"] if with_transaction else [])]
    records: list[dict[str, Any]] = []
    for e in rows:
        record: dict[str, Any] = {
            "When (UTC)": e.created,
            "Who": e.actor,
            "Role": e.role,
            "Action": e.action,
            "Step": e.step or "",
            "Reason code": e.reason_code or "",
            "Reason": e.reason or "",
            "Outcome": e.outcome,
            "Idempotency key": e.idempotency_key or "",
            "Entry": e.seq,
        }
        if with_transaction:
            record["Transaction"] = e.transaction_id or ""
            record["Trace"] = trace_url(e.transaction_id) if e.transaction_id else None
        records.append(record)
    return pd.DataFrame.from_records(records, columns=columns)


RECORD_COLUMN_CONFIG: dict[str, Any] = {
    "When (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
    "Entry": st.column_config.NumberColumn(format="#%d"),
    "Reason": st.column_config.TextColumn(width="medium"),
    "Trace": st.column_config.LinkColumn("Trace", display_text="open ↗"),
}


def render_records(rows: Sequence[AuditOut], *, key: str) -> None:
    """The "Actions on record" table (or a line saying there are none)."""
    if not rows:
        st.caption("No action has been taken on this transaction.")
        return
    st.dataframe(records_frame(rows), key=key, hide_index=True, column_config=RECORD_COLUMN_CONFIG)
