"""The tax connector on the wire: AvaTax REST v2 answers from ``httpx.MockTransport`` handlers.

Bodies follow AvaTax's documented shapes (FetchResult with ``@nextLink``, the
``{"error": {"code", "message", "target", "details"}}`` envelope, TransactionModel).
A fake ``sleep`` records the waits, so nothing sleeps.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest

from services.errors import (
    AuthError,
    BadResponse,
    RecordNotFound,
    RejectedError,
)
from services.systems.tax import TaxConnector
from tests.services.systems.tax_fakes import (
    ACCOUNT,
    BASE,
    LICENSE,
    REQUEST,
    P,
    Wire,
    avatax_error,
    fetch,
    make_connector,
)


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def connect(waits: list[float]) -> Callable[[Wire], TaxConnector]:
    return lambda wire: make_connector(wire, waits)


# -- ping and auth -----------------------------------------------------------------------


def test_ping_sends_basic_auth_and_client_header(connect: Callable[[Wire], TaxConnector]) -> None:
    wire = Wire(
        {
            ("GET", P + "/utilities/ping"): httpx.Response(
                200,
                json={
                    "version": "24.6.0",
                    "authenticated": True,
                    "authenticationType": "UsernamePassword",
                    "authenticatedUserName": ACCOUNT,
                    "authenticatedAccountId": int(ACCOUNT),
                },
            )
        }
    )
    tax = connect(wire)
    tax.ping()
    sent = wire.seen[0]
    expected = base64.b64encode(f"{ACCOUNT}:{LICENSE}".encode()).decode()
    assert sent.headers["Authorization"] == f"Basic {expected}"
    assert sent.headers["X-Avalara-Client"].startswith("Q2C Console")
    assert tax.stats.last_ok_at is not None
    assert tax.base_url == BASE + "/"
    assert LICENSE not in tax.describe_auth() and "basic" in tax.describe_auth()


def test_ping_authenticated_false_is_an_auth_error(connect: Callable[[Wire], TaxConnector]) -> None:
    wire = Wire(
        {
            ("GET", P + "/utilities/ping"): httpx.Response(
                200,
                json={"version": "24.6.0", "authenticated": False, "authenticationType": "None"},
            )
        }
    )
    with pytest.raises(AuthError) as caught:
        connect(wire).ping()
    assert "Q2C_TAX_LICENSE_KEY" in str(caught.value)
    assert LICENSE not in str(caught.value)


def test_401_authentication_exception_is_not_retried(
    connect: Callable[[Wire], TaxConnector], waits: list[float]
) -> None:
    wire = Wire(
        {
            ("GET", P + "/utilities/ping"): avatax_error(
                401, "AuthenticationException", "Authentication failed.", "Invalid license key"
            )
        }
    )
    with pytest.raises(AuthError) as caught:
        connect(wire).ping()
    assert caught.value.code == "AuthenticationException"
    assert "Invalid license key" in caught.value.message
    assert len(wire.seen) == 1 and waits == []


def test_the_license_key_is_redacted_from_any_message(
    connect: Callable[[Wire], TaxConnector],
) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        token = request.headers["Authorization"].split()[1]
        return avatax_error(400, "GetTaxError", f"bad request from {token} / {LICENSE}")

    wire = Wire({("POST", P + "/transactions/create"): echo})
    with pytest.raises(RejectedError) as caught:
        connect(wire).calculate(REQUEST)
    token = base64.b64encode(f"{ACCOUNT}:{LICENSE}".encode()).decode()
    text = str(caught.value) + json.dumps(caught.value.to_dict())
    assert LICENSE not in text and token not in text and "***" in text


# -- addresses -----------------------------------------------------------------------------


def resolution(quality: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "address": {"line1": "524 harbour rd", "city": "seattle", "region": "wa"},
        "validatedAddresses": [
            {
                "addressType": "StreetOrResidentialAddress",
                "line1": "524 Harbour Rd",
                "line2": "",
                "city": "Seattle",
                "region": "WA",
                "country": "US",
                "postalCode": "98170-1234",
                "latitude": 47.6,
                "longitude": -122.3,
            }
        ],
        "coordinates": {"latitude": 47.6, "longitude": -122.3},
        "resolutionQuality": quality,
        "taxAuthorities": [],
        "messages": messages,
    }


def test_resolve_address_sends_address_validation_info(
    connect: Callable[[Wire], TaxConnector],
) -> None:
    wire = Wire(
        {
            ("POST", P + "/addresses/resolve"): httpx.Response(
                200, json=resolution("Intersection", [])
            )
        }
    )
    result = connect(wire).resolve_address(
        line1="524 harbour rd", city="seattle", region="wa", postal_code="98170", country="US"
    )
    body = json.loads(wire.seen[0].content)
    assert body == {
        "line1": "524 harbour rd",
        "city": "seattle",
        "region": "wa",
        "postalCode": "98170",
        "country": "US",
        "textCase": "Mixed",
    }
    assert result.resolved and result.quality == "Intersection"
    assert result.address is not None and result.address.postal_code == "98170-1234"
    assert result.latitude == 47.6


def test_resolve_address_with_an_error_message_is_not_resolved(
    connect: Callable[[Wire], TaxConnector],
) -> None:
    message = {
        "summary": "The address is missing a postal code",
        "details": "A postal code is required",
        "refersTo": "Address.PostalCode",
        "severity": "Error",
        "source": "Avalara.AvaTax.Address",
    }
    wire = Wire(
        {
            ("POST", P + "/addresses/resolve"): httpx.Response(
                200, json=resolution("NotCoded", [message])
            )
        }
    )
    result = connect(wire).resolve_address(
        line1="945 Main St", city="Atlanta", region="GA", postal_code="", country="US"
    )
    assert not result.resolved and result.quality == "NotCoded"
    assert result.messages[0].refers_to == "Address.PostalCode"


def test_resolve_address_is_retried_like_a_read(
    connect: Callable[[Wire], TaxConnector], waits: list[float]
) -> None:
    wire = Wire(
        {
            ("POST", P + "/addresses/resolve"): [
                avatax_error(503, "ServiceUnavailable", "Service Unavailable"),
                httpx.Response(200, json=resolution("Intersection", [])),
            ]
        }
    )
    assert (
        connect(wire)
        .resolve_address(
            line1="1 A St", city="Seattle", region="WA", postal_code="98101", country="US"
        )
        .resolved
    )
    assert len(wire.seen) == 2 and waits == [0.5]
    assert "X-Q2C-Idempotency-Key" not in wire.seen[0].headers  # a read needs no key


# -- tax codes, companies, nexus, certificates ----------------------------------------


def test_get_tax_code_filters_and_returns_none_when_absent(
    connect: Callable[[Wire], TaxConnector],
) -> None:
    def codes(request: httpx.Request) -> httpx.Response:
        wanted = request.url.params["$filter"]
        if wanted == "taxCode eq 'SW054000'":
            return fetch(
                [
                    {
                        "id": 1,
                        "companyId": 0,
                        "taxCode": "SW054000",
                        "taxCodeTypeId": "D",
                        "description": "Cloud services - software as a service (SaaS)",
                        "isActive": True,
                    }
                ]
            )
        return fetch([])

    wire = Wire({("GET", P + "/definitions/taxcodes"): codes})
    tax = connect(wire)
    found = tax.get_tax_code("SW054000")
    assert found is not None and found.type_id == "D" and found.active
    assert tax.get_tax_code("O'BRIEN") is None
    assert wire.seen[1].url.params["$filter"] == "taxCode eq 'O''BRIEN'"


def company_list(request: httpx.Request) -> httpx.Response:
    if request.url.params["$filter"] == "companyCode eq 'US01'":
        return fetch([{"id": 1000, "companyCode": "US01", "name": "Q2C Cloud Inc."}])
    return fetch([])


def nexus(region: str, juris: str = "STA", country: str = "US") -> dict[str, Any]:
    return {
        "id": 1,
        "companyId": 1000,
        "country": country,
        "region": region,
        "jurisTypeId": juris,
        "jurisCode": region,
        "jurisName": region,
        "effectiveDate": "2020-01-01",
        "endDate": "9999-12-31",
        "nexusTypeId": "SalesOrSellersUseTax",
    }


def test_list_nexus_follows_next_link_and_caches_the_company_id(
    connect: Callable[[Wire], TaxConnector],
) -> None:
    def pages(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("$skip") == "2":
            return fetch([nexus("GB", "CNT", "GB")])
        link = "/api/v2/companies/1000/nexus?%24top=2&%24skip=2"
        return fetch([nexus("CA"), nexus("NY")], link)

    wire = Wire(
        {("GET", P + "/companies"): company_list, ("GET", P + "/companies/1000/nexus"): pages}
    )
    tax = connect(wire)
    regions = [n.region for n in tax.list_nexus("US01")]
    assert regions == ["CA", "NY", "GB"]
    assert wire.calls("GET", P + "/companies/1000/nexus")[1].url.params["$skip"] == "2"
    assert tax.has_nexus(country="US", region="NY")
    assert not tax.has_nexus(country="US", region="OR", company_code="US01")
    assert tax.has_nexus(country="GB", region="")  # a country-level nexus covers the country
    assert len(wire.calls("GET", P + "/companies")) == 1


def test_paging_refuses_a_next_link_to_another_host_or_a_loop(
    connect: Callable[[Wire], TaxConnector],
) -> None:
    away = Wire(
        {
            ("GET", P + "/companies"): company_list,
            ("GET", P + "/companies/1000/nexus"): fetch(
                [nexus("CA")], "https://evil.example/api/v2/companies/1000/nexus?$skip=1"
            ),
        }
    )
    with pytest.raises(BadResponse, match="another host"):
        connect(away).list_nexus()
    loop = Wire(
        {
            ("GET", P + "/companies"): company_list,
            ("GET", P + "/companies/1000/nexus"): fetch(
                [nexus("CA")], "/api/v2/companies/1000/nexus?$skip=1"
            ),
        }
    )
    with pytest.raises(BadResponse, match="repeats"):
        connect(loop).list_nexus()
    assert all("evil" not in str(r.url) for r in away.seen)


def test_an_unknown_company_is_record_not_found(connect: Callable[[Wire], TaxConnector]) -> None:
    wire = Wire({("GET", P + "/companies"): company_list})
    with pytest.raises(RecordNotFound, match="ZZ01"):
        connect(wire).list_nexus("ZZ01")


def test_find_certificates_reads_expiry_and_validity(
    connect: Callable[[Wire], TaxConnector],
) -> None:
    cert = {
        "id": 5000,
        "companyId": 1000,
        "signedDate": "2023-09-01",
        "expirationDate": "2026-08-31",
        "filename": "certificate-5000.pdf",
        "valid": True,
        "verified": True,
        "exemptPercentage": 100.0,
        "exemptionReason": {"id": 1, "name": "CHARITABLE/EXEMPT ORG"},
        "status": "COMPLETE",
        "exposureZone": {"id": 33, "name": "New York", "region": "NY", "country": "US"},
    }
    path = P + "/companies/1000/customers/C-1035/certificates"
    wire = Wire(
        {
            ("GET", P + "/companies"): company_list,
            ("GET", path): fetch([cert]),
            ("GET", P + "/companies/1000/customers/C-9999/certificates"): avatax_error(
                404, "EntityNotFoundError", "Customer not found"
            ),
        }
    )
    tax = connect(wire)
    (found,) = tax.find_certificates(customer_code="C-1035")
    assert found.expiration_date == date(2026, 8, 31) and found.region == "NY"
    assert found.valid_on(date(2026, 8, 1)) and not found.valid_on(date(2026, 11, 1))
    assert tax.find_certificates(customer_code="C-9999", company_code="US01") == []
