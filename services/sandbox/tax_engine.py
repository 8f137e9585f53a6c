"""The sandbox tax engine: address resolution and a deterministic tax calculation.

Pure functions over the tax master data (``sample_data/master/tax.json``); the
HTTP side is :mod:`services.sandbox.tax`. Rates are a small table per country
and region, the ones the sample events show (SaaS is untaxed in US-CA/CO/GA/IL,
6.25% in MA, 20% VAT in GB ...). Tax is only due where the company has nexus;
elsewhere a line's tax is 0 and a message says why, as is a line exempted by a
valid certificate.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

__all__ = ["RATES", "TaxFault", "calculate", "resolve_address"]

_CENT = Decimal("0.01")

# (country, region or "" for the whole country) -> (rate, tax name)
RATES: dict[tuple[str, str], tuple[Decimal, str]] = {
    ("US", "CA"): (Decimal("0"), "CA STATE TAX"),
    ("US", "CO"): (Decimal("0"), "CO STATE TAX"),
    ("US", "GA"): (Decimal("0"), "GA STATE TAX"),
    ("US", "IL"): (Decimal("0"), "IL STATE TAX"),
    ("US", "MA"): (Decimal("0.0625"), "MA STATE TAX"),
    ("US", "NY"): (Decimal("0.08875"), "NY STATE AND CITY TAX"),
    ("US", "TX"): (Decimal("0.066"), "TX STATE TAX"),
    ("US", "WA"): (Decimal("0.1025"), "WA STATE AND LOCAL TAX"),
    ("CA", "AB"): (Decimal("0.05"), "GST"),
    ("CA", "BC"): (Decimal("0.12"), "GST/PST"),
    ("CA", "ON"): (Decimal("0.13"), "HST"),
    ("CA", "QC"): (Decimal("0.14975"), "GST/QST"),
    ("DE", ""): (Decimal("0.19"), "Standard Rate VAT"),
    ("GB", ""): (Decimal("0.20"), "Standard Rate VAT"),
    ("AU", ""): (Decimal("0.10"), "GST"),
}
_POSTAL = {
    "US": r"\d{5}(-\d{4})?",
    "CA": r"[A-Z]\d[A-Z] ?\d[A-Z]\d",
    "GB": r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}",
    "DE": r"\d{5}",
    "AU": r"\d{4}",
}
_TYPES = {"SalesOrder", "SalesInvoice", "ReturnOrder", "ReturnInvoice"}


class TaxFault(Exception):
    """An AvaTax error answer: status, error code, message and target."""

    def __init__(self, status: int, code: str, message: str, target: str = "IncorrectData"):
        super().__init__(message)
        self.status, self.code, self.message, self.target = status, code, message, target


def _message(summary: str, severity: str, refers_to: str, source: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "details": summary,
        "refersTo": refers_to,
        "severity": severity,
        "source": f"Avalara.AvaTax.{source}",
    }


def _coordinates(*parts: str) -> dict[str, float]:
    """Stable made-up coordinates for an address."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return {
        "latitude": round(-60 + digest[0] / 255 * 120, 6),
        "longitude": round(-180 + digest[1] / 255 * 360, 6),
    }


