"""Edit and resubmit, on the Trace page: the dialog that edits a failed step's request,
checks it (schema, diff against the original, target check) and sends it with a new
idempotency key. Opened by ``app.actions_view.open_dialog``, whose shared pieces it uses.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from app import state
from app.actions_view import (
    checked_target,
    close_dialog,
    load_target,
    reason_inputs,
    send_action,
    show_check,
)
from app.identity import current_actor
from app.resources import actions_or_stop
from app.ui import md_code, md_escape
from services.errors import InputError, Q2CError
from services.replay import Actions, json_diff
from services.replay_plan import StepTarget, require_replayable
from services.replay_steps import check_schema
from services.settings import Settings

__all__ = ["parse_request", "resubmit_dialog"]


def parse_request(text: str) -> Any:
    """The edited request; invalid JSON is one line naming where it broke."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"Invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def _diff_lines(diff: list[dict[str, Any]]) -> str:
    def show(value: Any) -> str:
        return md_code(json.dumps(value, ensure_ascii=False))

    lines = []
    for d in diff:
        old = show(d["old"]) if "old" in d else "(absent)"
        new = show(d["new"]) if "new" in d else "(removed)"
        lines.append(f"- {md_code(d['path'])}: {old} → {new}")
    return "\n".join(lines)


def _preview(actions: Actions, target: StepTarget, text: str) -> dict[str, Any]:
    """What "Check" found: the schema, the diff against the original, the target check."""
    try:
        request = check_schema(require_replayable(target), parse_request(text))
    except Q2CError as exc:
        return {"body": text, "error": str(exc)}
    diff = json_diff(target.request, request)
    if not diff:
        return {"body": text, "error": "the edited request is the same as the original: use replay"}
    return {"body": text, "diff": diff, "check": checked_target(actions, target, request)}


@st.dialog("Edit and resubmit a failed step", width="large", on_dismiss=close_dialog)
def resubmit_dialog(opened: dict[str, str], settings: Settings) -> None:
    actions = actions_or_stop()
    st.markdown(
        f"Edit the request of {md_code(opened['step'])} of {md_code(opened['tx'])} and send "
        "it with a new idempotency key (the original key + a revision)."
    )
    target = load_target(actions, opened)
    if target is None:
        return
    if state.RESUBMIT_BODY not in st.session_state:
        original = target.request if target.request is not None else {}
        st.session_state[state.RESUBMIT_BODY] = json.dumps(original, indent=2, ensure_ascii=False)
    body = st.text_area("Request (JSON)", key=state.RESUBMIT_BODY, height=320)
    if st.button("Check", key=state.RESUBMIT_CHECK, icon=":material/rule:"):
        st.session_state[state.RESUBMIT_PREVIEW] = _preview(actions, target, body)
    preview = st.session_state.get(state.RESUBMIT_PREVIEW)
    if preview and preview["body"] == body:
        if "error" in preview:
            st.error(md_escape(preview["error"]), icon=":material/error:")
        else:
            st.markdown("**Changes against the original**  \n" + _diff_lines(preview["diff"]))
            show_check(preview["check"])
    code, reason = reason_inputs(settings)
    if st.button("Resubmit", key=state.ACTION_SUBMIT, type="primary"):
        send_action(
            opened,
            lambda: actions.resubmit(
                key=opened["tx"],
                step=opened["step"],
                payload=parse_request(body),
                actor=current_actor(settings),
                reason=reason,
                reason_code=code,
            ),
        )
