"""Small shared UI pieces: status badges, formatting, the transactions table, JSON."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

from services.schemas import TransactionSummary

__all__ = [
    "EVENT_COLORS",
    "STATUSES",
    "STATUS_COLORS",
    "STATUS_HEX",
    "STATUS_LABELS",
    "TABLE_COLUMNS",
    "fmt_amount",
    "fmt_span",
    "fmt_time",
    "json_viewer",
    "md_code",
    "md_escape",
    "status_badge",
    "status_text",
    "style_transactions",
    "trace_url",
    "transactions_frame",
]

# Transaction statuses, in the order the KPI row shows them.
STATUSES = ("failed", "stuck", "in_progress", "succeeded")
STATUS_LABELS = {
    "failed": "Failed",
    "stuck": "Stuck",
    "in_progress": "In progress",
    "succeeded": "Succeeded",
}
# Streamlit badge colours (markdown ``:red-badge[...]``).
STATUS_COLORS = {"failed": "red", "stuck": "orange", "in_progress": "blue", "succeeded": "green"}
# Text colours for tables, where markdown is not rendered (pandas Styler).
STATUS_HEX = {
    "failed": "#e03131",
    "stuck": "#e8590c",
    "in_progress": "#1c7ed6",
    "succeeded": "#2f9e44",
}
_DOT = "●"
# Step-event colours for charts (event status: started | succeeded | failed).
EVENT_COLORS = {"started": "#868e96", "succeeded": "#2f9e44", "failed": "#e03131"}

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")


def md_escape(text: str) -> str:
    """``text`` safe inside Streamlit markdown: every markdown/HTML character escaped."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_code(text: str) -> str:
    """``text`` as inline code (nothing inside is interpreted), escaped if it holds a backtick."""
    return f"`{text}`" if "`" not in text and text.strip() else md_escape(text)


def status_text(status: str) -> str:
    """``● failed`` style label for tables (coloured by :func:`style_transactions`)."""
    return f"{_DOT} {STATUS_LABELS.get(status, status).lower()}"


def status_badge(status: str) -> str:
    """A markdown badge for ``status`` (use inside ``st.markdown``)."""
    color = STATUS_COLORS.get(status, "gray")
    return f":{color}-badge[{md_escape(STATUS_LABELS.get(status, status))}]"


def fmt_time(value: datetime | None) -> str:
    """Naive-UTC time as ``2026-05-11 10:15:03 UTC`` (milliseconds when present)."""
    if value is None:
        return "—"
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + " UTC"


def fmt_span(first: datetime, last: datetime) -> str:
    """``2026-05-11 10:00:00 → 10:06:00 UTC (6 min)``: the date once when both share it."""
    start = fmt_time(first).removesuffix(" UTC")
    end = fmt_time(last).removesuffix(" UTC")
    if first.date() == last.date():
        end = end.split(" ", 1)[1]
    seconds = int((last - first).total_seconds())
    if seconds < 60:
        took = f"{seconds} s"
    elif seconds < 3600:
        took = f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"
    elif seconds < 86400:
        took = f"{seconds // 3600} h {seconds % 3600 // 60} min"
    else:
        took = f"{seconds // 86400} d {seconds % 86400 // 3600} h"
    return f"{start} → {end} UTC ({took})"


def fmt_amount(amount: str | None, currency: str | None) -> str:
    """``24,000.00 USD``; empty when there is no amount."""
    if amount in (None, ""):
        return ""
    try:
        number = f"{Decimal(str(amount)):,.2f}"
    except (InvalidOperation, ValueError):
        number = str(amount)
    return f"{number} {currency}".strip() if currency else number


def trace_url(transaction_id: str) -> str:
    """Relative URL of the Trace page for one transaction (for link columns)."""
    return "trace?" + urlencode({"key": transaction_id})


TABLE_COLUMNS = [
    "Status",
    "Trace",
    "Flow",
    "Failed step",
    "Error code",
    "Last step",
    "Subject",
    "Amount",
    "Last event (UTC)",
    "Transaction",
]


def transactions_frame(rows: Iterable[TransactionSummary]) -> pd.DataFrame:
    """The Explorer table: one row per transaction, newest activity first."""
    records: list[dict[str, Any]] = [
        {
            "Status": status_text(t.status),
            "Flow": t.flow or "",
            "Failed step": t.failed_step or "",
            "Error code": t.error_code or "",
            "Last step": t.last_step or "",
            "Subject": t.subject or "",
            "Amount": fmt_amount(t.amount, t.currency),
            "Last event (UTC)": t.last_time,
            "Trace": trace_url(t.transaction_id),
            "Transaction": t.transaction_id,
        }
        for t in rows
    ]
    frame = pd.DataFrame.from_records(records, columns=TABLE_COLUMNS)
    frame["Last event (UTC)"] = pd.to_datetime(frame["Last event (UTC)"])
    return frame


def _status_css(label: str) -> str:
    status = label.removeprefix(_DOT).strip().replace(" ", "_")
    color = STATUS_HEX.get(status)
    return f"color: {color}; font-weight: 600" if color else ""


def style_transactions(frame: pd.DataFrame) -> Styler:
    """The Explorer table with its Status column coloured by status."""
    return frame.style.map(_status_css, subset=["Status"])


def json_viewer(label: str, value: Any, *, expanded: bool | int = True) -> None:
    """A labelled JSON body; says so when there is none."""
    st.markdown(f"**{md_escape(label)}**")
    if value is None:
        st.caption("none recorded")
    elif isinstance(value, dict | list):
        st.json(value, expanded=expanded)
    else:
        st.code(str(value), language=None)
