"""Fixed reference data of the sample systems and the identifier factory.

Legal entities (ERP subsidiaries and tax companies), the product catalogue shared by
Salesforce, the ERP and billing, word lists for company names, and :class:`Ids`,
which draws realistic, unique identifiers from the seed's one ``random.Random``.
The tables are plain text so they read like the reference data they are.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

__all__ = [
    "ADDONS",
    "ENTITIES",
    "FX",
    "NAMES",
    "PRODUCT",
    "PRODUCTS",
    "STREETS",
    "TRADES",
    "Entity",
    "Ids",
    "Product",
    "money",
    "reference_records",
]

CENT = Decimal("0.01")
_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX = string.ascii_uppercase + "012345"


def money(value: Decimal) -> Decimal:
    """Round to cents."""
    return value.quantize(CENT)


@dataclass(frozen=True)
class Entity:
    """An ERP subsidiary (legal entity) and the tax company of the same code."""

    code: str
    sub_id: str
    legal_name: str
    country: str
    currency: str
    allowed: tuple[str, ...]
    weight: float
    suffixes: tuple[str, ...]
    # (city, region, postal template with # digit and @ letter, tax rate)
    cities: tuple[tuple[str, str, str, str], ...]


# code | subsidiary id | legal name | country | currency | allowed | weight | suffixes
_ENTITY_TABLE = """
US01 | 1 | Q2C Cloud Inc.       | US | USD | USD     | 0.5  | Inc., LLC, Corp.
DE01 | 2 | Q2C Cloud GmbH       | DE | EUR | EUR     | 0.15 | GmbH, AG
GB01 | 3 | Q2C Cloud Ltd        | GB | GBP | GBP,EUR | 0.15 | Ltd, plc
CA01 | 4 | Q2C Cloud Canada ULC | CA | CAD | CAD,USD | 0.1  | Inc., Ltd.
AU01 | 5 | Q2C Cloud Pty Ltd    | AU | AUD | AUD     | 0.1  | Pty Ltd
"""
# entity | city | region | postal template | tax rate
_CITY_TABLE = """
US01 | San Francisco | CA  | 941##    | 0
US01 | Austin        | TX  | 787##    | 0.066
US01 | New York      | NY  | 100##    | 0.08875
US01 | Chicago       | IL  | 606##    | 0
US01 | Seattle       | WA  | 981##    | 0.1025
US01 | Boston        | MA  | 021##    | 0.0625
US01 | Denver        | CO  | 802##    | 0
US01 | Atlanta       | GA  | 303##    | 0
DE01 | Berlin        | BE  | 10###    | 0.19
DE01 | München       | BY  | 80###    | 0.19
DE01 | Hamburg       | HH  | 20###    | 0.19
DE01 | Köln          | NW  | 50###    | 0.19
GB01 | London        |     | EC#A #@@ | 0.20
GB01 | Manchester    |     | M# #@@   | 0.20
GB01 | Edinburgh     |     | EH# #@@  | 0.20
GB01 | Bristol       |     | BS# #@@  | 0.20
CA01 | Toronto       | ON  | M5V #@#  | 0.13
CA01 | Vancouver     | BC  | V6B #@#  | 0.12
CA01 | Montréal      | QC  | H2Y #@#  | 0.14975
CA01 | Calgary       | AB  | T2P #@#  | 0.05
AU01 | Sydney        | NSW | 20##     | 0.10
AU01 | Melbourne     | VIC | 30##     | 0.10
AU01 | Brisbane      | QLD | 40##     | 0.10
AU01 | Perth         | WA  | 60##     | 0.10
"""


def _rows(table: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("|")] for line in table.strip().splitlines()]


ENTITIES: dict[str, Entity] = {
    code: Entity(
        code,
        sub_id,
        name,
        country,
        currency,
        tuple(allowed.split(",")),
        float(weight),
        tuple(s.strip() for s in suffixes.split(",")),
        tuple((c, r, p, t) for e, c, r, p, t in _rows(_CITY_TABLE) if e == code),
    )
    for code, sub_id, name, country, currency, allowed, weight, suffixes in _rows(_ENTITY_TABLE)
}
FX = {
    "USD": Decimal(1),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "CAD": Decimal("1.36"),
    "AUD": Decimal("1.52"),
}
STREETS = tuple(
    "Market St, Main St, Harbour Rd, King St, Bahnhofstraße, Station Rd, Queen St, "
    "Collins St, Elm Ave, Park Lane, Mill Rd, High St".split(", ")
)
NAMES = tuple(
    "Northwind, Blue Harbor, Crescent, Ironwood, Summit, Lumen, Redwood, Silverline, "
    "Brightpath, Cobalt, Evergreen, Falcon, Granite, Juniper, Keystone, Larkspur, Meridian, "
    "Nimbus, Oakridge, Pinnacle, Riverbend, Sapphire, Tidewater, Vantage, Willow, Zenith, "
    "Aurora, Beacon, Cedar, Driftwood, Halcyon, Kestrel, Maple, Orion, Polaris, Quill".split(", ")
)
TRADES = tuple(
    "Analytics, Logistics, Health, Foods, Energy, Robotics, Media, Capital, Labs, Systems, "
    "Retail, Mobility, Biotech, Software, Travel, Learning".split(", ")
)


@dataclass(frozen=True)
class Product:
    """A sellable product, the same across Salesforce, ERP item and billing catalogue."""

    code: str
    name: str
    family: str
    kind: str  # recurring | usage | onetime
    usd: Decimal
    uom: str
    tax_code: str
    rev_rec: str
    active: bool = True
    in_erp: bool = True

    def price(self, currency: str) -> Decimal:
        """List price in ``currency`` (whole units, cents for usage)."""
        raw = self.usd * FX[currency]
        return money(raw) if self.kind == "usage" else money(raw.quantize(Decimal(1)))


# code | name | family | kind | USD list price | unit | tax code | flags
# flags: R ratable revenue (else point in time), I inactive, N no ERP item.
# PLAT-ANNAUL was created by hand in the CRM with a typo in the code: the ERP has no such item.
_PRODUCT_TABLE = """
PLAT-ANNUAL   | Platform Subscription (Annual)              | Platform | recurring | 24000 | Each          | SW054000 | R
PLAT-ENT      | Platform Enterprise (Annual)                | Platform | recurring | 60000 | Each          | SW054000 | R
PLAT-ANNAUL   | Platform Subscription (Annual) - EMEA promo | Platform | recurring | 24000 | Each          | SW054000 | RN
SEAT-STD      | Standard User Seat                          | Seats    | recurring | 600   | Seat          | SW054000 | R
SEAT-PRO      | Professional User Seat                      | Seats    | recurring | 1200  | Seat          | SW054000 | R
SEAT-LEGACY   | Legacy Seat (retired)                       | Seats    | recurring | 480   | Seat          | SW054000 | RI
API-1M        | API Calls (per million)                     | Usage    | usage     | 150   | Million calls | SW054000 |
STOR-TB       | Storage (per TB-month)                      | Usage    | usage     | 45    | TB-month      | SW054003 |
SUP-STD       | Standard Support                            | Support  | recurring | 2400  | Each          | SW054000 | R
SUP-PREM      | Premium Support                             | Support  | recurring | 6000  | Each          | SW054000 | R
ONB-PKG       | Onboarding Package                          | Services | onetime   | 7500  | Each          | SC040212 |
TRN-DAY       | Training Day                                | Services | onetime   | 1800  | Day           | SC150100 |
SSO-ADDON     | SSO Add-on                                  | Add-ons  | recurring | 3000  | Each          | SW054000 | R
AUDIT-LOG     | Audit Log Retention                         | Add-ons  | recurring | 2400  | Each          | SW054000 | R
DATA-RES      | Data Residency                              | Add-ons  | recurring | 6000  | Each          | SW054000 | R
SANDBOX       | Sandbox Environment                         | Add-ons  | recurring | 4800  | Each          | SW054000 | R
ANALYTICS-ADV | Advanced Analytics                          | Add-ons  | recurring | 9000  | Each          | SW054000 | R
INTEG-PACK    | Integration Pack                            | Add-ons  | recurring | 4000  | Each          | SW054000 | R
MOBILE-ADDON  | Mobile Add-on                               | Add-ons  | recurring | 1500  | Each          | SW054000 | R
PREM-SLA      | Premium SLA (99.95%)                        | Support  | recurring | 5000  | Each          | SW054000 | R
"""  # noqa: E501
PRODUCTS: tuple[Product, ...] = tuple(
    Product(
        code,
        name,
        family,
        kind,
        Decimal(usd),
        uom,
        tax_code,
        "Ratable - Subscription Term" if "R" in flags else "Point in Time",
        active="I" not in flags,
        in_erp="N" not in flags,
    )
    for code, name, family, kind, usd, uom, tax_code, flags in _rows(_PRODUCT_TABLE)
)
PRODUCT = {p.code: p for p in PRODUCTS}
ADDONS = tuple(p.code for p in PRODUCTS if p.family in ("Add-ons", "Support") and p.active)


class Ids:
    """Deterministic, unique, realistic identifiers drawn from one ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._sf: dict[str, int] = {}
        self._seq: dict[str, int] = {}

    def sf(self, prefix: str) -> str:
        """An 18-character Salesforce ID with the case-safe suffix."""
        n = self._sf.get(prefix) or self._rng.randrange(62**4 * 8, 62**5)
        n += self._rng.randint(1, 37)
        self._sf[prefix] = n
        body = ""
        for _ in range(9):
            n, r = divmod(n, 62)
            body = _B62[r] + body
        id15 = prefix + "5g0" + body
        suffix = ""
        for i in range(3):
            chunk = id15[i * 5 : i * 5 + 5]
            suffix += _SUFFIX[sum(1 << j for j, c in enumerate(chunk) if c.isupper())]
        return id15 + suffix

    def seq(self, name: str, start: int, gap: int = 3) -> int:
        """The next number of an increasing sequence with small gaps."""
        value = self._seq.get(name, start) + self._rng.randint(1, gap)
        self._seq[name] = value
        return value

    def hex(self, n: int) -> str:
        """``n`` random lowercase hex digits."""
        return f"{self._rng.getrandbits(4 * n):0{n}x}"


