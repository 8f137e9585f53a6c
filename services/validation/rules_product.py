"""Product and price checks: the lines (Salesforce), the items (ERP), the catalog (billing).

Each rule asks once per distinct product code (never per line), through
:func:`ask_each`, so a 20-line order costs one cached look-up per code.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.validation.context import OrderContext
from services.validation.model import Finding
from services.validation.registry import rule

__all__ = ["ask_each", "line_label", "service_date"]

_CENT = Decimal("0.01")


def ask_each(
    ctx: OrderContext, system: str, method: str, keys: Iterable[Hashable]
) -> dict[Any, Any]:
    """``{key: connector(system).method(key)}`` for each distinct key, asked concurrently."""
    wanted = list(dict.fromkeys(keys))
    if len(wanted) <= 1:
        return {k: ctx.ask(system, method, k) for k in wanted}
    workers = min(len(wanted), int(getattr(ctx.settings, "validation_concurrency", 8) or 8))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="q2c-ask") as pool:
        futures = {k: pool.submit(ctx.ask, system, method, k) for k in wanted}
        return {k: f.result() for k, f in futures.items()}


def service_date(ctx: OrderContext) -> date:
    """The service start: the Opportunity's CloseDate, else today (UTC)."""
    try:
        return date.fromisoformat(str(ctx.opportunity.get("CloseDate") or "")[:10])
    except ValueError:
        return datetime.now(UTC).date()


def line_label(number: int, line: dict[str, Any]) -> str:
    """``line 2 (SEAT-STD)`` or ``line 2 (00k...)`` when the line has no product code."""
    return f"line {number} ({line.get('ProductCode') or line.get('Id') or 'no id'})"


def _decimal(value: Any) -> Decimal | None:
    """A Salesforce number as a Decimal, or None."""
    try:
        return Decimal(str(value)) if value is not None and value != "" else None
    except InvalidOperation:
        return None


def _cents(value: Decimal) -> str:
    return str(value.quantize(_CENT))


def _shown(rows: list[dict[str, Any]]) -> str:
    """``line 2 SEAT-STD 30.00% off list, ...`` (negative: above list)."""
    return ", ".join(
        f"line {r['line']} {r['productCode']} {r['discountPercent'].lstrip('-')}% "
        + ("above" if r["discountPercent"].startswith("-") else "off")
        + " list"
        for r in rows
    )


def _not_checked(codes: list[str], why: str) -> str:
    return f"; not checked: {', '.join(codes)} ({why})" if codes else ""


@rule(
    "product.lines_present",
    domain="product",
    system="salesforce",
    severity="error",
    title="The opportunity has lines, each with a product code and a positive quantity",
    remediation=(
        "Fix the opportunity in Salesforce: add the products sold, pick a product on every line, "
        "and give every line a quantity above zero; then validate again."
    ),
)
def lines_present(ctx: OrderContext) -> list[Finding]:
    lines = ctx.lines
    if not lines:
        return [Finding("fail", "the opportunity has no line items", {"lines": 0})]
    found: list[Finding] = []
    for n, line in enumerate(lines, start=1):
        where = {"line": n, "id": line.get("Id"), "productCode": line.get("ProductCode")}
        if not line.get("ProductCode"):
            found.append(Finding("fail", f"{line_label(n, line)} has no product code", where))
        qty = _decimal(line.get("Quantity"))
        if qty is None or qty <= 0:
            shown = "no" if qty is None else f"{qty:g}"
            found.append(
                Finding(
                    "fail",
                    f"{line_label(n, line)} has {shown} quantity (must be above zero)",
                    {**where, "quantity": line.get("Quantity")},
                )
            )
    return found or [
        Finding(
            "pass",
            f"{len(lines)} line(s), each with a product code and a positive quantity",
            {"lines": len(lines), "productCodes": ctx.product_codes()},
        )
    ]