def resolve_address(master: dict[str, Any], body: Any) -> dict[str, Any]:
    """The AddressResolutionModel for an AddressValidationInfo body.

    Raises:
        TaxFault: nothing to resolve (no street, city or postal code) -> InvalidAddress.
    """
    if not isinstance(body, dict):
        raise TaxFault(400, "JsonFormatError", "the request body must be an address object")
    line1, city = str(body.get("line1") or "").strip(), str(body.get("city") or "").strip()
    region = str(body.get("region") or "").strip().upper()
    postal = str(body.get("postalCode") or "").strip().upper()
    country = str(body.get("country") or "").strip().upper()
    if not (line1 or city or postal):
        raise TaxFault(400, "InvalidAddress", "An address must have a line1, city or postal code")
    known = next(
        (
            a
            for a in master.get("addresses", [])
            if a["line1"].lower() == line1.lower() and a["postalCode"].upper() == postal
        ),
        None,
    )
    messages: list[dict[str, Any]] = []
    quality = "Intersection" if line1 else "PostalCentroidGood"
    if known is not None and known.get("messages"):
        messages = [
            _message(m["summary"], m["severity"], "Address", "Address") for m in known["messages"]
        ]
        quality = known.get("resolutionQuality") or "NotCoded"
    elif country not in _POSTAL:
        quality = "NotCoded"
        messages.append(_message("The address is not geocoded", "Error", "Address", "Address"))
    elif not postal:
        quality = "NotCoded"
        messages.append(
            _message(
                "The address is missing a postal code", "Error", "Address.PostalCode", "Address"
            )
        )
    elif not re.fullmatch(_POSTAL[country], postal):
        quality = "NotCoded"
        messages.append(
            _message(
                f"The postal code {postal} is not valid for {country}",
                "Error",
                "Address.PostalCode",
                "Address",
            )
        )
    validated = {
        "addressType": "UnknownAddressType"
        if quality == "NotCoded"
        else "StreetOrResidentialAddress",
        "line1": line1,
        "line2": "",
        "line3": "",
        "city": city,
        "region": region,
        "country": country,
        "postalCode": postal,
    }
    answer: dict[str, Any] = {
        "address": {k: body.get(k) for k in ("line1", "city", "region", "postalCode", "country")},
        "validatedAddresses": [validated],
        "resolutionQuality": quality,
        "messages": messages,
    }
    if quality != "NotCoded":
        answer["coordinates"] = _coordinates(line1, city, postal, country)
        validated.update(answer["coordinates"])
    return answer


def _money(value: Decimal) -> float:
    """A Decimal amount as the JSON number AvaTax answers."""
    return float(value.quantize(_CENT, rounding=ROUND_HALF_UP))


