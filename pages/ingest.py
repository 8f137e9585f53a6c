"""Ingest: upload an event file, see what was accepted and what was quarantined."""

from __future__ import annotations

import streamlit as st

from app import state
from app.ingest_view import render_quarantine, render_summary
from app.resources import console_or_stop
from services.errors import Q2CError

QUARANTINE_SHOWN = 100

console = console_or_stop()

st.title("Ingest")
st.caption(
    "Upload CloudEvents step events: one JSON object, a JSON array (batch) or one event "
    "per line (JSONL); gzip-compressed files too. Nothing received is dropped: what "
    "breaks the event contract is quarantined with a reason."
)
uploaded = st.file_uploader(
    "Event file", type=["json", "jsonl", "ndjson", "gz"], key=state.INGEST_UPLOAD
)

done: list[str] = st.session_state.setdefault(state.INGEST_DONE, [])
if uploaded is not None and uploaded.file_id not in done:
    # A file stays in the uploader across reruns: ingest it once.
    done.append(uploaded.file_id)
    try:
        with st.spinner(f"Ingesting {uploaded.name}…"):
            summary = console.ingest_upload(uploaded, uploaded.name)
    except Q2CError as exc:
        st.session_state.pop(state.INGEST_SUMMARY, None)
        st.error(str(exc), icon=":material/error:")
    else:
        st.session_state[state.INGEST_SUMMARY] = {
            "name": uploaded.name,
            "summary": summary.to_dict(),
        }

last = st.session_state.get(state.INGEST_SUMMARY)
if last is not None:
    render_summary(last["name"], last["summary"])

st.subheader("Quarantine")
run_id = last["summary"].get("run_id") if last else None
only_last = run_id is not None and st.toggle("Only items of the last upload", value=False)
items = console.quarantine(limit=QUARANTINE_SHOWN, run_id=run_id if only_last else None)
st.caption(
    f"Newest first; the latest {QUARANTINE_SHOWN} are listed."
    if len(items) >= QUARANTINE_SHOWN
    else "Newest first."
)
render_quarantine(items)
