"""Account checks, asked of the ERP (the system of record for customers) and Salesforce.

The selling legal entity (``account.legal_entity_currency``) is the ERP customer's
subsidiary; for a new customer, the subsidiary in the Account's billing country. The
legal entity follows where the customer is, never the currency: the order currency
is then allowed by that entity or not (a US customer quoted in EUR fails; it does not
move to a European entity)."""

from __future__ import annotations

from typing import Any

from services.validation.context import OrderContext
from services.validation.model import Finding
from services.validation.registry import rule

__all__: list[str] = []


@rule(
    "account.erp_customer",
    domain="account",
    system="erp",
    severity="error",
    title="ERP customer exists for the Salesforce Account, and no duplicate would be created",
    remediation=(
        "Link the Salesforce Account to the existing ERP customer (set its external id to the "
        "Account id) instead of creating a second customer."
    ),
)
def erp_customer(ctx: OrderContext) -> Finding:
    account_id = ctx.account.get("Id") or ctx.opportunity.get("AccountId")
    customer = ctx.ask("erp", "find_customer", external_id=account_id)
    if customer is not None:
        return Finding(
            "pass",
            f"ERP customer {customer.get('entityId')} is linked to Account {account_id}",
            {"customer": customer.get("entityId"), "externalId": account_id},
        )
    name = ctx.account.get("Name")
    dupes = ctx.ask("erp", "find_customers", name=name, country=ctx.account.get("BillingCountry"))
    if dupes:
        ids = [d.get("entityId") for d in dupes]
        return Finding(
            "fail",
            f"no ERP customer has external id {account_id}, but {', '.join(map(str, ids))} "
            f"look like the same company ({name}): link, don't create",
            {"externalId": account_id, "probable_duplicates": ids},
        )
    return Finding(
        "pass",
        f"new customer: the ERP has no {name!r} yet, it will be created with the order",
        {"externalId": account_id},
    )


@rule(
    "account.credit_hold",
    domain="account",
    system="erp",
    severity="error",
    title="Customer not on credit hold",
    remediation="Ask credit control to release the credit hold on the ERP customer.",
)
def credit_hold(ctx: OrderContext) -> Finding:
    account_id = ctx.account.get("Id") or ctx.opportunity.get("AccountId")
    customer = ctx.ask("erp", "find_customer", external_id=account_id)
    if customer is None:
        return Finding("pass", "new customer: no credit hold", {})
    hold = str(customer.get("creditHold") or "OFF").upper()
    if hold == "ON":
        return Finding(
            "fail",
            f"ERP customer {customer.get('entityId')} is on credit hold",
            {"customer": customer.get("entityId"), "creditHold": hold},
        )
    return Finding("pass", "not on credit hold", {"creditHold": hold})


def _account_id(ctx: OrderContext) -> str | None:
    """The Salesforce Account id of the order."""
    return ctx.account.get("Id") or ctx.opportunity.get("AccountId")


def _currencies(sub: dict[str, Any]) -> list[str]:
    """The currencies a subsidiary may sell in (its base currency when none are listed)."""
    allowed = [str(c).upper() for c in sub.get("allowedCurrencies") or []]
    base = (sub.get("currency") or {}).get("refName")
    return allowed or ([str(base).upper()] if base else [])


