"""Reconciliation: billing invoices against ERP postings for one period, before close."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from app import state
from app.params import Binding, pull, push
from app.resources import console_or_stop, systems_or_stop
from app.ui import md_code, md_escape, trace_url
from services.errors import Q2CError
from services.reconcile import (
    STATUSES,
    period_choices,
    reconcile_period,
    rows_csv,
    table_rows,
    totals_csv,
)
from services.reconcile_live import confirm

LABELS = {
    "matched": "Matched",
    "missing_in_erp": "Missing in ERP",
    "missing_in_billing": "Missing in billing",
    "amount_mismatch": "Amount mismatch",
    "currency_mismatch": "Currency mismatch",
}
COLORS = {
    "Matched": "#2f9e44",
    "Missing in ERP": "#f08c00",
    "Missing in billing": "#7048e8",
    "Amount mismatch": "#e03131",
    "Currency mismatch": "#a61e4d",
}
COLUMNS = {
    "status": "Status",
    "invoice_number": "Invoice",
    "legal_entity": "Legal entity",
    "billing_amount": "Billing amount",
    "billing_currency": "Billing cur.",
    "billing_date": "Invoice date",
    "erp_amount": "ERP amount",
    "erp_currency": "ERP cur.",
    "erp_period": "ERP period",
    "difference": "Difference",
    "note": "Note",
    "live": "Systems now",
    "transactions": "Transactions",
}
MONEY = st.column_config.NumberColumn(format="%.2f")

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

metrics = st.columns(len(result.summary))
for col, (status, count) in zip(metrics, result.summary.items(), strict=True):
    col.metric(LABELS[status], f"{count:,}")

if not result.rows:
    st.info(
        f"No billing invoice or ERP posting in {md_code(result.period)}.", icon=":material/inbox:"
    )
    st.stop()
if result.skipped:
    st.caption(f"{result.skipped:,} succeeded steps named no invoice number and are not matched.")
if result.live_checked:
    unreached = [r for r in result.rows if r.live is not None and r.live.agrees is None]
    if unreached:
        st.warning(
            f"{len(unreached):,} difference(s) could not be confirmed: "
            f"{md_escape(unreached[0].live.verdict if unreached[0].live else '')}",
            icon=":material/cloud_off:",
        )

frame = pd.DataFrame(table_rows(result))
frame["status"] = frame["status"].map(LABELS)

st.subheader("Statuses per legal entity")
counts = frame.groupby(["legal_entity", "status"]).size().reset_index(name="invoices")
chart = px.bar(
    counts,
    x="legal_entity",
    y="invoices",
    color="status",
    color_discrete_map=COLORS,
    category_orders={"status": [LABELS[s] for s in STATUSES]},
    labels={"legal_entity": "Legal entity", "invoices": "Invoices", "status": "Status"},
)
chart.update_layout(height=320, margin={"t": 10, "b": 10}, legend_title_text="")
st.plotly_chart(chart, key="recon_chart", config={"displaylogo": False})

st.subheader("Invoices")
differing = [s for s in STATUSES if s != "matched" and result.summary.get(s)]
shown = st.pills(
    "Show",
    STATUSES,
    selection_mode="multi",
    default=differing or ["matched"],
    format_func=lambda s: f"{LABELS[s]} ({result.summary[s]:,})",
    key=f"{state.RECON_STATUS}_{result.period}",  # a fresh filter per period
)
rows = [r for r in result.rows if r.status in (shown or [])]
table = pd.DataFrame(table_rows(result.model_copy(update={"rows": rows})), columns=list(COLUMNS))
table["status"] = table["status"].map(LABELS)
table.insert(2, "trace", [trace_url(r.transactions[0]) if r.transactions else None for r in rows])
for name in ("billing_amount", "erp_amount", "difference"):
    table[name] = pd.to_numeric(table[name], errors="coerce")
if not result.live_checked:
    table = table.drop(columns=["live"])
st.dataframe(
    table.rename(columns={**COLUMNS, "trace": "Trace"}),
    hide_index=True,
    width="stretch",
    key="recon_table",
    column_config={
        "Trace": st.column_config.LinkColumn("Trace", display_text="open ↗"),
        "Billing amount": MONEY,
        "ERP amount": MONEY,
        "Difference": MONEY,
        "Note": st.column_config.TextColumn(width="medium"),
    },
)
st.download_button(
    "Download invoices (CSV)",
    data=rows_csv(result.model_copy(update={"rows": rows})),
    file_name=f"q2c-reconciliation-{result.period}.csv",
    mime="text/csv",
    icon=":material/download:",
    key="recon_rows_csv",
)

st.subheader("Totals per legal entity and currency")
totals = pd.DataFrame(
    [
        {
            "Legal entity": t.legal_entity or "",
            "Currency": t.currency or "",
            "Billing": float(t.billing),
            "ERP": float(t.erp),
            "Difference": float(t.difference),
            "Billing invoices": t.billing_count,
            "ERP postings": t.erp_count,
        }
        for t in result.totals
    ]
)
st.dataframe(
    totals,
    hide_index=True,
    width="stretch",
    key="recon_totals",
    column_config={"Billing": MONEY, "ERP": MONEY, "Difference": MONEY},
)
st.download_button(
    "Download totals (CSV)",
    data=totals_csv(result),
    file_name=f"q2c-reconciliation-{result.period}-totals.csv",
    mime="text/csv",
    icon=":material/download:",
    key="recon_totals_csv",
)
