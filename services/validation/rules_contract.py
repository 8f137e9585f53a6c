"""Contract checks: the accounting period (ERP) and the subscription contract (billing).

What the data offers, and so what these rules read:

- The service start date is the Opportunity's ``CloseDate``: neither the Opportunity
  nor its lines carry a start-date field in Salesforce.
- The term is the billing subscription's (``currentTerm`` and its period type) when the
  Opportunity names one in ``Subscription_Number__c`` (an amendment co-terms with it, a
  renewal renews for it); otherwise a new subscription gets the billing connector's
  default initial term of 12 months. The billing frequency is each line's rate plan
  charge's ``billingPeriod``: the term must be a whole number of billing periods. A
  one-time charge fits any term; an evergreen subscription has no term to divide.
- An amendment or renewal is an Opportunity whose ``Type`` mentions either word; its
  subscription must exist, be Active, and belong to the Account's billing account.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from services.validation.context import OrderContext
from services.validation.model import Finding
from services.validation.registry import rule

__all__ = ["NEW_TERM_MONTHS"]

NEW_TERM_MONTHS = 12  # what services/systems/billing.py sends when no initialTerm is given
_PERIOD_MONTHS = {
    "month": 1,
    "quarter": 3,
    "semi-annual": 6,
    "annual": 12,
    "eighteen months": 18,
    "two years": 24,
    "three years": 36,
    "five years": 60,
}
_TERM_MONTHS = {"month": 1, "year": 12}


def _service_start(ctx: OrderContext) -> date | None:
    """The Opportunity's CloseDate as a date, or None when absent or malformed."""
    try:
        return date.fromisoformat(str(ctx.opportunity.get("CloseDate") or "")[:10])
    except ValueError:
        return None


def _is_change(ctx: OrderContext) -> bool:
    """Whether the Opportunity amends or renews an existing subscription."""
    kind = str(ctx.opportunity.get("Type") or "").lower()
    return "amend" in kind or "renew" in kind


@rule(
    "contract.period_open",
    domain="contract",
    system="erp",
    severity="error",
    title="The service start date falls in an open ERP accounting period",
    remediation=(
        "Move the Opportunity's close date (the service start) into an open period, or ask "
        "finance to reopen or create the ERP accounting period before the order is booked."
    ),
)
def period_open(ctx: OrderContext) -> Finding:
    """The ERP month period holding the CloseDate exists and is not closed."""
    raw = ctx.opportunity.get("CloseDate")
    start = _service_start(ctx)
    evidence: dict[str, Any] = {"serviceStart": raw, "source": "Opportunity.CloseDate"}
    if start is None:
        return Finding("fail", f"the opportunity has no valid close date ({raw!r})", evidence)
    period = ctx.ask("erp", "period_for", start.isoformat())
    if period is None:
        return Finding(
            "fail",
            f"the ERP has no accounting period for {start.isoformat()}: nothing can post there",
            evidence | {"period": None},
        )
    name = period.get("periodName")
    evidence |= {
        "period": name,
        "closed": bool(period.get("closed")),
        "closedOnDate": period.get("closedOnDate"),
    }
    if period.get("closed"):
        on = f" on {period['closedOnDate']}" if period.get("closedOnDate") else ""
        return Finding(
            "fail",
            f"service start {start.isoformat()} falls in {name}, which the ERP closed{on}",
            evidence,
        )
    return Finding(
        "pass", f"service start {start.isoformat()} falls in open period {name}", evidence
    )


def _term_text(term: dict[str, Any]) -> str:
    """``12 months`` / ``1 year``: the term as a person reads it."""
    length, unit = term["term"], str(term["termPeriodType"] or "period").lower()
    if not length:
        return "no term length"
    return f"{length} {unit}{'' if length == 1 else 's'}"


def _fit(sku: str, charge: Any, term: dict[str, Any]) -> dict[str, Any]:
    """One line: whether ``term`` is a whole number of ``charge``'s billing periods."""
    period = str(charge.billing_period or "")
    line: dict[str, Any] = {"sku": sku, "chargeType": charge.charge_type, "billingPeriod": period}
    if str(charge.charge_type or "").lower() == "onetime":
        return line | {"status": "pass", "fit": "one-time charge: any term fits"}
    if str(term["termType"] or "").upper() == "EVERGREEN":
        return line | {"status": "pass", "fit": "evergreen: billed every period, no term"}
    every = _PERIOD_MONTHS.get(period.lower())
    unit = _TERM_MONTHS.get(str(term["termPeriodType"] or "").lower())
    length = term["term"] or 0
    if every is None or unit is None or length <= 0:
        return line | {"status": "fail", "fit": f"{sku} (billed {period or 'with no period'})"}
    months = length * unit
    if months % every:
        fit = f"{sku} (billed {period}, every {every} months)"
        return line | {"status": "fail", "fit": fit}
    return line | {"status": "pass", "fit": f"{months // every} {period} period(s)"}


