"""What the tax connector returns: small typed records read from AvaTax REST v2 answers.

Each model has a ``from_avatax`` reader that takes one AvaTax JSON object
(``AddressResolutionModel``, ``TaxCodeModel``, ``NexusModel``, ``CertificateModel``,
``TransactionModel``) and keeps what the console shows. Money is ``Decimal``,
never float.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "Address",
    "AddressMessage",
    "AddressResolution",
    "Certificate",
    "Nexus",
    "TaxCode",
    "TaxLine",
    "TaxResult",
    "money",
]

_CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    """An AvaTax amount (JSON number or string) as a Decimal rounded to cents; 0 if absent."""
    if value is None or value == "":
        return Decimal("0.00")
    try:
        return Decimal(str(value)).quantize(_CENT)
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None


def _date(value: Any) -> date | None:
    """An AvaTax date (``2026-10-01`` or ``2026-10-01T00:00:00``) or None."""
    if not value:
        return None
    return date.fromisoformat(str(value)[:10])


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Address(_Model):
    """A postal address as AvaTax normalises it."""

    line1: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""

    @classmethod
    def from_avatax(cls, raw: dict[str, Any]) -> Address:
        """Read an ``AddressInfo``/``ValidatedAddressInfo``."""
        return cls(
            line1=str(raw.get("line1") or ""),
            city=str(raw.get("city") or ""),
            region=str(raw.get("region") or ""),
            postal_code=str(raw.get("postalCode") or ""),
            country=str(raw.get("country") or ""),
        )


class AddressMessage(_Model):
    """One message about an address (severity ``Error`` means it was not resolved)."""

    summary: str
    severity: str = ""
    details: str = ""
    refers_to: str = ""


class AddressResolution(_Model):
    """The answer of ``POST /api/v2/addresses/resolve``, reduced to what validation needs."""

    resolved: bool
    quality: str | None
    messages: list[AddressMessage]
    address: Address | None
    latitude: float | None = None
    longitude: float | None = None

    @classmethod
    def from_avatax(cls, raw: dict[str, Any]) -> AddressResolution:
        """Read an ``AddressResolutionModel``."""
        messages = [
            AddressMessage(
                summary=str(m.get("summary") or ""),
                severity=str(m.get("severity") or ""),
                details=str(m.get("details") or ""),
                refers_to=str(m.get("refersTo") or ""),
            )
            for m in raw.get("messages") or []
            if isinstance(m, dict)
        ]
        validated = [a for a in raw.get("validatedAddresses") or [] if isinstance(a, dict)]
        coordinates = raw.get("coordinates") or {}
        quality = raw.get("resolutionQuality")
        failed = any(m.severity.lower() == "error" for m in messages)
        return cls(
            resolved=bool(validated) and not failed and quality not in (None, "NotCoded"),
            quality=str(quality) if quality else None,
            messages=messages,
            address=Address.from_avatax(validated[0]) if validated else None,
            latitude=_float(coordinates.get("latitude")),
            longitude=_float(coordinates.get("longitude")),
        )


def _float(value: Any) -> float | None:
    """A coordinate or None."""
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class TaxCode(_Model):
    """A tax code definition (``TaxCodeModel``)."""

    code: str
    description: str = ""
    type_id: str = ""
    active: bool = True

    @classmethod
    def from_avatax(cls, raw: dict[str, Any]) -> TaxCode:
        """Read a ``TaxCodeModel``."""
        return cls(
            code=str(raw.get("taxCode") or ""),
            description=str(raw.get("description") or ""),
            type_id=str(raw.get("taxCodeTypeId") or ""),
            active=bool(raw.get("isActive", True)),
        )


class Nexus(_Model):
    """Where a company must collect tax (``NexusModel``)."""

    country: str
    region: str = ""
    juris_type: str = ""
    nexus_type: str = ""
    effective_date: date | None = None
    end_date: date | None = None

    @classmethod
    def from_avatax(cls, raw: dict[str, Any]) -> Nexus:
        """Read a ``NexusModel``."""
        return cls(
            country=str(raw.get("country") or ""),
            region=str(raw.get("region") or ""),
            juris_type=str(raw.get("jurisTypeId") or ""),
            nexus_type=str(raw.get("nexusTypeId") or ""),
            effective_date=_date(raw.get("effectiveDate")),
            end_date=_date(raw.get("endDate")),
        )

    def covers(self, country: str, region: str | None, on: date | None = None) -> bool:
        """True when this nexus applies to ``country``/``region`` (on date ``on``).

        A country-level nexus (``jurisTypeId`` ``CNT``) covers every region of
        its country; a state-level one (``STA``) only its own region.
        """
        if self.country.upper() != country.upper():
            return False
        if on is not None:
            if self.effective_date and on < self.effective_date:
                return False
            if self.end_date and on > self.end_date:
                return False
        if self.juris_type.upper() == "CNT":
            return True
        return bool(region) and self.region.upper() == (region or "").upper()


class Certificate(_Model):
    """An exemption certificate of a customer (``CertificateModel``)."""

    id: int | None
    customer_code: str
    country: str = ""
    region: str = ""
    zone: str = ""
    reason: str = ""
    status: str = ""
    signed_date: date | None = None
    expiration_date: date | None = None
    valid: bool = False

    @classmethod
    def from_avatax(cls, raw: dict[str, Any], customer_code: str) -> Certificate:
        """Read a ``CertificateModel`` (the customer code comes from the request path)."""
        zone = raw.get("exposureZone") or {}
        reason = raw.get("exemptionReason") or {}
        cert_id = raw.get("id")
        return cls(
            id=int(cert_id) if cert_id is not None else None,
            customer_code=customer_code,
            country=str(zone.get("country") or ""),
            region=str(zone.get("region") or ""),
            zone=str(zone.get("name") or ""),
            reason=str(reason.get("name") or ""),
            status=str(raw.get("status") or ""),
            signed_date=_date(raw.get("signedDate")),
            expiration_date=_date(raw.get("expirationDate")),
            valid=bool(raw.get("valid")),
        )

    def valid_on(self, day: date) -> bool:
        """True when AvaTax calls it valid and it has not expired by ``day``."""
        expired = self.expiration_date is not None and self.expiration_date < day
        return self.valid and not expired


class TaxLine(_Model):
    """One line of a calculated transaction."""

    number: str
    amount: Decimal
    tax: Decimal
    taxable: Decimal
    exempt: Decimal
    tax_code: str = ""
    exempt_cert_id: int | None = None
    rate: Decimal | None = None

    @classmethod
    def from_avatax(cls, raw: dict[str, Any]) -> TaxLine:
        """Read a ``TransactionLineModel`` (the rate is the sum of its details' rates)."""
        details = [d for d in raw.get("details") or [] if isinstance(d, dict)]
        rates = [Decimal(str(d["rate"])) for d in details if d.get("rate") is not None]
        cert = raw.get("exemptCertId")
        return cls(
            number=str(raw.get("lineNumber") or raw.get("number") or ""),
            amount=money(raw.get("lineAmount")),
            tax=money(raw.get("tax")),
            taxable=money(raw.get("taxableAmount")),
            exempt=money(raw.get("exemptAmount")),
            tax_code=str(raw.get("taxCode") or ""),
            exempt_cert_id=int(cert) if cert else None,
            rate=sum(rates, Decimal(0)) if rates else None,
        )


class TaxResult(_Model):
    """A calculated (and possibly recorded) tax transaction.

    ``status`` is AvaTax's: ``Temporary`` (a quote, not stored), ``Saved``
    (stored, not committed) or ``Committed``. ``replayed`` is True when the
    connector answered with a transaction already recorded under the same code.
    """

    code: str
    status: str
    type: str = ""
    customer_code: str = ""
    doc_date: date | None = None
    currency: str = ""
    total_amount: Decimal
    total_tax: Decimal
    total_exempt: Decimal = Decimal("0.00")
    lines: list[TaxLine] = []
    messages: list[str] = []
    replayed: bool = False

    @property
    def committed(self) -> bool:
        """True when the transaction is committed (final, reported)."""
        return self.status == "Committed"

    @classmethod
    def from_avatax(cls, raw: dict[str, Any], *, replayed: bool = False) -> TaxResult:
        """Read a ``TransactionModel``."""
        return cls(
            code=str(raw.get("code") or ""),
            status=str(raw.get("status") or ""),
            type=str(raw.get("type") or ""),
            customer_code=str(raw.get("customerCode") or ""),
            doc_date=_date(raw.get("date")),
            currency=str(raw.get("currencyCode") or ""),
            total_amount=money(raw.get("totalAmount")),
            total_tax=money(raw.get("totalTax")),
            total_exempt=money(raw.get("totalExempt")),
            lines=[TaxLine.from_avatax(x) for x in raw.get("lines") or [] if isinstance(x, dict)],
            messages=[
                str(m.get("summary") or m.get("details") or "")
                for m in raw.get("messages") or []
                if isinstance(m, dict)
            ],
            replayed=replayed,
        )
