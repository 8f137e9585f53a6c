"""Actions on the Trace page: buttons per failed step, their confirmation dialogs, the result.

Each button opens one ``@st.dialog``; which one is open is kept in session state
(so a full rerun redraws it) and cleared when it is dismissed or done. A finished
action closes the dialog and reruns the page, so the trace shows the console's
write-back event and the action on record. Errors are one line, inside the dialog.
The edit-and-resubmit dialog lives in ``app.resubmit_view``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from app import state
from app.identity import current_actor, may
from app.resources import actions_or_stop
from app.ui import md_code, md_escape
from services.audit import AuditOut
from services.errors import Q2CError
from services.replay import ActionResult, Actions
from services.replay_plan import StepTarget, TargetCheck
from services.settings import Settings

__all__ = [
    "KINDS",
    "checked_target",
    "close_dialog",
    "load_target",
    "open_dialog",
    "reason_inputs",
    "render_actions",
    "send_action",
    "show_check",
]

KINDS = ("replay", "resubmit", "acknowledge", "resolve", "ignore")
LABELS = {
    "replay": "Replay",
    "resubmit": "Edit and resubmit",
    "acknowledge": "Acknowledge",
    "resolve": "Resolve",
    "ignore": "Ignore",
}
ICONS = {
    "replay": ":material/replay:",
    "resubmit": ":material/edit_note:",
    "acknowledge": ":material/visibility:",
    "resolve": ":material/task_alt:",
    "ignore": ":material/block:",
}
NOTE_HELP = {
    "acknowledge": "Say you have seen this failure and are on it.",
    "resolve": "Record that the failure was dealt with outside the console.",
    "ignore": "Record that the failure needs no action.",
}
_VERDICTS = {
    "would_create": (
        "info",
        "Would create: the target has no such record yet; the request is sent.",
    ),
    "exists": ("warning", "Already exists: will link, not send."),
    "conflict": ("error", "Conflict: nothing will be sent."),
    "unknown": ("warning", "Unknown: the target could not say, so nothing will be sent."),
    "not_checked": ("info", "Not checked: nothing here can exist twice; the request is sent."),
}
_LEVELS = {
    "succeeded": "success",
    "linked": "success",
    "dry_run": "info",
    "in_progress": "info",
    "already_done": "info",
    "conflict": "warning",
    "blocked": "warning",
    "failed": "error",
}
_TRANSIENT = (state.ACTION_CHECK, state.RESUBMIT_BODY, state.RESUBMIT_PREVIEW)


def _clear() -> None:
    for key in (state.ACTION_OPEN, *_TRANSIENT):
        st.session_state.pop(key, None)


def _open(action: str, tx: str, step: str) -> None:
    _clear()
    st.session_state[state.ACTION_OPEN] = {"action": action, "tx": tx, "step": step}


def _box(level: str, text: str) -> None:
    show: dict[str, Callable[..., Any]] = {
        "success": st.success,
        "info": st.info,
        "warning": st.warning,
        "error": st.error,
    }
    show[level](text)


def render_actions(tx: str, steps: list[str], *, settings: Settings) -> None:
    """The last action's outcome, then per failed step the buttons this role may use."""
    result = st.session_state.get(state.ACTION_RESULT)
    if result and result["tx"] == tx:
        _box(result["level"], result["text"])
    kinds = [k for k in KINDS if may(settings, k)]
    if not steps or not kinds:
        if steps:
            why = "the console is read-only" if settings.read_only else "your role may not act"
            st.caption(f"No actions: {why}.")
        return
    for step in steps:
        cols = st.columns([3] + [2] * len(kinds), vertical_alignment="center")
        cols[0].markdown(f"**{md_escape(step)}**")
        for col, kind in zip(cols[1:], kinds, strict=True):
            col.button(
                LABELS[kind],
                key=state.action_button_key(kind, step),
                icon=ICONS[kind],
                on_click=_open,
                args=(kind, tx, step),
                width="stretch",
            )


def open_dialog(tx: str, steps: list[str], *, settings: Settings) -> None:
    """Draw the open dialog, if any (call once, at the end of the page)."""
    opened = st.session_state.get(state.ACTION_OPEN)
    if not opened:
        return
    if opened["tx"] != tx or opened["step"] not in steps or not may(settings, opened["action"]):
        _clear()
        return
    if opened["action"] == "replay":
        _replay_dialog(opened, settings)
    elif opened["action"] == "resubmit":
        # Imported here, not at the top: app.resubmit_view imports the shared pieces below.
        from app.resubmit_view import resubmit_dialog

        resubmit_dialog(opened, settings)
    else:
        _NOTE_DIALOGS[opened["action"]](opened, settings)


# -- shared pieces (app.resubmit_view uses them too) ---------------------------------


