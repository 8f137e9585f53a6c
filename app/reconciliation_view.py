"""Reconciliation UI pieces: summary metrics, the status chart, the invoice and totals tables."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from app.ui import md_escape, trace_url
from services.reconcile import (
    STATUSES,
    Reconciliation,
    rows_csv,
    table_rows,
    totals_csv,
    totals_rows,
    unconfirmed,
)

__all__ = [
    "COLORS",
    "COLUMNS",
    "LABELS",
    "invoice_table",
    "notices",
    "status_chart",
    "summary_metrics",
    "totals_table",
]

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


def summary_metrics(result: Reconciliation) -> None:
    """One metric per status, in the summary's order."""
    metrics = st.columns(len(result.summary))
    for col, (status, count) in zip(metrics, result.summary.items(), strict=True):
        col.metric(LABELS[status], f"{count:,}")


def notices(result: Reconciliation) -> None:
    """Unmatched steps without an invoice number; differences the systems could not confirm."""
    if result.skipped:
        st.caption(
            f"{result.skipped:,} succeeded steps named no invoice number and are not matched."
        )
    if result.live_checked:
        unreached = unconfirmed(result)
        if unreached:
            st.warning(
                f"{len(unreached):,} difference(s) could not be confirmed: "
                f"{md_escape(unreached[0].live.verdict if unreached[0].live else '')}",
                icon=":material/cloud_off:",
            )


def status_chart(result: Reconciliation) -> None:
    """Stacked bars under their heading: invoices per legal entity, coloured by status."""
    st.subheader("Statuses per legal entity")
    frame = pd.DataFrame(table_rows(result))
    frame["status"] = frame["status"].map(LABELS)
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


def invoice_table(result: Reconciliation) -> None:
    """The result's rows, each linking to its trace, and their CSV download."""
    rows = result.rows
    table = pd.DataFrame(table_rows(result), columns=list(COLUMNS))
    table["status"] = table["status"].map(LABELS)
    table.insert(
        2, "trace", [trace_url(r.transactions[0]) if r.transactions else None for r in rows]
    )
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
        data=rows_csv(result),
        file_name=f"q2c-reconciliation-{result.period}.csv",
        mime="text/csv",
        icon=":material/download:",
        key="recon_rows_csv",
    )


def totals_table(result: Reconciliation) -> None:
    """Totals per legal entity and currency under their heading, and their CSV download."""
    st.subheader("Totals per legal entity and currency")
    st.dataframe(
        pd.DataFrame(totals_rows(result)),
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
