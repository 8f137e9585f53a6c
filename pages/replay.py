"""Replay: bulk replay of failed steps by filter: dry run, request, approve, run, summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from app import state
from app.identity import current_actor, may
from app.resources import console_or_stop, systems_or_stop
from app.ui import md_escape, trace_url
from services.bulk import BulkPlan, BulkReplay, BulkRunOut, BulkSummary
from services.errors import Q2CError
from services.schemas import SearchFilters

SYSTEMS = ("salesforce", "erp", "billing", "tax")
STATUSES = ("failed", "stuck", "in_progress")

console = console_or_stop()
systems = systems_or_stop()
settings = console.settings
actor = current_actor(settings)
bulk = BulkReplay(console, systems)

st.title("Replay")
st.caption(
    f"Replay the failed step of every transaction a filter matches, on the record. Acting as "
    f"**{md_escape(actor.name)}** ({actor.role}). Above {settings.bulk_approval_items} steps or "
    f"{settings.bulk_approval_amount:,.0f} in any one currency, an admin other than the "
    "requester approves the run first."
)

cols = st.columns(4)
cols[0].multiselect("Status", STATUSES, default=["failed"], key=state.REPLAY_STATUS)
cols[1].selectbox(
    "System", ["", *SYSTEMS], format_func=lambda s: s or "Any system", key=state.REPLAY_SYSTEM
)
cols[2].selectbox(
    "Flow",
    ["", *sorted(console.catalog.flows)],
    format_func=lambda f: f or "Any flow",
    key=state.REPLAY_FLOW,
)
cols[3].text_input("Error code", key=state.REPLAY_ERROR_CODE, placeholder="SERVICE_UNAVAILABLE")
filters = SearchFilters(
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
        c = result.counts
        st.session_state[state.REPLAY_PICK] = result.run.id
        st.session_state[state.REPLAY_NOTICE] = (
            "success" if result.ok else "warning",
            f"{label} {result.run.id}: {result.run.state}; sent {c['sent']}, succeeded "
            f"{c['succeeded']}, failed {c['failed']}, skipped {c['skipped']}, "
            f"blocked {c['blocked']}",
        )
    elif isinstance(result, BulkRunOut):
        st.session_state[state.REPLAY_PICK] = result.id
        st.session_state[state.REPLAY_NOTICE] = ("info", f"{label} {result.id}: {result.state}")


def _run(run_id: str, retry_failed: bool = False) -> BulkSummary:
    """Run ``run_id`` under a progress bar."""
    bar, moved = _progress_bar(f"Replaying {run_id}")
    summary = bulk.run(run_id=run_id, actor=actor, progress=moved, retry_failed=retry_failed)
    bar.empty()
    return summary


# -- dry run -----------------------------------------------------------------------------
fingerprint = filters.model_dump_json()
if st.button("Dry run", icon=":material/checklist:", key="replay_dry_run"):
    try:
        with st.spinner("Checking each step with its target system…"):
            st.session_state[state.REPLAY_PLAN] = (fingerprint, bulk.plan(filters=filters))
    except Q2CError as exc:
        st.error(md_escape(str(exc)))
held = st.session_state.get(state.REPLAY_PLAN)
plan: BulkPlan | None = held[1] if held and held[0] == fingerprint else None
if plan is not None:
    m = st.columns(3)
    m[0].metric("Would send", f"{plan.count('pending'):,}", border=True)
    m[1].metric("Skipped", f"{plan.count('skipped'):,}", border=True)
    m[2].metric("Blocked", f"{plan.count('blocked'):,}", border=True)
    money = ", ".join(f"{float(t):,.2f} {c}" for c, t in plan.money.items()) or "nothing"
    st.caption(f"Money of what would be sent: {money} (per currency, never summed across).")
    if plan.needs_approval:
        st.warning("Needs approval: " + md_escape("; ".join(plan.approval_reasons)))
    not_sent = [i for i in plan.items if i.state != "pending"]
    if not_sent:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "state": i.state,
                        "trace": trace_url(i.transaction_id),
                        "step": i.step,
                        "reason": i.reason,
                    }
                    for i in not_sent
                ]
            ),
            column_config={"trace": st.column_config.LinkColumn("trace", display_text=r"key=(.*)")},
            hide_index=True,
            key="replay_plan_table",
        )
    if not may(settings, "bulk_replay"):
        st.info(f"Your role ({actor.role}) may not start a bulk replay.", icon=":material/lock:")
    elif plan.count("pending"):
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
                    return run if run.state == "awaiting_approval" else _run(run.id)

                _act("Bulk replay", start)
                st.session_state.pop(state.REPLAY_PLAN, None)
                st.rerun()

# -- runs ----------------------------------------------------------------------------------
runs = bulk.runs()
st.subheader("Runs")
notice = st.session_state.pop(state.REPLAY_NOTICE, None)
if notice:
    getattr(st, notice[0])(md_escape(notice[1]))
if not runs:
    st.caption("No bulk replay yet.")
    st.stop()
st.dataframe(
    pd.DataFrame(
        [
            {
                "run": r.id,
                "state": r.state,
                "requested by": r.requester,
                "approved by": r.approver or "",
                "items": r.items,
                "reason": f"{r.reason_code}: {r.reason}",
                "created (UTC)": r.created,
            }
            for r in runs
        ]
    ),
    hide_index=True,
    key="replay_runs_table",
)
ids = [r.id for r in runs]
if state.REPLAY_PICK in st.session_state:
    st.session_state[state.REPLAY_RUN] = st.session_state.pop(state.REPLAY_PICK)
if st.session_state.get(state.REPLAY_RUN) not in ids:
    st.session_state[state.REPLAY_RUN] = ids[0]
run_id = st.selectbox("Run", ids, key=state.REPLAY_RUN)
chosen = next(r for r in runs if r.id == run_id)
buttons = st.columns(4)
if chosen.state == "awaiting_approval" and may(settings, "approve"):
    if buttons[0].button("Approve and run", type="primary", key="replay_approve"):
        _act("Approved", lambda: (bulk.approve(run_id=run_id, actor=actor), _run(run_id))[1])
        st.rerun()
if chosen.state in ("ready", "running") and may(settings, "bulk_replay"):
    label = "Run" if chosen.state == "ready" else "Continue"
    if buttons[1].button(label, key="replay_continue"):
        _act(label, lambda: _run(run_id))
        st.rerun()
if chosen.state not in ("done", "cancelled") and may(settings, "bulk_replay"):
    if buttons[2].button("Cancel run", key="replay_cancel"):
        _act("Cancel requested for", lambda: bulk.cancel(run_id=run_id, actor=actor))
        st.rerun()
summary = bulk.summary(run_id=run_id)
if summary.counts["failed"] and chosen.state == "done" and may(settings, "bulk_replay"):
    if buttons[3].button("Retry failed", key="replay_retry"):
        _act("Retried", lambda: _run(run_id, retry_failed=True))
        st.rerun()

c = summary.counts
st.markdown(
    f"**{run_id}** · {summary.run.state} · sent {c['sent']:,} · succeeded {c['succeeded']:,} · "
    f"failed {c['failed']:,} · skipped {c['skipped']:,} · blocked {c['blocked']:,} · "
    f"pending {c['pending']:,}"
)
st.dataframe(
    pd.DataFrame(
        [
            {
                "state": i.state,
                "trace": trace_url(i.transaction_id),
                "step": i.step,
                "outcome": i.outcome or "",
                "sent": i.sent,
                "message": i.message,
            }
            for i in summary.items
        ]
    ),
    column_config={"trace": st.column_config.LinkColumn("trace", display_text=r"key=(.*)")},
    hide_index=True,
    key="replay_items_table",
)
