"""Explorer: find transactions by any key, filter them, click through to their trace."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from app import routes, state
from app.params import Binding, join_list, parse_window, pull, push, split_list
from app.resources import console_or_stop
from app.ui import STATUS_LABELS, STATUSES, md_escape, style_transactions, transactions_frame
from services.errors import InputError
from services.schemas import SearchFilters, TransactionSummary
from services.triage.state import TRIAGE_STATES

PAGE_SIZE = 100
TABLE_HEIGHT = 560
KNOWN_SYSTEMS = ("salesforce", "middleware", "erp", "billing", "tax", "payments")


def triage_text(t: TransactionSummary) -> str:
    """``assigned to raj``, ``open``, or empty for a transaction with nothing to triage."""
    if t.triage_state == "assigned" and t.assignee:
        return f"assigned to {t.assignee}"
    return t.triage_state or ""


def with_triage(frame: pd.DataFrame, rows: list[TransactionSummary]) -> pd.DataFrame:
    """The table with Triage, Category and Origin columns before Transaction."""
    at = list(frame.columns).index("Transaction")
    frame.insert(at, "Origin", [t.origin or "" for t in rows])
    frame.insert(at, "Category", [t.category or "" for t in rows])
    frame.insert(at, "Triage", [triage_text(t) for t in rows])
    return frame


console = console_or_stop()
flows = sorted(console.catalog.flows)
systems = list(
    dict.fromkeys([*KNOWN_SYSTEMS, *(s.system for f in console.catalog.flows.values() for s in f)])
)

bindings = [
    Binding("key", state.EXPLORER_SEARCH),
    Binding(
        "status",
        state.EXPLORER_STATUS,
        default=[],
        parse=lambda v: [s for s in split_list(v) if s in STATUSES],
        dump=join_list,
    ),
    Binding("system", state.EXPLORER_SYSTEM),
    Binding("flow", state.EXPLORER_FLOW),
    Binding("error_code", state.EXPLORER_ERROR_CODE),
    Binding(
        "triage",
        state.EXPLORER_TRIAGE,
        default=[],
        parse=lambda v: [s for s in split_list(v) if s in TRIAGE_STATES],
        dump=join_list,
    ),
    Binding("since", state.EXPLORER_SINCE),
    Binding("until", state.EXPLORER_UNTIL),
]
pull(bindings, state.EXPLORER_APPLIED)
# A system or flow from a link that this catalog does not list still filters.
for key, options in ((state.EXPLORER_SYSTEM, systems), (state.EXPLORER_FLOW, flows)):
    if st.session_state[key] and st.session_state[key] not in options:
        options.append(st.session_state[key])

st.title("Explorer")
key = st.text_input(
    "Search by any key",
    key=state.EXPLORER_SEARCH,
    placeholder="Correlation ID, opportunity, quote, order, subscription or invoice number…",
    help="Exact match on the correlation ID or any business key a transaction carries.",
).strip()

cols = st.columns([3, 3, 2, 2, 2, 2, 2])
cols[0].multiselect(
    "Status",
    options=list(STATUSES),
    format_func=lambda s: STATUS_LABELS[s],
    key=state.EXPLORER_STATUS,
    placeholder="Any status",
)
cols[1].multiselect(
    "Triage",
    options=list(TRIAGE_STATES),
    key=state.EXPLORER_TRIAGE,
    placeholder="Any triage state",
    help="Open: failed and nobody has acknowledged, assigned, resolved or ignored it yet.",
)
cols[2].selectbox(
    "System",
    options=["", *systems],
    format_func=lambda s: s or "Any system",
    key=state.EXPLORER_SYSTEM,
)
cols[3].selectbox(
    "Flow", options=["", *flows], format_func=lambda f: f or "Any flow", key=state.EXPLORER_FLOW
)
cols[4].text_input("Error code", key=state.EXPLORER_ERROR_CODE, placeholder="PERIOD_CLOSED")
cols[5].text_input("Since", key=state.EXPLORER_SINCE, placeholder="24h, 7d, 2026-05-11")
cols[6].text_input("Until", key=state.EXPLORER_UNTIL, placeholder="2026-05-12T09:00Z")
push(bindings, state.EXPLORER_APPLIED)

try:
    since, until = parse_window(
        st.session_state[state.EXPLORER_SINCE], st.session_state[state.EXPLORER_UNTIL]
    )
except InputError as exc:
    st.error(str(exc), icon=":material/schedule:")
    st.stop()

filters = SearchFilters(
    key=key or None,
    status=list(st.session_state[state.EXPLORER_STATUS]),
    system=st.session_state[state.EXPLORER_SYSTEM] or None,
    flow=st.session_state[state.EXPLORER_FLOW] or None,
    error_code=st.session_state[state.EXPLORER_ERROR_CODE].strip() or None,
    triage=list(st.session_state[state.EXPLORER_TRIAGE]),
    since=since,
    until=until,
    limit=PAGE_SIZE,
)

counts = console.status_counts(filters)
for col, status in zip(st.columns(len(STATUSES)), STATUSES, strict=True):
    col.metric(STATUS_LABELS[status], f"{counts.get(status, 0):,}", border=True)

# Back to the first page whenever the filters change.
fingerprint = filters.model_dump_json()
if st.session_state.get(state.EXPLORER_PAGE_FILTERS) != fingerprint:
    st.session_state[state.EXPLORER_PAGE_FILTERS] = fingerprint
    st.session_state[state.EXPLORER_PAGE] = 1
page_no = int(st.session_state.get(state.EXPLORER_PAGE, 1))
result = console.search(filters.model_copy(update={"offset": (page_no - 1) * PAGE_SIZE}))
pages = max(1, math.ceil(result.total / PAGE_SIZE))
if page_no > pages:
    st.session_state[state.EXPLORER_PAGE] = page_no = 1
    result = console.search(filters)

if result.total == 0:
    if key:
        st.warning(f"No transaction carries {md_escape(key)}.", icon=":material/search_off:")
    elif console.is_empty():
        st.info("The store holds no events yet.", icon=":material/inbox:")
        st.page_link(routes.INGEST, label="Ingest events", icon=":material/upload_file:")
    else:
        st.info("No transaction matches these filters.", icon=":material/filter_alt_off:")
    st.stop()

head, nav = st.columns([4, 1], vertical_alignment="bottom")
shown_from = (page_no - 1) * PAGE_SIZE + 1
shown_to = shown_from + len(result.transactions) - 1
head.caption(
    f"{result.total:,} transaction{'s' if result.total != 1 else ''} · showing "
    f"{shown_from:,}–{shown_to:,}, newest activity first · tick a row to open its trace"
)
if pages > 1:
    nav.number_input("Page", min_value=1, max_value=pages, step=1, key=state.EXPLORER_PAGE)

if key:
    label = "Open its trace" if result.total == 1 else f"Compare the {result.total} traces"
    target = result.transactions[0].transaction_id if result.total == 1 else key
    st.page_link(
        routes.TRACE, label=label, icon=":material/timeline:", query_params={"key": target}
    )

event = st.dataframe(
    style_transactions(with_triage(transactions_frame(result.transactions), result.transactions)),
    hide_index=True,
    height=TABLE_HEIGHT if len(result.transactions) > 15 else "auto",
    width="stretch",
    key=state.EXPLORER_TABLE,
    on_select="rerun",
    selection_mode="single-row",
    column_config={
        "Failed step": st.column_config.TextColumn(width="medium"),
        "Category": st.column_config.TextColumn(
            help="What kind of failure the failed step is (error rules; runbooks per category)"
        ),
        "Origin": st.column_config.TextColumn(help="Where the failure's cause lives"),
        "Last event (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
        "Trace": st.column_config.LinkColumn(
            "Trace", display_text="open ↗", help="Open the trace in a new tab"
        ),
    },
)
rows = event.selection.rows if event is not None else []
if rows and rows[0] < len(result.transactions):
    picked = result.transactions[rows[0]].transaction_id
    st.switch_page(routes.TRACE, query_params={"key": picked})
