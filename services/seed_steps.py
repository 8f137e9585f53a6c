"""What one step of a sample transaction looks like on the wire.

For each ``(flow, system operation)`` this module knows which business keys the
event carries, where the request went, what was sent and answered, and how each
system reports the failures the sample data shows. Bodies are kept small but are
shaped like the real APIs (NetSuite REST, Zuora, AvaTax, Salesforce REST).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.seed_master import ENTITIES, Account, Invoice, Subscription

__all__ = ["ERRORS", "STEP_KEYS", "Tx", "error_for", "payload", "step_keys"]

SF = "/services/data/v61.0/sobjects"
NS = "/services/rest/record/v1"

_OA = {
    "opportunity.closed_won": ("opportunity_id", "quote_id", "account_id"),
    "order.validate": ("opportunity_id", "quote_id", "account_id"),
    "customer.upsert": ("opportunity_id", "account_id", "customer_id"),
    "subscription.create": ("opportunity_id", "account_id", "customer_id", "subscription_id"),
    "salesorder.create": ("opportunity_id", "order_number", "customer_id", "subscription_id"),
    "tax.calculate": ("order_number", "customer_id"),
    "invoice.create": ("invoice_number", "subscription_id", "customer_id"),
    "invoice.post": ("invoice_number", "order_number", "customer_id"),
    "opportunity.writeback": (
        "opportunity_id",
        "order_number",
        "invoice_number",
        "subscription_id",
    ),
}
STEP_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "order_activation": _OA,
    "amendment": {
        "amendment.submitted": ("opportunity_id", "quote_id", "account_id", "subscription_id"),
        "subscription.amend": ("opportunity_id", "subscription_id", "account_id"),
        "tax.calculate": ("opportunity_id", "customer_id"),
        "invoice.create": _OA["invoice.create"],
        "invoice.post": ("invoice_number", "customer_id"),
        "opportunity.writeback": ("opportunity_id", "invoice_number", "subscription_id"),
    },
    "renewal": {
        "renewal.closed_won": ("opportunity_id", "quote_id", "account_id", "subscription_id"),
        "subscription.renew": ("opportunity_id", "subscription_id", "account_id"),
        "salesorder.create": _OA["salesorder.create"],
        "opportunity.writeback": ("opportunity_id", "order_number", "subscription_id"),
    },
    "usage_trueup": {
        "usage.aggregate": ("subscription_id", "account_id"),
        "tax.calculate": ("subscription_id", "customer_id"),
        "invoice.create": _OA["invoice.create"],
        "invoice.post": ("invoice_number", "customer_id"),
    },
    "payment": {
        "payment.apply": ("payment_id", "invoice_number", "account_id"),
        "payment.post": ("payment_id", "invoice_number", "customer_id"),
        "account.writeback": ("account_id", "payment_id", "invoice_number"),
    },
}
# Keys a system assigns on success: a failed call of the step does not carry them.
_ASSIGNED = {
    "salesorder.create": "order_number",
    "invoice.create": "invoice_number",
    "payment.apply": "payment_id",
    "subscription.create": "subscription_id",
}


@dataclass
class Tx:
    """One planned transaction and everything its events refer to."""

    cid: str
    flow: str
    mode: str
    start: datetime
    account: Account
    currency: str = ""
    entity: str = ""
    amount: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    lines: list[tuple[str, int, Decimal]] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    sub: Subscription | None = None
    invoice: Invoice | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    trace: str | None = None
    outcome: str = ""  # succeeded | failed | in_progress


def step_keys(tx: Tx, operation: str, status: str) -> dict[str, str]:
    """The business keys the event of ``operation`` carries."""
    names = STEP_KEYS[tx.flow].get(operation, ())
    skip = _ASSIGNED.get(operation) if status != "succeeded" else None
    return {n: tx.keys[n] for n in names if n in tx.keys and n != skip}


# code -> (http status, retryable)
ERRORS: dict[str, tuple[int, bool]] = {
    "SERVICE_UNAVAILABLE": (503, True),
    "PERIOD_CLOSED": (409, False),
    "INVALID_ITEM": (400, False),
    "CURRENCY_MISMATCH": (400, False),
    "SUBSCRIPTION_VERSION_CONFLICT": (409, False),
    "REQUEST_LIMIT_EXCEEDED": (429, True),
    "VALIDATION_FAILED": (422, False),
    "PAYMENT_DECLINED": (402, False),
}
_TITLES = {
    400: "Bad Request",
    402: "Payment Required",
    409: "Conflict",
    422: "Unprocessable",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


def _message(tx: Tx, code: str) -> str:
    sub = tx.keys.get("subscription_id", "")
    if code == "SERVICE_UNAVAILABLE":
        return "Tax service unavailable: upstream AvaTax returned 503, retry later"
    if code == "PERIOD_CLOSED":
        return f"Posting period {tx.extra['period']} is closed"
    if code == "INVALID_ITEM":
        return "Item PLAT-ANNAUL not found"
    if code == "CURRENCY_MISMATCH":
        allowed = ", ".join(ENTITIES[tx.entity].allowed)
        return (
            f"Currency {tx.currency} is not allowed for subsidiary {tx.entity} (allowed: {allowed})"
        )
    if code == "SUBSCRIPTION_VERSION_CONFLICT":
        v = tx.extra["version"]
        return (
            f"Subscription {sub} was amended after version {v} (current version {v + 1});"
            " reload the subscription and resubmit the amendment"
        )
    if code == "REQUEST_LIMIT_EXCEEDED":
        return "TotalRequests Limit exceeded."
    if code == "PAYMENT_DECLINED":
        return "Payment declined by the gateway: insufficient_funds"
    return str(tx.extra["violation"][1])


def error_for(tx: Tx, system: str, code: str) -> tuple[dict[str, Any], Any]:
    """The contract's ``data.error`` and the raw body the system answered with."""
    status, retryable = ERRORS[code]
    message = _message(tx, code)
    err = {"code": code, "message": message, "http_status": status, "retryable": retryable}
    body: Any
    if system == "erp":
        body = {
            "title": _TITLES[status],
            "status": status,
            "o:errorDetails": [{"detail": message, "o:errorCode": code}],
        }
    elif system == "billing":
        body = {"success": False, "reasons": [{"code": 53000000 + status * 10, "message": message}]}
    elif system == "tax":
        body = {
            "error": {
                "code": "ServiceUnavailable",
                "message": "Service Unavailable",
                "target": "HttpRequest",
            }
        }
    elif system == "salesforce":
        body = [{"message": message, "errorCode": code}]
    else:
        rule = tx.extra["violation"][0]
        body = {"valid": False, "violations": [{"rule": rule, "message": message}]}
    return err, body


