"""Health (finance): sync health, backlog, SLA breaches and money at risk over a window."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app import state
from app.params import Binding, parse_window, pull, push
from app.resources import console_or_stop, stop_with_error
from app.ui import STATUS_HEX, STATUS_LABELS, STATUSES
from services.alerts import AlertOut, console_alerts
from services.console import Console
from services.errors import InputError, Q2CError
from services.health import HealthOut, console_health

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


@st.cache_data(ttl=CACHE_SECONDS, show_spinner="Computing the health figures…")
def _health(store: str, since: Any, until: Any, _console: Console) -> HealthOut:
    """The figures of one store (by its URL) and window, reused for a minute."""
    return console_health(_console, since=since, until=until)


@st.cache_data(ttl=CACHE_SECONDS, show_spinner="Evaluating the alert rules…")
def _alerts(store: str, _console: Console) -> list[AlertOut]:
    """The alert rules' values and states, reused for a minute."""
    return console_alerts(_console)


console = console_or_stop()
bindings = [
    Binding("since", state.HEALTH_SINCE, default=DEFAULT_SINCE),
    Binding("until", state.HEALTH_UNTIL),
]
pull(bindings, state.HEALTH_APPLIED)
since_text, until_text = st.session_state[state.HEALTH_SINCE], st.session_state[state.HEALTH_UNTIL]
if state.HEALTH_PRESET not in st.session_state or st.session_state[state.HEALTH_PRESET] != "custom":
    preset_now = since_text if since_text in PRESETS and not until_text else "custom"
    st.session_state[state.HEALTH_PRESET] = preset_now


def _apply_preset() -> None:
    """A preset replaces the window; Custom keeps what is typed."""
    picked = st.session_state[state.HEALTH_PRESET]
    if picked != "custom":
        st.session_state[state.HEALTH_SINCE], st.session_state[state.HEALTH_UNTIL] = picked, ""


st.title("Health")
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
push(bindings, state.HEALTH_APPLIED)

try:
    # Relative windows are read against the minute, so a rerun within it hits the cache.
    minute = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
    since, until = parse_window(
        st.session_state[state.HEALTH_SINCE], st.session_state[state.HEALTH_UNTIL], now=minute
    )
    health = _health(console.database_label, since, until, console)
except InputError as exc:
    st.error(str(exc), icon=":material/schedule:")
    st.stop()
except Q2CError as exc:
    stop_with_error(str(exc))


def table(title: str, frame: pd.DataFrame, name: str) -> None:
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


def bar(frame: pd.DataFrame, x: str, y: str, **kw: Any) -> None:
    st.plotly_chart(px.bar(frame, x=x, y=y, **kw), width="stretch")


if health.total == 0:
    empty = console.is_empty()
    st.info(
        "The store holds no events yet." if empty else "No transaction was active in this window.",
        icon=":material/inbox:",
    )
else:
    by = health.by_status
    kpis = st.columns(6)
    rate = health.overall_success_rate
    kpis[0].metric("Transactions", f"{health.total:,}", border=True)
    kpis[1].metric("Success rate", "–" if rate is None else f"{rate:.2f}%", border=True)
    kpis[2].metric("Failed", f"{by['failed']:,}", border=True)
    kpis[3].metric("Stuck", f"{by['stuck']:,}", border=True)
    kpis[4].metric("SLA breaches", f"{sum(health.sla_breaches.values()):,}", border=True)
    kpis[5].metric("Currencies at risk", f"{len(health.money_at_risk)}", border=True)
    if health.money_at_risk:
        st.caption(
            "Money at risk (failed and stuck; never added across currencies): "
            + " · ".join(f"{c} {a:,.2f}" for c, a in health.money_at_risk.items())
        )
    colors = {STATUS_LABELS[s]: STATUS_HEX[s] for s in STATUSES}
    tabs = st.tabs(["Status", "Success rate", "Latency", "Backlog & SLA", "Errors", "Trends"])
    with tabs[0]:
        frame = pd.DataFrame(
            {"Status": [STATUS_LABELS[s] for s in by], "Transactions": list(by.values())}
        )
        bar(frame, "Status", "Transactions", color="Status", color_discrete_map=colors)
        table("status counts", frame, "status")
    with tabs[1]:
        rows = [
            {"By": kind.removeprefix("by_").replace("_", " "), "Name": name, "Success %": value}
            for kind, rates in health.success_rate.items()
            for name, value in rates.items()
        ]
        frame = pd.DataFrame(rows, columns=["By", "Name", "Success %"])
        for kind, part in frame.groupby("By", sort=False):
            st.subheader(f"By {kind}")
            bar(part, "Name", "Success %", range_y=[0, 100])
        table("success rates", frame, "success-rate")
    with tabs[2]:
        frame = pd.DataFrame(
            [
                {"Flow": f, "p50 (s)": p["p50"] / 1000, "p95 (s)": p["p95"] / 1000}
                for f, p in health.latency_ms.items()
            ],
            columns=["Flow", "p50 (s)", "p95 (s)"],
        )
        bar(frame, "Flow", ["p50 (s)", "p95 (s)"], barmode="group")
        st.caption("Succeeded transactions, first event to the terminal step.")
        table("latency", frame, "latency")
    with tabs[3]:
        frame = pd.DataFrame(
            {"Age": list(health.backlog), "Failed or stuck": list(health.backlog.values())}
        )
        bar(frame, "Age", "Failed or stuck")
        table("backlog", frame, "backlog")
        sla = pd.DataFrame(
            [{"Flow": f, "SLA breaches": n} for f, n in health.sla_breaches.items()],
            columns=["Flow", "SLA breaches"],
        )
        table("SLA breaches", sla, "sla")
        money = pd.DataFrame(
            [{"Currency": c, "At risk": str(a)} for c, a in health.money_at_risk.items()],
            columns=["Currency", "At risk"],
        )
        table("money at risk", money, "money")
    with tabs[4]:
        frame = pd.DataFrame(health.errors, columns=["category", "origin", "code", "count"])
        if not frame.empty:
            pareto = frame.groupby(["category", "origin"], as_index=False)["count"].sum()
            pareto = pareto.sort_values("count", ascending=False)
            label = pareto["category"] + " / " + pareto["origin"]
            cumulative = 100 * pareto["count"].cumsum() / pareto["count"].sum()
            fig = go.Figure(go.Bar(x=label, y=pareto["count"], name="failed"))
            fig.add_trace(go.Scatter(x=label, y=cumulative, name="cumulative %", yaxis="y2"))
            fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "range": [0, 100]})
            st.plotly_chart(fig, width="stretch")
        table("errors", frame, "errors")
    with tabs[5]:
        frame = pd.DataFrame(health.trends, columns=["bucket", "status", "count"])
        frame["status"] = frame["status"].map(STATUS_LABELS)
        bar(frame, "bucket", "count", color="status", color_discrete_map=colors)
        st.caption(f"Transactions per {health.trend_unit} of their latest event, by status.")
        table("trends", frame, "trends")

st.subheader("Alerts")
try:
    alerts = _alerts(console.database_label, console)
except Q2CError as exc:
    stop_with_error(str(exc))
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
table("alerts", frame, "alerts")
st.caption("`q2c alerts check` (cron) evaluates these rules and posts changes to the webhook.")