@rule(
    "account.legal_entity_currency",
    domain="account",
    system="erp",
    severity="error",
    title="The selling legal entity exists in the ERP and may sell in the order currency",
    remediation=(
        "Quote in a currency the selling subsidiary allows (see evidence), or ask finance to "
        "add the currency to the subsidiary, or move the customer to the right subsidiary."
    ),
)
def legal_entity_currency(ctx: OrderContext) -> Finding:
    """The customer's subsidiary (or its billing country's) exists and allows the currency."""
    currency = str(ctx.currency or "").upper()
    if not currency:
        return Finding("fail", "the opportunity has no currency (CurrencyIsoCode)", {})
    customer = ctx.ask("erp", "find_customer", external_id=_account_id(ctx))
    if customer is not None:
        ref = customer.get("subsidiary") or {}
        key = str(ref.get("id") or ref.get("refName") or "")
        basis = f"ERP customer {customer.get('entityId')}'s subsidiary"
        sub = ctx.ask("erp", "get_subsidiary", key) if key else None
        evidence: dict[str, Any] = {"customer": customer.get("entityId"), "subsidiary": key}
        if sub is None:
            return Finding("fail", f"{basis} {key or '(none)'} does not exist in the ERP", evidence)
    else:
        country = str(ctx.account.get("BillingCountry") or "").strip().upper()
        basis = f"new customer in {country or '(no country)'}: the subsidiary for that country"
        evidence = {"customer": None, "billingCountry": country}
        subs = ctx.ask("erp", "list_subsidiaries")
        sub = next((s for s in subs if str(s.get("country") or "").upper() == country), None)
        if sub is None:
            return Finding(
                "fail",
                f"no ERP subsidiary sells in the Account's billing country {country or '(none)'}",
                {
                    **evidence,
                    "subsidiaries": [f"{s.get('name')} ({s.get('country')})" for s in subs],
                },
            )
    allowed = _currencies(sub)
    evidence |= {"subsidiary": sub.get("name"), "currency": currency, "allowedCurrencies": allowed}
    if currency not in allowed:
        return Finding(
            "fail",
            f"{basis} {sub.get('name')} ({sub.get('legalName')}) does not sell in {currency}; "
            f"it allows {', '.join(allowed) or 'no currency'}",
            evidence,
        )
    return Finding(
        "pass", f"{sub.get('name')} ({sub.get('legalName')}) sells in {currency}", evidence
    )


_ADDRESS = {
    "BillingStreet": "street",
    "BillingCity": "city",
    "BillingPostalCode": "postal code",
    "BillingCountry": "country",
}
_STATE_NEEDED = {"US", "USA", "UNITED STATES", "CA", "CAN", "CANADA"}


@rule(
    "account.billing_address_complete",
    domain="account",
    system="salesforce",
    severity="error",
    title="The Account's billing address is complete",
    remediation=(
        "Fill in the missing billing address fields on the Salesforce Account (the tax engine "
        "and the invoice need them), then validate again."
    ),
)
def billing_address_complete(ctx: OrderContext) -> Finding:
    """Street, city, postal code and country; state or province too in the US and Canada."""
    account = ctx.account
    if not account:
        return Finding("fail", "the opportunity has no Account", {"accountId": _account_id(ctx)})
    fields = dict(_ADDRESS)
    country = str(account.get("BillingCountry") or "").strip().upper()
    if country in _STATE_NEEDED:
        fields["BillingState"] = "state/province"
    missing = [f for f in fields if not str(account.get(f) or "").strip()]
    evidence = {
        "accountId": account.get("Id"),
        "address": {f: account.get(f) for f in (*_ADDRESS, "BillingState")},
        "missing": missing,
    }
    if missing:
        names = ", ".join(fields[f] for f in missing)
        return Finding(
            "fail", f"Account {account.get('Name')!r} billing address lacks {names}", evidence
        )
    return Finding("pass", "billing address complete", evidence)


@rule(
    "account.parent_in_erp",
    domain="account",
    system="erp",
    severity="error",
    title="The parent Account has an ERP customer",
    remediation=(
        "Create the parent Account's ERP customer first (or link the existing one: set its "
        "external id to the parent's Salesforce Account id), then validate again."
    ),
)
def parent_in_erp(ctx: OrderContext) -> Finding:
    """A child Account's parent must exist in the ERP (by external id) before the child."""
    parent_id = ctx.account.get("ParentId")
    if not parent_id:
        return Finding("pass", "no parent Account", {"parentId": None})
    parent = ctx.ask("erp", "find_customer", external_id=str(parent_id))
    if parent is not None:
        return Finding(
            "pass",
            f"parent Account {parent_id} is ERP customer {parent.get('entityId')}",
            {"parentId": parent_id, "parentCustomer": parent.get("entityId")},
        )
    return Finding(
        "fail",
        f"parent Account {parent_id} has no ERP customer (no customer has external id {parent_id})",
        {"parentId": parent_id, "parentCustomer": None},
    )