@rule(
    "product.erp_item_active",
    domain="product",
    system="erp",
    severity="error",
    title="Every product code is an active ERP item",
    remediation=(
        "Correct the product code on the Salesforce line (a typo, or a retired product), or ask "
        "the ERP administrators to create or reactivate the item."
    ),
)
def erp_item_active(ctx: OrderContext) -> Finding:
    items = ask_each(ctx, "erp", "get_item", ctx.product_codes())
    unknown = [c for c, item in items.items() if item is None]
    inactive = [c for c, item in items.items() if item is not None and item.get("isInactive")]
    evidence = {
        "items": {c: item.get("id") for c, item in items.items() if item is not None},
        "unknown": unknown,
        "inactive": inactive,
    }
    problems = []
    if unknown:
        problems.append(f"not ERP items: {', '.join(unknown)}")
    if inactive:
        problems.append(f"inactive in the ERP: {', '.join(inactive)}")
    if problems:
        return Finding("fail", "; ".join(problems), evidence)
    return Finding("pass", f"{len(items)} product code(s), all active ERP items", evidence)


@rule(
    "product.billing_charge_exists",
    domain="product",
    system="billing",
    severity="error",
    title="Every product code is a current charge in the billing catalog",
    remediation=(
        "Correct the product code on the Salesforce line, or ask the billing administrators to "
        "add the product to the catalog (or extend its effective end date)."
    ),
)
def billing_charge_exists(ctx: OrderContext) -> Finding:
    charges = ask_each(ctx, "billing", "find_charge", ctx.product_codes())
    day = service_date(ctx)
    missing = [c for c, ch in charges.items() if ch is None]
    expired = {
        c: ch.effective_end_date.isoformat()
        for c, ch in charges.items()
        if ch is not None and ch.effective_end_date is not None and ch.effective_end_date < day
    }
    evidence = {
        "charges": {c: ch.charge_id for c, ch in charges.items() if ch is not None},
        "missing": missing,
        "expired": expired,
        "serviceDate": day.isoformat(),
    }
    problems = []
    if missing:
        problems.append(f"not in the billing catalog: {', '.join(missing)}")
    if expired:
        ended = ", ".join(f"{c} (ended {d})" for c, d in expired.items())
        problems.append(f"expired in the billing catalog before {day}: {ended}")
    if problems:
        return Finding("fail", "; ".join(problems), evidence)
    return Finding("pass", f"{len(charges)} product code(s), all current billing charges", evidence)


@rule(
    "product.revrec_rule",
    domain="product",
    system="erp",
    severity="error",
    title="Every ERP item has a revenue recognition rule",
    remediation=(
        "Ask the ERP administrators (revenue accounting) to set the revenue recognition rule "
        "on the item before the order is booked."
    ),
)
def revrec_rule(ctx: OrderContext) -> Finding:
    items = ask_each(ctx, "erp", "get_item", ctx.product_codes())
    unknown = [c for c, item in items.items() if item is None]
    rules: dict[str, str | None] = {}
    for code, item in items.items():
        if item is not None:
            raw = item.get("revRecRule")
            name = raw.get("refName") or raw.get("id") if isinstance(raw, dict) else raw
            rules[code] = str(name) if name else None
    missing = [c for c, name in rules.items() if not name]
    evidence = {"revRecRules": rules, "missing": missing, "notErpItems": unknown}
    tail = _not_checked(unknown, "not ERP items, see product.erp_item_active")
    if missing:
        return Finding(
            "fail", f"no revenue recognition rule on: {', '.join(missing)}" + tail, evidence
        )
    return Finding("pass", f"revenue recognition rule set on {len(rules)} item(s)" + tail, evidence)


@rule(
    "price.pricebook_entry_active",
    domain="price",
    system="salesforce",
    severity="error",
    title="Every line's price book entry is active",
    remediation=(
        "Replace the line's product with one from an active price book entry in Salesforce (or "
        "ask the Salesforce admin to reactivate the entry) and validate again."
    ),
)
def pricebook_entry_active(ctx: OrderContext) -> list[Finding]:
    entries = ctx.detail.pricebook_entries
    found: list[Finding] = []
    for n, line in enumerate(ctx.lines, start=1):
        entry_id = line.get("PricebookEntryId")
        where = {"line": n, "id": line.get("Id"), "pricebookEntryId": entry_id}
        entry = entries.get(entry_id) if entry_id else None
        if not entry_id:
            found.append(Finding("fail", f"{line_label(n, line)} has no price book entry", where))
        elif entry is None:
            found.append(
                Finding(
                    "fail", f"{line_label(n, line)}: price book entry {entry_id} not found", where
                )
            )
        elif not entry.get("IsActive"):
            found.append(
                Finding(
                    "fail",
                    f"{line_label(n, line)}: price book entry {entry_id} is inactive",
                    {**where, "isActive": entry.get("IsActive")},
                )
            )
    if found:
        return found
    return [Finding("pass", f"{len(ctx.lines)} line(s), all on active price book entries", {})]


