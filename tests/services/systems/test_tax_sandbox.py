"""The sandbox tax engine (AvaTax-shaped) driven through the real tax connector.

State (stored transactions), idempotency by document code and by key, nexus and
exemptions, address resolution, paging, the ``tax_outage`` and ``rate_limit``
faults, and one run over a real socket with ``start_server``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.errors import ConflictError, RejectedError, Unavailable
from services.sandbox.core import Sandbox
from services.sandbox.server import start_server
from services.settings import load_settings
from services.systems.registry import BuildEnv
from services.systems.tax import TaxConnector, build

MASTER = Path(__file__).resolve().parents[3] / "sample_data" / "master"

ORDER = {
    "companyCode": "GB01",
    "type": "SalesOrder",
    "code": "SO-100004",
    "customerCode": "C-1306",
    "date": "2026-10-01",
    "currencyCode": "GBP",
    "lines": [{"number": "1", "amount": "139119.00", "taxCode": "SW054000"}],
}
INVOICE = {**ORDER, "type": "SalesInvoice", "code": "INV-100004"}


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(MASTER, sleep=lambda s: None)


@pytest.fixture
def tax(sandbox: Sandbox, waits: list[float]) -> TaxConnector:
    return build(load_settings(), BuildEnv(sandbox=sandbox, sleep=waits.append))


@pytest.fixture
def control(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=sandbox.transport(), base_url=Sandbox.BASE_URL) as http:
        yield http


def tax_requests(sandbox: Sandbox, method: str, suffix: str) -> list[Any]:
    return [r for r in sandbox.requests_to("tax") if r.method == method and r.path.endswith(suffix)]


# -- faults -------------------------------------------------------------------------------


def test_tax_outage_on_and_off(
    tax: TaxConnector, control: httpx.Client, waits: list[float]
) -> None:
    assert control.post("/_sandbox/faults", json={"tax_outage": True}).status_code == 200
    raw = control.get("/tax/api/v2/utilities/ping")
    assert raw.status_code == 503
    error = raw.json()["error"]
    assert (error["code"], error["message"], error["target"]) == (
        "ServiceUnavailable",
        "Service Unavailable",
        "HttpRequest",
    )
    assert error["details"][0]["faultCode"] == "Server"
    with pytest.raises(Unavailable) as caught:
        tax.calculate(ORDER, idempotency_key="o2c-1:tax.calculate")
    assert caught.value.code == "ServiceUnavailable" and caught.value.retryable
    assert waits == [0.5, 1.0, 2.0]
    control.post("/_sandbox/faults", json={"tax_outage": False})
    assert tax.calculate(ORDER, idempotency_key="o2c-1:tax.calculate").total_tax == Decimal(
        "27823.80"
    )


def test_rate_limit_is_waited_out(
    tax: TaxConnector, control: httpx.Client, waits: list[float]
) -> None:
    control.post("/_sandbox/faults", json={"rate_limit": {"tax": 1}, "retry_after_seconds": 3})
    tax.ping()
    assert waits == [3.0]


# -- calculation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("company", "customer", "tax_due"),
    [
        ("GB01", "C-1306", "27823.80"),  # 20% VAT, as the sample events show
        ("US01", "C-1030", "14259.70"),  # Seattle WA 10.25%
        ("US01", "C-2069", "0.00"),  # Atlanta GA: SaaS not taxed
        ("CA01", "C-1036", "20833.07"),  # Montreal QC 14.975%
    ],
)
def test_rates_follow_the_table(
    tax: TaxConnector, company: str, customer: str, tax_due: str
) -> None:
    result = tax.calculate({**ORDER, "companyCode": company, "customerCode": customer})
    assert result.total_tax == Decimal(tax_due) and result.total_amount == Decimal("139119.00")


def test_no_nexus_means_zero_tax_with_a_reason(tax: TaxConnector) -> None:
    result = tax.calculate({**ORDER, "companyCode": "US01", "customerCode": "C-1043"})  # AU
    assert result.total_tax == Decimal("0.00") and result.lines[0].taxable == Decimal("0.00")
    assert result.messages == ["No nexus: company US01 does not collect tax in AU-VIC"]
    assert not tax.has_nexus(country="AU", region="VIC", company_code="US01")


def test_a_valid_certificate_exempts_and_an_expired_one_does_not(tax: TaxConnector) -> None:
    exempt = tax.calculate({**ORDER, "companyCode": "US01", "customerCode": "C-1570"})  # MA
    assert exempt.total_tax == Decimal("0.00") and exempt.total_exempt == Decimal("139119.00")
    assert exempt.lines[0].exempt_cert_id == 5014
    expired = tax.calculate({**ORDER, "companyCode": "US01", "customerCode": "C-1035"})  # NY
    assert expired.total_tax == Decimal("12346.81")
    (cert,) = tax.find_certificates(customer_code="C-1035", company_code="US01")
    assert not cert.valid and str(cert.expiration_date) == "2026-08-31"


def test_a_quote_is_not_stored(tax: TaxConnector, sandbox: Sandbox) -> None:
    result = tax.calculate(ORDER)
    assert result.status == "Temporary"
    assert tax.find_calculation(ORDER) is None
    assert sandbox.apps["tax"].records()["created"] == {}


def test_a_committed_code_is_recorded_once(tax: TaxConnector, sandbox: Sandbox) -> None:
    first = tax.calculate(INVOICE, commit=True, idempotency_key="o2c-1:tax.calculate")
    again = tax.calculate(INVOICE, commit=True, idempotency_key="o2c-1:tax.calculate:replay")
    assert first.committed and again == first
    assert sandbox.apps["tax"].records()["created"] == {"transactions": ["INV-100004"]}
    stored = tax.find_calculation(INVOICE)
    assert stored is not None and stored.committed and stored.total_tax == first.total_tax
    other = {**INVOICE, "lines": [{"number": "1", "amount": "10.00", "taxCode": "SW054000"}]}
    with pytest.raises(ConflictError) as caught:
        tax.calculate(other, commit=True, idempotency_key="o2c-2:tax.calculate")
    assert caught.value.code == "DocumentCodeConflict"
    assert sandbox.apps["tax"].records()["counts"]["transactions"] == 1


def test_the_same_key_is_answered_from_the_idempotency_store(
    tax: TaxConnector, sandbox: Sandbox
) -> None:
    tax.calculate(INVOICE, commit=True, idempotency_key="k-1")
    tax.calculate(INVOICE, commit=True, idempotency_key="k-1")
    creates = tax_requests(sandbox, "POST", "/transactions/create")
    assert [(r.idempotency_key, r.replayed) for r in creates] == [("k-1", False), ("k-1", True)]
    with pytest.raises(ConflictError) as caught:
        tax.calculate({**INVOICE, "date": "2026-10-02"}, commit=True, idempotency_key="k-1")
    assert caught.value.code == "DuplicateEntry" and caught.value.http_status == 409


def test_a_saved_invoice_can_be_recalculated_until_committed(tax: TaxConnector) -> None:
    tax.calculate(INVOICE)
    changed = {**INVOICE, "lines": [{"number": "1", "amount": "100.00", "taxCode": "SW054000"}]}
    saved = tax.calculate(changed)
    assert saved.status == "Saved" and saved.total_tax == Decimal("20.00")
    assert tax.calculate(changed, commit=True).committed


def test_refusals_use_avatax_codes(tax: TaxConnector, control: httpx.Client) -> None:
    with pytest.raises(RejectedError) as caught:
        tax.calculate({**ORDER, "lines": [{"number": "1", "amount": "5", "taxCode": "XX999"}]})
    assert caught.value.code == "GetTaxError" and "XX999" in caught.value.message
    with pytest.raises(RejectedError) as caught:
        tax.calculate({**ORDER, "date": None})
    assert caught.value.code == "ValueRequiredError"
    with pytest.raises(RejectedError) as caught:
        tax.calculate({**ORDER, "customerCode": "C-NOWHERE"})
    assert caught.value.code == "MissingAddress"
    raw = control.post("/tax/api/v2/transactions/create", json={**ORDER, "lines": []})
    assert raw.status_code == 400 and raw.json()["error"]["code"] == "MissingLine"


# -- reads ----------------------------------------------------------------------------------


def test_address_resolution(tax: TaxConnector) -> None:
    missing = tax.resolve_address(
        line1="945 Main St", city="Atlanta", region="GA", postal_code="", country="US"
    )
    assert not missing.resolved and missing.quality == "NotCoded"
    assert missing.messages[0].summary == "The address is missing a postal code"
    bad_zip = tax.resolve_address(
        line1="1 Pike St", city="Seattle", region="WA", postal_code="9810", country="US"
    )
    assert not bad_zip.resolved and "not valid" in bad_zip.messages[0].summary
    good = tax.resolve_address(
        line1="524 Harbour Rd", city="Seattle", region="wa", postal_code="98170", country="us"
    )
    assert good.resolved and good.quality == "Intersection" and good.latitude is not None
    assert good.address is not None and (good.address.region, good.address.country) == ("WA", "US")
    with pytest.raises(RejectedError) as caught:
        tax.resolve_address(line1="", city="", region="", postal_code="", country="US")
    assert caught.value.code == "InvalidAddress"


def test_tax_codes_nexus_and_paging(tax: TaxConnector, sandbox: Sandbox) -> None:
    code = tax.get_tax_code("SW054000")
    assert code is not None and code.description.startswith("Cloud services")
    assert tax.get_tax_code("NOPE") is None
    tax.page_size = 3
    regions = [n.region for n in tax.list_nexus("US01")]
    assert regions == ["CA", "CO", "GA", "IL", "MA", "NY", "TX", "WA"]
    assert len(tax_requests(sandbox, "GET", "/nexus")) == 3
    assert tax.has_nexus(country="DE", region="HE", company_code="DE01")  # country-level
    assert tax.find_certificates(customer_code="C-NOWHERE", company_code="US01") == []


# -- over a real socket ---------------------------------------------------------------------


def test_the_connector_through_a_served_sandbox(sandbox: Sandbox) -> None:
    server, thread = start_server(sandbox)
    try:
        waits: list[float] = []
        tax = build(load_settings(sandbox_url=server.url), BuildEnv(sleep=waits.append))
        assert tax.base_url == f"{server.url}/tax/api/v2/"
        tax.ping()
        result = tax.calculate(INVOICE, commit=True, idempotency_key="sock-1")
        assert result.total_tax == Decimal("27823.80") and result.committed
        assert tax.find_calculation(INVOICE) == result
        assert [n.country for n in tax.list_nexus("GB01")] == ["GB"]
        httpx.post(f"{server.url}/_sandbox/faults", json={"tax_outage": True})
        with pytest.raises(Unavailable):
            tax.ping()
        assert waits == [0.5, 1.0, 2.0]
    finally:
        server.shutdown()
        thread.join(timeout=5)
