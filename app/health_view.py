"""The Health page's pieces: the window picker, cached figures, KPIs, charts, tables, alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app import state
from app.ui import STATUS_HEX, STATUS_LABELS, STATUSES
from services.alerts import AlertOut, console_alerts
from services.console import Console
from services.health import HealthOut, console_health
from services.health_rows import (
    BACKLOG_COLUMNS,
    LATENCY_COLUMNS,
    MONEY_COLUMNS,
    SLA_COLUMNS,
    SUCCESS_RATE_COLUMNS,
    backlog_rows,
    latency_rows,
    money_at_risk_summary,
    money_rows,
    sla_rows,
    success_rate_rows,
)

__all__ = [
    "CACHE_SECONDS",
    "DEFAULT_SINCE",
    "PRESETS",
    "alerts_table",
    "cached_alerts",
    "cached_health",
    "charts",
    "csv_table",
    "empty_notice",
    "kpis",
    "sync_preset",
    "this_minute",
    "window_picker",
]

PRESETS = {
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "": "All time",
    "custom": "Custom",
}
DEFAULT_SINCE = "30d"
CACHE_SECONDS = 60  # a large store takes seconds to sum up; reruns within a minute reuse it
ERROR_COLUMNS = ["category", "origin", "code", "count"]
TREND_COLUMNS = ["bucket", "status", "count"]


@st.cache_data(ttl=CACHE_SECONDS, show_spinner="Computing the health figures…")
def cached_health(store: str, since: Any, until: Any, _console: Console) -> HealthOut:
    """The figures of one store (by its URL) and window, reused for a minute."""
    return console_health(_console, since=since, until=until)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner="Evaluating the alert rules…")
def cached_alerts(store: str, _console: Console) -> list[AlertOut]:
    """The alert rules' values and states, reused for a minute."""
    return console_alerts(_console)


def this_minute() -> datetime:
    """Now (naive UTC) to the minute, so relative windows hit the cache within it."""
    return datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)


# The window: a preset, or Custom with Since/Until boxes.


def sync_preset() -> None:
    """Pick the preset matching the window (from the URL), unless Custom is picked."""
    if st.session_state.get(state.HEALTH_PRESET) == "custom":
        return
    since_text = st.session_state[state.HEALTH_SINCE]
    until_text = st.session_state[state.HEALTH_UNTIL]
    preset_now = since_text if since_text in PRESETS and not until_text else "custom"
    st.session_state[state.HEALTH_PRESET] = preset_now


def _apply_preset() -> None:
    """A preset replaces the window; Custom keeps what is typed."""
    picked = st.session_state[state.HEALTH_PRESET]
    if picked != "custom":
        st.session_state[state.HEALTH_SINCE], st.session_state[state.HEALTH_UNTIL] = picked, ""


def window_picker() -> None:
    """The Window preset, and the Since/Until boxes when it is Custom."""
    cols = st.columns([2, 2, 2])
    cols[0].selectbox(
        "Window",
        options=list(PRESETS),
        format_func=PRESETS.__getitem__,
        key=state.HEALTH_PRESET,
        on_change=_apply_preset,
        help="Transactions active in the window: last event after Since, first event before Until.",
    )
    if st.session_state[state.HEALTH_PRESET] == "custom":
        cols[1].text_input("Since", key=state.HEALTH_SINCE, placeholder="7d, 2026-11-01")
        cols[2].text_input("Until", key=state.HEALTH_UNTIL, placeholder="2026-11-15T00:00Z")


# Shared pieces.


def csv_table(title: str, frame: pd.DataFrame, name: str) -> None:
    """A table with its CSV download."""
    st.dataframe(frame, hide_index=True, width="stretch")
    st.download_button(
        f"Download {title} (CSV)",
        frame.to_csv(index=False).encode("utf-8"),
        file_name=f"health-{name}.csv",
        mime="text/csv",
        icon=":material/download:",
        key=f"health_csv_{name}",
    )


def _bar(frame: pd.DataFrame, x: str, y: str | list[str], **kw: Any) -> None:
    st.plotly_chart(px.bar(frame, x=x, y=y, **kw), width="stretch")


def _status_colors() -> dict[str, str]:
    return {STATUS_LABELS[s]: STATUS_HEX[s] for s in STATUSES}


def empty_notice(store_empty: bool) -> None:
    """Why there is nothing to show: an empty store, or an empty window."""
    st.info(
        "The store holds no events yet."
        if store_empty
        else "No transaction was active in this window.",
        icon=":material/inbox:",
    )


# Sections.


