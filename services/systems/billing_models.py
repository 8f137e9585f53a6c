"""What the billing connector returns, and how Zuora's JSON turns into it.

Each model is a small frozen pydantic class; money is ``Decimal`` (Zuora sends JSON
numbers, the middleware's requests send strings: both are read through ``str`` so
``11988.06`` stays ``Decimal("11988.06")``). The ``from_*`` functions read one
Zuora record; they tolerate missing optional fields and never raise on extras.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "BillingAccount",
    "Charge",
    "Invoice",
    "Payment",
    "Product",
    "Subscription",
    "SubscriptionLine",
    "SubscriptionWrite",
    "UsageTotal",
    "money",
    "money_out",
]


def money(value: Any) -> Decimal | None:
    """A JSON number or numeric string as ``Decimal``; None when absent or unreadable."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def money_out(value: Any) -> float:
    """An amount for a Zuora request body (a JSON number, two decimals)."""
    amount = money(value)
    if amount is None:
        raise ValueError(f"not an amount: {value!r}")
    return float(amount.quantize(Decimal("0.01")))


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class BillingAccount(_Model):
    """A customer account (``GET /v1/accounts/{key}`` or an object query)."""

    id: str
    number: str
    name: str | None = None
    crm_id: str | None = None
    currency: str | None = None
    status: str | None = None
    bill_cycle_day: int | None = None
    payment_term: str | None = None
    balance: Decimal | None = None


class Charge(_Model):
    """One product rate plan charge with its price per currency."""

    product_id: str
    product_sku: str
    product_name: str | None = None
    rate_plan_id: str
    rate_plan_name: str | None = None
    charge_id: str
    charge_name: str | None = None
    charge_type: str | None = None
    model: str | None = None
    billing_period: str | None = None
    uom: str | None = None
    effective_end_date: date | None = None
    prices: dict[str, Decimal] = {}

    def price(self, currency: str) -> Decimal | None:
        """The list price in ``currency`` (ISO code), or None when not priced in it."""
        return self.prices.get(currency.upper())


class Product(_Model):
    """A catalog product and all the charges of its rate plans."""

    id: str
    sku: str
    name: str | None = None
    effective_end_date: date | None = None
    charges: tuple[Charge, ...] = ()


class SubscriptionLine(_Model):
    """One rate plan on a subscription."""

    product_sku: str | None
    product_rate_plan_id: str | None
    quantity: Decimal | None = None


class Subscription(_Model):
    """A subscription at its current version."""

    id: str
    number: str
    account_number: str | None = None
    version: int
    status: str | None = None
    term_type: str | None = None
    current_term: int | None = None
    current_term_period_type: str | None = None
    contract_effective_date: date | None = None
    term_start_date: date | None = None
    term_end_date: date | None = None
    auto_renew: bool | None = None
    rate_plans: tuple[SubscriptionLine, ...] = ()

    def quantities(self) -> dict[str, Decimal]:
        """Quantity per product SKU (summed over rate plans of the same SKU)."""
        out: dict[str, Decimal] = {}
        for line in self.rate_plans:
            if line.product_sku:
                out[line.product_sku] = out.get(line.product_sku, Decimal(0)) + (
                    line.quantity or Decimal(0)
                )
        return out


class SubscriptionWrite(_Model):
    """What a create/amend/renew answered: the number and the contract value change."""

    number: str
    subscription_id: str | None = None
    amount: Decimal | None = None  # totalContractedValue (create) or totalDeltaTcv
    term_start_date: date | None = None
    term_end_date: date | None = None


class Invoice(_Model):
    """An invoice (``GET /v1/invoices/{key}`` or an account's invoice list)."""

    id: str
    number: str
    account_number: str | None = None
    invoice_date: date | None = None
    due_date: date | None = None
    currency: str | None = None
    amount: Decimal | None = None
    amount_without_tax: Decimal | None = None
    tax_amount: Decimal | None = None
    balance: Decimal | None = None
    status: str | None = None
    subscription_numbers: tuple[str, ...] = ()


class Payment(_Model):
    """A payment (``GET /v1/payments/{key}`` or an account's payment list)."""

    id: str
    number: str
    account_number: str | None = None
    amount: Decimal | None = None
    applied_amount: Decimal | None = None
    currency: str | None = None
    effective_date: date | None = None
    status: str | None = None
    type: str | None = None


