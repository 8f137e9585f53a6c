"""Validation demo orders: closed-won opportunities that each fail one default rule.

:func:`add_validation_demo` appends them to the rendered master data after the
transactions ran: new Accounts, Opportunities and lines in Salesforce, their ERP
customers, billing accounts and tax addresses, and a few demo products. Only new
records are added, at the end of each list, and the seed's random generator is not
touched, so nothing else in the sample changes. Ids are fixed: Salesforce ids have
the body ``0000VD`` + a counter; ERP numbers fill gaps below the highest one in use,
so the sandbox still allocates the same next customer and item numbers.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.seed_catalog import ENTITIES, FX, Ids, Product, money
from services.seed_master import SF_API, Account, Master, _account_records

__all__ = ["DEMO_ORDERS", "DemoRow", "add_validation_demo", "sf_id"]

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE = (("PLAT-ANNUAL", 1), ("SEAT-PRO", 25))

# place -> (street, city, region, postal code, entity, a well-formed tax id)
_PLACES = {
    "US": ("1200 Harbor Ave", "Seattle", "WA", "98101", "US01", "91-4457120"),
    "OR": ("77 Pearl St", "Portland", "OR", "97209", "US01", "93-1180452"),
    "GB": ("18 Long Lane", "London", "", "EC1A 9HL", "GB01", "GB293881741"),
    "AU": ("240 George St", "Sydney", "NSW", "2000", "AU01", "51824753556"),
}

# code | name | USD list price | the one planted problem (ERP item, billing or price book field)
_PRODUCTS: dict[str, tuple[str, int, dict[str, Any]]] = {
    "REPORT-PACK": ("Reporting Pack", 3600, {"isInactive": True}),
    "BI-CONNECT": ("BI Connector", 2400, {"effectiveEndDate": "2026-09-30"}),
    "PARTNER-PORTAL": ("Partner Portal", 4200, {"revRecRule": None}),
    "VOICE-ADDON": ("Voice Add-on", 1800, {"IsActive": False}),
    "CARBON-RPT": ("Carbon Reporting", 3000, {"pricing": ("USD", "EUR", "GBP", "CAD")}),
    "AI-ASSIST": ("AI Assistant", 6000, {"taxCode": "SW054099"}),
    "PLAT-2YR": ("Platform Subscription (2-year billing)", 48000, {"billingPeriod": "Two Years"}),
}

# what the opportunity shows | the rule | its status | verdict | how it is built: a place
# (default US), +CODE adds a line, and flags read by _Builder.order
_TABLE = """
passes every rule                      | -                                     | pass | accept         |
30% discount needs approval            | price.matches_list                    | warn | needs_approval | discount
probable duplicate ERP customer        | account.erp_customer                  | fail | reject         | duplicate
customer on credit hold                | account.credit_hold                   | fail | reject         | hold
EUR order for a USD-only entity        | account.legal_entity_currency         | fail | reject         | eur
billing address without postal code   | account.billing_address_complete      | fail | reject         | no_postal
parent Account not in the ERP          | account.parent_in_erp                 | fail | reject         | parent
no line items                          | product.lines_present                 | fail | reject         | no_lines
a line with quantity 0                 | product.lines_present                 | fail | reject         | zero_qty
item inactive in the ERP               | product.erp_item_active               | fail | reject         | +REPORT-PACK
charge expired in billing              | product.billing_charge_exists         | fail | reject         | +BI-CONNECT
item without revenue recognition rule  | product.revrec_rule                   | fail | reject         | +PARTNER-PORTAL
inactive price book entry              | price.pricebook_entry_active          | fail | reject         | +VOICE-ADDON
no AUD price in billing                | price.currency_price_exists           | fail | reject         | AU +CARBON-RPT
ships where there is no tax nexus      | tax.nexus                             | warn | accept         | OR
unknown product tax code               | tax.product_tax_code                  | fail | reject         | +AI-ASSIST
expired exemption certificate          | tax.exemption_certificate             | fail | reject         | expired_cert
malformed VAT id                       | tax.vat_id_format                     | fail | reject         | GB bad_vat
close date in closed October           | contract.period_open                  | fail | reject         | october
2-year billing on a 12-month term      | contract.term_fits_rate_plan          | fail | reject         | +PLAT-2YR
amends another customer's subscription | contract.amends_existing_subscription | fail | reject         | amend_other
"""  # noqa: E501
Demo = tuple[str, str | None, str, str, frozenset[str]]  # what, rule, status, verdict, how
DEMO_ORDERS: tuple[Demo, ...] = tuple(
    (what, None if rule == "-" else rule, status, verdict, frozenset(how.split()))
    for what, rule, status, verdict, how in (
        [c.strip() for c in line.split("|")] for line in _TABLE.strip().splitlines()
    )
)


@dataclass(frozen=True)
class DemoRow:
    """A demo order as written: its opportunity id, name, the rule it shows and the results."""

    opportunity_id: str
    name: str
    rule: str | None  # None: every rule passes
    status: str
    verdict: str


def sf_id(prefix: str, n: int) -> str:
    """The ``n``-th demo id of ``prefix`` (``0065g00000VD001`` + the case-safe suffix)."""
    id15 = f"{prefix}5g00000VD{n:03d}"
    return id15 + "".join(
        _SUFFIX[sum(1 << j for j, c in enumerate(id15[i : i + 5]) if c.isupper())]
        for i in (0, 5, 10)
    )


def _hex(label: str) -> str:
    """A fixed 32-hex-digit billing id for ``label``."""
    return hashlib.md5(f"validation-demo:{label}".encode()).hexdigest()


def _gaps(used: set[int]) -> list[int]:
    """Unused numbers between the lowest and highest in ``used``, lowest first."""
    return [n for n in range(min(used), max(used)) if n not in used]


class _Builder:
    """Appends the demo records to each system's master data."""

    def __init__(self, master: dict[str, dict[str, Any]]) -> None:
        self.sf = {name: query["records"] for name, query in master["salesforce"].items()}
        self.erp, self.billing, self.tax = master["erp"], master["billing"], master["tax"]
        self.taken = {r["Id"] for rows in self.sf.values() for r in rows}
        self.counters: dict[str, int] = {}
        customers = self.erp["customers"]
        self.free_ids = _gaps({int(c["id"]) for c in customers})
        self.free_numbers = _gaps({int(c["entityId"][2:]) for c in customers})
        self.free_items = _gaps({int(i["id"]) for i in self.erp["items"]})
        self.book = self.sf["PricebookEntry"][0]["Pricebook2Id"]

    def next_id(self, prefix: str) -> str:
        """The next unused demo id of ``prefix``."""
        self.counters[prefix] = self.counters.get(prefix, 0) + 1
        found = sf_id(prefix, self.counters[prefix])
        return self.next_id(prefix) if found in self.taken else found

    def record(self, sobject: str, prefix: str, **fields: Any) -> dict[str, Any]:
        """A new Salesforce record with the next demo id of ``prefix``."""
        rid = self.next_id(prefix)
        row = {"attributes": {"type": sobject, "url": f"{SF_API}/{sobject}/{rid}"}, "Id": rid}
        self.sf.setdefault(sobject, []).append({**row, **fields})
        return self.sf[sobject][-1]

    def product(self, code: str) -> None:
        """A demo product in Salesforce, the ERP and billing, with its planted problem."""
        name, usd, planted = _PRODUCTS[code]
        rule = "Ratable - Subscription Term"
        p = Product(code, name, "Add-ons", "recurring", Decimal(usd), "Each", "SW054000", rule)
        sf = self.record(
            "Product2",
            "01t",
            Name=name,
            ProductCode=code,
            Family=p.family,
            IsActive=True,
            QuantityUnitOfMeasure=p.uom,
        )
        for cur in FX:
            entry = {
                "Pricebook2Id": self.book,
                "Product2Id": sf["Id"],
                "ProductCode": code,
                "CurrencyIsoCode": cur,
                "UnitPrice": float(p.price(cur)),
                "IsActive": True,
                "UseStandardPrice": False,
            }
            self.record("PricebookEntry", "01u", **_planted(entry, planted))
        item = {
            "id": str(self.free_items.pop(0)),
            "itemId": code,
            "displayName": name,
            "itemType": "NonInvtPart",
            "isInactive": False,
            "revRecRule": {"refName": rule},
            "taxCode": p.tax_code,
        }
        self.erp["items"].append(_planted(item, planted))
        priced = planted.get("pricing", FX)
        charge = {
            "id": _hex(f"{code}:charge"),
            "name": name,
            "type": "Recurring",
            "model": "PerUnit",
            "billingPeriod": planted.get("billingPeriod", "Annual"),
            "uom": p.uom,
            "pricing": [{"currency": c, "price": float(p.price(c))} for c in FX if c in priced],
        }
        plan = {"id": _hex(f"{code}:plan"), "name": name, "productRatePlanCharges": [charge]}
        product = {
            "id": _hex(code),
            "sku": code,
            "name": name,
            "effectiveEndDate": "2099-12-31",
            "productRatePlans": [plan],
        }
        self.billing["products"].append(_planted(product, planted))

    def account(self, name: str, place: str, how: frozenset[str], parent: str | None) -> str:
        """A demo Salesforce Account and, when linked, its ERP, billing and tax records."""
        street, city, region, postal, entity, tax_id = _PLACES[place]
        linked = "unlinked" not in how
        a = Account(
            sf_id=self.next_id("001"),
            name=name,
            customer_id=f"C-{self.free_numbers.pop(0)}" if linked else "",
            erp_id=str(self.free_ids.pop(0)) if linked else "",
            billing_id=_hex(name),
            entity=entity,
            currency=ENTITIES[entity].currency,
            street=street,
            city=city,
            region=region,
            postal="" if "no_postal" in how else postal,
            tax_rate=Decimal(0),
            tax_id="GB1234567" if "bad_vat" in how else tax_id,
            parent_id=parent,
            credit_hold="hold" in how,
        )
        scratch = Master(ids=Ids(random.Random(0)))  # built with the seed's own record shapes
        _account_records(scratch, a)
        self.sf["Account"].extend(scratch.sf["Account"])
        if not linked:
            self.sf["Account"][-1]["ERP_Customer_Number__c"] = None
            return a.sf_id
        self.erp["customers"].extend(scratch.erp["customers"])
        self.billing["accounts"].extend(scratch.billing["accounts"])
        self.tax["addresses"].extend(scratch.tax["addresses"])
        if "expired_cert" in how:
            certs = self.tax["exemptionCertificates"]
            zone = {"name": "Washington", "region": region, "country": "US"}
            certs.append(
                {
                    "id": max(c["id"] for c in certs) + 7,
                    "customerCode": a.customer_id,
                    "exposureZone": zone,
                    "exemptionReason": {"name": "RESALE"},
                    "signedDate": "2023-11-01",
                    "expirationDate": "2026-10-31",
                    "status": "COMPLETE",
                    "valid": True,
                }
            )
        return a.sf_id

    def order(self, number: int, demo: Demo) -> DemoRow:
        """One demo opportunity with its Account and lines."""
        what, rule, status, verdict, how = demo
        place = next((p for p in _PLACES if p in how), "US")
        company = f"Validation Demo {number:02d} {'Ltd' if place == 'GB' else 'Inc.'}"
        if "duplicate" in how:  # an existing US01 customer's name; not linked to it
            us = (c for c in self.erp["customers"] if c["subsidiary"]["refName"] == "US01")
            company, how = next(us)["companyName"], how | {"unlinked"}
        parent = None
        if "parent" in how:  # a parent Account that has no ERP customer
            parent = self.account(
                "Validation Demo Holdings Inc.", "US", frozenset({"unlinked"}), None
            )
        account_id = self.account(company, place, how, parent)
        currency = "EUR" if "eur" in how else ENTITIES[_PLACES[place][4]].currency  # entity's
        lines = [] if "no_lines" in how else [*_BASE, *((h[1:], 1) for h in how if h[0] == "+")]
        if "zero_qty" in how:
            lines[-1] = (lines[-1][0], 0)
        priced = []
        for i, (code, qty) in enumerate(lines):
            entry = next(
                e
                for e in reversed(self.sf["PricebookEntry"])
                if e["ProductCode"] == code and e["CurrencyIsoCode"] == currency
            )
            off = 30 if "discount" in how and i == len(lines) - 1 else 0
            priced.append((entry, qty, money(Decimal(str(entry["UnitPrice"])) * (100 - off) / 100)))
        subscription = None
        if "amend_other" in how:  # the first active subscription: another customer's
            subs = self.billing["subscriptions"]
            subscription = next(s["subscriptionNumber"] for s in subs if s["status"] == "Active")
        name = f"Validation demo: {what}"
        opp = self.record(
            "Opportunity",
            "006",
            Name=name,
            AccountId=account_id,
            Type="Amendment" if subscription else "New Business",
            StageName="Closed Won",
            CloseDate="2026-10-20" if "october" in how else "2026-11-16",
            Amount=float(sum((unit * qty for _, qty, unit in priced), Decimal(0))),
            CurrencyIsoCode=currency,
            Probability=100,
            SyncedQuoteId=self.next_id("0Q0"),
            Integration_Status__c="Pending",
            ERP_Order_Number__c=None,
            Subscription_Number__c=subscription,
        )
        for entry, qty, unit in priced:
            self.record(
                "OpportunityLineItem",
                "00k",
                OpportunityId=opp["Id"],
                Product2Id=entry["Product2Id"],
                PricebookEntryId=entry["Id"],
                ProductCode=entry["ProductCode"],
                Quantity=qty,
                UnitPrice=float(unit),
                TotalPrice=float(unit * qty),
            )
        return DemoRow(opp["Id"], name, rule, status, verdict)


def _planted(record: dict[str, Any], planted: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the planted values of the fields it has."""
    return record | {k: v for k, v in planted.items() if k in record}


def add_validation_demo(master: dict[str, dict[str, Any]]) -> list[DemoRow]:
    """Append the demo orders to ``master`` (as :meth:`Master.records` renders it).

    Args:
        master: ``{"salesforce": ..., "erp": ..., "billing": ..., "tax": ...}``; changed
            in place: new records at the end of each list, ``totalSize`` updated.

    Returns:
        One :class:`DemoRow` per demo order, in table order.

    Example:
        >>> [row.verdict for row in add_validation_demo(master)][:2]
        ['accept', 'needs_approval']
    """
    build = _Builder(master)
    for code in _PRODUCTS:
        build.product(code)
    rows = [build.order(n, demo) for n, demo in enumerate(DEMO_ORDERS, start=1)]
    for query in master["salesforce"].values():
        query["totalSize"] = len(query["records"])
    return rows
