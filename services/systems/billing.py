"""The billing connector: a Zuora-shaped REST API (``/v1/...``) over httpx.

Reads (accounts, catalog, subscriptions, invoices, payments, usage) return the
typed records of :mod:`services.systems.billing_models` or None when the record
does not exist; writes take the middleware's request dicts (the ``data.request``
of a step event) plus an idempotency key, translate them to Zuora's wire shapes
and return what Zuora answered. Errors are those of :mod:`services.errors`, read
from Zuora's envelopes by :class:`~services.systems.billing_wire.ZuoraHttp`.

Example:
    >>> billing = build_connector("billing", load_settings(), BuildEnv(sandbox=sandbox))
    >>> billing.price("SEAT-PRO", "USD")
    Decimal('1200.0')
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from services.errors import BadResponse, RecordNotFound, RejectedError
from services.settings import Settings
from services.systems.auth import Auth, NoAuth, OAuth2ClientCredentials
from services.systems.billing_models import (
    Invoice,
    Payment,
    Subscription,
    SubscriptionWrite,
    money,
    money_out,
    payment_from,
)
from services.systems.billing_reads import BillingReads, Request, field_of, invalid, path_key
from services.systems.registry import BuildEnv, http_client, register_connector, require
from services.systems.registry import retry_policy as policy_of

__all__ = ["BillingConnector", "build"]


class BillingConnector(BillingReads):
    """The subscription billing platform (Zuora REST v1 shapes): reads, writes, target checks."""

    def create_subscription(self, request: Request, *, idempotency_key: str) -> SubscriptionWrite:
        """subscription.create -> ``POST /v1/subscriptions`` (SKUs resolved to rate plan ids).

        Example:
            >>> billing.create_subscription({"accountNumber": "C-1014",
            ...     "contractEffectiveDate": "2026-10-01", "termType": "TERMED", "initialTerm": 12,
            ...     "subscribeToRatePlans": [{"productSku": "SEAT-PRO", "quantity": 5}]},
            ...     idempotency_key="o2c-1:subscription.create").number
            'A-S00014835'
        """
        op = "create_subscription"
        term_type = str(request.get("termType") or "TERMED")
        body: dict[str, Any] = {
            "accountKey": field_of(request, "accountNumber", op),
            "contractEffectiveDate": field_of(request, "contractEffectiveDate", op),
            "termType": term_type,
            "subscribeToRatePlans": self._rate_plans(request, "subscribeToRatePlans", op),
        }
        if term_type == "TERMED":
            term = int(request.get("initialTerm") or 12)
            body.update(initialTerm=term, initialTermPeriodType="Month", renewalTerm=term)
            body["autoRenew"] = True
        answer = self.send_json(
            op, "POST", "/v1/subscriptions", body, idempotency_key=idempotency_key
        )
        return self._written(op, answer, "totalContractedValue")

    def amend_subscription(
        self, number: str, request: Request, *, idempotency_key: str
    ) -> SubscriptionWrite:
        """subscription.amend -> ``PUT /v1/subscriptions/{number}`` adding rate plans.

        ``version`` (the version the amendment was prepared on) is sent along; the
        billing system refuses a stale one (ConflictError).
        """
        op = "amend_subscription"
        effective = field_of(request, "contractEffectiveDate", op)
        adds = self._rate_plans(request, "add", op)
        body: dict[str, Any] = {"add": [{**a, "contractEffectiveDate": effective} for a in adds]}
        if request.get("version") is not None:
            body["version"] = int(request["version"])
        path = f"/v1/subscriptions/{path_key(number)}"
        answer = self.send_json(op, "PUT", path, body, idempotency_key=idempotency_key)
        return self._written(op, {"subscriptionNumber": number, **answer}, "totalDeltaTcv")

    def renew_subscription(
        self, number: str, request: Request, *, idempotency_key: str
    ) -> SubscriptionWrite:
        """subscription.renew -> ``PUT /v1/subscriptions/{number}/renew``; the new term."""
        op = "renew_subscription"
        body = {
            "collect": bool(request.get("collect")),
            "runBilling": bool(request.get("runBilling")),
        }
        path = f"/v1/subscriptions/{path_key(number)}/renew"
        answer = self.send_json(op, "PUT", path, body, idempotency_key=idempotency_key)
        return self._written(op, {"subscriptionNumber": number, **answer}, "totalDeltaTcv")

    def create_invoice(self, request: Request, *, idempotency_key: str) -> Invoice:
        """invoice.create -> ``POST /v1/accounts/{account}/billing-documents/generate``.

        A one-account bill run for the request's subscriptions, posted at once;
        returns the generated invoice (read back by id).
        """
        op = "create_invoice"
        account = field_of(request, "accountNumber", op)
        on = field_of(request, "invoiceDate", op)
        ids = []
        for number in request.get("subscriptionNumbers") or []:
            found = self.get_subscription(number)
            if found is None:
                raise RecordNotFound(
                    system=self.system, operation=op, message=f"no subscription {number}"
                )
            ids.append(found.id)
        body = {"autoPost": True, "effectiveDate": on, "targetDate": on, "subscriptionIds": ids}
        path = f"/v1/accounts/{path_key(account)}/billing-documents/generate"
        answer = self.send_json(op, "POST", path, body, idempotency_key=idempotency_key)
        generated = [i for i in answer.get("invoices") or [] if isinstance(i, dict) and i.get("id")]
        if not generated:
            raise RejectedError(system=self.system, operation=op, message="no invoice generated")
        invoice = self.get_invoice(str(generated[0]["id"]))
        if invoice is None:
            raise BadResponse(system=self.system, operation=op, message="invoice not readable")
        return invoice

    def apply_payment(self, request: Request, *, idempotency_key: str) -> Payment:
        """payment.apply -> ``POST /v1/payments`` applied to the listed invoices."""
        op = "apply_payment"
        try:
            body = {
                "accountNumber": field_of(request, "accountNumber", op),
                "amount": money_out(request.get("amount")),
                "currency": field_of(request, "currency", op),
                "effectiveDate": field_of(request, "effectiveDate", op),
                "type": request.get("type") or "External",
                "invoices": [
                    {"invoiceNumber": i["invoiceNumber"], "amount": money_out(i["amount"])}
                    for i in request.get("invoices") or []
                ],
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise invalid(op, f"payment request is incomplete ({exc})") from None
        answer = self.send_json(op, "POST", "/v1/payments", body, idempotency_key=idempotency_key)
        payment = payment_from(answer)
        if not payment.number:
            raise BadResponse(system=self.system, operation=op, message="no payment number")
        return payment.model_copy(
            update={"account_number": payment.account_number or body["accountNumber"]}
        )

    # -- target checks (replay asks: did this already happen?) ----------------------

    def find_target(
        self, operation: str, request: Request, *, subject: str | None = None
    ) -> BaseModel | None:
        """The record a step's request created or changed, if it is already there.

        Args:
            operation: the step's operation (``subscription.create`` ...).
            request: the step's ``data.request``.
            subject: the subscription number for amend/renew.

        Returns:
            subscription.create: the account's subscription with the same effective date
            and the same SKU quantities; subscription.amend: the subscription when its
            version is past the request's; subscription.renew: the subscription;
            invoice.create: the account's invoice of that date for those subscriptions;
            payment.apply: the account's payment of that date, amount and currency;
            None otherwise (usage.aggregate only reads).
        """
        checks: dict[str, Callable[[Request, str | None], BaseModel | None]] = {
            "subscription.create": lambda r, _: self._created_subscription(r),
            "subscription.amend": self._amended_subscription,
            "subscription.renew": lambda _, s: self.get_subscription(s) if s else None,
            "invoice.create": lambda r, _: self._created_invoice(r),
            "payment.apply": lambda r, _: self._applied_payment(r),
        }
        check = checks.get(operation)
        return check(request, subject) if check else None

    def _created_subscription(self, request: Request) -> Subscription | None:
        """The account's subscription matching a subscription.create request."""
        wanted: dict[str, Decimal] = {}
        for line in request.get("subscribeToRatePlans") or []:
            sku = str(line.get("productSku"))
            wanted[sku] = wanted.get(sku, Decimal(0)) + (money(line.get("quantity")) or Decimal(0))
        on = str(request.get("contractEffectiveDate"))
        found = [
            s
            for s in self.list_subscriptions(str(request.get("accountNumber")))
            if str(s.contract_effective_date) == on and s.quantities() == wanted
        ]
        return max(found, key=lambda s: s.number) if found else None

    def _amended_subscription(self, request: Request, subject: str | None) -> Subscription | None:
        """The subscription when it was amended past the request's version."""
        found = self.get_subscription(subject) if subject else None
        return found if found and found.version > int(request.get("version") or 0) else None

    def _created_invoice(self, request: Request) -> Invoice | None:
        """The account's invoice of the request's date covering its subscriptions."""
        on, subs = str(request.get("invoiceDate")), set(request.get("subscriptionNumbers") or ())
        for invoice in self.list_invoices(str(request.get("accountNumber"))):
            covered = not invoice.subscription_numbers or subs <= set(invoice.subscription_numbers)
            if str(invoice.invoice_date) == on and covered:
                return invoice
        return None

    def _applied_payment(self, request: Request) -> Payment | None:
        """The account's payment of the request's date, amount and currency."""
        amount, on = money(request.get("amount")), str(request.get("effectiveDate"))
        for payment in self.list_payments(str(request.get("accountNumber"))):
            same = payment.amount == amount and payment.currency == request.get("currency")
            if same and str(payment.effective_date) == on:
                return payment
        return None

    # -- helpers ----------------------------------------------------------------------

    def _rate_plans(self, request: Request, key: str, op: str) -> list[dict[str, Any]]:
        """Request lines ``{productSku, quantity}`` as Zuora rate plans with charge overrides."""
        lines = request.get(key)
        if not isinstance(lines, list) or not lines:
            raise invalid(op, f"{key} must list at least one {{productSku, quantity}}")
        plans = []
        for line in lines:
            sku = str(line.get("productSku"))
            charge = self.find_charge(sku)
            if charge is None:
                raise invalid(
                    op, f"no product with SKU {sku!r} in the billing catalog", "UNKNOWN_PRODUCT"
                )
            quantity = money(line.get("quantity"))
            override: dict[str, Any] = {"productRatePlanChargeId": charge.charge_id}
            if quantity is not None:
                override["quantity"] = (
                    int(quantity) if quantity == int(quantity) else float(quantity)
                )
            plans.append({"productRatePlanId": charge.rate_plan_id, "chargeOverrides": [override]})
        return plans

    def _written(self, op: str, answer: dict[str, Any], amount_key: str) -> SubscriptionWrite:
        """A SubscriptionWrite from a write's answer (BadResponse without a number)."""
        number = answer.get("subscriptionNumber")
        if not number:
            raise BadResponse(system=self.system, operation=op, message="no subscriptionNumber")
        return SubscriptionWrite(
            number=str(number),
            subscription_id=answer.get("subscriptionId"),
            amount=money(answer.get(amount_key)),
            term_start_date=answer.get("termStartDate"),
            term_end_date=answer.get("termEndDate"),
        )