def reason_inputs(settings: Settings) -> tuple[str, str]:
    code = st.selectbox("Reason code", settings.reason_codes, key=state.ACTION_REASON_CODE)
    reason = st.text_input(
        "Reason (required, goes on the record)",
        key=state.ACTION_REASON,
        placeholder="Why: what was fixed, who asked, ticket number…",
    )
    return str(code), reason


def load_target(actions: Actions, opened: dict[str, str]) -> StepTarget | None:
    try:
        return actions.target(opened["tx"], opened["step"])
    except Q2CError as exc:
        st.error(md_escape(str(exc)), icon=":material/error:")
        return None


def checked_target(actions: Actions, target: StepTarget, request: Any = None) -> TargetCheck | str:
    """The target check (asked once per dialog and request); an error as its one line."""
    token = json.dumps([target.transaction_id, target.step, request], sort_keys=True, default=str)
    cached = st.session_state.get(state.ACTION_CHECK)
    if cached and cached[0] == token:
        return cached[1]
    try:
        found: TargetCheck | str = actions.check(target, request)
    except Q2CError as exc:
        found = str(exc)
    st.session_state[state.ACTION_CHECK] = (token, found)
    return found


def show_check(check: TargetCheck | str) -> bool:
    """Render the target check; False when the step cannot be sent at all."""
    if isinstance(check, str):
        st.error(md_escape(check), icon=":material/error:")
        return False
    level, headline = _VERDICTS.get(check.verdict, ("info", check.verdict))
    _box(level, f"**Target check: {md_escape(headline)}**  \n{md_escape(check.message)}")
    return True


def _finish(tx: str, level: str, text: str) -> None:
    st.session_state[state.ACTION_RESULT] = {"tx": tx, "level": level, "text": text}
    _clear()
    st.rerun()


def _result_text(result: ActionResult) -> str:
    parts = [
        f"**{md_escape(LABELS.get(result.action, result.action))} {md_escape(result.step)}: "
        f"{md_escape(result.outcome.replace('_', ' '))}**",
        md_escape(result.message),
    ]
    if result.idempotency_key:
        parts.append(f"idempotency key {md_code(result.idempotency_key)}")
    if result.audit_seq is not None:
        parts.append(f"audit entry #{result.audit_seq}")
    return " · ".join(parts)


def send_action(opened: dict[str, str], run: Callable[[], ActionResult]) -> None:
    try:
        result = run()
    except Q2CError as exc:
        st.error(md_escape(str(exc)), icon=":material/error:")
        return
    _finish(opened["tx"], _LEVELS.get(result.outcome, "info"), _result_text(result))


# -- replay --------------------------------------------------------------------------


def close_dialog() -> None:
    _clear()


@st.dialog("Replay a failed step", width="large", on_dismiss=close_dialog)
def _replay_dialog(opened: dict[str, str], settings: Settings) -> None:
    actions = actions_or_stop()
    st.markdown(
        f"Send {md_code(opened['step'])} of {md_code(opened['tx'])} again: "
        "the same request with the same idempotency key."
    )
    target = load_target(actions, opened)
    if target is None:
        return
    if target.idempotency_key:
        st.caption(f"Idempotency key {md_code(target.idempotency_key)}")
    sendable = show_check(checked_target(actions, target))
    code, reason = reason_inputs(settings)
    if st.button("Replay", key=state.ACTION_SUBMIT, type="primary", disabled=not sendable):
        send_action(
            opened,
            lambda: actions.replay(
                key=opened["tx"],
                step=opened["step"],
                actor=current_actor(settings),
                reason=reason,
                reason_code=code,
            ),
        )


# -- acknowledge, resolve, ignore ---------------------------------------------------------


def _note_body(opened: dict[str, str], settings: Settings) -> None:
    kind = opened["action"]
    st.markdown(f"{NOTE_HELP[kind]} Nothing is sent to any system.")
    st.caption(f"Transaction {md_code(opened['tx'])} · step {md_code(opened['step'])}")
    code, reason = reason_inputs(settings)
    if st.button(LABELS[kind], key=state.ACTION_SUBMIT, type="primary"):
        try:
            entry: AuditOut = actions_or_stop().note(
                key=opened["tx"],
                action=kind,
                actor=current_actor(settings),
                reason=reason,
                reason_code=code,
            )
        except Q2CError as exc:
            st.error(md_escape(str(exc)), icon=":material/error:")
            return
        _finish(
            opened["tx"],
            "success",
            f"**{md_escape(LABELS[kind])}: recorded** by {md_escape(entry.actor)} "
            f"({md_escape(entry.role)}) · audit entry #{entry.seq}",
        )


_NOTE_DIALOGS = {
    kind: st.dialog(f"{LABELS[kind]} a failure", on_dismiss=close_dialog)(_note_body)
    for kind in ("acknowledge", "resolve", "ignore")
}
