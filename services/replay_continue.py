"""Continue the flow: after the failed step succeeded, run the steps that never ran.

The steps after a failure have no stored request (they never ran), so each one
is built from what the transaction already holds: its business keys (order,
invoice and subscription numbers, which the console's own events add as they
are created) and the requests and answers of earlier steps. Builders are
registered per ``system operation`` with :func:`register_builder`; a step with
no builder stops the run with that reason. Each step is sent through the same
exactly-once path as a replay, with the middleware's key scheme
(``<correlation id>:<operation>``), so a step the middleware also runs later
lands on the same idempotency key. The run stops at the first step that does
not succeed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel

from services.errors import InputError
from services.replay import ActionResult, Actions
from services.replay_plan import StepTarget, steps_of
from services.roles import Actor, authorize, check_reason
from services.schemas import TraceOut

__all__ = ["ContinueResult", "Context", "continue_flow", "register_builder", "remaining_steps"]


@dataclass(frozen=True, slots=True)
class Context:
    """What a builder may use: the transaction's keys and each step's last request/answer."""

    trace: TraceOut
    requests: dict[str, dict[str, Any]]
    responses: dict[str, Any]

    def key(self, name: str) -> str | None:
        values = self.trace.keys.get(name) or []
        return values[0] if values else None

    def need(self, name: str, why: str) -> str:
        value = self.key(name)
        if not value:
            raise InputError(f"cannot build {why}: the transaction has no {name} yet")
        return value


Builder = Callable[[Context], dict[str, Any]]
BUILDERS: dict[str, Builder] = {}


def register_builder(step: str) -> Callable[[Builder], Builder]:
    """Decorator: ``fn(context) -> request`` builds ``step`` (``system.operation``)."""

    def deco(fn: Builder) -> Builder:
        BUILDERS[step] = fn
        return fn

    return deco


class ContinueResult(BaseModel):
    """What ``continue_flow`` did: one result per step it tried, and why it stopped."""

    transaction_id: str
    steps: list[ActionResult]
    stopped: str | None  # None when every remaining step succeeded
    remaining: list[str]


def _succeeded(trace: TraceOut) -> set[str]:
    return {
        name for name, evs in steps_of(trace).items() if any(e.status == "succeeded" for e in evs)
    }


def remaining_steps(actions: Actions, trace: TraceOut) -> list[str]:
    """The flow's steps after the last one that succeeded, that have not succeeded."""
    flow = actions.console.catalog.flows.get(trace.flow or "")
    if not flow:
        return []
    done = _succeeded(trace)
    names = [f"{s.system}.{s.operation}" for s in flow]
    last = max((i for i, n in enumerate(names) if n in done), default=-1)
    return [n for n in names[last + 1 :] if n not in done]


def _context(trace: TraceOut) -> Context:
    requests: dict[str, dict[str, Any]] = {}
    responses: dict[str, Any] = {}
    for ev in trace.events:
        data = ev.raw.get("data", {})
        name = f"{ev.system}.{ev.operation}"
        if isinstance(data.get("request"), dict):
            requests[name] = data["request"]
        if ev.status == "succeeded" and data.get("response") is not None:
            responses[name] = data["response"]
    return Context(trace, requests, responses)


def continue_flow(
    actions: Actions,
    *,
    key: str,
    actor: Actor,
    reason: str,
    reason_code: str,
    dry_run: bool = False,
) -> ContinueResult:
    """Run the remaining steps of the flow in order, stopping at the first failure.

    Raises:
        InputError: the transaction still has a failed step, or nothing remains.
    """
    authorize(actor, "continue", actions.settings)
    check_reason(reason, reason_code, actions.settings)
    traces = actions.console.find_traces(key)
    if len(traces) != 1:
        actions.target(key)  # raises the right message for 0 or several
    trace = traces[0]
    failed = [n for n, evs in steps_of(trace).items() if evs[-1].status == "failed"]
    if failed and any(n not in _succeeded(trace) for n in failed):
        raise InputError(
            f"{trace.transaction_id} still has a failed step ({', '.join(failed)}): "
            "replay or resubmit it first"
        )
    todo = remaining_steps(actions, trace)
    if not todo:
        raise InputError(f"{trace.transaction_id} has no remaining steps to run")
    results: list[ActionResult] = []
    stopped: str | None = None
    for step in todo:
        builder = BUILDERS.get(step)
        if builder is None:
            stopped = f"{step}: the console cannot build this step's request; run it by hand"
            break
        try:
            request = builder(_context(trace))
        except InputError as exc:
            stopped = f"{step}: {exc}"
            break
        system, operation = step.split(".", 1)
        base = trace.correlation_id or trace.transaction_id
        target = StepTarget(
            transaction_id=trace.transaction_id,
            correlation_id=trace.correlation_id,
            flow=trace.flow,
            system=system,
            operation=operation,
            status="pending",
            attempts=0,
            request=request,
            idempotency_key=f"{base}:{operation}",
            subject=trace.subject,
            keys=trace.keys,
            original_keys={k: v[0] for k, v in trace.keys.items() if v},
            amount=trace.amount,
            currency=trace.currency,
        )
        result = actions._send(
            "continue",
            target,
            request,
            f"{base}:{operation}",
            actor,
            reason,
            reason_code,
            dry_run,
        )
        results.append(result)
        if result.outcome not in ("succeeded", "linked", "dry_run"):
            stopped = f"{step}: {result.outcome}: {result.message}"
            break
        if dry_run:
            stopped = "dry run: only the next step is checked (later ones need its answer)"
            break
        refreshed = actions.console.get_trace(trace.transaction_id)
        if refreshed is not None:
            trace = refreshed
    return ContinueResult(
        transaction_id=trace.transaction_id,
        steps=results,
        stopped=stopped,
        remaining=remaining_steps(actions, trace),
    )