@rule(
    "price.matches_list",
    domain="price",
    system="billing",
    severity="warning",
    title="Unit prices match the billing list price, or the discount is within policy",
    remediation=(
        "Get the pricing exception approved by deal desk (an approver accepts the order with a "
        "reason), or correct the unit price on the Salesforce line."
    ),
)
def matches_list(ctx: OrderContext) -> list[Finding]:
    currency = (ctx.currency or "").upper()
    charges = ask_each(ctx, "billing", "find_charge", ctx.product_codes())
    limit = Decimal(f"{getattr(ctx.settings, 'discount_approval_percent', 20):g}")
    within: list[dict[str, Any]] = []
    beyond: list[dict[str, Any]] = []
    above: list[dict[str, Any]] = []
    unpriced: list[str] = []
    for n, line in enumerate(ctx.lines, start=1):
        code = line.get("ProductCode")
        charge = charges.get(code) if code else None
        listed = charge.price(currency) if charge is not None and currency else None
        unit = _decimal(line.get("UnitPrice"))
        if listed is None or unit is None or listed <= 0:
            unpriced.append(line_label(n, line))
            continue
        off = ((listed - unit) / listed * 100).quantize(_CENT)
        row = {"line": n, "productCode": code, "unitPrice": _cents(unit)}
        row.update(listPrice=_cents(listed), discountPercent=str(off))
        if abs(unit - listed) < Decimal("0.005"):
            continue
        (above if off < 0 else beyond if off > limit else within).append(row)
    pct, found = f"{limit:f}%", []
    if beyond:
        message = f"pricing exception, needs approval: {_shown(beyond)} (policy: {pct})"
        evidence = {"exceptions": beyond, "approvalPercent": pct, "currency": currency}
        found.append(Finding("warn", message, evidence, needs_approval=True))
    if within:
        message = f"discount within policy ({pct}): {_shown(within)}"
        found.append(Finding("warn", message, {"discounts": within, "currency": currency}))
    if above:
        message = f"above list price: {_shown(above)}"
        found.append(Finding("warn", message, {"above": above, "currency": currency}))
    tail = _not_checked(unpriced, "no list price to compare, see price.currency_price_exists")
    if not found:
        return [Finding("pass", f"every line at the {currency} list price" + tail, {})]
    last = found[-1]
    found[-1] = Finding(last.status, last.message + tail, last.evidence, last.needs_approval)
    return found


@rule(
    "price.currency_price_exists",
    domain="price",
    system="billing",
    severity="error",
    title="The billing catalog has a price in the order currency for every product",
    remediation=(
        "Ask the billing administrators to add a price in the order currency to the product's "
        "charge, or quote the order in a currency the catalog prices."
    ),
)
def currency_price_exists(ctx: OrderContext) -> Finding:
    currency = (ctx.currency or "").upper()
    if not currency:
        return Finding("fail", "the opportunity has no currency", {"currency": None})
    charges = ask_each(ctx, "billing", "find_charge", ctx.product_codes())
    unknown = [c for c, ch in charges.items() if ch is None]
    prices = {c: ch.price(currency) for c, ch in charges.items() if ch is not None}
    missing = [c for c, p in prices.items() if p is None]
    evidence = {
        "currency": currency,
        "prices": {c: _cents(p) for c, p in prices.items() if p is not None},
        "missing": missing,
        "notInCatalog": unknown,
    }
    tail = _not_checked(unknown, "not in the billing catalog, see product.billing_charge_exists")
    if missing:
        return Finding("fail", f"no {currency} price for: {', '.join(missing)}" + tail, evidence)
    return Finding("pass", f"{len(prices)} product(s) priced in {currency}" + tail, evidence)