def _require(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise TaxFault(400, "ValueRequiredError", f"The field '{name}' is required.", name)
    return str(value)


def _ship_to(master: dict[str, Any], body: dict[str, Any], customer: str) -> dict[str, Any]:
    """The destination: ``addresses.shipTo``/``singleLocation``, else the customer's address."""
    given = body.get("addresses")
    if isinstance(given, dict):
        for key in ("shipTo", "singleLocation"):
            if isinstance(given.get(key), dict):
                return dict(given[key])
    for address in master.get("addresses", []):
        if address["customerCode"] == customer:
            return dict(address)
    raise TaxFault(
        400,
        "MissingAddress",
        f"No address for customer {customer}: send addresses.shipTo or singleLocation",
        "addresses",
    )


def _has_nexus(company: dict[str, Any], country: str, region: str, day: date) -> bool:
    """A country-level (CNT) nexus covers the country; a state-level one its region."""
    for nexus in company.get("nexus", []):
        if nexus["country"] != country or str(nexus.get("effectiveDate", "")) > day.isoformat():
            continue
        if nexus.get("jurisTypeId") == "CNT" or nexus.get("region") == region:
            return True
    return False


def _certificate(
    master: dict[str, Any], customer: str, country: str, region: str, day: date
) -> dict[str, Any] | None:
    """A valid, unexpired exemption certificate of ``customer`` for this place."""
    for cert in master.get("exemptionCertificates", []):
        zone = cert.get("exposureZone") or {}
        if (
            cert["customerCode"] == customer
            and cert.get("valid")
            and zone.get("country") == country
            and zone.get("region") in ("", region)
            and str(cert.get("signedDate") or "") <= day.isoformat()
            and day.isoformat() <= str(cert.get("expirationDate") or "9999-12-31")
        ):
            return cert
    return None


def calculate(master: dict[str, Any], body: Any, *, doc_id: int) -> dict[str, Any]:
    """The TransactionModel for a CreateTransactionModel (status set by the caller).

    Raises:
        TaxFault: a missing field, no lines, an unknown company or tax code, no address.
    """
    if not isinstance(body, dict):
        raise TaxFault(400, "JsonFormatError", "the request body must be a transaction object")
    company_code = _require(body, "companyCode")
    company = next((c for c in master["companies"] if c["companyCode"] == company_code), None)
    if company is None:
        raise TaxFault(404, "EntityNotFoundError", f"Company '{company_code}' not found", "Company")
    doc_type = str(body.get("type") or "SalesOrder")
    if doc_type not in _TYPES:
        raise TaxFault(400, "InvalidEnumValue", f"Unknown document type '{doc_type}'", "type")
    customer = _require(body, "customerCode")
    try:
        day = date.fromisoformat(_require(body, "date")[:10])
    except ValueError:
        raise TaxFault(400, "DateFormatError", "The date is not a valid date", "date") from None
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines:
        raise TaxFault(400, "MissingLine", "Transactions must have at least one line.", "lines")
    place = _ship_to(master, body, customer)
    country = str(place.get("country") or "").upper()
    region = str(place.get("region") or "").upper()
    codes = {c["taxCode"] for c in master.get("taxCodes", [])}
    nexus = _has_nexus(company, country, region, day)
    cert = _certificate(master, customer, country, region, day) if nexus else None
    rate, tax_name = RATES.get((country, region)) or RATES.get((country, ""), (Decimal(0), ""))
    out_lines, messages = [], []
    if not nexus:
        messages.append(
            _message(
                f"No nexus: company {company_code} does not collect tax in {country}-{region}",
                "Information",
                "Addresses",
                "Services.Tax",
            )
        )
    if cert is not None:
        reason = (cert.get("exemptionReason") or {}).get("name", "")
        messages.append(
            _message(f"Exempt: certificate {cert['id']} ({reason})", "Information", "Lines", "Tax")
        )
    totals = {"amount": Decimal(0), "tax": Decimal(0), "taxable": Decimal(0), "exempt": Decimal(0)}
    for index, line in enumerate(lines, start=1):
        if not isinstance(line, dict):
            raise TaxFault(400, "JsonFormatError", f"line {index} is not an object", "lines")
        try:
            amount = Decimal(str(line.get("amount"))).quantize(_CENT, rounding=ROUND_HALF_UP)
        except (InvalidOperation, ValueError):
            raise TaxFault(
                400, "InvalidDecimalValue", f"line {index}: bad amount", "lines"
            ) from None
        tax_code = str(line.get("taxCode") or "")
        if tax_code and tax_code not in codes:
            raise TaxFault(400, "GetTaxError", f"Tax code '{tax_code}' is not recognised", "lines")
        taxable = amount if nexus and cert is None and tax_code != "NT" else Decimal(0)
        exempt = amount if cert is not None else Decimal(0)
        line_rate = rate if taxable else Decimal(0)
        tax = (taxable * line_rate).quantize(_CENT, rounding=ROUND_HALF_UP)
        for key, value in (("amount", amount), ("tax", tax), ("taxable", taxable)):
            totals[key] += value
        totals["exempt"] += exempt
        out_lines.append(
            {
                "id": doc_id * 100 + index,
                "lineNumber": str(line.get("number") or index),
                "taxCode": tax_code,
                "lineAmount": _money(amount),
                "tax": _money(tax),
                "taxableAmount": _money(taxable),
                "exemptAmount": _money(exempt),
                "exemptCertId": cert["id"] if cert is not None else 0,
                "taxCalculated": _money(tax),
                "details": [
                    {
                        "country": country,
                        "region": region,
                        "jurisType": "State" if region and country in ("US", "CA") else "Country",
                        "jurisName": region or country,
                        "rate": float(line_rate),
                        "tax": _money(tax),
                        "taxableAmount": _money(taxable),
                        "nonTaxableAmount": _money(amount - taxable - exempt),
                        "exemptAmount": _money(exempt),
                        "taxName": tax_name,
                    }
                ],
            }
        )
    return {
        "id": doc_id,
        "code": str(body.get("code") or f"DOC-{doc_id}"),
        "companyId": company["id"],
        "date": day.isoformat(),
        "type": doc_type,
        "customerCode": customer,
        "currencyCode": str(body.get("currencyCode") or company.get("baseCurrency") or "USD"),
        "totalAmount": _money(totals["amount"]),
        "totalExempt": _money(totals["exempt"]),
        "totalTaxable": _money(totals["taxable"]),
        "totalTax": _money(totals["tax"]),
        "totalTaxCalculated": _money(totals["tax"]),
        "locked": False,
        "version": 1,
        "adjustmentReason": "NotAdjusted",
        "addresses": [{"boundaryLevel": "Address", **_address_of(place)}],
        "lines": out_lines,
        "messages": messages,
    }


def _address_of(place: dict[str, Any]) -> dict[str, Any]:
    return {k: place.get(k, "") for k in ("line1", "city", "region", "country", "postalCode")}
