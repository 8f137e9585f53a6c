"""The billing connector's reads: accounts, catalog, subscriptions, invoices, payments, usage.

Each ``get_*``/``find_*`` returns a record of :mod:`services.systems.billing_models`
or None when the billing system says it does not exist; lists follow every page.
:class:`BillingReads` is the base of :class:`services.systems.billing.BillingConnector`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from itertools import islice
from typing import Any
from urllib.parse import quote

from services.errors import RecordNotFound, RejectedError
from services.systems.billing_models import (
    BillingAccount,
    Charge,
    Invoice,
    Payment,
    Product,
    Subscription,
    UsageTotal,
    account_from,
    invoice_from,
    money,
    payment_from,
    product_from,
    subscription_from,
)
from services.systems.billing_wire import ZuoraHttp

__all__ = ["BillingReads", "Request", "field_of", "invalid", "path_key"]

Request = Mapping[str, Any]


def path_key(value: str) -> str:
    """A record key made safe as one path segment."""
    return quote(str(value), safe="")


class BillingReads(ZuoraHttp):
    """Reads of the billing platform (Zuora REST v1 shapes)."""

    """The subscription billing platform (Zuora REST v1 shapes)."""

    page_size = 40  # Zuora's maximum for /v1 lists

    @property
    def base_url(self) -> str:
        """The API root this connector talks to."""
        return str(self.client.base_url).rstrip("/")

    def describe_auth(self) -> str:
        """The auth method and masked identity (never the secret)."""
        return self.auth.describe()

    def ping(self) -> None:
        """The cheapest authenticated read: one catalog product."""
        self.get_json("ping", "/v1/catalog/products", {"pageSize": 1})

    # -- accounts -------------------------------------------------------------------

    def get_account(self, account_number: str) -> BillingAccount | None:
        """The account with this number (or id), or None.

        Example:
            >>> billing.get_account("C-1014").currency
            'USD'
        """
        body = self.get_or_none("get_account", f"/v1/accounts/{path_key(account_number)}")
        return account_from(body) if body is not None else None

    def find_account(self, *, crm_id: str) -> BillingAccount | None:
        """The account whose CRM id (Salesforce Account id) is ``crm_id``, or None.

        Uses the object query ``GET /object-query/accounts?filter[]=crmid.EQ:<id>``.
        """
        params = {"filter[]": f"crmid.EQ:{crm_id}", "pageSize": 2}
        rows = list(islice(self.pages("find_account", "/object-query/accounts", params, "data"), 2))
        return account_from(rows[0]) if rows else None

    # -- catalog ----------------------------------------------------------------------

    def list_products(self) -> list[Product]:
        """Every catalog product with its rate plans, charges and prices (all pages)."""
        params = {"pageSize": self.page_size}
        rows = self.pages("list_products", "/v1/catalog/products", params, "products")
        return [product_from(row) for row in rows]

    def find_charge(self, product_sku: str) -> Charge | None:
        """The product's (first) rate plan charge with its prices, or None when unknown.

        Example:
            >>> billing.find_charge("API-1M").billing_period
            'Month'
        """
        body = self.get_or_none("find_charge", f"/v1/catalog/products/{path_key(product_sku)}")
        if body is None:
            return None
        charges = product_from(body).charges
        return charges[0] if charges else None

    def price(self, product_sku: str, currency: str) -> Decimal | None:
        """The list price of ``product_sku`` in ``currency`` per its billing period, or None."""
        charge = self.find_charge(product_sku)
        return charge.price(currency) if charge else None

    # -- subscriptions ----------------------------------------------------------------

    def get_subscription(self, number: str) -> Subscription | None:
        """The subscription at its current version, or None."""
        body = self.get_or_none("get_subscription", f"/v1/subscriptions/{path_key(number)}")
        return subscription_from(body) if body is not None else None

    def list_subscriptions(self, account_number: str) -> list[Subscription]:
        """The account's subscriptions (all pages)."""
        path = f"/v1/subscriptions/accounts/{path_key(account_number)}"
        rows = self.pages("list_subscriptions", path, {"pageSize": self.page_size}, "subscriptions")
        return [subscription_from(row) for row in rows]

    # -- invoices and payments --------------------------------------------------------

    def get_invoice(self, number: str) -> Invoice | None:
        """The invoice with this number (or id), or None."""
        body = self.get_or_none("get_invoice", f"/v1/invoices/{path_key(number)}")
        return invoice_from(body) if body is not None else None

    def list_invoices(self, account_number: str) -> list[Invoice]:
        """The account's invoices (all pages)."""
        path = f"/v1/transactions/invoices/accounts/{path_key(account_number)}"
        rows = self.pages("list_invoices", path, {"pageSize": self.page_size}, "invoices")
        return [invoice_from(row) for row in rows]

    def get_payment(self, number: str) -> Payment | None:
        """The payment with this number (or id), or None."""
        body = self.get_or_none("get_payment", f"/v1/payments/{path_key(number)}")
        return payment_from(body) if body is not None else None

    def list_payments(self, account_number: str) -> list[Payment]:
        """The account's payments (all pages)."""
        path = f"/v1/transactions/payments/accounts/{path_key(account_number)}"
        rows = self.pages("list_payments", path, {"pageSize": self.page_size}, "payments")
        return [payment_from(row) for row in rows]

    # -- usage ------------------------------------------------------------------------

    def aggregate_usage(self, request: Request) -> UsageTotal:
        """usage.aggregate: the subscription's usage of one charge over a period, summed.

        Reads ``GET /v1/usage/accounts/{account}`` (all pages) and sums the records
        of the subscription whose unit of measure is the charge's (as Zuora rates).
        """
        op = "aggregate_usage"
        number, sku = (
            field_of(request, "subscriptionNumber", op),
            field_of(request, "chargeSku", op),
        )
        start = date.fromisoformat(field_of(request, "startDate", op))
        end = date.fromisoformat(field_of(request, "endDate", op))
        subscription, charge = self.get_subscription(number), self.find_charge(sku)
        if subscription is None or not subscription.account_number:
            raise RecordNotFound(
                system=self.system, operation=op, message=f"no subscription {number}"
            )
        if charge is None:
            raise invalid(
                op, f"no product with SKU {sku!r} in the billing catalog", "UNKNOWN_PRODUCT"
            )
        path = f"/v1/usage/accounts/{path_key(subscription.account_number)}"
        total, count = Decimal(0), 0
        for row in self.pages(op, path, {"pageSize": self.page_size}, "usage"):
            day = str(row.get("startDateTime") or "")[:10]
            if row.get("subscriptionNumber") != number or not (str(start) <= day <= str(end)):
                continue
            if charge.uom and row.get("unitOfMeasure") not in (None, charge.uom):
                continue
            total, count = total + (money(row.get("quantity")) or Decimal(0)), count + 1
        return UsageTotal(
            subscription_number=number, charge_sku=sku, start_date=start, end_date=end,
            quantity=total, uom=charge.uom, records=count,
        )  # fmt: skip


def field_of(request: Request, name: str, op: str) -> str:
    """``request[name]`` as a string, or RejectedError naming the missing field."""
    value = request.get(name)
    if value is None or value == "":
        raise invalid(op, f"the request has no {name}")
    return str(value)


def invalid(op: str, message: str, code: str = "INVALID_REQUEST") -> RejectedError:
    """A RejectedError found before sending (no HTTP status)."""
    return RejectedError(system="billing", operation=op, code=code, message=message)
