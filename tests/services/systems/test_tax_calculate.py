"""The tax connector's write and its failure modes on the wire (AvaTax REST v2 shapes).

``calculate`` (CreateTransactionModel, idempotency by document code), the target
check, AvaTax error codes, answers that are not AvaTax's JSON, timeouts, refused
connections, and building the connector from settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest
from pydantic import SecretStr

from services.errors import (
    AuthError,
    BadResponse,
    ConflictError,
    RateLimited,
    RecordNotFound,
    RejectedError,
    SettingsError,
    TimedOut,
    Unavailable,
)
from services.settings import load_settings
from services.systems.registry import BuildEnv, build_connector
from services.systems.tax import TaxConnector, build
from tests.services.systems.tax_fakes import (
    LICENSE,
    REQUEST,
    P,
    Wire,
    avatax_error,
    make_connector,
    transaction,
)

CREATE = ("POST", P + "/transactions/create")
GET_DOC = ("GET", P + "/companies/US01/transactions/INV-200001")


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def connect(waits: list[float]) -> Callable[[Wire], TaxConnector]:
    return lambda wire: make_connector(wire, waits)


# -- calculate ---------------------------------------------------------------------------


def test_calculate_sends_a_create_transaction_model(
    connect: Callable[[Wire], TaxConnector],
) -> None:
    wire = Wire({CREATE: httpx.Response(201, json=transaction("Saved"))})
    result = connect(wire).calculate(REQUEST)
    sent = wire.seen[0]
    assert json.loads(sent.content) == {
        "type": "SalesInvoice",
        "companyCode": "US01",
        "date": "2026-11-02",
        "customerCode": "C-1570",
        "commit": False,
        "code": "INV-200001",
        "currencyCode": "USD",
        "lines": [{"number": "1", "amount": 1000.0, "taxCode": "SW054000"}],
    }
    assert "X-Q2C-Idempotency-Key" not in sent.headers
    assert result.total_tax == Decimal("62.50") and isinstance(result.total_tax, Decimal)
    assert result.status == "Saved" and not result.committed and not result.replayed
    assert result.lines[0].rate == Decimal("0.0625") and result.lines[0].tax == Decimal("62.50")


def test_calculate_passes_addresses_and_uses_the_default_company(
    connect: Callable[[Wire], TaxConnector],
) -> None:
    wire = Wire({CREATE: httpx.Response(201, json=transaction("Temporary"))})
    ship_to = {"line1": "1 Main", "city": "Boston", "region": "MA", "country": "US"}
    request = {k: v for k, v in REQUEST.items() if k != "companyCode"}
    connect(wire).calculate({**request, "addresses": {"shipTo": ship_to}})
    body = json.loads(wire.seen[0].content)
    assert body["companyCode"] == "US01" and body["addresses"]["shipTo"] == ship_to


def test_a_committed_calculation_with_a_key_is_retried_after_a_503(
    connect: Callable[[Wire], TaxConnector], waits: list[float]
) -> None:
    wire = Wire(
        {
            CREATE: [
                avatax_error(503, "ServiceUnavailable", "Service Unavailable"),
                httpx.Response(201, json=transaction()),
            ]
        }
    )
    result = connect(wire).calculate(REQUEST, commit=True, idempotency_key="o2c-1:tax.calculate")
    assert result.committed and len(wire.seen) == 2 and waits == [0.5]
    assert {r.headers["X-Q2C-Idempotency-Key"] for r in wire.seen} == {"o2c-1:tax.calculate"}
    assert json.loads(wire.seen[1].content)["commit"] is True


def test_without_a_key_a_post_that_may_have_arrived_is_not_resent(
    connect: Callable[[Wire], TaxConnector],
) -> None:
    wire = Wire({CREATE: httpx.ReadTimeout("read timed out")})
    with pytest.raises(TimedOut):
        connect(wire).calculate(REQUEST, commit=True)
    assert len(wire.seen) == 1


class LandedThenTimedOut:
    """AvaTax records the first create, but the answer is lost; the code is then reserved."""

    def __init__(self, stored: dict) -> None:
        self.stored = stored
        self.creates = 0

    def create(self, request: httpx.Request) -> httpx.Response:
        self.creates += 1
        if self.creates == 1:
            raise httpx.ReadTimeout("read timed out")
        return avatax_error(
            400,
            "DocumentCodeConflict",
            "Document code conflict",
            "A committed transaction with this code already exists",
        )

    def get(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=self.stored)


def test_a_retry_meeting_document_code_conflict_answers_the_stored_transaction(
    connect: Callable[[Wire], TaxConnector], waits: list[float]
) -> None:
    avatax = LandedThenTimedOut(transaction())
    wire = Wire({CREATE: avatax.create, GET_DOC: avatax.get})
    result = connect(wire).calculate(REQUEST, commit=True, idempotency_key="o2c-1:tax.calculate")
    assert result.replayed and result.committed and result.total_tax == Decimal("62.50")
    assert avatax.creates == 2 and waits == [0.5]
    assert wire.calls(*GET_DOC)[0].url.params["$include"] == "Lines"


def test_document_code_conflict_with_other_content_stays_a_conflict(
    connect: Callable[[Wire], TaxConnector],
) -> None:
    avatax = LandedThenTimedOut(transaction(amount=999.0, tax=62.44))
    wire = Wire({CREATE: avatax.create, GET_DOC: avatax.get})
    with pytest.raises(ConflictError) as caught:
        connect(wire).calculate(REQUEST, commit=True, idempotency_key="o2c-1:tax.calculate")
    assert caught.value.code == "DocumentCodeConflict"
    assert "already exists" in caught.value.message


def test_a_committed_calculation_needs_a_code_and_numbers(
    connect: Callable[[Wire], TaxConnector],
) -> None:
    wire = Wire({CREATE: httpx.Response(201, json=transaction())})
    tax = connect(wire)
    with pytest.raises(RejectedError, match="needs a code"):
        tax.calculate({k: v for k, v in REQUEST.items() if k != "code"}, commit=True)
    with pytest.raises(RejectedError, match="not a number"):
        tax.calculate({**REQUEST, "lines": [{"number": "1", "amount": "12,00"}]})
    with pytest.raises(RejectedError, match="no lines"):
        tax.calculate({**REQUEST, "lines": []})
    assert wire.seen == []


def test_get_transaction_is_the_target_check(connect: Callable[[Wire], TaxConnector]) -> None:
    wire = Wire(
        {
            GET_DOC: httpx.Response(200, json=transaction()),
            ("GET", P + "/companies/US01/transactions/INV-404"): avatax_error(
                404, "EntityNotFoundError", "Document not found"
            ),
        }
    )
    tax = connect(wire)
    found = tax.find_calculation(REQUEST)
    assert found is not None and found.code == "INV-200001" and found.committed
    assert tax.get_transaction(code="INV-404", company_code="US01") is None
    assert tax.find_calculation({"companyCode": "US01"}) is None


# -- AvaTax error codes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "AuthenticationException", AuthError),
        (404, "EntityNotFoundError", RecordNotFound),
        (400, "DuplicateEntry", ConflictError),
        (400, "DocumentCodeConflict", ConflictError),
        (400, "AddressUnknownStreet", RejectedError),
        (400, "InvalidAddress", RejectedError),
        (400, "GetTaxError", RejectedError),
        (400, "MissingLine", RejectedError),
        (400, "ValueRequiredError", RejectedError),
        (400, "SomethingNew", RejectedError),
    ],
)
def test_avatax_error_codes_map_to_the_console_errors(
    connect: Callable[[Wire], TaxConnector], status: int, code: str, expected: type
) -> None:
    wire = Wire({CREATE: avatax_error(status, code, f"{code} happened", "Line 1: the detail")})
    with pytest.raises(expected) as caught:
        connect(wire).calculate(REQUEST)
    err = caught.value
    assert type(err) is expected and err.code == code and err.http_status == status
    assert err.message == f"{code} happened: Line 1: the detail" and not err.retryable
    assert str(err).startswith(f"tax calculate: HTTP {status} {code}:")


def test_placeholder_descriptions_are_left_out(connect: Callable[[Wire], TaxConnector]) -> None:
    wire = Wire({CREATE: avatax_error(400, "DocumentCodeConflict", "Conflict", "-0-, -1-, -2-")})
    with pytest.raises(ConflictError) as caught:
        connect(wire).calculate(REQUEST)
    assert caught.value.message == "Conflict"


def test_a_persistent_503_is_unavailable_and_retryable(
    connect: Callable[[Wire], TaxConnector], waits: list[float]
) -> None:
    wire = Wire(
        {("GET", P + "/utilities/ping"): avatax_error(503, "ServiceUnavailable", "Unavailable")}
    )
    with pytest.raises(Unavailable) as caught:
        connect(wire).ping()
    assert caught.value.retryable and caught.value.code == "ServiceUnavailable"
    assert len(wire.seen) == 4 and waits == [0.5, 1.0, 2.0]


def test_429_waits_for_retry_after(
    connect: Callable[[Wire], TaxConnector], waits: list[float]
) -> None:
    limited = avatax_error(429, "TooManyRequests", "Too many requests")
    limited.headers["Retry-After"] = "7"
    ok = httpx.Response(200, json={"version": "24.6.0", "authenticated": True})
    wire = Wire({("GET", P + "/utilities/ping"): [limited, ok]})
    connect(wire).ping()
    assert waits == [7.0]
    wire = Wire({("GET", P + "/utilities/ping"): limited})
    with pytest.raises(RateLimited):
        connect(wire).ping()


# -- answers that are not AvaTax's JSON, and the network ---------------------------------


def test_malformed_json_is_a_bad_response(connect: Callable[[Wire], TaxConnector]) -> None:
    broken = httpx.Response(200, content=b'{"version": "24.6.0", "authenticated": tr')
    wire = Wire({("GET", P + "/utilities/ping"): broken})
    with pytest.raises(BadResponse, match="not JSON"):
        connect(wire).ping()


def test_an_html_page_is_a_bad_response_or_unavailable(
    connect: Callable[[Wire], TaxConnector], waits: list[float]
) -> None:
    page = b"<html><body><h1>Sign in</h1></body></html>"
    html = {"Content-Type": "text/html; charset=utf-8"}
    wire = Wire({("GET", P + "/utilities/ping"): httpx.Response(200, content=page, headers=html)})
    with pytest.raises(BadResponse, match="an HTML page"):
        connect(wire).ping()
    gateway = httpx.Response(502, content=b"<html>Bad Gateway</html>", headers=html)
    wire = Wire({("GET", P + "/utilities/ping"): gateway})
    with pytest.raises(Unavailable, match="an HTML page") as caught:
        connect(wire).ping()
    assert caught.value.http_status == 502 and len(wire.seen) == 4


def test_a_500_with_an_empty_body_is_unavailable_and_not_retried(
    connect: Callable[[Wire], TaxConnector], waits: list[float]
) -> None:
    wire = Wire({CREATE: httpx.Response(500)})
    with pytest.raises(Unavailable) as caught:
        connect(wire).calculate(REQUEST, idempotency_key="k-1")
    assert caught.value.message == "HTTP 500" and not caught.value.retryable
    assert len(wire.seen) == 1 and waits == []


def test_a_read_timeout_on_a_get_is_retried_then_reported(
    connect: Callable[[Wire], TaxConnector], waits: list[float]
) -> None:
    ok = httpx.Response(200, json={"version": "24.6.0", "authenticated": True})
    wire = Wire({("GET", P + "/utilities/ping"): [httpx.ReadTimeout("slow"), ok]})
    connect(wire).ping()
    assert len(wire.seen) == 2 and waits == [0.5]
    wire = Wire({GET_DOC: httpx.ReadTimeout("slow")})
    with pytest.raises(TimedOut) as caught:
        connect(wire).get_transaction(code="INV-200001")
    assert caught.value.retryable and len(wire.seen) == 4


def test_a_refused_connection_is_unavailable_and_retried_even_for_a_post(
    connect: Callable[[Wire], TaxConnector], waits: list[float]
) -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    wire = Wire({CREATE: [refused, httpx.Response(201, json=transaction("Saved"))]})
    assert connect(wire).calculate(REQUEST).status == "Saved"  # never sent, so safe
    wire = Wire({("GET", P + "/utilities/ping"): refused})
    with pytest.raises(Unavailable, match="cannot connect") as caught:
        connect(wire).ping()
    assert caught.value.retryable and len(wire.seen) == 4


# -- building from settings -------------------------------------------------------------


def test_live_mode_without_the_license_key_names_the_setting() -> None:
    settings = load_settings(
        systems="live", tax_base_url="https://sandbox-rest.avatax.com", tax_account_id="1100012345"
    )
    with pytest.raises(SettingsError, match="Q2C_TAX_LICENSE_KEY"):
        build(settings, BuildEnv())


def test_live_mode_never_prints_the_key() -> None:
    settings = load_settings(systems="live", tax_account_id="1100012345", tax_license_key=LICENSE)
    with pytest.raises(SettingsError) as caught:
        build(settings, BuildEnv())
    assert "Q2C_TAX_BASE_URL" in str(caught.value) and LICENSE not in str(caught.value)


def test_live_mode_builds_basic_auth_against_the_api_root() -> None:
    seen: list[httpx.Request] = []

    def avatax(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"version": "24.6.0", "authenticated": True})

    settings = load_settings(
        systems="live",
        tax_base_url="https://sandbox-rest.avatax.com",
        tax_account_id="1100012345",
        tax_license_key=SecretStr(LICENSE),
        tax_company_code="US01",
    )
    tax = build_connector("tax", settings, BuildEnv(transport=httpx.MockTransport(avatax)))
    tax.ping()
    assert str(seen[0].url) == "https://sandbox-rest.avatax.com/api/v2/utilities/ping"
    assert seen[0].headers["Authorization"].startswith("Basic ")
    assert tax.company_code == "US01" and LICENSE not in tax.describe_auth()
    assert isinstance(tax, TaxConnector) and tax.system == "tax"