def kpis(health: HealthOut) -> None:
    """The KPI row, and the money at risk per currency under it."""
    by = health.by_status
    cols = st.columns(6)
    rate = health.overall_success_rate
    cols[0].metric("Transactions", f"{health.total:,}", border=True)
    cols[1].metric("Success rate", "–" if rate is None else f"{rate:.2f}%", border=True)
    cols[2].metric("Failed", f"{by['failed']:,}", border=True)
    cols[3].metric("Stuck", f"{by['stuck']:,}", border=True)
    cols[4].metric("SLA breaches", f"{sum(health.sla_breaches.values()):,}", border=True)
    cols[5].metric("Currencies at risk", f"{len(health.money_at_risk)}", border=True)
    if health.money_at_risk:
        st.caption(
            "Money at risk (failed and stuck; never added across currencies): "
            + money_at_risk_summary(health)
        )


def _status(health: HealthOut) -> None:
    by = health.by_status
    frame = pd.DataFrame(
        {"Status": [STATUS_LABELS[s] for s in by], "Transactions": list(by.values())}
    )
    _bar(frame, "Status", "Transactions", color="Status", color_discrete_map=_status_colors())
    csv_table("status counts", frame, "status")


def _success_rate(health: HealthOut) -> None:
    frame = pd.DataFrame(success_rate_rows(health), columns=SUCCESS_RATE_COLUMNS)
    for kind, part in frame.groupby("By", sort=False):
        st.subheader(f"By {kind}")
        _bar(part, "Name", "Success %", range_y=[0, 100])
    csv_table("success rates", frame, "success-rate")


def _latency(health: HealthOut) -> None:
    frame = pd.DataFrame(latency_rows(health), columns=LATENCY_COLUMNS)
    _bar(frame, "Flow", ["p50 (s)", "p95 (s)"], barmode="group")
    st.caption("Succeeded transactions, first event to the terminal step.")
    csv_table("latency", frame, "latency")


def _backlog_and_sla(health: HealthOut) -> None:
    frame = pd.DataFrame(backlog_rows(health), columns=BACKLOG_COLUMNS)
    _bar(frame, "Age", "Failed or stuck")
    csv_table("backlog", frame, "backlog")
    csv_table("SLA breaches", pd.DataFrame(sla_rows(health), columns=SLA_COLUMNS), "sla")
    csv_table("money at risk", pd.DataFrame(money_rows(health), columns=MONEY_COLUMNS), "money")


def _pareto(frame: pd.DataFrame) -> go.Figure:
    """Failed transactions by (category, origin), most first, with the cumulative share."""
    pareto = frame.groupby(["category", "origin"], as_index=False)["count"].sum()
    pareto = pareto.sort_values("count", ascending=False)
    label = pareto["category"] + " / " + pareto["origin"]
    cumulative = 100 * pareto["count"].cumsum() / pareto["count"].sum()
    fig = go.Figure(go.Bar(x=label, y=pareto["count"], name="failed"))
    fig.add_trace(go.Scatter(x=label, y=cumulative, name="cumulative %", yaxis="y2"))
    fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "range": [0, 100]})
    return fig


def _errors(health: HealthOut) -> None:
    frame = pd.DataFrame(health.errors, columns=ERROR_COLUMNS)
    if not frame.empty:
        st.plotly_chart(_pareto(frame), width="stretch")
    csv_table("errors", frame, "errors")


def _trends(health: HealthOut) -> None:
    frame = pd.DataFrame(health.trends, columns=TREND_COLUMNS)
    frame["status"] = frame["status"].map(STATUS_LABELS)
    _bar(frame, "bucket", "count", color="status", color_discrete_map=_status_colors())
    st.caption(f"Transactions per {health.trend_unit} of their latest event, by status.")
    csv_table("trends", frame, "trends")


SECTIONS = (
    ("Status", _status),
    ("Success rate", _success_rate),
    ("Latency", _latency),
    ("Backlog & SLA", _backlog_and_sla),
    ("Errors", _errors),
    ("Trends", _trends),
)


def charts(health: HealthOut) -> None:
    """One tab per section, each a chart and its table with a CSV download."""
    tabs = st.tabs([title for title, _ in SECTIONS])
    for tab, (_, section) in zip(tabs, SECTIONS, strict=True):
        with tab:
            section(health)


def alerts_table(alerts: list[AlertOut]) -> None:
    """The alert rules, their values and states, with a CSV download."""
    frame = pd.DataFrame(
        [
            {
                "State": "🔴 firing" if a.firing else "🟢 ok",
                "Rule": a.title,
                "Value": a.value,
                "Threshold": f"{a.op} {a.threshold}",
                "Since": a.since,
                "Last posted": a.last_posted,
                "Post pending": a.post_pending,
                "Last error": a.error,
            }
            for a in alerts
        ]
    )
    csv_table("alerts", frame, "alerts")
    st.caption("`q2c alerts check` (cron) evaluates these rules and posts changes to the webhook.")
