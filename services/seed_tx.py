"""Sample transactions: failure modes, what each refers to, what each changes.

:func:`bind` picks the account, subscription or invoice a planned transaction is
about and creates its Salesforce opportunity; :func:`script` says which step fails
and how it is retried; :func:`on_success` applies a successful step to the master
data (numbers are assigned by the system that creates the document, so they appear
in keys from that step on).
"""

from __future__ import annotations

import bisect
import random
from datetime import date, datetime, timedelta
from decimal import Decimal

from services.seed_master import ADDONS, PRODUCT, Master, Subscription, money
from services.seed_steps import Tx

__all__ = ["FAILS", "MODES", "bind", "close", "on_success", "script"]

_ANY = ("order_activation", "renewal", "amendment", "usage_trueup", "payment")
_TAXED = ("order_activation", "amendment", "usage_trueup")
# mode -> (share of transactions, minimum count, flows it occurs in, transaction status)
MODES: dict[str, tuple[float, int, tuple[str, ...], str]] = {
    "tax_outage": (0.015, 2, _TAXED, "failed"),
    "tax_outage_recovered": (0.012, 2, _TAXED, "succeeded"),
    "period_closed": (0.025, 2, ("usage_trueup", "amendment", "order_activation"), "failed"),
    "invalid_item": (0.025, 2, ("order_activation", "renewal"), "failed"),
    "currency_mismatch": (0.02, 2, ("order_activation",), "failed"),
    "version_conflict": (0.022, 2, ("amendment",), "failed"),
    "validation": (0.028, 2, ("order_activation",), "failed"),
    "payment_declined": (0.012, 2, ("payment",), "failed"),
    "rate_limit": (0.025, 2, ("order_activation", "renewal", "amendment", "payment"), "succeeded"),
    "erp_native": (0.02, 3, _TAXED, "succeeded"),
    "erp_native_transitive": (0.006, 1, ("order_activation",), "succeeded"),
    "erp_native_early": (0.004, 2, ("order_activation",), "succeeded"),
    "stuck": (0.048, 3, _ANY, "in_progress"),
    "in_flight": (0.022, 2, _ANY, "in_progress"),
}
# mode -> (failing operation, error code)
FAILS = {
    "tax_outage": ("tax.calculate", "SERVICE_UNAVAILABLE"),
    "tax_outage_recovered": ("tax.calculate", "SERVICE_UNAVAILABLE"),
    "period_closed": ("invoice.post", "PERIOD_CLOSED"),
    "invalid_item": ("salesorder.create", "INVALID_ITEM"),
    "currency_mismatch": ("salesorder.create", "CURRENCY_MISMATCH"),
    "version_conflict": ("subscription.amend", "SUBSCRIPTION_VERSION_CONFLICT"),
    "validation": ("order.validate", "VALIDATION_FAILED"),
    "payment_declined": ("payment.apply", "PAYMENT_DECLINED"),
    "rate_limit": ("opportunity.writeback", "REQUEST_LIMIT_EXCEEDED"),
}


def _day(t: datetime) -> str:
    return t.date().isoformat()


def _next_year(d: date) -> date:
    return d.replace(year=d.year + 1, day=min(d.day, 28))


def _pick_sub(rng: random.Random, m: Master, tx: Tx, *, renewal: bool = False) -> Subscription:
    """A subscription that exists at the transaction's start; sometimes one made in-window.

    Renewals prefer the subscriptions whose term ends soonest after the start.
    """
    known = bisect.bisect_left(m.fresh, tx.start, key=lambda s: s.created or tx.start)
    if known and rng.random() < (0.15 if renewal else 0.35):
        return m.fresh[rng.randrange(known)]
    if renewal:
        first = bisect.bisect_left(m.due, tx.start.date(), key=lambda e: e[0])
        due = [s for _, _, s in m.due[first : first + 8] if not s.created or s.created < tx.start]
        if due:
            return rng.choice(due)
    while True:  # nearly every subscription already exists: rejection sampling is cheap
        sub = rng.choice(m.subscriptions)
        if sub.created is None or sub.created < tx.start:
            return sub


