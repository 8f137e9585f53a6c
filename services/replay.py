"""Replay, resubmit and triage notes: actions on failed steps, on the record.

:class:`Actions` is what the Trace page, the Replay page and the CLI call. A
replay or resubmit goes: authorise the role -> find the step -> check the
request -> ask the target whether the effect exists -> claim the effect in the
database (one winner among concurrent operators) -> send through the connector
-> ingest what happened as an event from ``urn:q2c:console`` -> append the audit
entry -> release the claim. Dry runs stop before the claim and write nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from services.action_models import AuditEntry, StepClaim
from services.audit import AuditIn, AuditOut, append
from services.connections import Systems
from services.console import Console
from services.db import writer_connection
from services.errors import ConnectorError, InputError, StoreError
from services.ingest import ingest_events
from services.replay_plan import (
    StepTarget,
    TargetCheck,
    check_target,
    find_target,
    require_replayable,
    step_call,
)
from services.replay_steps import check_schema
from services.roles import Actor, authorize, check_reason
from services.triage.state import TRIAGE_ACTIONS, record_triage

__all__ = [
    "Actions",
    "ActionResult",
    "CONSOLE_SOURCE",
    "claim_effect",
    "console_event",
    "json_diff",
    "release_effect",
]

CONSOLE_SOURCE = "urn:q2c:console"
STALE_CLAIM = timedelta(minutes=10)  # an in-progress claim older than this was abandoned

Outcome = Literal[
    "dry_run", "succeeded", "failed", "linked", "conflict", "blocked", "in_progress", "already_done"
]


class ActionResult(BaseModel):
    """What one replay or resubmit did (``q2c replay --json`` prints it)."""

    action: str
    transaction_id: str
    step: str
    outcome: Outcome
    message: str
    sent: bool
    idempotency_key: str | None
    request: Any = None
    response: Any = None
    error: dict[str, Any] | None = None
    target_check: TargetCheck | None = None
    diff: list[dict[str, Any]] | None = None
    audit_seq: int | None = None
    event_id: str | None = None


def json_diff(old: Any, new: Any, path: str = "") -> list[dict[str, Any]]:
    """Every changed, added or removed leaf between two JSON values, by dotted path."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[dict[str, Any]] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append({"path": sub, "op": "removed", "old": old[key]})
            elif key not in old:
                out.append({"path": sub, "op": "added", "new": new[key]})
            else:
                out.extend(json_diff(old[key], new[key], sub))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            d
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for d in json_diff(a, b, f"{path}[{i}]")
        ]
    if old == new:
        return []
    return [{"path": path or "(request)", "op": "changed", "old": old, "new": new}]


