"""The billing sandbox's state and business rules (Zuora-like), without HTTP.

:class:`BillingState` indexes the master data (``billing.json``: products,
accounts, subscriptions, invoices, payments), numbers new records (``A-S...``,
``INV-...``, ``P-...``), prices rate plans per currency and term, and refuses what
Zuora would refuse by raising :class:`Refusal` (an HTTP status, a Zuora numeric
code and a message). :mod:`services.sandbox.billing` turns both into wire answers.
"""

from __future__ import annotations

import calendar
import hashlib
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["INVALID", "NOT_FOUND", "VERSION_CONFLICT", "BillingState", "Refusal", "add_months"]

INVALID = 53100020  # invalid value (category 20)
NOT_FOUND = 50000040  # cannot find entity (category 40)
VERSION_CONFLICT = 53004090  # what the middleware logs for a stale amendment
CENT = Decimal("0.01")
USAGE_MONTHS = [(2026, m) for m in range(7, 13)] + [(2027, m) for m in range(1, 7)]


class Refusal(Exception):
    """A request Zuora would refuse: ``status`` 200 for business errors, as Zuora does."""

    def __init__(self, message: str, code: int = INVALID, status: int = 200) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months (clamped to the month's last day)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _day(value: Any, field: str) -> date:
    """An ISO date from a request field, or a Refusal naming the field."""
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise Refusal(f"Invalid value for field {field}: {value!r} is not a date") from None


def _num(number: Decimal) -> float:
    """An amount as a JSON number rounded to cents."""
    return float(number.quantize(CENT, ROUND_HALF_UP))


def _new_id() -> str:
    """A new Zuora-like 32-hex id."""
    return uuid.uuid4().hex


class BillingState:
    """Indexes and rules over the billing master data (mutated in place)."""

    def __init__(self, data: dict[str, Any], unknown_item: Callable[[], str | None]) -> None:
        self.data = data
        self.unknown_item = unknown_item
        for name in ("products", "accounts", "subscriptions", "invoices", "payments"):
            data.setdefault(name, [])
        self.plans: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        for product in data["products"]:
            for plan in product.get("productRatePlans", []):
                self.plans[plan["id"]] = (product, plan)
        self.accounts = _index(data["accounts"], "accountNumber")
        self.subs = _index(data["subscriptions"], "subscriptionNumber")
        self.invoices = _index(data["invoices"], "invoiceNumber")
        self.payments = _index(data["payments"], "number")
        self._next = {
            "sub": _highest(self.subs, "A-S"),
            "inv": _highest(self.invoices, "INV-"),
            "pay": _highest(self.payments, "P-"),
        }

    # -- lookups ----------------------------------------------------------------------

    def product(self, key: str) -> dict[str, Any] | None:
        """A product by id or SKU; the ``unknown_item`` fault's SKU does not exist."""
        for product in self.data["products"]:
            if key in (product["id"], product["sku"]) and product["sku"] != self.unknown_item():
                return product
        return None

    def account(self, key: Any, field: str = "accountNumber") -> dict[str, Any]:
        """The account with this number or id, or a Refusal naming ``field``."""
        found = self.accounts.get(str(key))
        if found is None:
            raise Refusal(f"Invalid value for field {field}: no account {key}")
        return found

    def subscriptions_of(self, account_number: str) -> list[dict[str, Any]]:
        """The account's subscriptions, oldest first."""
        subs = {id(s): s for s in self.subs.values() if s["accountNumber"] == account_number}
        return sorted(subs.values(), key=lambda s: s["subscriptionNumber"])

    def of_account(self, collection: str, account_number: str) -> list[dict[str, Any]]:
        """The invoices or payments of an account."""
        return [r for r in self.data[collection] if r.get("accountNumber") == account_number]

    def charge(self, plan_id: Any, currency: str, on: date) -> dict[str, Any]:
        """A priced line for a rate plan (``_charge``, ``_price``); checks SKU, currency, date."""
        product, plan = self.plans.get(str(plan_id), ({}, {}))
        if not product or product["sku"] == self.unknown_item():
            raise Refusal(
                f"Invalid value for field productRatePlanId: {plan_id} is not in the catalog"
            )
        if str(on) > product.get("effectiveEndDate", "9999"):
            raise Refusal(f"Product {product['sku']} expired on {product['effectiveEndDate']}")
        charge = plan["productRatePlanCharges"][0]
        prices = {p["currency"]: p["price"] for p in charge.get("pricing", [])}
        if currency not in prices:
            raise Refusal(f"Product {product['sku']} has no price in {currency}")
        return {"productSku": product["sku"], "productRatePlanId": plan["id"],
                "_charge": charge, "_price": Decimal(str(prices[currency]))}  # fmt: skip

    def priced(self, lines: list[dict[str, Any]], currency: str, on: date) -> list[dict[str, Any]]:
        """Stored lines with today's price; expired or mistyped plans are not charged."""
        out = []
        for line in lines:
            try:
                out.append({**line, **self.charge(line["productRatePlanId"], currency, on)})
            except Refusal:
                continue
        return out

    # -- subscriptions ----------------------------------------------------------------

    def _lines(self, plans: Any, field: str, currency: str, on: date) -> list[dict[str, Any]]:
        """Zuora rate plans (with charge overrides) as stored lines with their price."""
        if not isinstance(plans, list) or not plans:
            raise Refusal(f"Invalid value for field {field}: at least one rate plan is required")
        lines = []
        for plan in plans:
            overrides = plan.get("chargeOverrides") or [{}]
            line = self.charge(plan.get("productRatePlanId"), currency, on)
            quantity = Decimal(str(overrides[0].get("quantity", 1)))
            if quantity <= 0:
                raise Refusal(f"Invalid value for field quantity: {quantity}")
            line["quantity"] = int(quantity) if quantity == int(quantity) else float(quantity)
            lines.append(line)
        return lines

    def value(self, lines: list[dict[str, Any]], months: Decimal) -> Decimal:
        """Contract value of ``lines`` over ``months`` (annual list prices, one-time once)."""
        total = Decimal(0)
        for line in lines:
            kind, period = line["_charge"].get("type"), line["_charge"].get("billingPeriod")
            amount = line["_price"] * Decimal(str(line["quantity"]))
            if kind == "OneTime":
                total += amount
            elif kind == "Recurring":
                total += amount * (months / 12 if period == "Annual" else months)
        return total.quantize(CENT, ROUND_HALF_UP)

    def create_subscription(self, body: dict[str, Any]) -> tuple[dict[str, Any], Decimal]:
        """A new subscription (version 1) and its total contracted value."""
        account = self.account(body.get("accountKey"), "accountKey")
        start = _day(body.get("contractEffectiveDate"), "contractEffectiveDate")
        term_type = body.get("termType", "TERMED")
        if term_type not in ("TERMED", "EVERGREEN"):
            raise Refusal(f"Invalid value for field termType: {term_type}")
        term = int(body.get("initialTerm") or 0) if term_type == "TERMED" else 12
        if term <= 0:
            raise Refusal("Invalid value for field initialTerm: a TERMED subscription needs one")
        lines = self._lines(body.get("subscribeToRatePlans"), "subscribeToRatePlans",
                            account["currency"], start)  # fmt: skip
        self._next["sub"] += 1
        sub = {
            "id": _new_id(),
            "subscriptionNumber": f"A-S{self._next['sub']:08d}",
            "accountNumber": account["accountNumber"],
            "version": 1,
            "status": "Active",
            "termType": term_type,
            "currentTerm": term,
            "currentTermPeriodType": "Month",
            "autoRenew": bool(body.get("autoRenew", True)),
            "contractEffectiveDate": str(start),
            "termStartDate": str(start),
            "termEndDate": str(add_months(start, term)),
            "ratePlans": _stored(lines),
        }
        self.data["subscriptions"].append(sub)
        self.subs[sub["subscriptionNumber"]] = self.subs[sub["id"]] = sub
        return sub, self.value(lines, Decimal(term))

    def amend(self, sub: dict[str, Any], body: dict[str, Any]) -> Decimal:
        """Add rate plans (a new version); refuses a stale ``version``; the delta TCV."""
        expected = body.get("version")
        if expected is not None and int(expected) != sub["version"]:
            raise Refusal(
                f"Subscription {sub['subscriptionNumber']} was amended after version {expected} "
                f"(current version {sub['version']}); reload the subscription and resubmit "
                "the amendment",
                VERSION_CONFLICT,
            )
        currency = self.accounts[sub["accountNumber"]]["currency"]
        adds = body.get("add") or []
        on = _day((adds[0] if adds else {}).get("contractEffectiveDate"), "contractEffectiveDate")
        lines = self._lines(adds, "add", currency, on)
        end = date.fromisoformat(sub["termEndDate"])
        start = date.fromisoformat(sub["termStartDate"])
        share = Decimal(max(0, (end - on).days)) / Decimal(max(1, (end - start).days))
        sub["ratePlans"].extend(_stored(lines))
        self._bump(sub)
        return self.value(lines, Decimal(sub["currentTerm"]) * share)

    def renew(self, sub: dict[str, Any]) -> Decimal:
        """Start the next term (a new version); the added contract value."""
        if sub.get("termType") != "TERMED":
            raise Refusal(f"Subscription {sub['subscriptionNumber']} is not TERMED; cannot renew")
        start = date.fromisoformat(sub["termEndDate"])
        sub["termStartDate"] = str(start)
        sub["termEndDate"] = str(add_months(start, int(sub["currentTerm"])))
        self._bump(sub)
        currency = self.accounts[sub["accountNumber"]]["currency"]
        lines = self.priced(sub["ratePlans"], currency, start)
        return self.value(lines, Decimal(sub["currentTerm"]))

    def _bump(self, sub: dict[str, Any]) -> None:
        """A new version: new id, version + 1 (the old id still finds it)."""
        sub["version"] += 1
        sub["id"] = _new_id()
        self.subs[sub["id"]] = sub

    # -- invoices, payments, usage ----------------------------------------------------

    def generate_invoice(self, account: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """Bill the account's (listed) subscriptions for one year in advance; a posted invoice."""
        on = _day(body.get("effectiveDate") or body.get("targetDate"), "effectiveDate")
        keys = body.get("subscriptionIds") or [
            s["id"] for s in self.subscriptions_of(account["accountNumber"])
        ]
        subs = []
        for key in keys:
            sub = self.subs.get(str(key))
            if sub is None or sub["accountNumber"] != account["accountNumber"]:
                raise Refusal(
                    f"Invalid value for field subscriptionIds: {key} is not on the account"
                )
            subs.append(sub)
        currency = account["currency"]
        lines = [line for sub in subs for line in self.priced(sub["ratePlans"], currency, on)]
        amount = self.value(lines, Decimal(12))
        if amount <= 0:
            raise Refusal("There are no charges to bill for the given account and target date")
        self._next["inv"] += 1
        invoice = {
            "id": _new_id(),
            "invoiceNumber": f"INV-{self._next['inv']}",
            "accountNumber": account["accountNumber"],
            "invoiceDate": str(on),
            "dueDate": str(on + timedelta(days=30)),
            "currency": currency,
            "amountWithoutTax": _num(amount),
            "taxAmount": 0.0,
            "amount": _num(amount),
            "balance": _num(amount),
            "status": "Posted" if body.get("autoPost") else "Draft",
            "subscriptionNumbers": [s["subscriptionNumber"] for s in subs],
        }
        self.data["invoices"].append(invoice)
        self.invoices[invoice["invoiceNumber"]] = self.invoices[invoice["id"]] = invoice
        return invoice

    def apply_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        """A processed payment applied to invoices of the same account and currency."""
        account = self.account(body.get("accountNumber") or body.get("accountId"))
        if body.get("currency") != account["currency"]:
            raise Refusal(
                f"Invalid value for field currency: {body.get('currency')} is not the currency "
                f"of account {account['accountNumber']} ({account['currency']})"
            )
        amount = Decimal(str(body.get("amount") or 0))
        applied, parts = Decimal(0), []
        for item in body.get("invoices") or []:
            invoice = self.invoices.get(str(item.get("invoiceNumber") or item.get("invoiceId")))
            if invoice is None or invoice["accountNumber"] != account["accountNumber"]:
                raise Refusal(f"Invalid value for field invoices: {item} is not on the account")
            part = Decimal(str(item.get("amount") or 0))
            if part <= 0 or part > Decimal(str(invoice["balance"])):
                raise Refusal(
                    f"The amount {part} exceeds the balance of {invoice['invoiceNumber']}"
                )
            parts.append((invoice, part))
            applied += part
        if amount <= 0 or applied > amount:
            raise Refusal(f"Invalid value for field amount: {amount} (applied {applied})")
        for invoice, part in parts:
            invoice["balance"] = _num(Decimal(str(invoice["balance"])) - part)
        self._next["pay"] += 1
        payment = {
            "id": _new_id(),
            "number": f"P-{self._next['pay']}",
            "accountNumber": account["accountNumber"],
            "accountId": account["id"],
            "amount": _num(amount),
            "appliedAmount": _num(applied),
            "unappliedAmount": _num(amount - applied),
            "currency": account["currency"],
            "effectiveDate": str(_day(body.get("effectiveDate"), "effectiveDate")),
            "status": "Processed",
            "type": body.get("type") or "External",
            "invoices": [
                {"invoiceNumber": i["invoiceNumber"], "appliedAmount": _num(p)} for i, p in parts
            ],
        }
        self.data["payments"].append(payment)
        self.payments[payment["number"]] = self.payments[payment["id"]] = payment
        return payment

    def usage(self, account_number: str) -> list[dict[str, Any]]:
        """Monthly usage records of the account's subscriptions for each usage product."""
        meters = [p for p in self.data["products"] if _first_charge(p).get("type") == "Usage"]
        rows = []
        for sub in self.subscriptions_of(account_number):
            for product in meters:
                uom = _first_charge(product).get("uom")
                for year, month in USAGE_MONTHS:
                    seed = f"{sub['subscriptionNumber']}|{product['sku']}|{year}-{month}"
                    quantity = int(hashlib.sha256(seed.encode()).hexdigest()[:6], 16) % 400 + 1
                    last = calendar.monthrange(year, month)[1]
                    rows.append(
                        {
                            "id": hashlib.md5(seed.encode()).hexdigest(),
                            "accountNumber": account_number,
                            "subscriptionNumber": sub["subscriptionNumber"],
                            "unitOfMeasure": uom,
                            "quantity": quantity,
                            "startDateTime": f"{year}-{month:02d}-01T00:00:00",
                            "endDateTime": f"{year}-{month:02d}-{last}T23:59:59",
                            "status": "Processed",
                            "sourceName": "API",
                        }
                    )
        return rows


def _stored(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines without their working keys (``_charge``, ``_price``)."""
    return [{k: v for k, v in line.items() if not k.startswith("_")} for line in lines]


def _first_charge(product: dict[str, Any]) -> dict[str, Any]:
    """The product's first rate plan charge."""
    plans = product.get("productRatePlans") or [{}]
    return (plans[0].get("productRatePlanCharges") or [{}])[0]


def _index(rows: list[dict[str, Any]], number_field: str) -> dict[str, dict[str, Any]]:
    """Records by id and by number."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        out[str(row["id"])] = row
        out[str(row[number_field])] = row
    return out


def _highest(index: dict[str, dict[str, Any]], prefix: str) -> int:
    """The highest number used after ``prefix`` (10000 when none)."""
    numbers = [
        int(k[len(prefix) :]) for k in index if k.startswith(prefix) and k[len(prefix) :].isdigit()
    ]
    return max(numbers, default=10000)
