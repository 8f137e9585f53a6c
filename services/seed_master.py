"""Master data behind the sample events: accounts, products, subscriptions, documents.

:class:`Master` is built first (accounts, catalogue, pre-existing subscriptions and
September invoices), then :mod:`services.seed` adds what each transaction created
(opportunities, sales orders, invoices, payments). :meth:`Master.records` renders the
state as of the data set's end in each system's own API shape: Salesforce query
results, NetSuite REST records, Zuora-like objects and AvaTax-like objects.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.seed_catalog import (
    ADDONS,
    ENTITIES,
    FX,
    NAMES,
    PRODUCT,
    PRODUCTS,
    STREETS,
    TRADES,
    Ids,
    money,
    reference_records,
)

__all__ = ["Account", "Invoice", "Master", "Subscription", "build_master"]

SF_API = "/services/data/v61.0/sobjects"
_STATES = {
    "CA": "California",
    "TX": "Texas",
    "NY": "New York",
    "IL": "Illinois",
    "WA": "Washington",
    "MA": "Massachusetts",
    "CO": "Colorado",
    "GA": "Georgia",
}


@dataclass
class Account:
    """One customer as every system knows it (Salesforce, ERP, billing, tax)."""

    sf_id: str
    name: str
    customer_id: str
    erp_id: str
    billing_id: str
    entity: str
    currency: str
    street: str
    city: str
    region: str
    postal: str
    tax_rate: Decimal
    tax_id: str
    parent_id: str | None = None
    credit_hold: bool = False
    cert: dict[str, Any] | None = None

    @property
    def country(self) -> str:
        return ENTITIES[self.entity].country


@dataclass
class Subscription:
    """A billing subscription; ``lines`` are (product code, quantity)."""

    number: str
    billing_id: str
    account: Account
    start: date
    end: date
    lines: list[tuple[str, int]]
    version: int = 1
    status: str = "Active"
    created: datetime | None = None  # when created inside the data set's window
    renewed: bool = False
    seq: int = 0

    def annual(self, currency: str) -> Decimal:
        return sum((PRODUCT[c].price(currency) * q for c, q in self.lines), Decimal(0))


@dataclass
class Invoice:
    """One invoice: created in billing, posted in the ERP when ``period`` is set."""

    number: str
    billing_id: str
    erp_id: str
    account: Account
    date: date
    amount: Decimal
    tax: Decimal
    currency: str
    subscription: str | None = None
    order_number: str | None = None
    period: str | None = None
    paid: Decimal = Decimal(0)
    erp_paid: Decimal = Decimal(0)
    erp_native: bool = False

    @property
    def total(self) -> Decimal:
        return self.amount + self.tax

    def billing_record(self) -> dict[str, Any]:
        return {
            "id": self.billing_id,
            "invoiceNumber": self.number,
            "accountNumber": self.account.customer_id,
            "invoiceDate": self.date.isoformat(),
            "dueDate": (self.date + timedelta(days=30)).isoformat(),
            "currency": self.currency,
            "amountWithoutTax": float(self.amount),
            "taxAmount": float(self.tax),
            "amount": float(self.total),
            "balance": float(self.total - self.paid),
            "status": "Posted",
            "subscriptionNumbers": [self.subscription] if self.subscription else [],
        }

    def erp_record(self) -> dict[str, Any]:
        open_amount = self.total - self.erp_paid
        return {
            "id": self.erp_id,
            "tranId": self.number,
            "externalId": self.number,
            "entity": {"id": self.account.erp_id, "refName": self.account.customer_id},
            "subsidiary": {"refName": self.account.entity},
            "currency": {"refName": self.currency},
            "tranDate": self.date.isoformat(),
            "postingPeriod": {"refName": self.period},
            "createdFrom": {"refName": self.order_number} if self.order_number else None,
            "subtotal": float(self.amount),
            "taxTotal": float(self.tax),
            "total": float(self.total),
            "amountRemaining": float(open_amount),
            "status": "Open" if open_amount else "Paid In Full",
        }


@dataclass
class Master:
    """The systems' records; transactions append to the lists while the seed runs."""

    ids: Ids
    accounts: list[Account] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    sf: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    erp: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    billing: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tax: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    product_ids: dict[str, dict[str, str]] = field(default_factory=dict)
    invoices: list[Invoice] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    # Pools the transactions draw from, kept up to date so a draw costs O(log n):
    fresh: list[Subscription] = field(default_factory=list)  # created in-window, by time
    due: list[tuple[date, int, Subscription]] = field(default_factory=list)  # not renewed
    payable: list[Invoice] = field(default_factory=list)  # posted, open, not reserved

    def records(self) -> dict[str, dict[str, Any]]:
        """Each system's records as of the end of the data set, ready for JSON."""
        sf = {
            name: {"totalSize": len(rows), "done": True, "records": rows}
            for name, rows in self.sf.items()
        }
        billing = {
            **self.billing,
            "subscriptions": self.subscription_records(),
            "invoices": [i.billing_record() for i in self.invoices],
        }
        erp = {**self.erp, "invoices": [i.erp_record() for i in self.invoices if i.period]}
        return {"salesforce": sf, "erp": erp, "billing": billing, "tax": dict(self.tax)}

    def sf_record(self, sobject: str, sf_id: str, **fields: Any) -> dict[str, Any]:
        """A Salesforce record with ``attributes`` and ``Id``, appended to its query."""
        row = {
            "attributes": {"type": sobject, "url": f"{SF_API}/{sobject}/{sf_id}"},
            "Id": sf_id,
            **fields,
        }
        self.sf.setdefault(sobject, []).append(row)
        return row

    def add_subscription(self, sub: Subscription) -> None:
        """Record a subscription and make it available to later transactions."""
        sub.seq = len(self.subscriptions)
        self.subscriptions.append(sub)
        bisect.insort(self.due, (sub.end, sub.seq, sub))
        if sub.created is not None:
            bisect.insort(self.fresh, sub, key=lambda s: (s.created, s.seq))

    def renewed(self, sub: Subscription, end: date) -> None:
        """The subscription was renewed until ``end``: it is no longer due."""
        if not sub.renewed:
            self.due.remove((sub.end, sub.seq, sub))
        sub.start, sub.end, sub.renewed = sub.end, end, True
        sub.version += 1

    def new_invoice(
        self,
        account: Account,
        day: date,
        amount: Decimal,
        tax: Decimal,
        currency: str,
        *,
        subscription: str | None = None,
        order_number: str | None = None,
    ) -> Invoice:
        """Allocate the next invoice number; the invoice exists in billing from now on."""
        inv = Invoice(
            f"INV-{self.ids.seq('invoice', 200000, 4)}",
            self.ids.hex(32),
            str(self.ids.seq("erp_invoice", 88000, 13)),
            account,
            day,
            amount,
            tax,
            currency,
            subscription,
            order_number,
        )
        self.invoices.append(inv)
        return inv

    def subscription_records(self) -> list[dict[str, Any]]:
        """Billing subscriptions as of the end of the data set."""
        return [
            {
                "id": s.billing_id,
                "subscriptionNumber": s.number,
                "accountNumber": s.account.customer_id,
                "version": s.version,
                "status": s.status,
                "termType": "TERMED",
                "currentTerm": 12,
                "currentTermPeriodType": "Month",
                "autoRenew": True,
                "contractEffectiveDate": s.start.isoformat(),
                "termStartDate": s.start.isoformat(),
                "termEndDate": s.end.isoformat(),
                "ratePlans": [
                    {
                        "productSku": c,
                        "productRatePlanId": self.product_ids[c]["plan"],
                        "quantity": q,
                    }
                    for c, q in s.lines
                ],
            }
            for s in self.subscriptions
        ]


