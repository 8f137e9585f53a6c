"""AvaTax-shaped answers and a routing handler for the tax connector's wire tests."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from services.systems.auth import BasicAuth
from services.systems.http import RetryPolicy
from services.systems.tax import TaxConnector

__all__ = [
    "ACCOUNT",
    "BASE",
    "LICENSE",
    "P",
    "REQUEST",
    "Wire",
    "avatax_error",
    "fetch",
    "make_connector",
    "transaction",
]

ACCOUNT = "1100012345"
LICENSE = "A1B2C3D4E5F6-license-key"
BASE = "https://sandbox-rest.avatax.com/api/v2"

REQUEST = {
    "companyCode": "US01",
    "type": "SalesInvoice",
    "code": "INV-200001",
    "customerCode": "C-1570",
    "date": "2026-11-02",
    "currencyCode": "USD",
    "lines": [{"number": "1", "amount": "1000.00", "taxCode": "SW054000"}],
}


def avatax_error(status: int, code: str, message: str, description: str = "") -> httpx.Response:
    """An AvaTax error envelope with one detail."""
    detail = {
        "code": code,
        "number": 300,
        "message": message,
        "description": description,
        "faultCode": "Client" if status < 500 else "Server",
        "helpLink": f"https://developer.avalara.com/avatax/errors/{code}",
        "severity": "Error",
    }
    body = {"error": {"code": code, "message": message, "target": "Unknown", "details": [detail]}}
    return httpx.Response(status, json=body)


def fetch(value: list[dict[str, Any]], next_link: str | None = None) -> httpx.Response:
    """A FetchResult page."""
    body: dict[str, Any] = {"@recordsetCount": len(value), "value": value}
    if next_link:
        body["@nextLink"] = next_link
    return httpx.Response(200, json=body)


def transaction(status: str = "Committed", amount: float = 1000.0, tax: float = 62.5) -> dict:
    """A TransactionModel as AvaTax answers it (amounts are JSON numbers)."""
    return {
        "id": 12345678,
        "code": "INV-200001",
        "companyId": 1000,
        "date": "2026-11-02",
        "status": status,
        "type": "SalesInvoice",
        "customerCode": "C-1570",
        "currencyCode": "USD",
        "totalAmount": amount,
        "totalExempt": 0.0,
        "totalTax": tax,
        "totalTaxable": amount,
        "lines": [
            {
                "id": 1,
                "lineNumber": "1",
                "taxCode": "SW054000",
                "lineAmount": amount,
                "tax": tax,
                "taxableAmount": amount,
                "exemptAmount": 0.0,
                "details": [{"jurisName": "MASSACHUSETTS", "rate": 0.0625, "tax": tax}],
            }
        ],
        "messages": [],
    }


class Wire:
    """A handler that answers by route; records every request."""

    def __init__(self, routes: dict[tuple[str, str], Any]) -> None:
        self.routes = {k: list(v) if isinstance(v, list) else [v] for k, v in routes.items()}
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        answers = self.routes[(request.method, request.url.path)]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.seen if r.method == method and r.url.path == path]


P = "/api/v2"


def make_connector(wire: Wire, waits: list[float]) -> TaxConnector:
    """A connector with basic auth whose transport is ``wire`` and whose sleep records."""
    client = httpx.Client(transport=httpx.MockTransport(wire), base_url=BASE)
    auth = BasicAuth(ACCOUNT, SecretStr(LICENSE), setting="Q2C_TAX_LICENSE_KEY")
    return TaxConnector(
        client, auth=auth, company_code="US01", retry=RetryPolicy(), sleep=waits.append
    )
