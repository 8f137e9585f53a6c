"""The billing sandbox: state, idempotency, versions, refusals, faults, and a real socket."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from services.errors import ConflictError, RecordNotFound, RejectedError, Unavailable
from services.sandbox.billing import BillingApp
from services.sandbox.core import Sandbox
from services.sandbox.server import start_server
from services.settings import load_settings
from services.systems.auth import OAuth2ClientCredentials
from services.systems.billing import BillingConnector, build
from services.systems.registry import BuildEnv, build_connector

MASTER = Path(__file__).resolve().parents[3] / "sample_data" / "master"
CREATE = {
    "accountNumber": "C-2069",
    "contractEffectiveDate": "2026-10-01",
    "termType": "TERMED",
    "initialTerm": 12,
    "subscribeToRatePlans": [
        {"productSku": "PLAT-ANNUAL", "quantity": 1},
        {"productSku": "SEAT-STD", "quantity": 144},
        {"productSku": "INTEG-PACK", "quantity": 1},
        {"productSku": "AUDIT-LOG", "quantity": 1},
        {"productSku": "ONB-PKG", "quantity": 1},
    ],
}


class Waits(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(MASTER, sleep=Waits())


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def billing(sandbox: Sandbox, waits: Waits) -> BillingConnector:
    connector = build_connector("billing", load_settings(), BuildEnv(sandbox=sandbox, sleep=waits))
    assert isinstance(connector, BillingConnector)
    return connector


@pytest.fixture
def raw(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=sandbox.transport(), base_url=sandbox.url("billing")) as client:
        yield client


def subscriptions(sandbox: Sandbox) -> int:
    return len(sandbox.apps["billing"].data["subscriptions"])


def test_a_new_subscription_gets_the_next_number_version_1_and_its_contract_value(
    billing: BillingConnector, sandbox: Sandbox
) -> None:
    written = billing.create_subscription(CREATE, idempotency_key="o2c-1:subscription.create")
    assert written.number == "A-S00014835" and written.amount == Decimal("124300")
    sub = billing.get_subscription(written.number)
    assert sub is not None and (sub.version, sub.account_number, sub.status) == (
        1,
        "C-2069",
        "Active",
    )
    assert str(sub.term_end_date) == "2027-10-01" and sub.quantities()["SEAT-STD"] == 144
    assert sandbox.apps["billing"].created == {"subscriptions": ["A-S00014835"]}
    assert billing.find_target("subscription.create", CREATE) == sub


def test_the_same_key_and_body_answers_the_same_and_creates_one_record(
    billing: BillingConnector, sandbox: Sandbox
) -> None:
    before = subscriptions(sandbox)
    first = billing.create_subscription(CREATE, idempotency_key="k-1")
    again = billing.create_subscription(CREATE, idempotency_key="k-1")
    assert first == again and subscriptions(sandbox) == before + 1
    posts = [r for r in sandbox.requests_to("billing") if r.method == "POST"]
    assert [r.replayed for r in posts] == [False, True]
    other = {**CREATE, "initialTerm": 24}
    with pytest.raises(ConflictError) as err:
        billing.create_subscription(other, idempotency_key="k-1")
    assert err.value.http_status == 409 and subscriptions(sandbox) == before + 1


def test_an_amendment_bumps_the_version_and_a_stale_version_is_refused(
    billing: BillingConnector,
) -> None:
    amend = {"version": 1, "contractEffectiveDate": "2027-04-01", "add": [{"productSku": "SEAT-STD", "quantity": 57}]}  # fmt: skip
    number = "A-S00010002"  # version 1 in the master data
    written = billing.amend_subscription(number, amend, idempotency_key="a-1")
    assert written.amount is not None and Decimal(0) < written.amount < Decimal(57 * 600)
    sub = billing.get_subscription(number)
    assert sub is not None and sub.version == 2 and sub.quantities()["SEAT-STD"] == 57
    assert billing.find_target("subscription.amend", amend, subject=number) == sub
    with pytest.raises(ConflictError) as err:
        billing.amend_subscription(number, amend, idempotency_key="a-2")
    assert "current version 2" in str(err.value) and err.value.http_status == 200
    with pytest.raises(RecordNotFound):
        billing.amend_subscription("A-S0", amend, idempotency_key="a-3")


def test_renewal_starts_the_next_term(billing: BillingConnector) -> None:
    renewed = billing.renew_subscription(
        "A-S00010002", {"collect": False, "runBilling": False}, idempotency_key="r"
    )
    assert (str(renewed.term_start_date), str(renewed.term_end_date)) == (
        "2027-09-26",
        "2028-09-26",
    )
    sub = billing.get_subscription("A-S00010002")
    assert sub is not None and sub.version == 2


def test_unknown_skus_accounts_and_the_unknown_item_fault_are_refused(
    billing: BillingConnector, sandbox: Sandbox, raw: httpx.Client
) -> None:
    with pytest.raises(RejectedError, match="PLAT-ANNAUL"):
        billing.create_subscription(
            {**CREATE, "subscribeToRatePlans": [{"productSku": "PLAT-ANNAUL"}]},
            idempotency_key="u1",
        )
    with pytest.raises(RejectedError, match="no account C-0"):
        billing.create_subscription({**CREATE, "accountNumber": "C-0"}, idempotency_key="u2")
    answer = raw.post("/v1/subscriptions", json={"accountKey": "C-2069", "contractEffectiveDate": "2026-10-01",
                      "termType": "TERMED", "initialTerm": 12, "subscribeToRatePlans": [{"productRatePlanId": "nope"}]})  # fmt: skip
    assert answer.status_code == 200 and answer.json()["success"] is False
    assert answer.json()["reasons"][0]["code"] == 53100020

    plan_id = billing.find_charge("SSO-ADDON").rate_plan_id  # type: ignore[union-attr]
    sandbox.faults.update({"unknown_item": "SSO-ADDON"})
    assert billing.find_charge("SSO-ADDON") is None
    assert "SSO-ADDON" not in {p.sku for p in billing.list_products()}
    body = {"accountKey": "C-2069", "contractEffectiveDate": "2026-10-01", "termType": "TERMED",
            "initialTerm": 12, "subscribeToRatePlans": [{"productRatePlanId": plan_id}]}  # fmt: skip
    refused = raw.post("/v1/subscriptions", json=body).json()
    assert refused["success"] is False and "not in the catalog" in refused["reasons"][0]["message"]


def test_an_expired_product_is_refused(billing: BillingConnector) -> None:
    request = {**CREATE, "subscribeToRatePlans": [{"productSku": "SEAT-LEGACY", "quantity": 3}]}
    with pytest.raises(RejectedError, match="expired"):
        billing.create_subscription(request, idempotency_key="x")


def test_invoice_then_payment_changes_the_balance_and_refuses_a_wrong_currency(
    billing: BillingConnector,
) -> None:
    sub = billing.create_subscription(CREATE, idempotency_key="s")
    invoice = billing.create_invoice(
        {
            "accountNumber": "C-2069",
            "invoiceDate": "2026-10-01",
            "subscriptionNumbers": [sub.number],
        },
        idempotency_key="i",
    )
    assert invoice.number == "INV-203144" and invoice.amount == Decimal("124300")
    assert invoice.status == "Posted" and invoice.currency == "USD"
    assert invoice in billing.list_invoices("C-2069")
    pay = {"accountNumber": "C-2069", "amount": "124300.00", "currency": "USD", "effectiveDate": "2026-10-04",
           "type": "Electronic", "invoices": [{"invoiceNumber": invoice.number, "amount": "124300.00"}]}  # fmt: skip
    with pytest.raises(RejectedError, match="currency"):
        billing.apply_payment({**pay, "currency": "EUR"}, idempotency_key="p0")
    paid = billing.apply_payment(pay, idempotency_key="p1")
    assert paid.number == "P-10218" and paid.status == "Processed"
    assert billing.get_payment(paid.number) == paid
    assert billing.get_invoice(invoice.number).balance == Decimal(0)  # type: ignore[union-attr]
    assert billing.find_target("payment.apply", pay) == paid
    with pytest.raises(RejectedError, match="exceeds the balance"):
        billing.apply_payment(pay, idempotency_key="p2")


def test_usage_is_aggregated_per_month(billing: BillingConnector) -> None:
    request = {"subscriptionNumber": "A-S00011782", "chargeSku": "API-1M", "startDate": "2026-09-01", "endDate": "2026-09-30"}  # fmt: skip
    first, second = billing.aggregate_usage(request), billing.aggregate_usage(request)
    assert first == second and first.records == 1 and first.quantity > 0
    quarter = billing.aggregate_usage({**request, "endDate": "2026-11-30"})
    assert quarter.records == 3 and quarter.uom == "Million calls"


def test_accounts_catalog_pages_and_not_found(
    billing: BillingConnector, sandbox: Sandbox, raw: httpx.Client
) -> None:
    account = billing.find_account(crm_id="0015g00000L84wjAAB")
    assert (
        account is not None
        and account.number == "C-1014"
        and billing.get_account("C-1014") == account
    )
    assert billing.find_account(crm_id="001nobody") is None and billing.get_account("C-0") is None
    billing.page_size = 5
    assert len(billing.list_products()) == 26
    pages = [r for r in sandbox.requests_to("billing") if r.path == "/billing/v1/catalog/products"]
    assert len(pages) == 6
    assert billing.price("SEAT-PRO", "EUR") == Decimal("1104")
    missing = raw.get("/v1/subscriptions/A-S0")
    assert missing.status_code == 404
    assert missing.json()["reasons"][0] == {
        "code": 50000040,
        "message": "Cannot find entity by key: 'A-S0'.",
    }
    assert raw.get("/v1/catalog/products", params={"pageSize": 41}).status_code == 400


def test_tokens_the_sandbox_did_not_issue_get_401(raw: httpx.Client) -> None:
    form = {"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret"}
    token = raw.post("/oauth/token", data=form).json()["access_token"]
    assert (
        raw.get("/v1/accounts/C-1014", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    refused = raw.get("/v1/accounts/C-1014", headers={"Authorization": "Bearer forged"})
    assert refused.status_code == 401 and refused.json()["success"] is False
    assert raw.post("/oauth/token", data={**form, "client_secret": ""}).status_code == 401
    assert raw.post("/oauth/token", data={**form, "grant_type": "password"}).status_code == 400


def test_the_connector_authenticates_with_client_credentials_at_the_sandbox(
    sandbox: Sandbox,
) -> None:
    client = httpx.Client(transport=sandbox.transport(), base_url=sandbox.url("billing"))
    token_url = sandbox.url("billing") + "/oauth/token"
    auth = OAuth2ClientCredentials(
        token_url, "demo-client-1", SecretStr("demo-secret"), setting="Q2C_BILLING_"
    )
    billing = BillingConnector(client, auth=auth, sleep=Waits())
    billing.ping()
    app = sandbox.apps["billing"]
    assert isinstance(app, BillingApp) and len(app.tokens) == 1
    app.tokens.clear()  # the token expires: one 401, a new token, the call succeeds
    billing.ping()
    assert len(app.tokens) == 1
    assert [r.status for r in sandbox.requests_to("billing")] == [200, 200, 401, 200, 200]


def test_rate_limit_and_unavailable_faults(
    billing: BillingConnector, sandbox: Sandbox, waits: Waits
) -> None:
    sandbox.faults.update({"rate_limit": {"billing": 2}, "retry_after_seconds": 3})
    billing.ping()
    assert waits == [3.0, 3.0]
    sandbox.faults.update({"unavailable": ["billing"]})
    with pytest.raises(Unavailable) as err:
        billing.create_subscription(CREATE, idempotency_key="u")
    assert err.value.http_status == 503 and err.value.retryable


def test_over_a_real_socket(sandbox: Sandbox) -> None:
    server, _ = start_server(sandbox)
    try:
        billing = build(load_settings(sandbox_url=server.url), BuildEnv())
        assert billing.base_url == f"{server.url}/billing"
        billing.ping()
        billing.page_size = 7
        assert len(billing.list_products()) == 26  # relative nextPage through /billing
        written = billing.create_subscription(CREATE, idempotency_key="sock-1")
        assert billing.create_subscription(CREATE, idempotency_key="sock-1") == written
        sub = billing.get_subscription(written.number)
        assert sub is not None and sub.version == 1
        records: dict[str, Any] = httpx.get(f"{server.url}/_sandbox/records").json()
        assert records["billing"]["created"] == {"subscriptions": [written.number]}
    finally:
        server.shutdown()
        server.server_close()


def test_malformed_requests_get_a_400_envelope_not_a_crash(raw: httpx.Client) -> None:
    bad_amount = raw.post(
        "/v1/payments", json={"accountNumber": "C-1014", "currency": "USD", "amount": "lots"}
    )
    assert bad_amount.status_code == 400 and bad_amount.json()["success"] is False
    not_an_object = raw.post("/v1/subscriptions", json=[1, 2])
    assert not_an_object.status_code == 400
    assert raw.delete("/v1/subscriptions/A-S00010002").status_code == 405
