"""Reconciliation: billing invoices against ERP postings for one period, before close."""

from __future__ import annotations

import streamlit as st

from app import reconciliation_view as view
from app import state
from app.params import Binding, pull, push
from app.resources import console_or_stop, systems_or_stop
from app.ui import md_code, md_escape
from services.errors import Q2CError
from services.reconcile import (
    STATUSES,
    default_statuses,
    period_choices,
    reconcile_period,
    with_statuses,
)
from services.reconcile_live import confirm

console = console_or_stop()
months = period_choices(console)

bindings = [Binding("period", state.RECON_PERIOD, default=months[0] if months else "")]
pull(bindings, state.RECON_APPLIED)


def _pick_month() -> None:
    """A month picked from the list becomes the period."""
    if st.session_state.get(state.RECON_MONTH):
        st.session_state[state.RECON_PERIOD] = st.session_state[state.RECON_MONTH]


st.title("Reconciliation")
st.caption(
    "Billing invoices (invoice date in the period) against ERP invoice postings (posting "
    "period in the period), matched by invoice number, from what the integration recorded. "
    "Totals are per legal entity and currency; currencies are never added together."
)

typed = str(st.session_state.get(state.RECON_PERIOD, "")).strip()
st.session_state[state.RECON_MONTH] = typed if typed in months else None
cols = st.columns([2, 2, 3], vertical_alignment="bottom")
cols[0].selectbox(
    "Months with data",
    months,
    key=state.RECON_MONTH,
    on_change=_pick_month,
    placeholder="No data yet" if not months else "Pick a month",
)
cols[1].text_input("Period (YYYY-MM)", key=state.RECON_PERIOD, placeholder="2026-10")
cols[2].checkbox(
    "Confirm differences with the systems now",
    key=state.RECON_LIVE,
    help="Ask billing and the ERP about each difference: a replay may have fixed it since.",
)
push(bindings, state.RECON_APPLIED)

try:
    result = reconcile_period(console, st.session_state[state.RECON_PERIOD])
except Q2CError as exc:
    st.error(md_escape(str(exc)), icon=":material/event_busy:")
    st.stop()
if st.session_state.get(state.RECON_LIVE) and result.differences:
    with st.spinner("Asking billing and the ERP…"):
        result = confirm(result, systems_or_stop())

view.summary_metrics(result)
if not result.rows:
    st.info(
        f"No billing invoice or ERP posting in {md_code(result.period)}.", icon=":material/inbox:"
    )
    st.stop()
view.notices(result)

view.status_chart(result)

st.subheader("Invoices")
shown = st.pills(
    "Show",
    STATUSES,
    selection_mode="multi",
    default=default_statuses(result),
    format_func=lambda s: f"{view.LABELS[s]} ({result.summary[s]:,})",
    key=f"{state.RECON_STATUS}_{result.period}",  # a fresh filter per period
)
view.invoice_table(with_statuses(result, shown))

view.totals_table(result)
