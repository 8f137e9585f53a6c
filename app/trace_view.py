"""Pieces of the Trace page: header, the failure box, the per-attempt list."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from app.ui import (
    STATUS_LABELS,
    fmt_amount,
    fmt_span,
    fmt_time,
    json_viewer,
    md_code,
    md_escape,
    status_badge,
)
from services.schemas import EventOut, TraceOut, TransactionSummary
from services.triage.views import StepClassification

__all__ = [
    "failed_event",
    "render_attempts",
    "render_failure",
    "render_header",
    "trace_choice_label",
]

_EVENT_ICONS = {
    "failed": ":material/error:",
    "succeeded": ":material/check_circle:",
    "started": ":material/play_circle:",
}


def trace_choice_label(t: TransactionSummary) -> str:
    """One line per candidate when a key matches several transactions (plain text)."""
    parts = [
        STATUS_LABELS.get(t.status, t.status),
        t.flow or "no flow",
        t.subject or "",
        f"last event {fmt_time(t.last_time)}",
        t.transaction_id,
    ]
    return " · ".join(p for p in parts if p)


def failed_event(trace: TraceOut) -> EventOut | None:
    """The latest failed attempt of the transaction's failed step, if it has one."""
    if not trace.failed_step:
        return None
    failed = [
        e
        for e in trace.events
        if e.status == "failed" and f"{e.system} {e.operation}" == trace.failed_step
    ]
    return max(failed, key=lambda e: (e.time, e.attempt)) if failed else None


def _field(label: str, value: str) -> None:
    st.caption(label)
    st.markdown(value or "—")


def render_header(trace: TraceOut) -> None:
    """Status, flow, correlation ID (or provisional), keys and amount."""
    st.markdown(f"### {md_escape(trace.subject or trace.transaction_id)}")
    badges = [status_badge(trace.status)]
    if trace.flow:
        badges.append(f":gray-badge[{md_escape(trace.flow)}]")
    if trace.provisional:
        badges.append(":violet-badge[provisional]")
    st.markdown(" ".join(badges))

    c1, c2, c3, c4 = st.columns(4)
    with c1:
        _field(
            "Correlation ID",
            md_code(trace.correlation_id)
            if trace.correlation_id
            else "provisional (no correlation ID yet: stitched by business keys)",
        )
    with c2:
        amount = fmt_amount(trace.amount, trace.currency)
        if amount and trace.legal_entity:
            amount += f" · {md_escape(trace.legal_entity)}"
        _field("Amount", md_escape(amount) if amount else "")
    with c3:
        _field("First → last event", fmt_span(trace.first_time, trace.last_time))
    with c4:
        _field(
            "Transaction",
            f"{md_code(trace.transaction_id)} · {trace.event_count} events · "
            f"{md_escape(', '.join(trace.systems))}",
        )

    if trace.keys:
        st.caption("Keys")
        st.markdown(
            " · ".join(
                f"**{md_escape(name)}** " + ", ".join(md_code(v) for v in values)
                for name, values in sorted(trace.keys.items())
            )
        )


def render_failure(trace: TraceOut, event: EventOut) -> None:
    """The failed step's error, where nobody can miss it."""
    err = event.error
    code = err.code if err and err.code else "error"
    facts = [f"**{md_escape(code)}**"]
    if err and err.http_status is not None:
        facts.append(f"HTTP {err.http_status}")
    facts.append(f"attempt {event.attempt}")
    if err and err.retryable is not None:
        facts.append("retryable" if err.retryable else "not retryable")
    message = err.message if err and err.message else "(no message)"
    st.error(
        f"**Failed step: {md_escape(event.system)} {md_escape(event.operation)}** "
        f"at {fmt_time(event.time)}  \n" + " · ".join(facts) + f"  \n{md_escape(message)}",
        icon=":material/error:",
    )


def _attempt_label(e: EventOut) -> str:
    label = f"{fmt_time(e.time)} · {e.system} {e.operation} · attempt {e.attempt} · {e.status}"
    if e.error and e.error.code:
        label += f" · {e.error.code}"
    return md_escape(label)


def render_attempts(events: Sequence[EventOut], *, highlight: EventOut | None = None) -> None:
    """One expander per attempt: its facts, error, request, response and raw event."""
    for e in events:
        is_failure = highlight is not None and (e.source, e.id) == (highlight.source, highlight.id)
        with st.expander(_attempt_label(e), expanded=is_failure, icon=_EVENT_ICONS.get(e.status)):
            facts = [f"event {md_code(e.id)} from {md_code(e.source)}"]
            if e.endpoint:
                method = str(e.endpoint.get("method", ""))
                path = str(e.endpoint.get("path", ""))
                facts.append(f"{md_code((method + ' ' + path).strip())}")
            if e.latency_ms is not None:
                facts.append(f"{e.latency_ms:,.0f} ms")
            if e.idempotency_key:
                facts.append(f"idempotency key {md_code(e.idempotency_key)}")
            if e.traceparent:
                facts.append(f"traceparent {md_code(e.traceparent)}")
            st.markdown(" · ".join(facts))
            if e.error:
                parts = [p for p in (e.error.code, e.error.message) if p]
                if e.error.http_status is not None:
                    parts.insert(1, f"HTTP {e.error.http_status}")
                st.error(md_escape(" · ".join(parts) or "failed"), icon=":material/error:")
            request, response, raw = st.tabs(["Request", "Response", "Raw event"])
            with request:
                json_viewer("Request body", e.request)
            with response:
                json_viewer("Response body", e.response)
            with raw:
                json_viewer("CloudEvent as received", e.raw, expanded=2)


def render_triage(trace: TraceOut, steps: list[StepClassification]) -> None:
    """Triage state, and each failed step's category, origin, why and runbook."""
    if trace.triage_state is None and not steps:
        return
    who = f" to {md_escape(trace.assignee)}" if trace.assignee else ""
    st.markdown(f"**Triage:** {md_escape(trace.triage_state or '—')}{who}")
    for s in steps:
        st.markdown(
            f"{md_code(s.step)} · **{md_escape(s.category)}** · origin **{md_escape(s.origin)}**"
        )
        if s.why:
            st.caption(md_escape(s.why))
        if s.runbook:
            st.caption(f"Runbook: {md_code(s.runbook)}")
