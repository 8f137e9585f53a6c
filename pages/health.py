"""Health (finance): sync health, backlog, SLA breaches and money at risk over a window."""

from __future__ import annotations

import streamlit as st

from app import health_view as view
from app import state
from app.params import Binding, parse_window, pull, push
from app.resources import console_or_stop, stop_with_error
from services.errors import InputError, Q2CError

console = console_or_stop()
bindings = [
    Binding("since", state.HEALTH_SINCE, default=view.DEFAULT_SINCE),
    Binding("until", state.HEALTH_UNTIL),
]
pull(bindings, state.HEALTH_APPLIED)
view.sync_preset()

st.title("Health")
view.window_picker()
push(bindings, state.HEALTH_APPLIED)

try:
    # Relative windows are read against the minute, so a rerun within it hits the cache.
    since, until = parse_window(
        st.session_state[state.HEALTH_SINCE],
        st.session_state[state.HEALTH_UNTIL],
        now=view.this_minute(),
    )
    health = view.cached_health(console.database_label, since, until, console)
except InputError as exc:
    st.error(str(exc), icon=":material/schedule:")
    st.stop()
except Q2CError as exc:
    stop_with_error(str(exc))

if health.total == 0:
    view.empty_notice(console.is_empty())
else:
    view.kpis(health)
    view.charts(health)

st.subheader("Alerts")
try:
    alerts = view.cached_alerts(console.database_label, console)
except Q2CError as exc:
    stop_with_error(str(exc))
view.alerts_table(alerts)
