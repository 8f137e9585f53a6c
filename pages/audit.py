"""Audit: every action on record (newest first, filtered), the hash chain verified, exports."""

from __future__ import annotations

import streamlit as st

from app import state
from app.lineage import RECORD_COLUMN_CONFIG, records_frame
from app.params import Binding, parse_window, pull, push
from app.resources import console_or_stop
from app.ui import json_viewer, md_code, md_escape
from services.audit_view import AuditFilters, export_log, list_entries, verify_log
from services.errors import Q2CError
from services.roles import ACTIONS

LIMITS = (50, 200, 1000)
PROBLEMS_SHOWN = 20

console = console_or_stop()

bindings = [
    Binding("actor", state.AUDIT_ACTOR),
    Binding("action", state.AUDIT_ACTION),
    Binding("key", state.AUDIT_KEY),
    Binding("since", state.AUDIT_SINCE),
    Binding("until", state.AUDIT_UNTIL),
]
pull(bindings, state.AUDIT_APPLIED)
if st.session_state.get(state.AUDIT_ACTION) not in ("", *ACTIONS):
    st.session_state[state.AUDIT_ACTION] = ""

st.title("Audit log")
st.caption(
    "Every action taken through the console: who, role, when, why, what was sent and the "
    "outcome. Append-only and hash-chained, so a changed or deleted entry shows below."
)

# -- the chain ------------------------------------------------------------------------
checked = verify_log(console)
if checked.ok:
    st.success(
        f"Chain intact: {checked.entries:,} entr{'y' if checked.entries == 1 else 'ies'}, "
        f"head {md_code(checked.head[:12])}",
        icon=":material/verified:",
    )
else:
    st.error(
        f"Chain broken: {len(checked.problems)} problem"
        f"{'s' if len(checked.problems) != 1 else ''} in {checked.entries:,} entries.",
        icon=":material/gpp_bad:",
    )
    for problem in checked.problems[:PROBLEMS_SHOWN]:
        st.error(md_escape(problem), icon=":material/error:")
    if len(checked.problems) > PROBLEMS_SHOWN:
        st.caption(f"… and {len(checked.problems) - PROBLEMS_SHOWN} more.")

exports = st.container(horizontal=True)
exports.download_button(
    "Export JSONL",
    data=lambda: export_log(console, "jsonl"),  # built on click, not on every run
    file_name="q2c-audit.jsonl",
    mime="application/x-ndjson",
    icon=":material/download:",
    help="Every entry, oldest first; `q2c audit verify --file` checks it offline.",
    key="audit_export_jsonl",
)
exports.download_button(
    "Export CSV",
    data=lambda: export_log(console, "csv"),
    file_name="q2c-audit.csv",
    mime="text/csv",
    icon=":material/download:",
    key="audit_export_csv",
)

# -- filters --------------------------------------------------------------------------
cols = st.columns([2, 2, 3, 2, 2, 1.2])
cols[0].text_input("Who", key=state.AUDIT_ACTOR, placeholder="Any actor")
cols[1].selectbox(
    "Action",
    options=["", *ACTIONS],
    format_func=lambda a: a.replace("_", " ") if a else "Any action",
    key=state.AUDIT_ACTION,
)
cols[2].text_input(
    "Transaction", key=state.AUDIT_KEY, placeholder="tx-…, order, invoice, correlation ID"
)
cols[3].text_input("Since", key=state.AUDIT_SINCE, placeholder="24h, 7d, 2026-05-11")
cols[4].text_input("Until", key=state.AUDIT_UNTIL, placeholder="2026-05-12T09:00Z")
cols[5].selectbox("Show", LIMITS, index=1, key=state.AUDIT_LIMIT)
push(bindings, state.AUDIT_APPLIED)

try:
    since, until = parse_window(
        st.session_state[state.AUDIT_SINCE], st.session_state[state.AUDIT_UNTIL]
    )
    filters = AuditFilters(
        actor=st.session_state[state.AUDIT_ACTOR].strip() or None,
        action=st.session_state[state.AUDIT_ACTION] or None,
        key=st.session_state[state.AUDIT_KEY].strip() or None,
        since=since,
        until=until,
        limit=int(st.session_state[state.AUDIT_LIMIT]),
    )
    rows = list_entries(console, filters)
except Q2CError as exc:
    st.error(md_escape(str(exc)), icon=":material/filter_alt_off:")
    st.stop()

if not rows:
    filtered = any((filters.actor, filters.action, filters.key, filters.since, filters.until))
    st.info(
        "No entry matches these filters." if filtered else "No action has been recorded yet.",
        icon=":material/inbox:",
    )
    st.stop()

more = " (the newest; narrow the filters to see older ones)" if len(rows) == filters.limit else ""
st.caption(
    f"{len(rows):,} entr{'y' if len(rows) == 1 else 'ies'}{more}, newest first · "
    "tick a row to see what was sent"
)
event = st.dataframe(
    records_frame(rows, with_transaction=True),
    hide_index=True,
    width="stretch",
    key=state.AUDIT_TABLE,
    on_select="rerun",
    selection_mode="single-row",
    column_config=RECORD_COLUMN_CONFIG,
)
picked = event.selection.rows if event is not None else []
if picked and picked[0] < len(rows):
    entry = rows[picked[0]]
    st.subheader(f"Entry #{entry.seq}")
    st.caption(f"hash {entry.hash} · after {entry.prev_hash}")
    request, diff, response, detail = st.tabs(["Request", "Diff", "Response", "Detail"])
    with request:
        json_viewer("What was sent", entry.request)
    with diff:
        json_viewer("Changes against the original (resubmit)", entry.diff)
    with response:
        json_viewer("What came back", entry.response)
    with detail:
        json_viewer("Target check, event, original", entry.detail)
