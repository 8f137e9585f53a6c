"""The Replay page's pieces: filters, dry-run counts, the start form, the runs list,
the approve/run/cancel/retry buttons with their progress bar, and a run's summary."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
import streamlit as st

from app import state
from app.identity import may
from app.ui import md_escape, trace_url
from services.bulk import BulkPlan, BulkReplay, BulkRunOut, BulkSummary
from services.bulk_models import (
    counts_text,
    item_rows,
    money_text,
    outcome_text,
    plan_rows,
    run_rows,
)
from services.errors import Q2CError
from services.roles import Actor
from services.schemas import SearchFilters
from services.settings import Settings

__all__ = [
    "STATUSES",
    "SYSTEMS",
    "action_buttons",
    "dry_run",
    "filters_form",
    "intro",
    "pick_run",
    "retry_button",
    "runs_table",
    "show_notice",
    "show_plan",
    "show_summary",
    "start_form",
]

SYSTEMS = ("salesforce", "erp", "billing", "tax")
STATUSES = ("failed", "stuck", "in_progress")


def _trace_link() -> dict[str, Any]:
    """Column config that shows a trace link as its key."""
    return {"trace": st.column_config.LinkColumn("trace", display_text=r"key=(.*)")}


def intro(actor: Actor, settings: Settings) -> None:
    """The title, who is acting, and when a run needs approval."""
    st.title("Replay")
    st.caption(
        f"Replay the failed step of every transaction a filter matches, on the record. Acting as "
        f"**{md_escape(actor.name)}** ({actor.role}). Above {settings.bulk_approval_items} steps "
        f"or {settings.bulk_approval_amount:,.0f} in any one currency, an admin other than the "
        "requester approves the run first."
    )


def filters_form(flows: Iterable[str]) -> SearchFilters:
    """Status, system, flow and error code widgets, read into filters."""
    cols = st.columns(4)
    cols[0].multiselect("Status", STATUSES, default=["failed"], key=state.REPLAY_STATUS)
    cols[1].selectbox(
        "System", ["", *SYSTEMS], format_func=lambda s: s or "Any system", key=state.REPLAY_SYSTEM
    )
    cols[2].selectbox(
        "Flow",
        ["", *sorted(flows)],
        format_func=lambda f: f or "Any flow",
        key=state.REPLAY_FLOW,
    )
    cols[3].text_input("Error code", key=state.REPLAY_ERROR_CODE, placeholder="SERVICE_UNAVAILABLE")
    return SearchFilters(
        status=list(st.session_state[state.REPLAY_STATUS]) or ["failed"],
        system=st.session_state[state.REPLAY_SYSTEM] or None,
        flow=st.session_state[state.REPLAY_FLOW] or None,
        error_code=st.session_state[state.REPLAY_ERROR_CODE].strip() or None,
    )


def _progress_bar(label: str) -> tuple[Any, Callable[[int, int], None]]:
    """A progress bar and the ``(done, total)`` callback that moves it."""
    bar = st.progress(0.0, text=label)

    def moved(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"{label}: {done:,} of {total:,}")

    return bar, moved


def _act(label: str, action: Callable[[], object]) -> None:
    """Run a service call; a refusal or error is one line, kept for the next run."""
    try:
        result = action()
    except Q2CError as exc:
        st.session_state[state.REPLAY_NOTICE] = ("error", str(exc))
        return
    if isinstance(result, BulkSummary):
        st.session_state[state.REPLAY_PICK] = result.run.id
        st.session_state[state.REPLAY_NOTICE] = (
            "success" if result.ok else "warning",
            outcome_text(label, result),
        )
    elif isinstance(result, BulkRunOut):
        st.session_state[state.REPLAY_PICK] = result.id
        st.session_state[state.REPLAY_NOTICE] = ("info", f"{label} {result.id}: {result.state}")


def _run(bulk: BulkReplay, actor: Actor, run_id: str, retry_failed: bool = False) -> BulkSummary:
    """Run ``run_id`` under a progress bar."""
    bar, moved = _progress_bar(f"Replaying {run_id}")
    summary = bulk.run(run_id=run_id, actor=actor, progress=moved, retry_failed=retry_failed)
    bar.empty()
    return summary


def dry_run(bulk: BulkReplay, filters: SearchFilters) -> BulkPlan | None:
    """The dry-run button; the plan it made for these very filters, if any."""
    fingerprint = filters.model_dump_json()
    if st.button("Dry run", icon=":material/checklist:", key="replay_dry_run"):
        try:
            with st.spinner("Checking each step with its target system…"):
                st.session_state[state.REPLAY_PLAN] = (fingerprint, bulk.plan(filters=filters))
        except Q2CError as exc:
            st.error(md_escape(str(exc)))
    held = st.session_state.get(state.REPLAY_PLAN)
    return held[1] if held and held[0] == fingerprint else None


def show_plan(plan: BulkPlan) -> None:
    """Dry-run counts, money per currency, why approval is needed, and what is not sent."""
    m = st.columns(3)
    m[0].metric("Would send", f"{plan.count('pending'):,}", border=True)
    m[1].metric("Skipped", f"{plan.count('skipped'):,}", border=True)
    m[2].metric("Blocked", f"{plan.count('blocked'):,}", border=True)
    st.caption(
        f"Money of what would be sent: {money_text(plan.money)} (per currency, never summed "
        "across)."
    )
    if plan.needs_approval:
        st.warning("Needs approval: " + md_escape("; ".join(plan.approval_reasons)))
    rows = plan_rows(plan, link=trace_url)
    if rows:
        st.dataframe(
            pd.DataFrame(rows),
            column_config=_trace_link(),
            hide_index=True,
            key="replay_plan_table",
        )


def start_form(
    bulk: BulkReplay,
    *,
    filters: SearchFilters,
    plan: BulkPlan,
    actor: Actor,
    settings: Settings,
) -> None:
    """The form that starts a bulk replay (runs at once unless it needs approval)."""
    if not may(settings, "bulk_replay"):
        st.info(f"Your role ({actor.role}) may not start a bulk replay.", icon=":material/lock:")
        return
    if not plan.count("pending"):
        return
    with st.form("replay_start"):
        st.selectbox("Reason code", settings.reason_codes, key=state.REPLAY_REASON_CODE)
        st.text_area("Reason (goes on the record)", key=state.REPLAY_REASON)
        if st.form_submit_button("Start bulk replay", type="primary"):

            def start() -> object:
                run = bulk.create(
                    filters=filters,
                    actor=actor,
                    reason=st.session_state[state.REPLAY_REASON],
                    reason_code=st.session_state[state.REPLAY_REASON_CODE],
                    plan=plan,
                )
                return run if run.state == "awaiting_approval" else _run(bulk, actor, run.id)

            _act("Bulk replay", start)
            st.session_state.pop(state.REPLAY_PLAN, None)
            st.rerun()


def show_notice() -> None:
    """The outcome of the last action, shown once."""
    notice = st.session_state.pop(state.REPLAY_NOTICE, None)
    if notice:
        getattr(st, notice[0])(md_escape(notice[1]))


def runs_table(runs: list[BulkRunOut]) -> None:
    """The latest runs."""
    st.dataframe(pd.DataFrame(run_rows(runs)), hide_index=True, key="replay_runs_table")


def pick_run(runs: list[BulkRunOut]) -> BulkRunOut:
    """The run picker: the one just acted on, else the one picked, else the newest."""
    ids = [r.id for r in runs]
    if state.REPLAY_PICK in st.session_state:
        st.session_state[state.REPLAY_RUN] = st.session_state.pop(state.REPLAY_PICK)
    if st.session_state.get(state.REPLAY_RUN) not in ids:
        st.session_state[state.REPLAY_RUN] = ids[0]
    run_id = st.selectbox("Run", ids, key=state.REPLAY_RUN)
    return next(r for r in runs if r.id == run_id)


def action_buttons(
    bulk: BulkReplay, chosen: BulkRunOut, *, actor: Actor, settings: Settings
) -> list[Any]:
    """Approve and run, run or continue, cancel; returns the columns (the last is free)."""
    run_id = chosen.id
    buttons = st.columns(4)
    if chosen.state == "awaiting_approval" and may(settings, "approve"):
        if buttons[0].button("Approve and run", type="primary", key="replay_approve"):
            _act(
                "Approved",
                lambda: (bulk.approve(run_id=run_id, actor=actor), _run(bulk, actor, run_id))[1],
            )
            st.rerun()
    if chosen.state in ("ready", "running") and may(settings, "bulk_replay"):
        label = "Run" if chosen.state == "ready" else "Continue"
        if buttons[1].button(label, key="replay_continue"):
            _act(label, lambda: _run(bulk, actor, run_id))
            st.rerun()
    if chosen.state not in ("done", "cancelled") and may(settings, "bulk_replay"):
        if buttons[2].button("Cancel run", key="replay_cancel"):
            _act("Cancel requested for", lambda: bulk.cancel(run_id=run_id, actor=actor))
            st.rerun()
    return list(buttons)


def retry_button(
    bulk: BulkReplay,
    chosen: BulkRunOut,
    summary: BulkSummary,
    *,
    column: Any,
    actor: Actor,
    settings: Settings,
) -> None:
    """Retry the failed items of a finished run."""
    run_id = chosen.id
    if summary.counts["failed"] and chosen.state == "done" and may(settings, "bulk_replay"):
        if column.button("Retry failed", key="replay_retry"):
            _act("Retried", lambda: _run(bulk, actor, run_id, retry_failed=True))
            st.rerun()


def show_summary(summary: BulkSummary) -> None:
    """A run's counts on one line and each of its items, linked to its trace."""
    st.markdown(f"**{summary.run.id}** · {summary.run.state} · {counts_text(summary.counts)}")
    st.dataframe(
        pd.DataFrame(item_rows(summary.items, link=trace_url)),
        column_config=_trace_link(),
        hide_index=True,
        key="replay_items_table",
    )