def _fill(rng: random.Random, template: str) -> str:
    return "".join(
        str(rng.randint(0, 9))
        if c == "#"
        else rng.choice("ABDEFGHJLNPQRSTUWXYZ")
        if c == "@"
        else c
        for c in template
    )


def _tax_id(rng: random.Random, country: str) -> str:
    digits = "".join(str(rng.randint(0, 9)) for _ in range(11))
    return {
        "US": f"{digits[:2]}-{digits[2:9]}",
        "DE": f"DE{digits[:9]}",
        "GB": f"GB{digits[:9]}",
        "CA": f"{digits[:9]}RT0001",
        "AU": digits,
    }[country]


def _catalogue(m: Master) -> None:
    book = m.ids.sf("01s")
    for p in PRODUCTS:
        ids = {
            "sf": m.ids.sf("01t"),
            "erp": str(m.ids.seq("item", 1200, 9)),
            "billing": m.ids.hex(32),
            "plan": m.ids.hex(32),
            "charge": m.ids.hex(32),
        }
        m.product_ids[p.code] = ids
        m.sf_record(
            "Product2",
            ids["sf"],
            Name=p.name,
            ProductCode=p.code,
            Family=p.family,
            IsActive=p.active,
            QuantityUnitOfMeasure=p.uom,
        )
        for cur in FX:
            pbe = m.ids.sf("01u")
            ids[f"pbe_{cur}"] = pbe
            m.sf_record(
                "PricebookEntry",
                pbe,
                Pricebook2Id=book,
                Product2Id=ids["sf"],
                ProductCode=p.code,
                CurrencyIsoCode=cur,
                UnitPrice=float(p.price(cur)),
                IsActive=p.active,
                UseStandardPrice=False,
            )
        if p.in_erp:
            m.erp.setdefault("items", []).append(
                {
                    "id": ids["erp"],
                    "itemId": p.code,
                    "displayName": p.name,
                    "itemType": "Service" if p.kind == "onetime" else "NonInvtPart",
                    "isInactive": not p.active,
                    "revRecRule": {"refName": p.rev_rec},
                    "taxCode": p.tax_code,
                }
            )
        if p.code != "PLAT-ANNAUL":
            charge = {
                "id": ids["charge"],
                "name": p.name,
                "type": {"recurring": "Recurring", "usage": "Usage", "onetime": "OneTime"}[p.kind],
                "model": "PerUnit" if p.kind != "onetime" else "FlatFee",
                "billingPeriod": "Annual" if p.kind == "recurring" else "Month",
                "uom": p.uom,
                "pricing": [{"currency": c, "price": float(p.price(c))} for c in FX],
            }
            m.billing.setdefault("products", []).append(
                {
                    "id": ids["billing"],
                    "sku": p.code,
                    "name": p.name,
                    "effectiveEndDate": "2099-12-31" if p.active else "2026-06-30",
                    "productRatePlans": [
                        {"id": ids["plan"], "name": p.name, "productRatePlanCharges": [charge]}
                    ],
                }
            )


