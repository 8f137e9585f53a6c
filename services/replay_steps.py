"""Which steps can be sent again, and how: one entry per ``system operation``.

Each :class:`StepSpec` says how to send the step's stored request through its
system's connector (with the idempotency key) and how to ask that system whether
the step's effect already exists (the target check). Specs are registered with
:func:`register_step`; the built-in ones below use it too. A step without a spec
(``middleware order.validate``, Salesforce's own ``opportunity.closed_won``) is not
replayable, and says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from services.errors import InputError

__all__ = [
    "STEPS",
    "StepCall",
    "StepSpec",
    "check_schema",
    "register_step",
    "spec_for",
]


@dataclass(frozen=True, slots=True)
class StepCall:
    """What a send or a check needs besides the connector."""

    request: dict[str, Any]
    idempotency_key: str
    keys: dict[str, list[str]]  # the transaction's business keys
    subject: str | None
    endpoint_path: str | None


Sender = Callable[[Any, StepCall], Any]
Checker = Callable[[Any, StepCall], Any]


@dataclass(frozen=True, slots=True)
class StepSpec:
    system: str
    operation: str
    send: Sender
    check: Checker | None
    schema: type[BaseModel] | None = None

    @property
    def name(self) -> str:
        return f"{self.system}.{self.operation}"


STEPS: dict[tuple[str, str], StepSpec] = {}


def register_step(spec: StepSpec) -> StepSpec:
    """Make ``spec`` the way to replay ``spec.system spec.operation``."""
    STEPS[(spec.system, spec.operation)] = spec
    return spec


def spec_for(system: str, operation: str) -> StepSpec | None:
    return STEPS.get((system, operation))


def check_schema(spec: StepSpec, payload: Any) -> dict[str, Any]:
    """``payload`` checked against the step's request schema (a resubmit's edit).

    Raises:
        InputError: one line per problem, naming the field.
    """
    if not isinstance(payload, dict):
        raise InputError(f"the {spec.name} request must be a JSON object")
    if spec.schema is None:
        return payload
    try:
        spec.schema.model_validate(payload)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(request)'}: {err['msg']}"
            for err in exc.errors()[:5]
        ]
        raise InputError(
            f"the {spec.name} request does not fit its schema: " + "; ".join(problems)
        ) from None
    return payload


# -- request schemas (what the middleware sends; extra fields are kept) ----------------


class _Schema(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Line(_Schema):
    item: str
    qty: float
    rate: str | float


class SalesOrderRequest(_Schema):
    externalId: str  # noqa: N815 - the wire's names
    customer: str
    subsidiary: str
    currency: str
    tranDate: str  # noqa: N815
    lines: list[_Line]


class InvoicePostRequest(_Schema):
    externalId: str  # noqa: N815
    customer: str
    tranDate: str  # noqa: N815
    total: str | float


class PaymentPostRequest(_Schema):
    externalId: str  # noqa: N815
    customer: str
    payment: str | float
    currency: str


class CustomerUpsertRequest(_Schema):
    externalId: str  # noqa: N815
    companyName: str  # noqa: N815


class _RatePlan(_Schema):
    productSku: str  # noqa: N815
    quantity: float


class SubscriptionCreateRequest(_Schema):
    accountNumber: str  # noqa: N815
    contractEffectiveDate: str  # noqa: N815
    subscribeToRatePlans: list[_RatePlan]  # noqa: N815


class InvoiceCreateRequest(_Schema):
    accountNumber: str  # noqa: N815
    invoiceDate: str  # noqa: N815


class PaymentApplyRequest(_Schema):
    accountNumber: str  # noqa: N815
    amount: str | float
    currency: str


class _TaxLine(_Schema):
    number: str
    amount: str | float


class TaxCalculateRequest(_Schema):
    companyCode: str  # noqa: N815
    code: str
    customerCode: str  # noqa: N815
    date: str
    lines: list[_TaxLine]


# -- the built-in steps ------------------------------------------------------------------

_SF_ID = re.compile(r"/sobjects/\w+/([A-Za-z0-9]{15,18})")


def _first(call: StepCall, key: str) -> str | None:
    values = call.keys.get(key) or []
    return values[0] if values else None


def _record_id(call: StepCall, key: str) -> str:
    found = _SF_ID.search(call.endpoint_path or "")
    value = found.group(1) if found else _first(call, key)
    if not value:
        raise InputError(f"cannot tell which record to update: no {key} and no endpoint path")
    return value


def _subscription(call: StepCall) -> str:
    value = _first(call, "subscription_id") or call.subject
    if not value:
        raise InputError("cannot tell which subscription: no subscription_id key or subject")
    return value


def _writeback_check(
    fields_of: Callable[[Any, str, list[str]], dict[str, Any]], key: str
) -> Checker:
    def check(conn: Any, call: StepCall) -> Any:
        current = fields_of(conn, _record_id(call, key), list(call.request))
        same = all(current.get(k) == v for k, v in call.request.items())
        return current if same else None

    return check


for _spec in (
    StepSpec(
        "erp",
        "customer.upsert",
        lambda c, s: c.upsert_customer(s.request, idempotency_key=s.idempotency_key),
        lambda c, s: c.find_customer(external_id=s.request.get("externalId")),
        CustomerUpsertRequest,
    ),
    StepSpec(
        "erp",
        "salesorder.create",
        lambda c, s: c.create_sales_order(s.request, idempotency_key=s.idempotency_key),
        lambda c, s: c.find_sales_order(external_id=s.request.get("externalId")),
        SalesOrderRequest,
    ),
    StepSpec(
        "erp",
        "invoice.post",
        lambda c, s: c.post_invoice(s.request, idempotency_key=s.idempotency_key),
        lambda c, s: c.find_invoice(external_id=s.request.get("externalId")),
        InvoicePostRequest,
    ),
    StepSpec(
        "erp",
        "payment.post",
        lambda c, s: c.post_payment(s.request, idempotency_key=s.idempotency_key),
        lambda c, s: c.find_payment(external_id=s.request.get("externalId")),
        PaymentPostRequest,
    ),
    StepSpec(
        "billing",
        "subscription.create",
        lambda c, s: c.create_subscription(s.request, idempotency_key=s.idempotency_key),
        lambda c, s: c.find_target("subscription.create", s.request),
        SubscriptionCreateRequest,
    ),
    StepSpec(
        "billing",
        "subscription.amend",
        lambda c, s: c.amend_subscription(
            _subscription(s), s.request, idempotency_key=s.idempotency_key
        ),
        lambda c, s: c.find_target("subscription.amend", s.request, subject=_subscription(s)),
    ),
    StepSpec(
        "billing",
        "subscription.renew",
        lambda c, s: c.renew_subscription(
            _subscription(s), s.request, idempotency_key=s.idempotency_key
        ),
        lambda c, s: c.find_target("subscription.renew", s.request, subject=_subscription(s)),
    ),
    StepSpec(
        "billing",
        "invoice.create",
        lambda c, s: c.create_invoice(s.request, idempotency_key=s.idempotency_key),
        lambda c, s: c.find_target("invoice.create", s.request),
        InvoiceCreateRequest,
    ),
    StepSpec(
        "billing",
        "payment.apply",
        lambda c, s: c.apply_payment(s.request, idempotency_key=s.idempotency_key),
        lambda c, s: c.find_target("payment.apply", s.request),
        PaymentApplyRequest,
    ),
    StepSpec(
        "tax",
        "tax.calculate",
        lambda c, s: c.calculate(s.request, commit=False, idempotency_key=s.idempotency_key),
        None,  # a quote changes nothing: always safe to send again
        TaxCalculateRequest,
    ),
    StepSpec(
        "salesforce",
        "opportunity.writeback",
        lambda c, s: c.opportunity_writeback(_record_id(s, "opportunity_id"), s.request),
        _writeback_check(lambda c, i, f: c.get_opportunity_fields(i, f), "opportunity_id"),
    ),
    StepSpec(
        "salesforce",
        "account.writeback",
        lambda c, s: c.account_writeback(_record_id(s, "account_id"), s.request),
        None,
    ),
):
    register_step(_spec)
