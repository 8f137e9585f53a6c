"""The tax connector's reads: ping, addresses, tax codes, nexus, certificates, transactions.

Each returns a record of :mod:`services.systems.tax_models`, or None / [] when
AvaTax says there is none; lists follow every ``@nextLink``. :class:`TaxReads` is
the base of :class:`services.systems.tax.TaxConnector`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import quote

from services.errors import AuthError, RecordNotFound
from services.systems.tax_models import AddressResolution, Certificate, Nexus, TaxCode, TaxResult
from services.systems.tax_wire import AvaTaxHttp, json_object, odata

__all__ = ["TaxReads"]


class TaxReads(AvaTaxHttp):
    """AvaTax reads; every one is a GET (or a read-only POST) and safe to retry."""

    def ping(self) -> None:
        """``GET /utilities/ping``; AuthError when AvaTax says ``authenticated: false``.

        Example:
            >>> tax.ping()  # raises ConnectorError when AvaTax cannot be used
        """
        body = self._json("ping", "GET", "/utilities/ping")
        if not isinstance(body, dict) or body.get("authenticated") is not True:
            raise AuthError(
                system=self.system,
                operation="ping",
                code="AuthenticationException",
                message="AvaTax did not accept the credentials (authenticated: false); "
                "check Q2C_TAX_ACCOUNT_ID and Q2C_TAX_LICENSE_KEY",
                http_status=200,
            )

    def resolve_address(
        self, *, line1: str, city: str, region: str, postal_code: str, country: str
    ) -> AddressResolution:
        """Validate and normalise an address (``POST /addresses/resolve``).

        Resolving changes nothing, so the POST is retried like a GET.

        Returns:
            ``resolved`` False when AvaTax reports a message of severity ``Error``
            or cannot code it (``NotCoded``); the messages say why.

        Example:
            >>> tax.resolve_address(line1="945 Main St", city="Atlanta", region="GA",
            ...                     postal_code="", country="US").resolved
            False
        """
        body = {
            "line1": line1,
            "city": city,
            "region": region,
            "postalCode": postal_code,
            "country": country,
            "textCase": "Mixed",
        }
        raw = self._json("resolve_address", "POST", "/addresses/resolve", json=body, read_only=True)
        return AddressResolution.from_avatax(json_object(raw, "resolve_address"))

    def get_tax_code(self, code: str) -> TaxCode | None:
        """The tax code definition ``code`` (``GET /definitions/taxcodes``), None if absent.

        Example:
            >>> tax.get_tax_code("SW054000").description
            'Cloud services - software as a service (SaaS)'
        """
        params = {"$filter": f"taxCode eq {odata(code)}"}
        for raw in self._pages("get_tax_code", "/definitions/taxcodes", params):
            if str(raw.get("taxCode") or "").upper() == code.upper():
                return TaxCode.from_avatax(raw)
        return None

    def list_nexus(self, company_code: str | None = None) -> list[Nexus]:
        """Every nexus of a company (``GET /companies/{id}/nexus``, all pages).

        Example:
            >>> [n.region for n in tax.list_nexus("US01")][:2]
            ['CA', 'CO']
        """
        company_id = self._company_id(company_code, "list_nexus")
        path = f"/companies/{company_id}/nexus"
        return [Nexus.from_avatax(raw) for raw in self._pages("list_nexus", path)]

    def has_nexus(
        self,
        *,
        country: str,
        region: str | None,
        company_code: str | None = None,
        on: date | None = None,
    ) -> bool:
        """True when the company has nexus in ``country``/``region`` (on date ``on``).

        Example:
            >>> tax.has_nexus(country="US", region="OR", company_code="US01")
            False
        """
        return any(n.covers(country, region, on) for n in self.list_nexus(company_code))

    def find_certificates(
        self, *, customer_code: str, company_code: str | None = None
    ) -> list[Certificate]:
        """A customer's exemption certificates; [] when AvaTax knows no such customer.

        Example:
            >>> [c.valid_on(date(2026, 11, 1)) for c in
            ...  tax.find_certificates(customer_code="C-1035", company_code="US01")]
            [False]
        """
        company_id = self._company_id(company_code, "find_certificates")
        path = f"/companies/{company_id}/customers/{quote(customer_code, safe='')}/certificates"
        try:
            return [
                Certificate.from_avatax(raw, customer_code)
                for raw in self._pages("find_certificates", path)
            ]
        except RecordNotFound:
            return []

    def get_transaction(self, *, code: str, company_code: str | None = None) -> TaxResult | None:
        """The stored transaction ``code`` (the target check), None when there is none.

        Example:
            >>> tax.get_transaction(code="INV-1", company_code="US01").committed
            True
        """
        company = self._company(company_code)
        path = f"/companies/{quote(company, safe='')}/transactions/{quote(code, safe='')}"
        try:
            raw = self._json("get_transaction", "GET", path, params={"$include": "Lines"})
        except RecordNotFound:
            return None
        return TaxResult.from_avatax(json_object(raw, "get_transaction"))

    def find_calculation(self, request: Mapping[str, Any]) -> TaxResult | None:
        """The target check for a ``tax.calculate`` request: its transaction, or None.

        Example:
            >>> tax.find_calculation(event["data"]["request"])  # None: not recorded yet
        """
        code = request.get("code")
        if not code:
            return None
        return self.get_transaction(code=str(code), company_code=request.get("companyCode"))