def _term_of(ctx: OrderContext) -> dict[str, Any] | None:
    """The subscription's term, a new subscription's default, or None (subscription missing)."""
    number = ctx.opportunity.get("Subscription_Number__c")
    sub = ctx.ask("billing", "get_subscription", str(number)) if number else None
    if sub is not None:
        return {
            "term": sub.current_term,
            "termPeriodType": sub.current_term_period_type,
            "termType": sub.term_type,
            "termSource": f"subscription {sub.number} v{sub.version}",
        }
    if number and _is_change(ctx):
        return None
    return {
        "term": NEW_TERM_MONTHS,
        "termPeriodType": "Month",
        "termType": "TERMED",
        "termSource": "new subscription (default initial term)",
    }


@rule(
    "contract.term_fits_rate_plan",
    domain="contract",
    system="billing",
    severity="error",
    title="The contract term is a whole number of each charge's billing periods",
    remediation=(
        "Change the subscription term (or the quoted product) so each recurring charge bills a "
        "whole number of periods: e.g. an annual charge needs a term of whole years."
    ),
)
def term_fits_rate_plan(ctx: OrderContext) -> Finding:
    """Each line's rate plan charge fits the term and its billing frequency."""
    term = _term_of(ctx)
    if term is None:
        number = ctx.opportunity.get("Subscription_Number__c")
        return Finding(
            "warn",
            f"term not checked: billing has no subscription {number} "
            "(see contract.amends_existing_subscription)",
            {"subscription": number},
        )
    lines = []
    for sku in ctx.product_codes():
        charge = ctx.ask("billing", "find_charge", sku)
        if charge is None:
            lines.append({"sku": sku, "status": "warn", "fit": "not in the billing catalog"})
        else:
            lines.append(_fit(sku, charge, term))
    evidence = {**term, "lines": lines}
    text = f"{_term_text(term)}, {term['termSource']}"
    failed = [str(line["fit"]) for line in lines if line["status"] == "fail"]
    if failed:
        return Finding(
            "fail",
            f"the term ({text}) is not a whole number of billing periods of {', '.join(failed)}",
            evidence,
        )
    missing = [str(line["sku"]) for line in lines if line["status"] == "warn"]
    if missing:
        return Finding(
            "warn",
            f"not in the billing catalog, so the term is not checked: {', '.join(missing)}",
            evidence,
        )
    skus = ", ".join(str(line["sku"]) for line in lines) or "no product lines"
    return Finding("pass", f"the term ({text}) fits every charge: {skus}", evidence)


@rule(
    "contract.amends_existing_subscription",
    domain="contract",
    system="billing",
    severity="error",
    title="An amendment or renewal points at the customer's active subscription",
    remediation=(
        "Set Subscription_Number__c on the Opportunity to the customer's active subscription "
        "in billing (or book it as new business if there is none)."
    ),
)
def amends_existing_subscription(ctx: OrderContext) -> Finding:
    """Subscription_Number__c names an Active subscription of the Account's billing account."""
    kind = ctx.opportunity.get("Type")
    number = ctx.opportunity.get("Subscription_Number__c")
    if not _is_change(ctx):
        return Finding("pass", f"new business ({kind or 'no type'})", {"type": kind})
    evidence: dict[str, Any] = {"type": kind, "subscription": number}
    if not number:
        return Finding("fail", f"{kind} without a Subscription_Number__c", evidence)
    sub = ctx.ask("billing", "get_subscription", str(number))
    if sub is None:
        return Finding(
            "fail", f"{kind} of subscription {number}, which billing does not have", evidence
        )
    evidence |= {
        "status": sub.status,
        "version": sub.version,
        "accountNumber": sub.account_number,
        "termEndDate": sub.term_end_date.isoformat() if sub.term_end_date else None,
    }
    if str(sub.status or "").lower() != "active":
        return Finding(
            "fail",
            f"{kind} of subscription {number}, which is {sub.status or 'without a status'}",
            evidence,
        )
    account_id = ctx.account.get("Id") or ctx.opportunity.get("AccountId")
    owner = ctx.ask("billing", "find_account", crm_id=str(account_id))
    evidence["billingAccount"] = owner.number if owner else None
    if owner is None or owner.number != sub.account_number:
        mine = f"billing account {owner.number}" if owner else "no billing account"
        return Finding(
            "fail",
            f"subscription {number} belongs to billing account {sub.account_number}, but "
            f"Account {account_id} has {mine}",
            evidence,
        )
    return Finding(
        "pass", f"{kind} of active subscription {number} (version {sub.version})", evidence
    )
