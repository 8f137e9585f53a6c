"""The swimlane timeline: one lane per system, every attempt a marker at its time."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from app.ui import EVENT_COLORS
from services.schemas import EventOut

__all__ = ["lane_order", "timeline_figure"]

_SYMBOLS = {"started": "circle-open", "succeeded": "circle", "failed": "x"}
_HOVER = (
    "<b>%{customdata[0]}</b><br>"
    "%{y} · attempt %{customdata[1]} · %{customdata[2]}<br>"
    "%{x|%Y-%m-%d %H:%M:%S.%L} UTC"
    "%{customdata[3]}"
    "<extra></extra>"
)


def lane_order(events: Sequence[EventOut], flow_systems: Sequence[str] = ()) -> list[str]:
    """Lanes top to bottom: the flow's systems in catalog order, then others as they appear."""
    seen = {e.system for e in events}
    lanes = [s for s in dict.fromkeys(flow_systems) if s in seen]
    lanes += [s for s in dict.fromkeys(e.system for e in events) if s not in lanes]
    return lanes


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _error_hover(event: EventOut) -> str:
    err = event.error
    if err is None:
        return ""
    parts = [err.code or "error"]
    if err.http_status is not None:
        parts.append(f"HTTP {err.http_status}")
    line = "<br><b>" + _escape(" · ".join(parts)) + "</b>"
    if err.message:
        message = err.message if len(err.message) <= 160 else err.message[:157] + "…"
        line += "<br>" + _escape(message)
    return line


def timeline_figure(events: Sequence[EventOut], flow_systems: Sequence[str] = ()) -> go.Figure:
    """Plotly swimlanes for one transaction's events.

    Args:
        events: the transaction's events (any order).
        flow_systems: systems of the transaction's flow in catalog order (lane order).

    Returns:
        A figure: a faint path through the events in time order, then one marker
        trace per event status (colour and symbol), hover showing operation,
        attempt, error code and message.
    """
    ordered = sorted(events, key=lambda e: (e.time, e.attempt))
    lanes = lane_order(ordered, flow_systems)
    # Label only the latest failed attempt of each step, so retries do not pile up text.
    labelled = {(e.system, e.operation): e for e in ordered if e.status == "failed"}
    label_ids = {(e.source, e.id) for e in labelled.values()}
    fig = go.Figure()
    if ordered:
        fig.add_trace(
            go.Scatter(
                x=[e.time for e in ordered],
                y=[e.system for e in ordered],
                mode="lines",
                line={"color": "rgba(134,142,150,0.35)", "width": 1, "dash": "dot"},
                hoverinfo="skip",
                showlegend=False,
            )
        )
    for status in ("started", "succeeded", "failed"):
        group = [e for e in ordered if e.status == status]
        if not group:
            continue
        fig.add_trace(
            go.Scatter(
                x=[e.time for e in group],
                y=[e.system for e in group],
                mode="markers+text" if status == "failed" else "markers",
                name=status,
                text=[
                    (e.error.code or "") if e.error and (e.source, e.id) in label_ids else ""
                    for e in group
                ],
                textposition="top center",
                textfont={"color": EVENT_COLORS[status], "size": 11},
                marker={
                    "color": EVENT_COLORS[status],
                    # A started ring is drawn larger, so its own success does not hide it.
                    "size": {"failed": 13, "succeeded": 11, "started": 17}[status],
                    "symbol": _SYMBOLS[status],
                    "line": {"width": 2, "color": EVENT_COLORS[status]},
                },
                customdata=[
                    [_escape(e.operation), e.attempt, status, _error_hover(e)] for e in group
                ],
                hovertemplate=_HOVER,
            )
        )
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=list(reversed(lanes)),
        title=None,
        showgrid=True,
        gridcolor="rgba(134,142,150,0.2)",
    )
    fig.update_xaxes(title=None, type="date", showgrid=False)
    fig.update_layout(
        height=140 + 48 * max(len(lanes), 1),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "title": None},
        hoverlabel={"align": "left"},
    )
    return fig
