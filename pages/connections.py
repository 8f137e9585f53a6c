"""Connections: each system's mode, base URL, auth (masked), last call, and a test button."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import state
from app.resources import systems_or_stop
from app.ui import md_escape

systems = systems_or_stop()

st.title("Connections")
st.caption(
    f"Mode: **{md_escape(systems.mode)}**. Credentials come from `Q2C_*` settings or "
    "`.streamlit/secrets.toml` and are never shown; only the method and a masked identity are."
)
if systems.sandbox is not None:
    st.info(
        "The systems are simulated in this process (the sandbox), loaded from the sample "
        "master data. Set `Q2C_SYSTEMS=live` and each system's settings to use real ones.",
        icon=":material/science:",
    )

results: dict[str, dict] = st.session_state.setdefault(state.CONNECTIONS_TESTS, {})
rows = systems.status()
for row in rows:
    with st.container(border=True):
        left, right = st.columns([4, 1])
        left.markdown(f"**{row.system}** · {md_escape(row.mode)}")
        if row.problem:
            left.warning(md_escape(row.problem), icon=":material/settings_alert:")
            continue
        left.caption(f"Base URL: `{row.base_url}` · Auth: {md_escape(row.auth or '')}")
        if right.button("Test connection", key=state.connection_test_key(row.system)):
            with st.spinner(f"Calling {row.system}…"):
                results[row.system] = systems.test(row.system).model_dump()
        tested = results.get(row.system)
        if tested is not None:
            if tested["ok"]:
                left.success(f"Connected in {tested['latency_ms']} ms", icon=":material/check:")
            else:
                left.error(md_escape(tested["message"]), icon=":material/error:")

table = pd.DataFrame(
    [
        {
            "system": r.system,
            "mode": r.mode,
            "base URL": r.base_url or "",
            "auth": r.auth or "",
            "last successful call": r.last_ok_at,
            "latency ms": r.latency_ms,
            "last error": r.last_error or r.problem or "",
        }
        for r in systems.status()
    ]
)
st.dataframe(table, hide_index=True, width="stretch")
