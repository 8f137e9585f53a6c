"""Trace: one transaction end to end: where it broke, why, every attempt's bodies, and
the actions on its failed steps (replay, resubmit, acknowledge, resolve, ignore)."""

from __future__ import annotations

import streamlit as st

from app import routes, state
from app.actions_view import open_dialog, render_actions
from app.continue_view import render_continue
from app.lineage import failed_steps, render_lineage, render_records
from app.params import Binding, pull, push
from app.resources import console_or_stop, settings_or_stop
from app.timeline import timeline_figure
from app.trace_view import (
    failed_event,
    render_attempts,
    render_failure,
    render_header,
    render_triage,
    trace_choice_label,
)
from app.ui import md_escape
from services.audit_view import transaction_entries
from services.triage.views import classify_trace

RELATED_SHOWN = 20

console = console_or_stop()
settings = settings_or_stop()

bindings = [Binding("key", state.TRACE_KEY), Binding("tx", state.TRACE_PICK)]
pull(bindings, state.TRACE_APPLIED)

st.title("Trace")
key = st.text_input(
    "Key or transaction ID",
    key=state.TRACE_KEY,
    placeholder="Correlation ID, order, invoice, subscription number or tx-…",
).strip()
if not key:
    push(bindings, state.TRACE_APPLIED)
    st.info(
        "Enter any key a transaction carries, or pick one in the Explorer.",
        icon=":material/info:",
    )
    st.page_link(routes.EXPLORER, label="Open the Explorer", icon=":material/search:")
    st.stop()

traces = console.find_traces(key)
if not traces:
    push(bindings, state.TRACE_APPLIED)
    st.warning(f"No transaction carries {md_escape(key)}.", icon=":material/search_off:")
    st.page_link(routes.EXPLORER, label="Search in the Explorer", icon=":material/search:")
    st.stop()

by_id = {t.transaction_id: t for t in traces}
if len(traces) > 1:
    if st.session_state.get(state.TRACE_PICK) not in by_id:
        st.session_state[state.TRACE_PICK] = traces[0].transaction_id
    st.selectbox(
        f"{len(traces)} transactions carry {key}: pick one",
        options=list(by_id),
        format_func=lambda tx_id: trace_choice_label(by_id[tx_id]),
        key=state.TRACE_PICK,
    )
    trace = by_id[st.session_state[state.TRACE_PICK]]
else:
    st.session_state[state.TRACE_PICK] = ""
    trace = traces[0]
push(bindings, state.TRACE_APPLIED)

render_header(trace)
failure = failed_event(trace)
if failure is not None:
    render_failure(trace, failure)
render_triage(trace, classify_trace(trace, console.rules))
steps = failed_steps(trace)
render_actions(trace.transaction_id, steps, settings=settings)
render_continue(trace, steps, settings=settings)

st.subheader("Timeline")
flow_steps = console.catalog.flows.get(trace.flow or "", ())
st.plotly_chart(
    timeline_figure(trace.events, [s.system for s in flow_steps]),
    key="trace_timeline",
    config={"displaylogo": False},
)

st.subheader("Lineage")
st.caption("Per step: the original attempts, the console's replays and resubmits, the outcome.")
render_lineage(trace)

st.subheader("Actions on record")
render_records(transaction_entries(console, trace.transaction_id), key="trace_records")

st.subheader(f"Attempts ({len(trace.events)})")
render_attempts(trace.events, highlight=failure)

st.subheader("Related transactions")
if trace.related:
    st.caption("Transactions sharing a key with this one (the same account, subscription, …).")
    for summary in console.summaries(trace.related[:RELATED_SHOWN]):
        st.page_link(
            routes.TRACE,
            label=trace_choice_label(summary),
            icon=":material/link:",
            query_params={"key": summary.transaction_id},
        )
    if len(trace.related) > RELATED_SHOWN:
        st.caption(f"… and {len(trace.related) - RELATED_SHOWN} more.")
else:
    st.caption("None: no other transaction shares a key with this one.")

open_dialog(trace.transaction_id, steps, settings=settings)
