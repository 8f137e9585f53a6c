"""Tax checks, asked of the tax engine (address, nexus, tax codes, certificates) and the ERP.

The bill-to is the Salesforce Account's billing address; the ship-to is its
shipping address when the record has one, else the bill-to. The selling company
is the ERP subsidiary of the customer (its tax company code), else the order's
legal entity, else the ERP subsidiary of the customer's country.
"""

from __future__ import annotations

import re
from typing import Any

from services.errors import RecordNotFound, RejectedError
from services.validation.context import OrderContext
from services.validation.model import Finding
from services.validation.registry import rule
from services.validation.rules_product import ask_each, service_date

__all__ = ["VAT_FORMATS", "vat_id_problem"]

# Country -> (what it looks like, the pattern after removing spaces, dots and dashes).
VAT_FORMATS: dict[str, tuple[str, str]] = {
    "GB": ("GB + 9 or 12 digits (or GBGD/GBHA + 3)", r"GB(\d{9}|\d{12}|GD\d{3}|HA\d{3})"),
    "DE": ("DE + 9 digits", r"DE\d{9}"),
    "FR": ("FR + 2 characters + 9 digits", r"FR[0-9A-HJ-NP-Z]{2}\d{9}"),
    "NL": ("NL + 9 digits + B + 2 digits", r"NL\d{9}B\d{2}"),
    "IE": ("IE + 7 digits + 1-2 letters", r"IE(\d{7}[A-W][A-IW]?|\d[A-Z+*]\d{5}[A-W])"),
    "AU": ("ABN: 11 digits", r"\d{11}"),
    "CA": ("GST/HST: 9 digits + RT + 4 digits (123456789RT0001)", r"\d{9}RT\d{4}"),
    "US": ("EIN: NN-NNNNNNN", r"\d{2}-\d{7}"),
}


def vat_id_problem(country: str, tax_id: str) -> str | None:
    """Why ``tax_id`` is not a well-formed id for ``country`` (None: fine or no format known)."""
    known = VAT_FORMATS.get(country.upper())
    if known is None:
        return None
    shape, pattern = known
    value = re.sub(r"\s", "", tax_id.upper())
    if country.upper() != "US":
        value = re.sub(r"[.\-]", "", value)
    if re.fullmatch(pattern, value):
        return None
    return f"{tax_id!r} is not a well-formed {country.upper()} tax id (expected {shape})"


def _customer(ctx: OrderContext) -> dict[str, Any] | None:
    """The ERP customer linked to the Account (None: a new customer)."""
    account_id = ctx.account.get("Id") or ctx.opportunity.get("AccountId")
    return ctx.ask("erp", "find_customer", external_id=account_id) if account_id else None


def _company(ctx: OrderContext, customer: dict[str, Any] | None) -> str | None:
    """The selling company's code (``US01``): the customer's ERP subsidiary, else the order's."""
    sub = (customer or {}).get("subsidiary")
    if isinstance(sub, dict) and (sub.get("refName") or sub.get("id")):
        if sub.get("refName"):
            return str(sub["refName"])
        found = ctx.ask("erp", "get_subsidiary", str(sub["id"]))
        return str(found["name"]) if found else None
    entity = ctx.opportunity.get("Legal_Entity__c")
    if entity:
        return str(entity)
    country = _address(ctx, "Billing")["country"]
    subs = ctx.ask("erp", "list_subsidiaries") if country else []
    return next((str(s["name"]) for s in subs if s.get("country") == country), None)


def _address(ctx: OrderContext, prefix: str) -> dict[str, str]:
    """The Account's ``Billing``/``Shipping`` address as ``resolve_address`` keywords."""
    a = ctx.account
    return {
        "line1": str(a.get(f"{prefix}Street") or "").strip(),
        "city": str(a.get(f"{prefix}City") or "").strip(),
        "region": str(a.get(f"{prefix}State") or "").strip(),
        "postal_code": str(a.get(f"{prefix}PostalCode") or "").strip(),
        "country": str(a.get(f"{prefix}Country") or "").strip().upper(),
    }


