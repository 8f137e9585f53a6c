"""Account checks, asked of the ERP (the system of record for customers) and Salesforce."""

from __future__ import annotations

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