class Actions:
    """Actions for one console and its systems.

    Example:
        >>> actions = Actions(console, systems)
        >>> actions.replay(key="SO-100234", actor=Actor("ana", "support"),
        ...                reason="period reopened", reason_code="cause_fixed")
    """

    def __init__(self, console: Console, systems: Systems) -> None:
        self.console = console
        self.systems = systems
        self.settings = console.settings

    # -- read-only helpers for pages -------------------------------------------------

    def target(self, key: str, step: str | None = None) -> StepTarget:
        """The step an action on ``key`` would be about (raises when there is none)."""
        return find_target(self.console.find_traces(key), key, step)

    def check(self, target: StepTarget, request: dict[str, Any] | None = None) -> TargetCheck:
        """The target check for ``target`` (with its stored or an edited request)."""
        spec = require_replayable(target)
        body = request if request is not None else self._stored_request(target)
        call = step_call(target, body, target.idempotency_key or "")
        return check_target(spec, self.systems.connector(target.system), call)

    # -- notes: acknowledge, assign, resolve, ignore, reopen ---------------------------

    def note(
        self,
        *,
        key: str,
        action: str,
        actor: Actor,
        reason: str,
        reason_code: str,
        assignee: str | None = None,
    ) -> AuditOut:
        """Record a triage change (acknowledge, assign to ``assignee``, resolve, ignore,
        reopen) on a transaction: an audit entry and its new triage state, together."""
        if action not in TRIAGE_ACTIONS:
            raise InputError(f"unknown note {action!r}: {', '.join(TRIAGE_ACTIONS)}")
        authorize(actor, action, self.settings)
        check_reason(reason, reason_code, self.settings)
        traces = self.console.find_traces(key)
        if len(traces) != 1:
            find_target(traces, key, None)  # raises the right message
        trace = traces[0]
        return record_triage(
            self.console.engine,
            self.settings,
            transaction_id=trace.transaction_id,
            status=trace.status,
            action=action,
            actor=actor,
            reason=reason,
            reason_code=reason_code,
            assignee=assignee,
            step=trace.failed_step.replace(" ", ".") if trace.failed_step else None,
        )

    # -- replay and resubmit ---------------------------------------------------------

    def replay(
        self,
        *,
        key: str,
        actor: Actor,
        reason: str,
        reason_code: str,
        step: str | None = None,
        dry_run: bool = False,
    ) -> ActionResult:
        """Send a failed step again: the same request, the same idempotency key."""
        authorize(actor, "replay", self.settings)
        check_reason(reason, reason_code, self.settings)
        target = self.target(key, step)
        request = self._stored_request(target)
        if not target.idempotency_key:
            raise InputError(
                f"{target.step} of {target.transaction_id} has no stored idempotency key: "
                "a replay could create a duplicate, so it is refused (resubmit gives a new key)"
            )
        return self._send(
            "replay", target, request, target.idempotency_key, actor, reason, reason_code, dry_run
        )

    def resubmit(
        self,
        *,
        key: str,
        step: str | None,
        payload: Any,
        actor: Actor,
        reason: str,
        reason_code: str,
        dry_run: bool = False,
    ) -> ActionResult:
        """Send an edited request with a new idempotency key (original key + revision)."""
        authorize(actor, "resubmit", self.settings)
        check_reason(reason, reason_code, self.settings)
        target = self.target(key, step)
        spec = require_replayable(target)
        request = check_schema(spec, payload)
        diff = json_diff(target.request, request)
        if not diff:
            raise InputError("the edited request is the same as the original: use replay")
        base = target.idempotency_key or f"{target.transaction_id}:{target.operation}"
        revision = self._revisions(target) + 1
        new_key = f"{base}#r{revision}"
        return self._send(
            "resubmit", target, request, new_key, actor, reason, reason_code, dry_run, diff=diff
        )

    # -- internals ---------------------------------------------------------------------

    def _write_back(self, **kw: Any) -> str:
        """Ingest what the console did, so the trace shows it like any other step."""
        event = console_event(**kw)
        summary = ingest_events(
            engine=self.console.engine,
            events=[event],
            name="console",
            settings=self.settings,
            catalog=self.console.catalog,
        )
        if summary.accepted != 1:
            reasons = "; ".join(r.reason for r in summary.rejections) or "not accepted"
            raise StoreError(f"the console's own event was not stored: {reasons}")
        return str(event["id"])

    def _stored_request(self, target: StepTarget) -> dict[str, Any]:
        if not isinstance(target.request, dict):
            raise InputError(
                f"{target.step} of {target.transaction_id} has no stored request: nothing "
                "to replay (resubmit with a request instead)"
            )
        return target.request

    def _revisions(self, target: StepTarget) -> int:
        with self.console.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(AuditEntry)
                    .where(
                        AuditEntry.transaction_id == target.transaction_id,
                        AuditEntry.step == target.step,
                        AuditEntry.action == "resubmit",
                    )
                ).scalar_one()
            )

    def _send(
        self,
        action: str,
        target: StepTarget,
        request: dict[str, Any],
        key: str,
        actor: Actor,
        reason: str,
        reason_code: str,
        dry_run: bool,
        diff: list[dict[str, Any]] | None = None,
    ) -> ActionResult:
        spec = require_replayable(target)
        connector = self.systems.connector(target.system)
        call = step_call(target, request, key)
        checked = check_target(spec, connector, call)
        base = dict(
            action=action,
            transaction_id=target.transaction_id,
            step=target.step,
            idempotency_key=key,
            request=request,
            target_check=checked,
            diff=diff,
        )
        if dry_run:
            what = "would send" if checked.may_send else "would not send"
            return ActionResult(
                **base, outcome="dry_run", sent=False, message=f"{what}: {checked.message}"
            )
        effect = f"{target.step}|{key}"
        claimed, previous = claim_effect(self.console.engine, effect, target, actor.name)
        if not claimed:
            assert previous is not None
            state, holder = previous
            if state == "in_progress":
                return ActionResult(
                    **base,
                    outcome="in_progress",
                    sent=False,
                    message=f"already in progress: {holder} is sending this step now",
                )
            return ActionResult(
                **base,
                outcome="already_done",
                sent=False,
                message=f"already done ({state}) by {holder}: not sent again",
            )
        outcome: Outcome
        response: Any = None
        error: dict[str, Any] | None = None
        sent = False
        try:
            if checked.verdict == "exists":
                outcome, response, message = "linked", checked.record, checked.message
            elif checked.verdict == "conflict":
                outcome, message = "conflict", checked.message
            elif checked.verdict == "unknown":
                outcome, message = "blocked", checked.message
            else:
                sent = True
                try:
                    response = _plain(spec.send(connector, call))
                    outcome, message = "succeeded", f"{target.step} succeeded"
                except ConnectorError as exc:
                    outcome, message, error = "failed", str(exc), exc.to_dict()
                except InputError as exc:
                    outcome, message = "failed", str(exc)
                    error = {"code": "REFUSED", "message": str(exc)}
            event_id = None
            if outcome in ("succeeded", "failed", "linked"):
                event_id = self._write_back(
                    action=action,
                    target=target,
                    request=request,
                    key=key,
                    outcome=outcome,
                    response=response,
                    error=error,
                    actor=actor,
                )
            entry = append(
                self.console.engine,
                AuditIn(
                    actor=actor.name,
                    role=actor.role,
                    action=action,
                    outcome=outcome,
                    reason_code=reason_code,
                    reason=reason.strip(),
                    transaction_id=target.transaction_id,
                    step=target.step,
                    idempotency_key=key,
                    request=request,
                    diff=diff,
                    response=response if outcome != "failed" else error,
                    detail={
                        "target_check": checked.verdict,
                        "event_id": event_id,
                        "sent": sent,
                        "original": {"source": target.original_source, "id": target.original_id},
                    },
                ),
            )
        except BaseException:
            release_effect(self.console.engine, effect, "failed", None)
            raise
        release_effect(
            self.console.engine,
            effect,
            _claim_state(outcome),
            {"outcome": outcome, "audit": entry.seq},
        )
        return ActionResult(
            **base,
            outcome=outcome,
            sent=sent,
            message=message,
            response=response,
            error=error,
            audit_seq=entry.seq,
            event_id=event_id,
        )