def _ship_to(ctx: OrderContext) -> tuple[dict[str, str], str]:
    """The ship-to address and where it came from (``shipping`` or ``billing``)."""
    shipping = _address(ctx, "Shipping")
    if any(shipping[k] for k in ("line1", "city", "postal_code")):
        return shipping, "shipping"
    return _address(ctx, "Billing"), "billing"


def _where(address: dict[str, str]) -> str:
    """``US-GA`` or ``GB``."""
    return "-".join(p for p in (address["country"], address["region"]) if p) or "no country"


def _resolve(ctx: OrderContext, label: str, address: dict[str, str]) -> Finding:
    """One address resolved by the tax engine, as a finding."""
    evidence: dict[str, Any] = {"which": label, "address": address}
    if not any(address[k] for k in ("line1", "city", "postal_code")):
        return Finding("fail", f"the Account has no {label} address", evidence)
    try:
        answer = ctx.ask("tax", "resolve_address", **address)
    except RejectedError as exc:
        return Finding(
            "fail", f"{label} address refused by the tax engine: {exc.message}", evidence
        )
    messages = [m.summary for m in answer.messages]
    evidence.update(quality=answer.quality, messages=messages, resolved=answer.resolved)
    if not answer.resolved:
        why = "; ".join(messages) or f"resolution quality {answer.quality}"
        return Finding("fail", f"{label} address does not resolve: {why}", evidence)
    return Finding("pass", f"{label} address resolves ({answer.quality})", evidence)


@rule(
    "tax.address_resolves",
    domain="tax",
    system="tax",
    severity="error",
    title="The bill-to and ship-to addresses resolve in the tax engine",
    remediation=(
        "Correct the Account's billing (or shipping) address in Salesforce as the tax engine's "
        "messages say (often a missing or wrong postal code), then validate again."
    ),
)
def address_resolves(ctx: OrderContext) -> list[Finding]:
    found = [_resolve(ctx, "bill-to", _address(ctx, "Billing"))]
    ship, source = _ship_to(ctx)
    if source == "shipping":
        found.append(_resolve(ctx, "ship-to", ship))
    else:
        last = found[0]
        found[0] = Finding(last.status, last.message + "; ship-to = bill-to", last.evidence)
    return found


@rule(
    "tax.nexus",
    domain="tax",
    system="tax",
    severity="warning",
    title="The selling company has tax nexus where the order ships",
    remediation=(
        "Nothing blocks the order: tax will be zero. If the company should collect tax there, "
        "ask the tax team to register and add the nexus in the tax engine."
    ),
)
def nexus(ctx: OrderContext) -> Finding:
    ship, source = _ship_to(ctx)
    company = _company(ctx, _customer(ctx))
    evidence: dict[str, Any] = {"company": company, "shipTo": _where(ship), "source": source}
    if not ship["country"]:
        return Finding("warn", "no ship-to country: nexus not checked", evidence)
    if company is None:
        return Finding(
            "warn", "no selling company known for the order: nexus not checked", evidence
        )
    try:
        held = ctx.ask("tax", "list_nexus", company)
    except RecordNotFound:
        return Finding("fail", f"the tax engine has no company {company}", evidence)
    day = service_date(ctx)
    evidence["nexus"] = sorted({f"{n.country}-{n.region}" if n.region else n.country for n in held})
    if any(n.covers(ship["country"], ship["region"] or None, day) for n in held):
        return Finding("pass", f"{company} has nexus in {_where(ship)}", evidence)
    return Finding("warn", f"tax will be zero: no nexus in {_where(ship)} for {company}", evidence)