# -- builders (the sample flows' shapes) --------------------------------------------------


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InputError(f"not an amount: {value!r}") from None


def _order(ctx: Context) -> dict[str, Any]:
    order = ctx.requests.get("erp.salesorder.create")
    if order is None:
        raise InputError("the transaction has no sales order request to start from")
    return order


def _order_total(order: dict[str, Any]) -> str:
    total = sum(
        (_money(line.get("rate", 0)) * _money(line.get("qty", 0)) for line in order["lines"]),
        Decimal(0),
    )
    return f"{total:.2f}"


def _period(day: str) -> str:
    return date.fromisoformat(day[:10]).strftime("%b %Y")


def _field(value: Any, *names: str) -> Any:
    if isinstance(value, dict):
        for name in names:
            if value.get(name) is not None:
                return value[name]
    return None


@register_builder("tax.tax.calculate")
def _tax(ctx: Context) -> dict[str, Any]:
    order = _order(ctx)
    return {
        "companyCode": order["subsidiary"],
        "type": "SalesOrder",
        "code": ctx.need("order_number", "the tax document code"),
        "customerCode": order["customer"],
        "date": order["tranDate"],
        "currencyCode": order["currency"],
        "lines": [{"number": "1", "amount": _order_total(order), "taxCode": "SW054000"}],
    }


@register_builder("billing.invoice.create")
def _billing_invoice(ctx: Context) -> dict[str, Any]:
    order = _order(ctx)
    return {
        "accountNumber": order["customer"],
        "invoiceDate": order["tranDate"],
        "subscriptionNumbers": [ctx.need("subscription_id", "the billing invoice")],
    }


@register_builder("erp.invoice.post")
def _erp_invoice(ctx: Context) -> dict[str, Any]:
    order = _order(ctx)
    invoice = ctx.responses.get("billing.invoice.create")
    total = _field(invoice, "amount") or _order_total(order)
    return {
        "externalId": ctx.need("invoice_number", "the ERP invoice"),
        "customer": order["customer"],
        "createdFrom": ctx.need("order_number", "the ERP invoice"),
        "tranDate": order["tranDate"],
        "postingPeriod": _period(order["tranDate"]),
        "total": f"{_money(total):.2f}",
    }


@register_builder("salesforce.opportunity.writeback")
def _writeback(ctx: Context) -> dict[str, Any]:
    return {
        "Integration_Status__c": "Synced",
        "ERP_Order_Number__c": ctx.need("order_number", "the write-back"),
        "Subscription_Number__c": ctx.need("subscription_id", "the write-back"),
        "Invoice_Number__c": ctx.need("invoice_number", "the write-back"),
    }


@register_builder("erp.payment.post")
def _payment(ctx: Context) -> dict[str, Any]:
    applied = ctx.requests.get("billing.payment.apply")
    if applied is None:
        raise InputError("the transaction has no billing payment to post")
    number = _field(ctx.responses.get("billing.payment.apply"), "number") or ctx.need(
        "payment_id", "the ERP payment"
    )
    return {
        "externalId": number,
        "customer": applied["accountNumber"],
        "payment": f"{_money(applied['amount']):.2f}",
        "currency": applied["currency"],
        "apply": [
            {"doc": i["invoiceNumber"], "amount": f"{_money(i['amount']):.2f}"}
            for i in applied.get("invoices", [])
        ],
    }