def reference_records() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Subsidiaries and accounting periods (ERP); companies with nexus and tax codes (tax)."""
    subsidiaries = [
        {
            "id": e.sub_id,
            "name": e.code,
            "legalName": e.legal_name,
            "country": e.country,
            "currency": {"refName": e.currency},
            "allowedCurrencies": list(e.allowed),
        }
        for e in ENTITIES.values()
    ]
    periods = []
    for month in range(1, 13):
        start = date(2026, month, 1)
        end = (date(2026 + month // 12, month % 12 + 1, 1)) - timedelta(days=1)
        closed = month <= 10
        periods.append(
            {
                "id": str(100 + month),
                "periodName": start.strftime("%b %Y"),
                "startDate": start.isoformat(),
                "endDate": end.isoformat(),
                "closed": closed,
                "isQuarter": False,
                "isYear": False,
                "closedOnDate": (end + timedelta(days=6)).isoformat() if closed else None,
            }
        )
    companies = [
        {
            "id": 1000 + i,
            "companyCode": e.code,
            "name": e.legal_name,
            "defaultCountry": e.country,
            "baseCurrency": e.currency,
            "nexus": [
                {
                    "country": e.country,
                    "region": region or e.country,
                    "jurisTypeId": "STA" if e.country in ("US", "CA") else "CNT",
                    "nexusTypeId": "SalesOrSellersUseTax" if e.country == "US" else "SalesTax",
                    "effectiveDate": "2020-01-01",
                }
                for region in sorted({c[1] for c in e.cities})
            ],
        }
        for i, e in enumerate(ENTITIES.values())
    ]
    tax_codes = [
        {"id": i + 1, "taxCode": code, "description": text, "taxCodeTypeId": kind, "isActive": True}
        for i, (code, text, kind) in enumerate(
            (
                ("SW054000", "Cloud services - software as a service (SaaS)", "D"),
                ("SW054003", "Cloud services - infrastructure as a service (storage)", "D"),
                ("SC040212", "Implementation and onboarding services", "S"),
                ("SC150100", "Training services", "S"),
                ("NT", "Non-taxable", "N"),
            )
        )
    ]
    return {
        "erp": {"subsidiaries": subsidiaries, "accountingPeriods": periods},
        "tax": {"companies": companies, "taxCodes": tax_codes},
    }
