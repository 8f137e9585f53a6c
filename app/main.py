"""Entry script (``streamlit run app/main.py``): page config, the demo banner, navigation.

It checks the settings and the store before any page runs, so a bad setting or an
unreachable database is one line of error, never a traceback.
"""

from __future__ import annotations

import streamlit as st

from app import routes
from app.identity import role_picker
from app.resources import console_or_stop, settings_or_stop
from app.ui import md_code, md_escape

st.set_page_config(page_title="Q2C Console", page_icon=":material/hub:", layout="wide")

explorer = st.Page(routes.EXPLORER, title="Explorer", icon=":material/search:", url_path="explorer")


def _home() -> None:
    """The app root forwards to ``/explorer`` with its query (``/?key=SO-1`` works too)."""
    st.switch_page(explorer, query_params=st.query_params.to_dict())


pages = [
    st.Page(_home, title="Home", url_path="home", default=True, visibility="hidden"),
    explorer,
    st.Page(routes.TRACE, title="Trace", icon=":material/timeline:", url_path="trace"),
    st.Page(routes.INGEST, title="Ingest", icon=":material/upload_file:", url_path="ingest"),
    st.Page(
        routes.VALIDATION, title="Validation", icon=":material/fact_check:", url_path="validation"
    ),
    st.Page(routes.HEALTH, title="Health", icon=":material/monitor_heart:", url_path="health"),
    st.Page(
        routes.RECONCILIATION,
        title="Reconciliation",
        icon=":material/balance:",
        url_path="reconciliation",
    ),
    st.Page(routes.REPLAY, title="Replay", icon=":material/replay:", url_path="replay"),
    st.Page(routes.AUDIT, title="Audit", icon=":material/verified_user:", url_path="audit"),
    st.Page(routes.CONNECTIONS, title="Connections", icon=":material/lan:", url_path="connections"),
]
page = st.navigation(pages)

settings = settings_or_stop()
console = console_or_stop()

if settings.is_embedded:
    st.info(
        f"**Demo data.** This console runs on the embedded database "
        f"{md_code(console.database_label)} with sample events and simulated "
        "(sandbox) systems. Set `Q2C_DATABASE_URL` to use your own store.",
        icon=":material/science:",
    )
else:
    st.sidebar.caption(f"Store: {md_escape(console.database_label)}")

role_picker(settings)
page.run()
