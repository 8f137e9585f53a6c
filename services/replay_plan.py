"""Which step of which transaction an action is about, and what the target says.

:func:`find_target` turns a key (any ID a person has) and an optional step into
one :class:`StepTarget`: the transaction, the step, its first failed attempt with
the request and idempotency key that were sent, and the first error.
:func:`check_target` asks the target system whether the step's effect already
exists. Nothing here writes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from services.errors import ConflictError, ConnectorError, InputError, NotFoundError
from services.replay_steps import StepCall, StepSpec, spec_for
from services.schemas import EventOut, TraceOut

__all__ = ["StepTarget", "TargetCheck", "find_target", "check_target", "step_call", "steps_of"]

Verdict = Literal["would_create", "exists", "conflict", "unknown", "not_checked"]


class StepTarget(BaseModel):
    """One step of one transaction, as an action sees it."""

    transaction_id: str
    correlation_id: str | None
    flow: str | None
    system: str
    operation: str
    status: str  # the step's latest outcome: failed | succeeded | started
    attempts: int
    first_error: dict[str, Any] | None = None
    original_source: str | None = None
    original_id: str | None = None
    request: Any = None
    idempotency_key: str | None = None
    endpoint_path: str | None = None
    subject: str | None = None
    keys: dict[str, list[str]] = Field(default_factory=dict)
    original_keys: dict[str, str] = Field(default_factory=dict)
    amount: str | None = None
    currency: str | None = None

    @property
    def step(self) -> str:
        return f"{self.system}.{self.operation}"

    @property
    def effect_key(self) -> str:
        return f"{self.step}|{self.idempotency_key}"


class TargetCheck(BaseModel):
    """What the target system said before anything is sent."""

    verdict: Verdict
    message: str
    record: Any = None

    @property
    def may_send(self) -> bool:
        return self.verdict in ("would_create", "not_checked")


def steps_of(trace: TraceOut) -> dict[str, list[EventOut]]:
    """The transaction's events grouped by ``system.operation``, in time order."""
    out: dict[str, list[EventOut]] = {}
    for ev in trace.events:
        out.setdefault(f"{ev.system}.{ev.operation}", []).append(ev)
    return out


def _status(events: list[EventOut]) -> str:
    terminal = [e for e in events if e.status in ("succeeded", "failed")]
    return terminal[-1].status if terminal else events[-1].status


def _target(trace: TraceOut, step: str, events: list[EventOut]) -> StepTarget:
    failed = [e for e in events if e.status == "failed"]
    with_request = [e for e in events if e.raw.get("data", {}).get("request") is not None]
    original = next((e for e in failed if e in with_request), None) or (
        with_request[0] if with_request else (failed[0] if failed else events[0])
    )
    data = original.raw.get("data", {})
    endpoint = data.get("endpoint") if isinstance(data.get("endpoint"), dict) else {}
    system, operation = step.split(".", 1)
    first_error = failed[0].error.model_dump() if failed and failed[0].error else None
    return StepTarget(
        transaction_id=trace.transaction_id,
        correlation_id=trace.correlation_id,
        flow=trace.flow,
        system=system,
        operation=operation,
        status=_status(events),
        attempts=max(e.attempt for e in events),
        first_error=first_error,
        original_source=original.source,
        original_id=original.id,
        request=data.get("request"),
        idempotency_key=data.get("idempotency_key"),
        endpoint_path=endpoint.get("path") if isinstance(endpoint.get("path"), str) else None,
        subject=original.subject or trace.subject,
        keys=trace.keys,
        original_keys=original.keys,
        amount=trace.amount,
        currency=trace.currency,
    )


def find_target(traces: list[TraceOut], key: str, step: str | None) -> StepTarget:
    """The step an action is about.

    Args:
        traces: what ``find_traces(key)`` returned.
        key: the key the person gave (for messages).
        step: ``system.operation``; None picks the transaction's one failed step.

    Raises:
        NotFoundError: nothing carries ``key``.
        InputError: the key matches several transactions, the step is unknown,
            already succeeded, or there are several failed steps to choose from.
    """
    if not traces:
        raise NotFoundError(f"no transaction carries {key!r}")
    if len(traces) > 1:
        ids = ", ".join(t.transaction_id for t in traces[:5])
        raise InputError(
            f"{key!r} matches {len(traces)} transactions ({ids}); give a transaction id "
            "or correlation ID"
        )
    trace = traces[0]
    steps = steps_of(trace)
    if step is not None:
        if step not in steps:
            raise InputError(
                f"{trace.transaction_id} has no step {step!r}; its steps: {', '.join(steps)}"
            )
        target = _target(trace, step, steps[step])
        if target.status == "succeeded":
            raise InputError(
                f"{step} of {trace.transaction_id} already succeeded: nothing to replay"
            )
        return target
    failed = [name for name, evs in steps.items() if _status(evs) == "failed"]
    if not failed:
        raise InputError(f"{trace.transaction_id} has no failed step: nothing to replay")
    if len(failed) > 1:
        raise InputError(
            f"{trace.transaction_id} has {len(failed)} failed steps ({', '.join(failed)}); "
            "choose one with --step"
        )
    return _target(trace, failed[0], steps[failed[0]])


def require_replayable(target: StepTarget) -> StepSpec:
    """The step's spec, or a clear reason it cannot be sent again."""
    spec = spec_for(target.system, target.operation)
    if spec is None:
        raise InputError(
            f"{target.step} cannot be replayed: the console has no connector operation for it"
        )
    return spec


def step_call(target: StepTarget, request: dict[str, Any], key: str) -> StepCall:
    return StepCall(
        request=request,
        idempotency_key=key,
        keys=target.keys,
        subject=target.subject,
        endpoint_path=target.endpoint_path,
    )


def check_target(spec: StepSpec, connector: Any, call: StepCall) -> TargetCheck:
    """Ask the target system whether the step's effect already exists."""
    if spec.check is None:
        return TargetCheck(
            verdict="not_checked",
            message=f"{spec.name} changes nothing that can exist twice: it will be sent",
        )
    try:
        record = spec.check(connector, call)
    except ConflictError as exc:
        return TargetCheck(verdict="conflict", message=f"conflict: {exc}")
    except (ConnectorError, InputError) as exc:
        return TargetCheck(
            verdict="unknown", message=f"could not ask {spec.system}, so nothing is sent: {exc}"
        )
    if record is None:
        return TargetCheck(verdict="would_create", message=f"would create: {spec.name}")
    return TargetCheck(
        verdict="exists",
        message=f"already exists in {spec.system}: will link, not send",
        record=_plain(record),
    )


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    return value
