"""Actions on the Trace page: buttons per failed step, their confirmation dialogs, the result.

Each button opens one ``@st.dialog``; which one is open is kept in session state
(so a full rerun redraws it) and cleared when it is dismissed or done. A finished
action closes the dialog and reruns the page, so the trace shows the console's
write-back event and the action on record. Errors are one line, inside the dialog.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from app.identity import current_actor, may
from app.resources import actions_or_stop
from app.ui import md_code, md_escape
from services.audit import AuditOut
from services.errors import InputError, Q2CError
from services.replay import ActionResult, Actions, json_diff
from services.replay_plan import StepTarget, TargetCheck, require_replayable
from services.replay_steps import check_schema
from services.settings import Settings

__all__ = [
    "ACTION_CHECK",
    "ACTION_OPEN",
    "ACTION_REASON",
    "ACTION_REASON_CODE",
    "ACTION_RESULT",
    "ACTION_SUBMIT",
    "AUDIT_ACTION",
    "AUDIT_ACTOR",
    "AUDIT_APPLIED",
    "AUDIT_KEY",
    "AUDIT_LIMIT",
    "AUDIT_SINCE",
    "AUDIT_TABLE",
    "AUDIT_UNTIL",
    "KINDS",
    "RESUBMIT_BODY",
    "RESUBMIT_CHECK",
    "RESUBMIT_PREVIEW",
    "action_button_key",
    "open_dialog",
    "parse_request",
    "render_actions",
]

# Session-state keys (to move to app/state.py).
ACTION_OPEN = "trace_action_open"  # {"action", "tx", "step"} of the open dialog
ACTION_RESULT = "trace_action_result"  # {"tx", "level", "text"}: the last action's outcome
ACTION_CHECK = "trace_action_check"  # the target check for the open dialog (asked once)
ACTION_REASON_CODE = "trace_action_reason_code"
ACTION_REASON = "trace_action_reason"
ACTION_SUBMIT = "trace_action_submit"
RESUBMIT_BODY = "trace_resubmit_body"
RESUBMIT_CHECK = "trace_resubmit_check"
RESUBMIT_PREVIEW = "trace_resubmit_preview"  # what "Check" found, for the body it checked

# Audit page: the filters (widget keys), the table, the query parameters last applied.
AUDIT_ACTOR = "audit_actor"
AUDIT_ACTION = "audit_action"
AUDIT_KEY = "audit_key"
AUDIT_SINCE = "audit_since"
AUDIT_UNTIL = "audit_until"
AUDIT_LIMIT = "audit_limit"
AUDIT_TABLE = "audit_table"
AUDIT_APPLIED = "audit_applied_params"


def action_button_key(action: str, step: str) -> str:
    return f"trace_action_{action}_{step}"


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
_TRANSIENT = (ACTION_CHECK, RESUBMIT_BODY, RESUBMIT_PREVIEW)


def _clear() -> None:
    for key in (ACTION_OPEN, *_TRANSIENT):
        st.session_state.pop(key, None)


def _open(action: str, tx: str, step: str) -> None:
    _clear()
    st.session_state[ACTION_OPEN] = {"action": action, "tx": tx, "step": step}


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
    result = st.session_state.get(ACTION_RESULT)
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
                key=action_button_key(kind, step),
                icon=ICONS[kind],
                on_click=_open,
                args=(kind, tx, step),
                width="stretch",
            )


def open_dialog(tx: str, steps: list[str], *, settings: Settings) -> None:
    """Draw the open dialog, if any (call once, at the end of the page)."""
    opened = st.session_state.get(ACTION_OPEN)
    if not opened:
        return
    if opened["tx"] != tx or opened["step"] not in steps or not may(settings, opened["action"]):
        _clear()
        return
    if opened["action"] == "replay":
        _replay_dialog(opened, settings)
    elif opened["action"] == "resubmit":
        _resubmit_dialog(opened, settings)
    else:
        _NOTE_DIALOGS[opened["action"]](opened, settings)


# -- shared pieces -----------------------------------------------------------------


def _reason_inputs(settings: Settings) -> tuple[str, str]:
    code = st.selectbox("Reason code", settings.reason_codes, key=ACTION_REASON_CODE)
    reason = st.text_input(
        "Reason (required, goes on the record)",
        key=ACTION_REASON,
        placeholder="Why: what was fixed, who asked, ticket number…",
    )
    return str(code), reason


def _target(actions: Actions, opened: dict[str, str]) -> StepTarget | None:
    try:
        return actions.target(opened["tx"], opened["step"])
    except Q2CError as exc:
        st.error(md_escape(str(exc)), icon=":material/error:")
        return None


def _checked(actions: Actions, target: StepTarget, request: Any = None) -> TargetCheck | str:
    """The target check (asked once per dialog and request); an error as its one line."""
    token = json.dumps([target.transaction_id, target.step, request], sort_keys=True, default=str)
    cached = st.session_state.get(ACTION_CHECK)
    if cached and cached[0] == token:
        return cached[1]
    try:
        found: TargetCheck | str = actions.check(target, request)
    except Q2CError as exc:
        found = str(exc)
    st.session_state[ACTION_CHECK] = (token, found)
    return found


def _show_check(check: TargetCheck | str) -> bool:
    """Render the target check; False when the step cannot be sent at all."""
    if isinstance(check, str):
        st.error(md_escape(check), icon=":material/error:")
        return False
    level, headline = _VERDICTS.get(check.verdict, ("info", check.verdict))
    _box(level, f"**Target check: {md_escape(headline)}**  \n{md_escape(check.message)}")
    return True


def _finish(tx: str, level: str, text: str) -> None:
    st.session_state[ACTION_RESULT] = {"tx": tx, "level": level, "text": text}
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


def _send(opened: dict[str, str], run: Callable[[], ActionResult]) -> None:
    try:
        result = run()
    except Q2CError as exc:
        st.error(md_escape(str(exc)), icon=":material/error:")
        return
    _finish(opened["tx"], _LEVELS.get(result.outcome, "info"), _result_text(result))


# -- replay --------------------------------------------------------------------------


def _close_dialog() -> None:
    _clear()


@st.dialog("Replay a failed step", width="large", on_dismiss=_close_dialog)
def _replay_dialog(opened: dict[str, str], settings: Settings) -> None:
    actions = actions_or_stop()
    st.markdown(
        f"Send {md_code(opened['step'])} of {md_code(opened['tx'])} again: "
        "the same request with the same idempotency key."
    )
    target = _target(actions, opened)
    if target is None:
        return
    if target.idempotency_key:
        st.caption(f"Idempotency key {md_code(target.idempotency_key)}")
    sendable = _show_check(_checked(actions, target))
    code, reason = _reason_inputs(settings)
    if st.button("Replay", key=ACTION_SUBMIT, type="primary", disabled=not sendable):
        _send(
            opened,
            lambda: actions.replay(
                key=opened["tx"],
                step=opened["step"],
                actor=current_actor(settings),
                reason=reason,
                reason_code=code,
            ),
        )


# -- resubmit ------------------------------------------------------------------------


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
    return {"body": text, "diff": diff, "check": _checked(actions, target, request)}


@st.dialog("Edit and resubmit a failed step", width="large", on_dismiss=_close_dialog)
def _resubmit_dialog(opened: dict[str, str], settings: Settings) -> None:
    actions = actions_or_stop()
    st.markdown(
        f"Edit the request of {md_code(opened['step'])} of {md_code(opened['tx'])} and send "
        "it with a new idempotency key (the original key + a revision)."
    )
    target = _target(actions, opened)
    if target is None:
        return
    if RESUBMIT_BODY not in st.session_state:
        original = target.request if target.request is not None else {}
        st.session_state[RESUBMIT_BODY] = json.dumps(original, indent=2, ensure_ascii=False)
    body = st.text_area("Request (JSON)", key=RESUBMIT_BODY, height=320)
    if st.button("Check", key=RESUBMIT_CHECK, icon=":material/rule:"):
        st.session_state[RESUBMIT_PREVIEW] = _preview(actions, target, body)
    preview = st.session_state.get(RESUBMIT_PREVIEW)
    if preview and preview["body"] == body:
        if "error" in preview:
            st.error(md_escape(preview["error"]), icon=":material/error:")
        else:
            st.markdown("**Changes against the original**  \n" + _diff_lines(preview["diff"]))
            _show_check(preview["check"])
    code, reason = _reason_inputs(settings)
    if st.button("Resubmit", key=ACTION_SUBMIT, type="primary"):
        _send(
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


# -- acknowledge, resolve, ignore ---------------------------------------------------------


def _note_body(opened: dict[str, str], settings: Settings) -> None:
    kind = opened["action"]
    st.markdown(f"{NOTE_HELP[kind]} Nothing is sent to any system.")
    st.caption(f"Transaction {md_code(opened['tx'])} · step {md_code(opened['step'])}")
    code, reason = _reason_inputs(settings)
    if st.button(LABELS[kind], key=ACTION_SUBMIT, type="primary"):
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
    kind: st.dialog(f"{LABELS[kind]} a failure", on_dismiss=_close_dialog)(_note_body)
    for kind in ("acknowledge", "resolve", "ignore")
}
