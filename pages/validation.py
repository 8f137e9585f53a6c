"""Validation: will this order go through? Checks by domain, evidence, remediation, accept."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import state
from app.identity import current_actor, may
from app.resources import (
    clear_closed_won,
    closed_won_orders,
    settings_or_stop,
    validation_or_stop,
)
from app.ui import md_escape
from services.errors import Q2CError
from services.validation.model import DOMAINS, ValidationOut

ICON = {"pass": ":green[✔ pass]", "warn": ":orange[▲ warn]", "fail": ":red[✖ fail]",
        "unknown": ":gray[? unknown]"}  # fmt: skip
VERDICT = {
    "accept": ("success", "Accept: every check passed"),
    "needs_approval": ("warning", "Needs approval"),
    "reject": ("error", "Reject: fix what failed, then validate again"),
}

settings = settings_or_stop()
validation = validation_or_stop()

st.title("Validation")
st.caption(
    "Before a closed-won deal is accepted as an order: does the customer exist under the "
    "right legal entity, do the products and prices exist, will tax calculate? Each check asks "
    "its system of record."
)

# A deep link (?opportunity_id=...) fills the box and validates once.
deep = st.query_params.get("opportunity_id")
auto = bool(deep) and st.session_state.get(state.VALIDATION_DEEP) != deep
if auto:
    st.session_state[state.VALIDATION_ID] = deep
    st.session_state[state.VALIDATION_DEEP] = deep

left, right = st.columns([2, 3])
typed = left.text_input(
    "Opportunity or quote id", key=state.VALIDATION_ID, placeholder="006… or 0Q0…"
).strip()
try:
    candidates = closed_won_orders(limit=50)
except Q2CError as exc:
    candidates = []
    right.warning(md_escape(f"Closed-won list unavailable: {exc}"), icon=":material/cloud_off:")
labels = {
    c["Id"]: f"{c.get('Name', '')} · {c.get('CloseDate', '')} · {c['Id']}" for c in candidates
}
picked = right.selectbox(
    "…or a closed-won opportunity not yet accepted",
    [""] + list(labels),
    format_func=lambda i: labels.get(i, "choose one"),
    key=state.VALIDATION_PICK,
)
target = typed or picked
run_clicked = st.button("Validate", type="primary", disabled=not target, key=state.VALIDATION_RUN)

result: ValidationOut | None = st.session_state.get(state.VALIDATION_RESULT)
if run_clicked or auto:
    st.query_params["opportunity_id"] = target
    try:
        with st.spinner("Asking Salesforce, the ERP, billing and tax…"):
            result = validation.validate(target, actor=current_actor(settings).name)
        st.session_state[state.VALIDATION_RESULT] = result
    except Q2CError as exc:
        st.session_state.pop(state.VALIDATION_RESULT, None)
        st.error(md_escape(str(exc)), icon=":material/error:")
        st.stop()

if result is None:
    st.info("Enter an id or pick an opportunity, then Validate.", icon=":material/info:")
    st.stop()

kind, headline = VERDICT[result.verdict]
getattr(st, kind)(
    f"**{headline}** · {md_escape(result.opportunity_id)} · {md_escape(result.summary)} "
    f"· {result.took_ms:.0f} ms",
)
if result.unreached:
    st.warning(
        "Not asked, so their checks are unknown (never a pass): " + ", ".join(result.unreached),
        icon=":material/cloud_off:",
    )

counts = {s: sum(c.status == s for c in result.checks) for s in ("pass", "warn", "fail", "unknown")}
cols = st.columns(4)
for col, (name, n) in zip(cols, counts.items(), strict=True):
    col.metric(name.capitalize(), n)

for domain in DOMAINS:
    checks = [c for c in result.checks if c.domain == domain]
    if not checks:
        continue
    st.subheader(domain.capitalize())
    for c in checks:
        label = f"{ICON[c.status]} **{c.title or c.id}** · asked {c.system}"
        with st.expander(label, expanded=c.status in ("fail", "unknown")):
            st.markdown(md_escape(c.message))
            if c.remediation and c.status != "pass":
                st.markdown(f"**What to do:** {md_escape(c.remediation)}")
            if c.evidence:
                st.json(c.evidence, expanded=False)
            st.caption(f"check id `{c.id}`")


def _close_accept() -> None:
    st.session_state.pop(state.VALIDATION_DIALOG, None)


@st.dialog("Accept the order", on_dismiss=_close_accept)
def _accept_dialog(opportunity_id: str, approving: bool) -> None:
    if approving:
        st.warning("You approve this order despite: " + md_escape(result.summary if result else ""))
    code = st.selectbox("Reason code", settings.reason_codes, key=state.VALIDATION_REASON_CODE)
    reason = st.text_area("Reason (required)", key=state.VALIDATION_REASON)
    if st.button("Accept", type="primary", key=state.VALIDATION_CONFIRM):
        try:
            out = validation.accept(
                opportunity_id,
                actor=current_actor(settings),
                reason=reason,
                reason_code=code,
            )
        except Q2CError as exc:
            st.error(md_escape(str(exc)))
            return
        _close_accept()
        clear_closed_won()  # the accepted order leaves the list
        st.session_state[state.VALIDATION_ACCEPTED] = out.model_dump()
        st.rerun()


accepted = st.session_state.get(state.VALIDATION_ACCEPTED)
if accepted and accepted["opportunity_id"] == result.opportunity_id:
    show = st.success if accepted["outcome"] in ("accepted", "already_accepted") else st.error
    show(f"{accepted['outcome']}: {md_escape(accepted['message'])}")

approving = result.verdict == "needs_approval"
if approving:
    for req in validation.approval_requests(result.opportunity_id)[:3]:
        st.caption(
            f"Approval requested by {md_escape(req.actor)} ({req.role}) on "
            f"{req.created:%Y-%m-%d %H:%M} UTC: {md_escape(req.reason or '')}"
        )
if result.verdict == "accept" and may(settings, "accept"):
    label = "Accept order"
elif approving and may(settings, "approve"):
    label = "Approve and accept"
else:
    label = ""
if label and st.button(label, key=state.VALIDATION_ACCEPT):
    # Kept in session state: a full rerun (not only the dialog's) redraws it.
    st.session_state[state.VALIDATION_DIALOG] = result.opportunity_id
if st.session_state.get(state.VALIDATION_DIALOG) == result.opportunity_id:
    _accept_dialog(result.opportunity_id, approving)
if approving and not label and may(settings, "request_approval"):
    st.info("This order needs an admin's approval before it can be accepted.")
    with st.form(state.VALIDATION_REQUEST_FORM):
        code = st.selectbox("Reason code", settings.reason_codes)
        why = st.text_input("Why should it be approved? (required)")
        if st.form_submit_button("Request approval"):
            try:
                asked = validation.request_approval(
                    result.opportunity_id,
                    actor=current_actor(settings),
                    reason=why,
                    reason_code=str(code),
                )
            except Q2CError as exc:
                st.error(md_escape(str(exc)))
            else:
                st.success(md_escape(asked.message))

with st.expander("Earlier validations of this opportunity"):
    runs = validation.history(result.opportunity_id)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "run": r.run_id,
                    "when (UTC)": r.created,
                    "verdict": r.verdict,
                    "failed": sum(c.status == "fail" for c in r.checks),
                    "unknown": sum(c.status == "unknown" for c in r.checks),
                    "took ms": r.took_ms,
                }
                for r in runs
            ]
        ),
        hide_index=True,
        width="stretch",
    )