def _account(m: Master, rng: random.Random, names: set[str]) -> Account:
    entity = rng.choices(list(ENTITIES.values()), [e.weight for e in ENTITIES.values()])[0]
    parent: Account | None = None
    if len(m.accounts) > 10 and rng.random() < 0.08:
        parent = rng.choice([a for a in m.accounts[:10] if a.parent_id is None])
    while True:
        base = (
            parent.name.rsplit(" ", 1)[0]
            if parent
            else (f"{rng.choice(NAMES)} {rng.choice(TRADES)}")
        )
        name = f"{base} {rng.choice(entity.suffixes)}"
        if name not in names:
            break
        parent = None
    names.add(name)
    city, region, postal, rate = rng.choice(entity.cities)
    return Account(
        sf_id=m.ids.sf("001"),
        name=name,
        customer_id=f"C-{m.ids.seq('customer', 1000, 7)}",
        erp_id=str(m.ids.seq("entity", 4100, 11)),
        billing_id=m.ids.hex(32),
        entity=entity.code,
        currency=entity.currency,
        street=f"{rng.randint(1, 980)} {rng.choice(STREETS)}",
        city=city,
        region=region,
        postal=_fill(rng, postal),
        tax_rate=Decimal(rate),
        tax_id=_tax_id(rng, entity.country),
        parent_id=parent.sf_id if parent else None,
    )