def _opportunity(m: Master, tx: Tx, kind: str, close_day: str | None = None) -> None:
    a, cur = tx.account, tx.currency
    opp, quote = m.ids.sf("006"), m.ids.sf("0Q0")
    tx.keys.update(opportunity_id=opp, quote_id=quote)
    tx.extra["opp"] = m.sf_record(
        "Opportunity",
        opp,
        Name=f"{a.name} - {kind} {tx.start:%b %Y}",
        AccountId=a.sf_id,
        Type=kind,
        StageName="Closed Won",
        CloseDate=close_day or _day(tx.start),
        Amount=float(tx.amount),
        CurrencyIsoCode=cur,
        Probability=100,
        SyncedQuoteId=quote,
        Integration_Status__c="In Progress",
        ERP_Order_Number__c=None,
        Subscription_Number__c=tx.keys.get("subscription_id"),
    )
    for code, qty, rate in tx.lines:
        ids = m.product_ids[code]
        m.sf_record(
            "OpportunityLineItem",
            m.ids.sf("00k"),
            OpportunityId=opp,
            Product2Id=ids["sf"],
            PricebookEntryId=ids[f"pbe_{cur}"],
            ProductCode=code,
            Quantity=qty,
            UnitPrice=float(rate),
            TotalPrice=float(rate * qty),
        )


def _violation(rng: random.Random, m: Master, tx: Tx) -> str | None:
    """Pick the account and rule of a validation failure; returns a close date override."""
    i = m.counters["validation"] = m.counters.get("validation", -1) + 1
    kind = i % 6
    a = tx.account = m.accounts[
        {0: 0, 1: 2, 2: 3, 3: 1}.get(kind, rng.randrange(4, len(m.accounts)))
    ]
    opp, quote = "{opp}", "{quote}"
    rules = {
        0: (
            "billing_address",
            f"Account {a.sf_id} has no billing postal code; the tax engine"
            " cannot resolve the ship-to address",
        ),
        1: ("credit_status", f"Customer {a.customer_id} is on credit hold in the ERP"),
        2: (
            "tax_exemption",
            f"Exemption certificate {a.cert['id'] if a.cert else ''} for "
            f"customer {a.customer_id} expired on 2026-08-31",
        ),
        4: ("primary_quote", f"Quote {quote} is not the primary quote of opportunity {opp}"),
        5: ("close_date", "CloseDate {close} is in the future for a Closed Won opportunity"),
    }
    tx.extra["violation"] = rules.get(kind, rules[0])
    return (tx.start.date() + timedelta(days=21)).isoformat() if kind == 5 else None


def _order_lines(rng: random.Random, tx: Tx) -> list[tuple[str, int]]:
    base = (
        "PLAT-ANNAUL"
        if tx.mode == "invalid_item"
        else ("PLAT-ENT" if rng.random() < 0.25 else "PLAT-ANNUAL")
    )
    lines = [(base, 1), (rng.choice(("SEAT-STD", "SEAT-PRO")), rng.randint(10, 250))]
    lines += [(c, 1) for c in rng.sample(ADDONS, rng.randint(0, 2))]
    return lines + ([("ONB-PKG", 1)] if rng.random() < 0.35 else [])