@rule(
    "tax.product_tax_code",
    domain="tax",
    system="tax",
    severity="error",
    title="Every product has a tax code the tax engine knows",
    remediation=(
        "Ask the ERP administrators to set the item's tax code to one defined in the tax engine "
        "(or the tax team to add the code), then validate again."
    ),
)
def product_tax_code(ctx: OrderContext) -> Finding:
    items = ask_each(ctx, "erp", "get_item", ctx.product_codes())
    codes = {c: str(i.get("taxCode") or "") for c, i in items.items() if i is not None}
    unknown_items = [c for c, i in items.items() if i is None]
    known = ask_each(ctx, "tax", "get_tax_code", sorted({t for t in codes.values() if t}))
    none = [c for c, t in codes.items() if not t]
    bad = {c: t for c, t in codes.items() if t and (known[t] is None or not known[t].active)}
    evidence = {"taxCodes": codes, "missing": none, "unknown": bad, "notErpItems": unknown_items}
    problems = [f"no tax code on ERP item {c}" for c in none]
    problems += [
        f"tax code {t} (on {c}) unknown or inactive in the tax engine" for c, t in bad.items()
    ]
    tail = f"; not checked: {', '.join(unknown_items)} (not ERP items)" if unknown_items else ""
    if problems:
        return Finding("fail", "; ".join(problems) + tail, evidence)
    return Finding("pass", f"{len(codes)} product(s) with known tax codes" + tail, evidence)


@rule(
    "tax.exemption_certificate",
    domain="tax",
    system="tax",
    severity="error",
    title="An exempt customer has a valid certificate for the ship-to region",
    remediation=(
        "Collect a renewed exemption certificate from the customer and upload it to the tax "
        "engine, or remove the exemption so tax is charged."
    ),
)
def exemption_certificate(ctx: OrderContext) -> Finding:
    customer = _customer(ctx)
    if customer is None:
        return Finding("pass", "new customer: not exempt (no certificates)", {})
    code = str(customer.get("entityId") or "")
    certs = ctx.ask(
        "tax", "find_certificates", customer_code=code, company_code=_company(ctx, customer)
    )
    if not certs:
        return Finding("pass", f"{code} is not exempt (no certificates)", {"customer": code})
    ship, _ = _ship_to(ctx)
    day = service_date(ctx)
    here = [
        c
        for c in certs
        if c.country.upper() == ship["country"]
        and (not c.region or c.region.upper() == ship["region"].upper())
    ]
    evidence: dict[str, Any] = {
        "customer": code,
        "shipTo": _where(ship),
        "serviceDate": day.isoformat(),
        "certificates": [
            {
                "id": c.id,
                "region": f"{c.country}-{c.region}",
                "valid": c.valid,
                "expires": c.expiration_date.isoformat() if c.expiration_date else None,
            }
            for c in certs
        ],
    }
    if not here:
        return Finding(
            "warn",
            f"{code} has no exemption certificate for {_where(ship)}: tax is charged",
            evidence,
        )
    good = [c for c in here if c.valid_on(day)]
    if good:
        until = good[0].expiration_date
        return Finding(
            "pass", f"certificate {good[0].id} valid in {_where(ship)} until {until}", evidence
        )
    why = [
        f"certificate {c.id} expired on {c.expiration_date}"
        if c.expiration_date and c.expiration_date < day
        else f"certificate {c.id} is not valid (status {c.status or 'unknown'})"
        for c in here
    ]
    return Finding("fail", f"{code} in {_where(ship)} on {day}: " + "; ".join(why), evidence)


@rule(
    "tax.vat_id_format",
    domain="tax",
    system="erp",
    severity="error",
    title="The customer's VAT/GST/tax id is well-formed for its country",
    remediation=(
        "Ask the customer for their registered VAT/GST/tax id and correct it on the ERP customer."
    ),
)
def vat_id_format(ctx: OrderContext) -> Finding:
    customer = _customer(ctx)
    if customer is None:
        return Finding("pass", "new customer: no tax id in the ERP yet", {})
    tax_id = str(customer.get("taxId") or "").strip()
    country = _address(ctx, "Billing")["country"]
    sub_id = (customer.get("subsidiary") or {}).get("id")
    if not country and sub_id:
        sub = ctx.ask("erp", "get_subsidiary", str(sub_id))
        country = str((sub or {}).get("country") or "").upper()
    evidence = {"customer": customer.get("entityId"), "taxId": tax_id, "country": country}
    if not tax_id:
        return Finding("warn", f"ERP customer {customer.get('entityId')} has no tax id", evidence)
    if country not in VAT_FORMATS:
        return Finding("pass", f"no format known for {country or 'an unknown country'}", evidence)
    problem = vat_id_problem(country, tax_id)
    if problem:
        return Finding("fail", problem, evidence)
    return Finding("pass", f"{tax_id} is a well-formed {country} tax id", evidence)