@register_connector("billing")
def build(settings: Settings, env: BuildEnv) -> BillingConnector:
    """The billing connector for the configured mode (sandbox or live Zuora).

    Args:
        settings: ``systems``, ``sandbox_url`` and the ``billing_*`` settings.
        env: the in-process sandbox, a test transport and the clock.

    Returns:
        A connector; live mode authenticates with OAuth2 client credentials.

    Raises:
        SettingsError: live mode without ``Q2C_BILLING_BASE_URL``,
            ``Q2C_BILLING_CLIENT_ID`` or ``Q2C_BILLING_CLIENT_SECRET`` (named, never shown).

    Example:
        >>> build(load_settings(sandbox_url=server.url), BuildEnv()).ping()
    """
    auth: Auth = NoAuth()
    base_url: str | None = None
    if settings.systems == "live":
        why = "the billing connector needs it in live mode"
        base_url = str(require(settings, "billing_base_url", why))
        client_id = str(require(settings, "billing_client_id", why))
        secret = require(settings, "billing_client_secret", why)
        token_url = settings.billing_token_url or base_url.rstrip("/") + "/oauth/token"
        auth = OAuth2ClientCredentials(token_url, client_id, secret, setting="Q2C_BILLING_")
    client = http_client(settings, "billing", env, api_root="", live_base_url=base_url)
    return BillingConnector(
        client, auth=auth, retry=policy_of(settings), sleep=env.sleep, now=env.now
    )