def bind(rng: random.Random, m: Master, tx: Tx) -> None:
    """Choose what the transaction is about and fill its keys, lines and amounts."""
    close_day = None
    regular = m.accounts[4:]
    if tx.flow == "order_activation":
        tx.account = rng.choice(regular)
        if tx.mode == "validation":
            close_day = _violation(rng, m, tx)
        elif tx.mode == "currency_mismatch":
            tx.account = rng.choice([a for a in regular if a.entity == "US01"])
        elif tx.mode == "invalid_item":
            tx.account = rng.choice([a for a in regular if a.entity in ("DE01", "GB01")] or regular)
        tx.currency = "EUR" if tx.mode == "currency_mismatch" else tx.account.currency
        tx.lines = [(c, q, PRODUCT[c].price(tx.currency)) for c, q in _order_lines(rng, tx)]
    elif tx.flow == "payment":
        for _ in range(64):  # an open posted invoice from before the start
            i = rng.randrange(len(m.payable))
            if m.payable[i].date < tx.start.date():
                break
        tx.invoice = m.payable[i]  # reserved: no other payment draws it
        m.payable[i] = m.payable[-1]
        m.payable.pop()
        tx.account, tx.currency = tx.invoice.account, tx.invoice.currency
        tx.keys["invoice_number"] = tx.invoice.number
        tx.amount = tx.invoice.total
    else:
        tx.sub = _pick_sub(rng, m, tx, renewal=tx.flow == "renewal")
        tx.account, tx.currency = tx.sub.account, tx.sub.account.currency
        tx.keys["subscription_id"] = tx.sub.number
        if tx.flow == "amendment":
            seat = next((c for c, _ in tx.sub.lines if c.startswith("SEAT")), "SEAT-STD")
            share = Decimal(max(30, (tx.sub.end - tx.start.date()).days)) / 365
            tx.lines = [(seat, rng.randint(5, 60), money(PRODUCT[seat].price(tx.currency) * share))]
            if tx.mode == "version_conflict":  # someone amended it in the billing UI meanwhile
                tx.sub.version += 1
            tx.extra["version"] = tx.sub.version - (tx.mode == "version_conflict")
        elif tx.flow == "renewal":
            uplift = Decimal(rng.choice(("1.00", "1.03", "1.05", "1.07")))
            tx.lines = [
                (c, q, money(PRODUCT[c].price(tx.currency) * uplift)) for c, q in tx.sub.lines
            ]
            if tx.mode == "invalid_item":  # the renewal quote picked the mistyped product
                tx.lines[0] = ("PLAT-ANNAUL", 1, tx.lines[0][2])
            tx.extra["term_start"] = tx.sub.end.isoformat()
            tx.extra["term_end"] = _next_year(tx.sub.end).isoformat()
        else:
            first = tx.start.date().replace(day=1)
            last = first - timedelta(days=1)
            tx.extra["usage_from"] = last.replace(day=1).isoformat()
            tx.extra["usage_to"] = last.isoformat()
            tx.lines = [("API-1M", rng.randint(5, 400), PRODUCT["API-1M"].price(tx.currency))]
    a = tx.account
    tx.entity = a.entity
    tx.keys.update(account_id=a.sf_id, customer_id=a.customer_id)
    if tx.lines:
        tx.amount = sum((r * q for _, q, r in tx.lines), Decimal(0))
    exempt = a.cert is not None and a.cert["valid"]
    tx.tax = Decimal("0.00") if exempt or tx.flow not in _TAXED else money(tx.amount * a.tax_rate)
    if tx.mode == "period_closed":
        tx.extra.update(period="Oct 2026", tran_date="2026-10-31")
    if tx.flow in ("order_activation", "amendment", "renewal"):
        kind = {"order_activation": "New Business", "amendment": "Amendment"}.get(
            tx.flow, "Renewal"
        )
        _opportunity(m, tx, kind, close_day)
        if "violation" in tx.extra:
            rule, text = tx.extra["violation"]
            text = text.format(
                opp=tx.keys["opportunity_id"], quote=tx.keys["quote_id"], close=close_day
            )
            tx.extra["violation"] = (rule, text)


def script(
    rng: random.Random, tx: Tx, ops: list[str], outage_end: datetime
) -> dict[int, list[tuple[str, str | None, float]]]:
    """Attempts per step index that differ from "succeeded at once"."""
    if tx.mode not in FAILS:
        return {}
    op, code = FAILS[tx.mode]
    if tx.mode == "rate_limit" and tx.flow == "payment":
        op = "account.writeback"
    i = ops.index(op)
    attempts: list[tuple[str, str | None, float]] = [("failed", code, 0.0)]
    if tx.mode == "rate_limit":
        return {i: [*attempts, ("succeeded", None, rng.uniform(60, 600))]}
    if tx.mode.startswith("tax_outage"):
        at = tx.start + timedelta(seconds=sum(tx.extra["gaps"][: i + 1]))
        waited = 0.0
        for backoff in (120.0, 600.0):
            if rng.random() < 0.6 and at + timedelta(seconds=waited + backoff) < outage_end:
                attempts.append(("failed", code, backoff))
                waited += backoff
        if tx.mode == "tax_outage_recovered":
            ok = outage_end + timedelta(seconds=rng.uniform(600, 9000))
            attempts.append(("succeeded", None, (ok - at).total_seconds() - waited))
    return {i: attempts}


def _record(tx: Tx, prefix: str, number: str, internal: str) -> dict[str, object]:
    a = tx.account
    return {
        "id": internal,
        "tranId": number,
        "externalId": tx.keys.get("opportunity_id", number),
        "entity": {"id": a.erp_id, "refName": a.customer_id},
        "subsidiary": {"refName": tx.entity},
        "currency": {"refName": tx.currency},
        prefix: float(tx.amount),
    }