def console_event(
    *,
    action: str,
    target: StepTarget,
    request: dict[str, Any],
    key: str,
    outcome: str,
    response: Any,
    error: dict[str, Any] | None,
    actor: Actor,
) -> dict[str, Any]:
    """What the console did, as a step event from ``urn:q2c:console`` (to be ingested)."""
    event_id = f"{action}-{uuid.uuid4().hex[:16]}"
    data: dict[str, Any] = {
        "system": target.system,
        "operation": target.operation,
        "attempt": target.attempts + 1,
        "keys": {**_created_keys(target, response), **target.original_keys},
        "idempotency_key": key,
        "request": request,
        "response": response,
        "action": action,
        "actor": actor.name,
        "replay_of": {"source": target.original_source, "id": target.original_id},
    }
    if target.flow:
        data["flow"] = target.flow
    if outcome == "linked":
        data["linked_existing"] = True
    if error is not None:
        data["error"] = {
            "code": str(error.get("code") or error.get("kind") or "FAILED"),
            "message": str(error.get("message") or "failed"),
            **({"http_status": error["http_status"]} if error.get("http_status") else {}),
            "retryable": bool(error.get("retryable", False)),
        }
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": CONSOLE_SOURCE,
        "type": "com.q2c.step.failed" if outcome == "failed" else "com.q2c.step.succeeded",
        "time": _now().isoformat(timespec="milliseconds") + "Z",
        "subject": target.subject,
        "data": data,
    }
    if target.correlation_id:
        event["correlationid"] = target.correlation_id
    return event


def claim_effect(
    engine: Engine, effect: str, target: StepTarget, holder: str
) -> tuple[bool, tuple[str, str] | None]:
    """Insert the claim row; the primary key lets exactly one writer win."""
    now = _now()
    try:
        with writer_connection(engine) as conn, conn.begin():
            conn.execute(
                insert(StepClaim).values(
                    effect_key=effect,
                    transaction_id=target.transaction_id,
                    step=target.step,
                    state="in_progress",
                    holder=holder,
                    claimed_at=now,
                )
            )
        return True, None
    except IntegrityError:
        pass
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot record the action: {exc.__class__.__name__}") from None
    with writer_connection(engine) as conn, conn.begin():
        taken = conn.execute(
            update(StepClaim)
            .where(
                StepClaim.effect_key == effect,
                (StepClaim.state == "failed")
                | ((StepClaim.state == "in_progress") & (StepClaim.claimed_at < now - STALE_CLAIM)),
            )
            .values(state="in_progress", holder=holder, claimed_at=now, finished_at=None)
        ).rowcount
        if taken == 1:
            return True, None
        row = conn.execute(
            select(StepClaim.state, StepClaim.holder).where(StepClaim.effect_key == effect)
        ).one()
    return False, (row[0], row[1])


def release_effect(engine: Engine, effect: str, state: str, outcome: dict[str, Any] | None) -> None:
    with writer_connection(engine) as conn, conn.begin():
        conn.execute(
            update(StepClaim)
            .where(StepClaim.effect_key == effect)
            .values(
                state=state,
                finished_at=_now(),
                outcome_json=json.dumps(outcome) if outcome else None,
            )
        )


# Which business key a created record's number is, by step (so later steps and
# searches find the transaction by the number the replay created).
_CREATED_KEYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "erp.salesorder.create": ("order_number", ("tranId",)),
    "erp.invoice.post": ("invoice_number", ("tranId", "externalId")),
    "erp.payment.post": ("payment_id", ("tranId", "externalId")),
    "billing.subscription.create": ("subscription_id", ("number", "subscriptionNumber")),
    "billing.invoice.create": ("invoice_number", ("number", "invoiceNumber")),
    "billing.payment.apply": ("payment_id", ("number",)),
}


def _created_keys(target: StepTarget, response: Any) -> dict[str, str]:
    found = _CREATED_KEYS.get(target.step)
    if found is None or not isinstance(response, dict):
        return {}
    name, fields = found
    for f in fields:
        value = response.get(f)
        if isinstance(value, str) and value:
            return {name: value}
    return {}


def _claim_state(outcome: str) -> str:
    return {"succeeded": "succeeded", "linked": "linked"}.get(outcome, "failed")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return json.loads(json.dumps(asdict(value), default=str))
    return json.loads(json.dumps(value, default=str))