def _account_records(m: Master, a: Account) -> None:
    m.sf_record(
        "Account",
        a.sf_id,
        Name=a.name,
        Type="Customer",
        ParentId=a.parent_id,
        BillingStreet=a.street,
        BillingCity=a.city,
        BillingState=a.region or None,
        BillingPostalCode=a.postal or None,
        BillingCountry=a.country,
        CurrencyIsoCode=a.currency,
        ERP_Customer_Number__c=a.customer_id,
    )
    e = ENTITIES[a.entity]
    m.erp.setdefault("customers", []).append(
        {
            "id": a.erp_id,
            "entityId": a.customer_id,
            "externalId": a.sf_id,
            "companyName": a.name,
            "subsidiary": {"id": e.sub_id, "refName": e.code},
            "currency": {"refName": a.currency},
            "creditHold": "ON" if a.credit_hold else "OFF",
            "taxId": a.tax_id,
            "terms": {"refName": "Net 30"},
        }
    )
    address = {
        "address1": a.street,
        "city": a.city,
        "state": a.region,
        "postalCode": a.postal,
        "country": a.country,
    }
    m.billing.setdefault("accounts", []).append(
        {
            "id": a.billing_id,
            "accountNumber": a.customer_id,
            "name": a.name,
            "crmId": a.sf_id,
            "currency": a.currency,
            "status": "Active",
            "paymentTerm": "Net 30",
            "billCycleDay": 1,
            "billToContact": address,
        }
    )
    m.tax.setdefault("addresses", []).append(
        {
            "customerCode": a.customer_id,
            "line1": a.street,
            "city": a.city,
            "region": a.region,
            "postalCode": a.postal,
            "country": a.country,
            "resolutionQuality": "Intersection" if a.postal else "NotCoded",
            "messages": []
            if a.postal
            else [{"summary": "The address is missing a postal code", "severity": "Error"}],
        }
    )


def build_master(rng: random.Random, *, accounts: int, subscriptions: int) -> Master:
    """Accounts, catalogue, pre-existing subscriptions and September invoices.

    The first accounts carry the data problems the failure scenarios refer to:
    index 0-1 no billing postal code, 2 on credit hold, 3 an expired exemption
    certificate (all US01).
    """
    m = Master(ids=Ids(rng))
    reference = reference_records()
    m.erp.update(reference["erp"])
    m.tax.update(reference["tax"])
    _catalogue(m)
    names: set[str] = set()
    while len(m.accounts) < accounts:
        a = _account(m, rng, names)
        if len(m.accounts) < 4 and a.entity != "US01":
            continue
        m.accounts.append(a)
    m.accounts[0].postal = m.accounts[1].postal = ""
    m.accounts[2].credit_hold = True
    us = [a for a in m.accounts if a.entity == "US01"]
    for i, a in enumerate([m.accounts[3], *rng.sample(us[4:], min(8, len(us) - 4))]):
        signed = date(2023, 9, 1) if i == 0 else date(2024 + i % 2, 1 + i, 15)
        expires = signed.replace(year=signed.year + 3) - timedelta(days=1)
        a.cert = {
            "id": 5000 + i * 7,
            "customerCode": a.customer_id,
            "exposureZone": {"name": _STATES[a.region], "region": a.region, "country": "US"},
            "exemptionReason": {"name": "RESALE" if i % 2 else "CHARITABLE/EXEMPT ORG"},
            "signedDate": signed.isoformat(),
            "expirationDate": expires.isoformat(),
            "status": "COMPLETE",
            "valid": i != 0,
        }
        m.tax.setdefault("exemptionCertificates", []).append(a.cert)
    for a in m.accounts:
        _account_records(m, a)
    for i in range(subscriptions):
        a = m.accounts[i % len(m.accounts)] if i < len(m.accounts) else rng.choice(m.accounts)
        start = date(2025, 10, 1) + timedelta(days=rng.randrange(365))
        lines = [
            ("PLAT-ENT" if rng.random() < 0.25 else "PLAT-ANNUAL", 1),
            (rng.choice(("SEAT-STD", "SEAT-PRO")), rng.randint(10, 200)),
        ]
        lines += [(c, 1) for c in rng.sample(ADDONS, rng.randint(0, 2))]
        sub = Subscription(
            f"A-S000{m.ids.seq('sub', 10000, 9)}",
            m.ids.hex(32),
            a,
            start,
            start.replace(year=start.year + 1),
            lines,
            rng.randint(1, 3),
        )
        m.add_subscription(sub)
        # The September bill run: one open invoice per subscription, posted in the ERP.
        amount = money(sub.annual(a.currency) / 12)
        inv = m.new_invoice(
            a,
            date(2026, 9, 1),
            amount,
            money(amount * a.tax_rate),
            a.currency,
            subscription=sub.number,
        )
        inv.period = "Sep 2026"
        m.payable.append(inv)
    return m