class UsageTotal(_Model):
    """Usage of one charge on one subscription over a period, summed."""

    subscription_number: str
    charge_sku: str
    start_date: date
    end_date: date
    quantity: Decimal
    uom: str | None = None
    records: int = 0


# -- reading Zuora records ------------------------------------------------------------


def account_from(body: dict[str, Any]) -> BillingAccount:
    """An account from ``GET /v1/accounts/{key}`` (nested) or an object-query row (flat)."""
    info = body.get("basicInfo") or body
    billing = body.get("billingAndPayment") or body
    metrics = body.get("metrics") or {}
    return BillingAccount(
        id=str(info.get("id") or ""),
        number=str(info.get("accountNumber") or ""),
        name=info.get("name"),
        crm_id=info.get("crmId"),
        currency=billing.get("currency") or info.get("currency"),
        status=info.get("status"),
        bill_cycle_day=billing.get("billCycleDay"),
        payment_term=billing.get("paymentTerm"),
        balance=money(metrics.get("balance", info.get("balance"))),
    )


def product_from(body: dict[str, Any]) -> Product:
    """A catalog product with every charge of every rate plan."""
    charges = []
    for plan in body.get("productRatePlans") or []:
        for charge in plan.get("productRatePlanCharges") or []:
            prices = {
                str(p.get("currency")).upper(): amount
                for p in charge.get("pricing") or []
                if (amount := money(p.get("price"))) is not None
            }
            charges.append(
                Charge(
                    product_id=str(body.get("id")),
                    product_sku=str(body.get("sku")),
                    product_name=body.get("name"),
                    rate_plan_id=str(plan.get("id")),
                    rate_plan_name=plan.get("name"),
                    charge_id=str(charge.get("id")),
                    charge_name=charge.get("name"),
                    charge_type=charge.get("type"),
                    model=charge.get("model"),
                    billing_period=charge.get("billingPeriod"),
                    uom=charge.get("uom"),
                    effective_end_date=body.get("effectiveEndDate"),
                    prices=prices,
                )
            )
    return Product(
        id=str(body.get("id")),
        sku=str(body.get("sku")),
        name=body.get("name"),
        effective_end_date=body.get("effectiveEndDate"),
        charges=tuple(charges),
    )


def subscription_from(body: dict[str, Any]) -> Subscription:
    """A subscription from ``GET /v1/subscriptions/{key}`` or an account's list."""
    lines = []
    for plan in body.get("ratePlans") or []:
        charges = plan.get("ratePlanCharges") or [{}]
        quantity = plan.get("quantity", charges[0].get("quantity"))
        lines.append(
            SubscriptionLine(
                product_sku=plan.get("productSku"),
                product_rate_plan_id=plan.get("productRatePlanId"),
                quantity=money(quantity),
            )
        )
    return Subscription(
        id=str(body.get("id") or ""),
        number=str(body.get("subscriptionNumber") or ""),
        account_number=body.get("accountNumber"),
        version=int(body.get("version") or 1),
        status=body.get("status"),
        term_type=body.get("termType"),
        current_term=body.get("currentTerm"),
        current_term_period_type=body.get("currentTermPeriodType"),
        contract_effective_date=body.get("contractEffectiveDate"),
        term_start_date=body.get("termStartDate"),
        term_end_date=body.get("termEndDate"),
        auto_renew=body.get("autoRenew"),
        rate_plans=tuple(lines),
    )


def invoice_from(body: dict[str, Any]) -> Invoice:
    """An invoice record."""
    return Invoice(
        id=str(body.get("id") or ""),
        number=str(body.get("invoiceNumber") or ""),
        account_number=body.get("accountNumber"),
        invoice_date=body.get("invoiceDate"),
        due_date=body.get("dueDate"),
        currency=body.get("currency"),
        amount=money(body.get("amount")),
        amount_without_tax=money(body.get("amountWithoutTax")),
        tax_amount=money(body.get("taxAmount")),
        balance=money(body.get("balance")),
        status=body.get("status"),
        subscription_numbers=tuple(body.get("subscriptionNumbers") or ()),
    )


def payment_from(body: dict[str, Any]) -> Payment:
    """A payment record."""
    return Payment(
        id=str(body.get("id") or ""),
        number=str(body.get("number") or body.get("paymentNumber") or ""),
        account_number=body.get("accountNumber"),
        amount=money(body.get("amount")),
        applied_amount=money(body.get("appliedAmount")),
        currency=body.get("currency"),
        effective_date=body.get("effectiveDate"),
        status=body.get("status"),
        type=body.get("type"),
    )
