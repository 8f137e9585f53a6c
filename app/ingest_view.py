"""Pieces of the Ingest page: the summary of one upload and the quarantine list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pandas as pd
import streamlit as st

from app.ui import fmt_time, md_escape
from services.schemas import QuarantineOut

__all__ = ["SUMMARY_FIELDS", "render_quarantine", "render_summary"]

# The numbers ``q2c ingest`` prints, in the same order.
SUMMARY_FIELDS = ("received", "accepted", "duplicates", "conflicts", "rejected")


def render_summary(name: str, summary: Mapping[str, Any]) -> None:
    """What one upload did: counts, file errors, and every rejection with where + reason.

    Args:
        name: the uploaded file's name.
        summary: ``IngestSummary.to_dict()``.
    """
    st.markdown(f"#### {md_escape(name)}")
    for error in summary.get("file_errors") or []:
        st.error(md_escape(error["reason"]), icon=":material/block:")
    for col, field in zip(st.columns(len(SUMMARY_FIELDS)), SUMMARY_FIELDS, strict=True):
        col.metric(field.capitalize(), f"{int(summary.get(field, 0)):,}", border=True)

    rejections = summary.get("rejections") or []
    problems = int(summary.get("rejected", 0)) + int(summary.get("conflicts", 0))
    if summary.get("file_errors"):
        return
    if problems:
        st.warning(
            f"{problems:,} item{'s' if problems != 1 else ''} quarantined: "
            "fix them at the source and upload again.",
            icon=":material/warning:",
        )
        frame = pd.DataFrame(rejections, columns=["where", "reason"])
        st.dataframe(
            frame.rename(columns={"where": "Where", "reason": "Reason"}),
            hide_index=True,
            width="stretch",
            column_config={
                "Where": st.column_config.TextColumn(width="medium"),
                "Reason": st.column_config.TextColumn(width="large"),
            },
        )
        if len(rejections) < problems:
            st.caption(f"The first {len(rejections):,} are listed; the counts are complete.")
    elif int(summary.get("received", 0)):
        st.success("Every event was accepted or was already stored.", icon=":material/check:")


def _raw_view(raw: str) -> None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        st.code(raw[:20_000] or "(empty)", language=None)
    else:
        st.json(value, expanded=2)


def render_quarantine(items: Sequence[QuarantineOut]) -> None:
    """Quarantined items, newest first: kind, where, reason, when; raw in an expander."""
    if not items:
        st.caption("Nothing is quarantined.")
        return
    for item in items:
        reason = item.reason if len(item.reason) <= 120 else item.reason[:117] + "…"
        label = f"{item.kind} · {item.where} · {reason}"
        with st.expander(md_escape(label), icon=":material/report:"):
            facts = [f"**{md_escape(item.kind)}** at {md_escape(item.where)}"]
            facts.append(f"received {fmt_time(item.received_at)}")
            if item.source or item.event_id:
                facts.append(
                    f"event {md_escape(item.event_id or '?')} from {md_escape(item.source or '?')}"
                )
            st.markdown(" · ".join(facts))
            st.markdown(f"**Reason:** {md_escape(item.reason)}")
            _raw_view(item.raw)
