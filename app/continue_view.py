"""Continue the flow, on the Trace page: after the failed step succeeded, offer to
run the steps that never ran, in order, stopping at the first failure."""

from __future__ import annotations

import streamlit as st

from app import state
from app.identity import current_actor, may
from app.resources import actions_or_stop
from app.ui import md_escape
from services.errors import Q2CError
from services.replay_continue import continue_flow, remaining_steps
from services.schemas import TraceOut
from services.settings import Settings

__all__ = ["render_continue"]


def _close() -> None:
    st.session_state.pop(state.CONTINUE_OPEN, None)


@st.dialog("Continue the flow", width="large", on_dismiss=_close)
def _dialog(trace: TraceOut, todo: list[str], settings: Settings) -> None:
    st.markdown("Runs, in order, stopping at the first step that does not succeed:")
    st.markdown("\n".join(f"1. `{md_escape(s)}`" for s in todo))
    code = st.selectbox("Reason code", settings.reason_codes, key=state.CONTINUE_CODE)
    reason = st.text_input("Reason (required, goes on the record)", key=state.CONTINUE_REASON)
    if not st.button("Run the remaining steps", type="primary", key=state.CONTINUE_CONFIRM):
        return
    try:
        result = continue_flow(
            actions_or_stop(),
            key=trace.transaction_id,
            actor=current_actor(settings),
            reason=reason,
            reason_code=str(code),
        )
    except Q2CError as exc:
        st.error(md_escape(str(exc)), icon=":material/error:")
        return
    lines = [f"{r.step}: {r.outcome}" for r in result.steps]
    lines.append(f"stopped at {result.stopped}" if result.stopped else "every step succeeded")
    st.session_state[state.CONTINUE_RESULT] = {"tx": trace.transaction_id, "lines": lines,
                                               "ok": result.stopped is None}  # fmt: skip
    _close()
    st.rerun()


def render_continue(trace: TraceOut, failed: list[str], *, settings: Settings) -> None:
    """The offer to continue (only when nothing is failed and steps remain), and its result."""
    done = st.session_state.get(state.CONTINUE_RESULT)
    if done and done["tx"] == trace.transaction_id:
        show = st.success if done["ok"] else st.warning
        show("Continue the flow: " + md_escape("; ".join(done["lines"])))
    if failed or not may(settings, "continue"):
        return
    todo = remaining_steps(actions_or_stop(), trace)
    if not todo:
        return
    st.info(
        f"No step is failed now, but {len(todo)} step(s) of the {md_escape(trace.flow or '')} "
        f"flow never ran: {md_escape(', '.join(todo))}.",
        icon=":material/fast_forward:",
    )
    if st.button("Continue the flow", key=state.CONTINUE_BUTTON, icon=":material/play_arrow:"):
        st.session_state[state.CONTINUE_OPEN] = trace.transaction_id
    if st.session_state.get(state.CONTINUE_OPEN) == trace.transaction_id:
        _dialog(trace, todo, settings)