def _s(value: Decimal) -> str:
    return f"{value:.2f}"


def payload(tx: Tx, operation: str, when: datetime) -> tuple[dict[str, str], Any, Any]:
    """``(endpoint, request, response on success)`` of ``operation`` in ``tx``."""
    k, a, day = tx.keys, tx.account, when.date().isoformat()
    total = tx.amount + tx.tax
    lines = [{"item": c, "qty": q, "rate": _s(r)} for c, q, r in tx.lines]
    if operation in ("opportunity.closed_won", "amendment.submitted", "renewal.closed_won"):
        return (
            {"method": "GET", "path": f"{SF}/Opportunity/{k['opportunity_id']}"},
            None,
            {
                "Id": k["opportunity_id"],
                "StageName": "Closed Won",
                "CloseDate": tx.extra["opp"]["CloseDate"] if "opp" in tx.extra else day,
                "Amount": float(tx.amount),
                "CurrencyIsoCode": tx.currency,
            },
        )
    if operation == "order.validate":
        return (
            {"method": "POST", "path": "/api/v1/orders/validate"},
            {"opportunityId": k["opportunity_id"], "quoteId": k["quote_id"], "accountId": a.sf_id},
            {"valid": True, "violations": []},
        )
    if operation == "customer.upsert":
        return (
            {"method": "PUT", "path": f"{NS}/customer/eid:{a.sf_id}"},
            {
                "externalId": a.sf_id,
                "companyName": a.name,
                "subsidiary": {"id": ENTITIES[a.entity].sub_id},
                "currency": a.currency,
            },
            {"id": a.erp_id, "entityId": a.customer_id},
        )
    if operation == "subscription.create":
        return (
            {"method": "POST", "path": "/v1/subscriptions"},
            {
                "accountNumber": a.customer_id,
                "contractEffectiveDate": day,
                "termType": "TERMED",
                "initialTerm": 12,
                "subscribeToRatePlans": [{"productSku": c, "quantity": q} for c, q, _ in tx.lines],
            },
            {
                "success": True,
                "subscriptionNumber": k.get("subscription_id"),
                "totalContractedValue": _s(tx.amount),
            },
        )
    if operation == "salesorder.create":
        return (
            {"method": "POST", "path": f"{NS}/salesOrder"},
            {
                "externalId": k["opportunity_id"],
                "customer": a.customer_id,
                "subsidiary": tx.entity,
                "currency": tx.currency,
                "tranDate": day,
                "lines": lines,
            },
            {"id": tx.extra.get("so_id"), "tranId": k.get("order_number")},
        )
    if operation == "tax.calculate":
        code = k.get("order_number") or k.get("opportunity_id") or tx.cid
        return (
            {"method": "POST", "path": "/api/v2/transactions/create"},
            {
                "companyCode": tx.entity,
                "type": "SalesOrder",
                "code": code,
                "customerCode": a.customer_id,
                "date": day,
                "currencyCode": tx.currency,
                "lines": [{"number": "1", "amount": _s(tx.amount), "taxCode": "SW054000"}],
            },
            {"code": code, "status": "Saved", "totalAmount": _s(tx.amount), "totalTax": _s(tx.tax)},
        )
    if operation == "invoice.create":
        return (
            {"method": "POST", "path": "/v1/invoices"},
            {
                "accountNumber": a.customer_id,
                "invoiceDate": tx.extra.get("tran_date", day),
                "subscriptionNumbers": [k["subscription_id"]],
            },
            {"success": True, "invoiceNumber": k.get("invoice_number"), "amount": _s(total)},
        )
    if operation == "invoice.post":
        return (
            {"method": "POST", "path": f"{NS}/invoice"},
            {
                "externalId": k["invoice_number"],
                "customer": a.customer_id,
                "createdFrom": k.get("order_number"),
                "tranDate": tx.extra.get("tran_date", day),
                "postingPeriod": tx.extra.get("period", when.strftime("%b %Y")),
                "total": _s(total),
            },
            {"id": tx.invoice.erp_id if tx.invoice else None, "tranId": k["invoice_number"]},
        )
    if operation in ("opportunity.writeback", "account.writeback"):
        if operation == "account.writeback":
            return (
                {"method": "PATCH", "path": f"{SF}/Account/{a.sf_id}"},
                {"Last_Payment_Number__c": k.get("payment_id"), "Last_Payment_Date__c": day},
                None,
            )
        fields = {
            "Integration_Status__c": "Synced",
            "ERP_Order_Number__c": k.get("order_number"),
            "Subscription_Number__c": k.get("subscription_id"),
            "Invoice_Number__c": k.get("invoice_number"),
        }
        return (
            {"method": "PATCH", "path": f"{SF}/Opportunity/{k['opportunity_id']}"},
            {n: v for n, v in fields.items() if v},
            None,
        )
    if operation == "subscription.amend":
        seats = tx.lines[0] if tx.lines else ("SEAT-STD", 0, Decimal(0))
        return (
            {"method": "PUT", "path": f"/v1/subscriptions/{k['subscription_id']}"},
            {
                "version": tx.extra.get("version"),
                "contractEffectiveDate": day,
                "add": [{"productSku": seats[0], "quantity": seats[1]}],
            },
            {
                "success": True,
                "subscriptionNumber": k["subscription_id"],
                "totalDeltaTcv": _s(tx.amount),
            },
        )
    if operation == "subscription.renew":
        return (
            {"method": "PUT", "path": f"/v1/subscriptions/{k['subscription_id']}/renew"},
            {"collect": False, "runBilling": False},
            {
                "success": True,
                "termStartDate": tx.extra.get("term_start"),
                "termEndDate": tx.extra.get("term_end"),
            },
        )
    if operation == "usage.aggregate":
        return (
            {"method": "POST", "path": "/v1/usage/aggregate"},
            {
                "subscriptionNumber": k["subscription_id"],
                "chargeSku": "API-1M",
                "startDate": tx.extra["usage_from"],
                "endDate": tx.extra["usage_to"],
            },
            {"quantity": tx.lines[0][1], "uom": "Million calls"},
        )
    if operation == "payment.apply":
        return (
            {"method": "POST", "path": "/v1/payments"},
            {
                "accountNumber": a.customer_id,
                "amount": _s(tx.amount),
                "currency": tx.currency,
                "effectiveDate": day,
                "type": "Electronic",
                "invoices": [{"invoiceNumber": k["invoice_number"], "amount": _s(tx.amount)}],
            },
            {"success": True, "number": k.get("payment_id"), "status": "Processed"},
        )
    if operation == "payment.post":
        return (
            {"method": "POST", "path": f"{NS}/customerPayment"},
            {
                "externalId": k["payment_id"],
                "customer": a.customer_id,
                "payment": _s(tx.amount),
                "currency": tx.currency,
                "apply": [{"doc": k["invoice_number"], "amount": _s(tx.amount)}],
            },
            {"id": tx.extra.get("pay_id"), "tranId": k["payment_id"]},
        )
    return ({"method": "POST", "path": f"/{operation.replace('.', '/')}"}, None, None)