def on_success(m: Master, tx: Tx, op: str, when: datetime) -> None:
    """Apply a successful step: allocate document numbers, update the master data."""
    a, day = tx.account, when.date()
    if op == "subscription.create":
        sub = Subscription(
            f"A-S000{m.ids.seq('sub', 10000, 9)}",
            m.ids.hex(32),
            a,
            day,
            _next_year(day),
            [(c, q) for c, q, _ in tx.lines if PRODUCT[c].kind == "recurring"],
            created=when,
        )
        m.add_subscription(sub)
        tx.sub, tx.keys["subscription_id"] = sub, sub.number
    elif op == "salesorder.create":
        number = f"SO-{m.ids.seq('order', 100000, 4)}"
        tx.extra["so_id"] = str(m.ids.seq("erp_so", 51000, 13))
        rec = _record(tx, "total", number, tx.extra["so_id"])
        rec.update(
            tranDate=day.isoformat(),
            status="Pending Billing",
            item={
                "items": [
                    {
                        "item": {"refName": c},
                        "quantity": q,
                        "rate": float(r),
                        "amount": float(r * q),
                    }
                    for c, q, r in tx.lines
                ]
            },
        )
        m.erp.setdefault("salesOrders", []).append(rec)
        tx.extra["so"], tx.keys["order_number"] = rec, number
    elif op == "invoice.create":
        if "tran_date" in tx.extra:  # backdated to the end of the closed period
            day = date.fromisoformat(tx.extra["tran_date"])
        inv = m.new_invoice(
            a,
            day,
            tx.amount,
            tx.tax,
            tx.currency,
            subscription=tx.keys.get("subscription_id"),
            order_number=tx.keys.get("order_number"),
        )
        inv.erp_native = tx.mode.startswith("erp_native")
        tx.invoice, tx.keys["invoice_number"] = inv, inv.number
    elif op == "invoice.post" and tx.invoice:
        tx.invoice.period = when.strftime("%b %Y")
        if not tx.invoice.erp_native:  # ERP-native invoices stay unambiguous: never paid here
            m.payable.append(tx.invoice)
        if "so" in tx.extra:
            tx.extra["so"]["status"] = "Billed"
    elif op == "subscription.amend" and tx.sub:
        tx.sub.version += 1
        tx.sub.lines.append((tx.lines[0][0], tx.lines[0][1]))
    elif op == "subscription.renew" and tx.sub:
        m.renewed(tx.sub, _next_year(tx.sub.end))
    elif op == "payment.apply" and tx.invoice:
        tx.keys["payment_id"] = f"P-{m.ids.seq('payment', 10000, 3)}"
        tx.invoice.paid += tx.amount
        m.billing.setdefault("payments", []).append(
            {
                "id": m.ids.hex(32),
                "number": tx.keys["payment_id"],
                "accountNumber": a.customer_id,
                "amount": float(tx.amount),
                "currency": tx.currency,
                "effectiveDate": day.isoformat(),
                "status": "Processed",
                "type": "Electronic",
                "invoices": [
                    {"invoiceNumber": tx.invoice.number, "appliedAmount": float(tx.amount)}
                ],
            }
        )
    elif op == "payment.post" and tx.invoice:
        tx.invoice.erp_paid += tx.amount
        tx.extra["pay_id"] = str(m.ids.seq("erp_pay", 72000, 13))
        rec = _record(tx, "payment", tx.keys["payment_id"], tx.extra["pay_id"])
        rec.update(
            tranDate=day.isoformat(),
            apply={"items": [{"doc": {"refName": tx.invoice.number}, "amount": float(tx.amount)}]},
        )
        m.erp.setdefault("customerPayments", []).append(rec)
    elif op == "opportunity.writeback" and "opp" in tx.extra:
        tx.extra["opp"].update(
            Integration_Status__c="Synced",
            ERP_Order_Number__c=tx.keys.get("order_number"),
            Subscription_Number__c=tx.keys.get("subscription_id"),
        )


def close(m: Master, tx: Tx) -> None:
    """After the last event: mark the opportunity of a failed transaction."""
    if tx.outcome == "failed" and "opp" in tx.extra:
        tx.extra["opp"]["Integration_Status__c"] = "Error"
