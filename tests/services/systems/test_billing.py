"""The billing connector at the wire: httpx.MockTransport handlers answering like Zuora."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

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
    Unavailable,
)
from services.settings import load_settings
from services.systems.auth import NoAuth, OAuth2ClientCredentials
from services.systems.billing import BillingConnector, build
from services.systems.http import RetryPolicy
from services.systems.registry import BuildEnv

BASE = "https://rest.zuora.com"
NOW = datetime(2026, 10, 1, 12, 0, 0, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


def product(sku: str, n: int, *, kind: str = "Recurring", period: str = "Annual") -> dict[str, Any]:
    return {
        "id": f"prod-{n}",
        "sku": sku,
        "name": f"{sku} product",
        "effectiveEndDate": "2099-12-31",
        "productRatePlans": [
            {
                "id": f"prp-{n}",
                "name": f"{sku} plan",
                "productRatePlanCharges": [
                    {
                        "id": f"prpc-{n}",
                        "name": f"{sku} charge",
                        "type": kind,
                        "model": "PerUnit",
                        "billingPeriod": period,
                        "uom": "Million calls" if kind == "Usage" else "Each",
                        "pricing": [
                            {"currency": "USD", "price": 1200.0 * n},
                            {"currency": "EUR", "price": 1104.25 * n},
                        ],
                    }
                ],
            }
        ],
    }


CATALOG = {
    "SEAT-PRO": product("SEAT-PRO", 1),
    "PLAT-ANNUAL": product("PLAT-ANNUAL", 2),
    "API-1M": product("API-1M", 3, kind="Usage", period="Month"),
}


def ok(body: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
    return httpx.Response(200, json={"success": True, **(body or {})}, **kw)


def fail(code: Any, message: str, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status,
        json={"success": False, "processId": "p1", "reasons": [{"code": code, "message": message}]},
    )


def not_found(key: str) -> httpx.Response:
    return fail(50000040, f"Cannot find entity by key: '{key}'.", 404)


class Zuora:
    """A small fake: routes ``(method, path)`` to a handler and records every request."""

    def __init__(self, routes: dict[tuple[str, str], Handler | list[httpx.Response]]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            if request.method == "GET" and request.url.path.startswith("/v1/catalog/products/"):
                sku = request.url.path.rsplit("/", 1)[1]
                return ok(CATALOG[sku]) if sku in CATALOG else not_found(sku)
            return not_found(request.url.path)
        if isinstance(route, list):
            return route.pop(0)
        return route(request)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]


class Waits(list[float]):
    """The fake sleep: records each wait instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def connect(fake: Handler, *, auth: Any = None, waits: Waits | None = None) -> BillingConnector:
    client = httpx.Client(transport=httpx.MockTransport(fake), base_url=BASE)
    return BillingConnector(
        client,
        auth=auth or NoAuth(),
        retry=RetryPolicy(attempts=3, base_seconds=0.5, cap_seconds=4),
        sleep=waits if waits is not None else Waits(),
        now=lambda: NOW,
    )


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


# -- reads ---------------------------------------------------------------------------


def test_ping_reads_one_catalog_product() -> None:
    fake = Zuora(
        {("GET", "/v1/catalog/products"): lambda r: ok({"products": [CATALOG["SEAT-PRO"]]})}
    )
    billing = connect(fake)
    billing.ping()
    assert fake.requests[0].url.params["pageSize"] == "1"
    assert billing.stats.last_ok_at == NOW
    assert billing.base_url == BASE
    assert billing.describe_auth() == "none (sandbox)"


def test_list_products_follows_next_page_urls() -> None:
    def catalog(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page") == "2":
            return ok({"products": [CATALOG["API-1M"]]})
        return ok(
            {
                "products": [CATALOG["SEAT-PRO"], CATALOG["PLAT-ANNUAL"]],
                "nextPage": f"{BASE}/v1/catalog/products?page=2&pageSize=40",
            }
        )

    fake = Zuora({("GET", "/v1/catalog/products"): catalog})
    products = connect(fake).list_products()
    assert [p.sku for p in products] == ["SEAT-PRO", "PLAT-ANNUAL", "API-1M"]
    assert products[0].charges[0].prices == {"USD": Decimal("1200.0"), "EUR": Decimal("1104.25")}
    assert products[2].charges[0].billing_period == "Month"
    assert [str(r.url) for r in fake.requests] == [
        f"{BASE}/v1/catalog/products?pageSize=40",
        f"{BASE}/v1/catalog/products?page=2&pageSize=40",
    ]


def test_next_page_on_another_host_is_refused_and_gets_no_token() -> None:
    page = {"products": [], "nextPage": "https://evil.example/v1/catalog/products?page=2"}
    fake = Zuora({("GET", "/v1/catalog/products"): lambda r: ok(page)})
    with pytest.raises(BadResponse, match="another host"):
        connect(fake).list_products()
    assert all(r.url.host == "rest.zuora.com" for r in fake.requests)


def test_a_next_page_that_repeats_is_refused() -> None:
    page = {"products": [], "nextPage": "/v1/catalog/products?page=2"}
    fake = Zuora({("GET", "/v1/catalog/products"): lambda r: ok(page)})
    with pytest.raises(BadResponse, match="repeats"):
        connect(fake).list_products()
    assert len(fake.requests) == 2


def test_find_charge_and_price() -> None:
    billing = connect(Zuora({}))
    charge = billing.find_charge("API-1M")
    assert charge is not None
    assert (charge.rate_plan_id, charge.charge_id, charge.uom) == (
        "prp-3",
        "prpc-3",
        "Million calls",
    )
    assert charge.billing_period == "Month"
    assert billing.price("SEAT-PRO", "eur") == Decimal("1104.25")
    assert billing.price("SEAT-PRO", "JPY") is None
    assert billing.find_charge("NOPE") is None
    assert billing.price("NOPE", "USD") is None


def test_get_account_reads_the_nested_shape() -> None:
    account = {
        "basicInfo": {"id": "acc-1", "name": "Quill", "accountNumber": "C-1014", "status": "Active",
                      "crmId": "0015g00000L84wjAAB"},
        "billingAndPayment": {"billCycleDay": 1, "currency": "USD", "paymentTerm": "Net 30"},
        "metrics": {"balance": 18133.33, "currency": "USD"},
    }  # fmt: skip
    fake = Zuora({("GET", "/v1/accounts/C-1014"): lambda r: ok(account)})
    found = connect(fake).get_account("C-1014")
    assert found is not None
    assert (found.number, found.currency, found.crm_id) == ("C-1014", "USD", "0015g00000L84wjAAB")
    assert found.balance == Decimal("18133.33")
    assert connect(fake).get_account("C-9999") is None


def test_find_account_by_crm_id_uses_an_object_query() -> None:
    row = {"id": "acc-1", "accountNumber": "C-1014", "crmId": "0015X", "currency": "USD"}

    def query(request: httpx.Request) -> httpx.Response:
        wanted = request.url.params["filter[]"]
        return httpx.Response(200, json={"data": [row] if wanted == "crmid.EQ:0015X" else []})

    fake = Zuora({("GET", "/object-query/accounts"): query})
    billing = connect(fake)
    found = billing.find_account(crm_id="0015X")
    assert found is not None and found.number == "C-1014"
    assert billing.find_account(crm_id="0015Y") is None


def test_get_subscription_and_a_not_found_answered_with_http_200() -> None:
    sub = {
        "id": "sub-2", "subscriptionNumber": "A-S00010002", "accountNumber": "C-1014", "version": 3,
        "status": "Active", "termType": "TERMED", "currentTerm": 12, "termStartDate": "2026-09-26",
        "termEndDate": "2027-09-26",
        "ratePlans": [{"productSku": "SEAT-PRO", "productRatePlanId": "prp-1",
                       "ratePlanCharges": [{"quantity": 83}]}],
    }  # fmt: skip
    fake = Zuora(
        {
            ("GET", "/v1/subscriptions/A-S00010002"): lambda r: ok(sub),
            ("GET", "/v1/subscriptions/A-S0"): lambda r: fail(
                50000040, "Cannot find entity by key: 'A-S0'."
            ),
        }
    )
    billing = connect(fake)
    found = billing.get_subscription("A-S00010002")
    assert found is not None
    assert (found.version, found.term_end_date.isoformat()) == (3, "2027-09-26")  # type: ignore[union-attr]
    assert found.quantities() == {"SEAT-PRO": Decimal(83)}
    assert billing.get_subscription("A-S0") is None


def test_get_invoice_get_payment_and_account_lists_follow_relative_next_pages() -> None:
    invoice = {"id": "i1", "invoiceNumber": "INV-1", "accountNumber": "C-1", "amount": 5649.8,
               "balance": 5649.8, "taxAmount": 349.8, "invoiceDate": "2026-09-01", "currency": "USD"}  # fmt: skip
    payment = {"id": "p1", "number": "P-1", "accountNumber": "C-1", "amount": 11988.06,
               "currency": "EUR", "effectiveDate": "2026-10-01", "status": "Processed"}  # fmt: skip

    def paged(key: str, rows: list[dict[str, Any]]) -> Handler:
        def answer(request: httpx.Request) -> httpx.Response:
            if request.url.params.get("page") == "2":
                return ok({key: rows[1:]})
            return ok({key: rows[:1], "nextPage": f"{request.url.path}?page=2&pageSize=40"})

        return answer

    fake = Zuora(
        {
            ("GET", "/v1/invoices/INV-1"): lambda r: ok(invoice),
            ("GET", "/v1/payments/P-1"): lambda r: ok(payment),
            ("GET", "/v1/transactions/invoices/accounts/C-1"): paged(
                "invoices", [invoice, invoice]
            ),
            ("GET", "/v1/transactions/payments/accounts/C-1"): paged(
                "payments", [payment, payment]
            ),
        }
    )
    billing = connect(fake)
    got = billing.get_invoice("INV-1")
    assert (
        got is not None and got.tax_amount == Decimal("349.8") and got.amount == Decimal("5649.8")
    )
    paid = billing.get_payment("P-1")
    assert paid is not None and paid.amount == Decimal("11988.06")
    assert billing.get_invoice("INV-404") is None and billing.get_payment("P-404") is None
    assert len(billing.list_invoices("C-1")) == 2
    assert len(billing.list_payments("C-1")) == 2


def test_aggregate_usage_sums_the_subscription_records_of_the_charge_over_pages() -> None:
    sub = {"id": "s1", "subscriptionNumber": "A-S1", "accountNumber": "C-1", "version": 1}

    def rec(sub_no: str, day: str, qty: float, uom: str = "Million calls") -> dict[str, Any]:
        return {"subscriptionNumber": sub_no, "startDateTime": f"{day}T00:00:00",
                "quantity": qty, "unitOfMeasure": uom}  # fmt: skip

    def usage(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page") == "2":
            return ok({"usage": [rec("A-S1", "2026-09-30", 3.25), rec("A-S1", "2026-10-01", 100)]})
        first = [rec("A-S1", "2026-09-01", 10), rec("A-S2", "2026-09-02", 50),
                 rec("A-S1", "2026-09-03", 7, "TB-month"), rec("A-S1", "2026-08-31", 9)]  # fmt: skip
        return ok({"usage": first, "nextPage": "/v1/usage/accounts/C-1?page=2&pageSize=40"})

    fake = Zuora(
        {
            ("GET", "/v1/subscriptions/A-S1"): lambda r: ok(sub),
            ("GET", "/v1/usage/accounts/C-1"): usage,
        }
    )
    total = connect(fake).aggregate_usage(
        {
            "subscriptionNumber": "A-S1",
            "chargeSku": "API-1M",
            "startDate": "2026-09-01",
            "endDate": "2026-09-30",
        }
    )
    assert (total.quantity, total.records, total.uom) == (Decimal("13.25"), 2, "Million calls")


# -- writes ----------------------------------------------------------------------------

CREATE = {
    "accountNumber": "C-2069",
    "contractEffectiveDate": "2026-10-01",
    "termType": "TERMED",
    "initialTerm": 12,
    "subscribeToRatePlans": [
        {"productSku": "PLAT-ANNUAL", "quantity": 1},
        {"productSku": "SEAT-PRO", "quantity": 144},
    ],
}


def test_create_subscription_sends_zuora_rate_plans_with_the_idempotency_key() -> None:
    answer = {
        "subscriptionId": "s9",
        "subscriptionNumber": "A-S00011955",
        "totalContractedValue": 124300.0,
    }
    fake = Zuora({("POST", "/v1/subscriptions"): lambda r: ok(answer)})
    written = connect(fake).create_subscription(
        CREATE, idempotency_key="o2c-a84a5e:subscription.create"
    )
    assert (written.number, written.amount) == ("A-S00011955", Decimal("124300.0"))
    (post,) = fake.sent("POST", "/v1/subscriptions")
    assert post.headers["Idempotency-Key"] == "o2c-a84a5e:subscription.create"
    assert body_of(post) == {
        "accountKey": "C-2069",
        "contractEffectiveDate": "2026-10-01",
        "termType": "TERMED",
        "initialTerm": 12,
        "initialTermPeriodType": "Month",
        "renewalTerm": 12,
        "autoRenew": True,
        "subscribeToRatePlans": [
            {
                "productRatePlanId": "prp-2",
                "chargeOverrides": [{"productRatePlanChargeId": "prpc-2", "quantity": 1}],
            },
            {
                "productRatePlanId": "prp-1",
                "chargeOverrides": [{"productRatePlanChargeId": "prpc-1", "quantity": 144}],
            },
        ],
    }


def test_create_subscription_with_an_unknown_sku_is_refused_before_sending() -> None:
    fake = Zuora({})
    request = {**CREATE, "subscribeToRatePlans": [{"productSku": "PLAT-ANNAUL", "quantity": 1}]}
    with pytest.raises(RejectedError) as err:
        connect(fake).create_subscription(request, idempotency_key="k")
    assert err.value.code == "UNKNOWN_PRODUCT" and "PLAT-ANNAUL" in str(err.value)
    assert fake.sent("POST", "/v1/subscriptions") == []


def test_amend_sends_add_with_the_version_and_a_stale_version_is_a_conflict() -> None:
    fake = Zuora(
        {
            ("PUT", "/v1/subscriptions/A-S1"): [
                ok({"subscriptionId": "s2", "totalDeltaTcv": 28765.62}),
                fail(53004090, "Subscription A-S1 was amended after version 1 (current version 2); "
                     "reload the subscription and resubmit the amendment"),
            ]
        }
    )  # fmt: skip
    billing = connect(fake)
    request = {
        "version": 1,
        "contractEffectiveDate": "2026-10-02",
        "add": [{"productSku": "SEAT-PRO", "quantity": 48}],
    }
    written = billing.amend_subscription("A-S1", request, idempotency_key="k1")
    assert (written.number, written.amount) == ("A-S1", Decimal("28765.62"))
    assert body_of(fake.requests[-1]) == {
        "add": [
            {
                "productRatePlanId": "prp-1",
                "chargeOverrides": [{"productRatePlanChargeId": "prpc-1", "quantity": 48}],
                "contractEffectiveDate": "2026-10-02",
            }
        ],
        "version": 1,
    }
    with pytest.raises(ConflictError) as err:
        billing.amend_subscription("A-S1", request, idempotency_key="k2")
    assert err.value.retryable is False and err.value.http_status == 200
    assert err.value.code == "53004090"


def test_renew_returns_the_new_term() -> None:
    answer = {
        "subscriptionId": "s3",
        "termStartDate": "2026-10-06",
        "termEndDate": "2027-10-06",
        "totalDeltaTcv": 5,
    }
    fake = Zuora({("PUT", "/v1/subscriptions/A-S1/renew"): lambda r: ok(answer)})
    written = connect(fake).renew_subscription(
        "A-S1", {"collect": False, "runBilling": False}, idempotency_key="k"
    )
    assert written.term_end_date is not None and written.term_end_date.isoformat() == "2027-10-06"
    assert body_of(fake.requests[0]) == {"collect": False, "runBilling": False}


def test_create_invoice_runs_billing_documents_for_the_subscriptions_and_reads_it_back() -> None:
    invoice = {"id": "inv-id-1", "invoiceNumber": "INV-201023", "accountNumber": "C-2069",
               "amount": 124300.0, "balance": 124300.0, "status": "Posted"}  # fmt: skip
    fake = Zuora(
        {
            ("GET", "/v1/subscriptions/A-S00011955"): lambda r: ok(
                {"id": "sub-id-9", "subscriptionNumber": "A-S00011955"}
            ),
            ("POST", "/v1/accounts/C-2069/billing-documents/generate"): lambda r: ok(
                {"invoices": [{"id": "inv-id-1"}], "creditMemos": []}
            ),
            ("GET", "/v1/invoices/inv-id-1"): lambda r: ok(invoice),
        }
    )
    request = {
        "accountNumber": "C-2069",
        "invoiceDate": "2026-10-01",
        "subscriptionNumbers": ["A-S00011955"],
    }
    got = connect(fake).create_invoice(request, idempotency_key="o2c-a84a5e:invoice.create")
    assert (got.number, got.amount) == ("INV-201023", Decimal("124300.0"))
    (post,) = fake.sent("POST", "/v1/accounts/C-2069/billing-documents/generate")
    assert body_of(post) == {"autoPost": True, "effectiveDate": "2026-10-01", "targetDate": "2026-10-01",
                             "subscriptionIds": ["sub-id-9"]}  # fmt: skip
    assert post.headers["Idempotency-Key"] == "o2c-a84a5e:invoice.create"


PAYMENT = {"accountNumber": "C-2026", "amount": "36575.00", "currency": "AUD", "effectiveDate": "2026-10-04",
           "type": "Electronic", "invoices": [{"invoiceNumber": "INV-200862", "amount": "36575.00"}]}  # fmt: skip


def test_apply_payment_sends_amounts_as_numbers_and_returns_decimals() -> None:
    answer = {
        "id": "p9",
        "number": "P-10002",
        "status": "Processed",
        "amount": 36575.0,
        "currency": "AUD",
    }
    fake = Zuora({("POST", "/v1/payments"): lambda r: ok(answer)})
    paid = connect(fake).apply_payment(PAYMENT, idempotency_key="k")
    assert (paid.number, paid.amount, paid.account_number) == (
        "P-10002",
        Decimal("36575.0"),
        "C-2026",
    )
    assert body_of(fake.requests[0]) == {
        "accountNumber": "C-2026", "amount": 36575.0, "currency": "AUD", "effectiveDate": "2026-10-04",
        "type": "Electronic", "invoices": [{"invoiceNumber": "INV-200862", "amount": 36575.0}],
    }  # fmt: skip


def test_a_declined_payment_answered_with_http_200_is_rejected_not_retried() -> None:
    declined = fail(53004020, "Payment declined by the gateway: insufficient_funds")
    fake = Zuora({("POST", "/v1/payments"): [declined]})
    with pytest.raises(RejectedError) as err:
        connect(fake).apply_payment(PAYMENT, idempotency_key="k")
    assert "insufficient_funds" in str(err.value) and err.value.code == "53004020"
    assert len(fake.requests) == 1


def test_find_target_matches_what_a_step_already_created() -> None:
    subs = [
        {"id": "s1", "subscriptionNumber": "A-S1", "version": 1, "contractEffectiveDate": "2026-10-01",
         "ratePlans": [{"productSku": "PLAT-ANNUAL", "quantity": 1}, {"productSku": "SEAT-PRO", "quantity": 144}]},
        {"id": "s2", "subscriptionNumber": "A-S2", "version": 2, "contractEffectiveDate": "2026-10-01",
         "ratePlans": [{"productSku": "SEAT-PRO", "quantity": 1}]},
    ]  # fmt: skip
    payment = {
        "id": "p1",
        "number": "P-1",
        "amount": 36575.0,
        "currency": "AUD",
        "effectiveDate": "2026-10-04",
    }
    fake = Zuora(
        {
            ("GET", "/v1/subscriptions/accounts/C-2069"): lambda r: ok({"subscriptions": subs}),
            ("GET", "/v1/subscriptions/A-S2"): lambda r: ok(subs[1]),
            ("GET", "/v1/transactions/payments/accounts/C-2026"): lambda r: ok(
                {"payments": [payment]}
            ),
        }
    )
    billing = connect(fake)
    created = billing.find_target("subscription.create", CREATE)
    assert created is not None and created.number == "A-S1"  # type: ignore[attr-defined]
    assert billing.find_target("subscription.amend", {"version": 1}, subject="A-S2") is not None
    assert billing.find_target("subscription.amend", {"version": 2}, subject="A-S2") is None
    paid = billing.find_target("payment.apply", PAYMENT)
    assert paid is not None and paid.number == "P-1"  # type: ignore[attr-defined]
    assert billing.find_target("usage.aggregate", {}) is None


# -- error envelopes and faults ---------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "kind", "code", "retryable"),
    [
        (fail(53100020, "Invalid value for field accountKey: C-0"), RejectedError, "53100020", False),
        (fail(50000040, "Cannot find entity by key: 'x'."), RecordNotFound, "50000040", False),
        (fail(50000050, "Operation failed due to a lock competition"), ConflictError, "50000050", True),
        (fail(90000011, "Authentication error"), AuthError, "90000011", False),
        (fail(50000070, "Request exceeded limit"), RateLimited, "50000070", True),
        (httpx.Response(200, json={"Success": False, "Errors": [{"Code": "INVALID_VALUE", "Message": "bad term"}]}),
         RejectedError, "INVALID_VALUE", False),
        (fail(58730020, "Invalid value for field termType", 400), RejectedError, "58730020", False),
        (fail(50000040, "Cannot find entity by key: 'C-9'.", 404), RecordNotFound, "50000040", False),
        (httpx.Response(409, json={"message": "conflict"}), ConflictError, None, False),
    ],
)  # fmt: skip
def test_error_envelopes_map_to_connector_errors(
    answer: httpx.Response, kind: type[Exception], code: str | None, retryable: bool
) -> None:
    fake = Zuora({("POST", "/v1/payments"): lambda r: answer})
    billing = connect(fake, waits=Waits())
    with pytest.raises(kind) as err:
        billing.apply_payment(PAYMENT, idempotency_key="k")
    assert err.value.code == code and err.value.retryable is retryable  # type: ignore[attr-defined]
    assert "\n" not in str(err.value) and "billing apply_payment" in str(err.value)


def test_malformed_json_and_an_html_page_are_bad_responses() -> None:
    fake = Zuora(
        {
            ("GET", "/v1/invoices/INV-1"): lambda r: httpx.Response(200, text='{"success": tru'),
            ("GET", "/v1/invoices/INV-2"): lambda r: httpx.Response(
                200,
                text="<html><body>Maintenance</body></html>",
                headers={"Content-Type": "text/html"},
            ),
        }
    )
    billing = connect(fake)
    with pytest.raises(BadResponse, match="not JSON"):
        billing.get_invoice("INV-1")
    with pytest.raises(BadResponse, match="HTML page"):
        billing.get_invoice("INV-2")


def test_a_500_with_an_empty_body_is_unavailable_after_the_retries() -> None:
    waits = Waits()
    fake = Zuora({("GET", "/v1/invoices/INV-1"): lambda r: httpx.Response(500)})
    with pytest.raises(Unavailable) as err:
        connect(fake, waits=waits).get_invoice("INV-1")
    assert err.value.http_status == 500 and "empty body" not in str(err.value)
    assert len(fake.requests) == 1 and waits == []  # 500 is not in the retryable statuses


def test_429_with_an_http_date_retry_after_waits_until_then() -> None:
    when = format_datetime(NOW + timedelta(seconds=7), usegmt=True)
    waits = Waits()
    fake = Zuora(
        {
            ("GET", "/v1/catalog/products"): [
                httpx.Response(
                    429, json={"message": "Too many requests"}, headers={"Retry-After": when}
                ),
                ok({"products": []}),
            ]
        }
    )
    billing = connect(fake, waits=waits)
    billing.ping()
    assert waits == [7.0] and billing.stats.retries == 1


def test_a_post_is_retried_after_503_only_with_an_idempotency_key() -> None:
    answer = {"subscriptionId": "s9", "subscriptionNumber": "A-S9"}
    fake = Zuora({("POST", "/v1/subscriptions"): [httpx.Response(503), ok(answer)]})
    waits = Waits()
    assert (
        connect(fake, waits=waits).create_subscription(CREATE, idempotency_key="k").number == "A-S9"
    )
    assert len(fake.sent("POST", "/v1/subscriptions")) == 2 and waits == [0.5]

    bare = Zuora({("POST", "/v1/payments"): [httpx.Response(503), ok({"number": "P-1"})]})
    with pytest.raises(Unavailable) as err:
        connect(bare).call("apply_payment", "POST", "/v1/payments", json={"amount": 1})
    assert err.value.retryable and len(bare.requests) == 1


def oauth(fake: Zuora, tokens: list[str]) -> Handler:
    def token(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        assert (
            form["grant_type"] == "client_credentials" and form["client_secret"] == "s3cr3t-value"
        )
        return httpx.Response(
            200, json={"access_token": tokens.pop(0), "token_type": "bearer", "expires_in": 3600}
        )

    return token


def test_an_expired_token_is_renewed_once_and_secrets_never_show() -> None:
    def products(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "Bearer tok-1":
            return httpx.Response(
                401, json={"message": "Authentication error: token tok-1 expired"}
            )
        return ok({"products": []})

    fake = Zuora({("GET", "/v1/catalog/products"): products})
    fake.routes[("POST", "/oauth/token")] = oauth(fake, ["tok-1", "tok-2"])
    auth = OAuth2ClientCredentials(f"{BASE}/oauth/token", "client-12345678", SecretStr("s3cr3t-value"),
                                   setting="Q2C_BILLING_")  # fmt: skip
    billing = connect(fake, auth=auth)
    billing.ping()
    assert len(fake.sent("POST", "/oauth/token")) == 2
    assert "s3cr3t" not in billing.describe_auth() and "clie…5678" in billing.describe_auth()

    fake.routes[("POST", "/oauth/token")] = oauth(fake, ["tok-1", "tok-1"])
    auth.invalidate()
    with pytest.raises(AuthError) as err:
        billing.ping()
    assert "tok-1" not in str(err.value) and "***" in str(err.value)


def test_a_secret_echoed_by_the_system_is_redacted() -> None:
    auth = OAuth2ClientCredentials(
        f"{BASE}/oauth/token", "client-1", SecretStr("s3cr3t-value"), setting="Q2C_BILLING_"
    )
    fake = Zuora({("POST", "/v1/payments"): lambda r: fail(53100020, "bad secret s3cr3t-value")})
    fake.routes[("POST", "/oauth/token")] = oauth(fake, ["tok-1"])
    with pytest.raises(RejectedError) as err:
        connect(fake, auth=auth).apply_payment(PAYMENT, idempotency_key="k")
    assert "s3cr3t-value" not in str(err.value) and "bad secret ***" in str(err.value)


# -- building ------------------------------------------------------------------------------


def test_live_mode_without_credentials_names_the_variable_and_hides_the_secret() -> None:
    settings = load_settings(
        systems="live", billing_base_url=BASE, billing_client_secret="s3cr3t-value"
    )
    with pytest.raises(SettingsError) as err:
        build(settings, BuildEnv())
    assert "Q2C_BILLING_CLIENT_ID" in str(err.value) and "s3cr3t" not in str(err.value)
    with pytest.raises(SettingsError, match="Q2C_BILLING_BASE_URL"):
        build(load_settings(systems="live"), BuildEnv())
    with pytest.raises(SettingsError, match="Q2C_BILLING_CLIENT_SECRET"):
        build(
            load_settings(systems="live", billing_base_url=BASE, billing_client_id="c"), BuildEnv()
        )


def test_live_build_authenticates_at_the_default_token_url() -> None:
    fake = Zuora({("GET", "/v1/catalog/products"): lambda r: ok({"products": []})})
    fake.routes[("POST", "/oauth/token")] = oauth(fake, ["tok-1"])
    settings = load_settings(
        systems="live", billing_base_url=BASE, billing_client_id="client-12345678",
        billing_client_secret="s3cr3t-value", retry_attempts=2,
    )  # fmt: skip
    billing = build(settings, BuildEnv(transport=httpx.MockTransport(fake), sleep=Waits()))
    billing.ping()
    assert [str(r.url) for r in fake.requests][0] == f"{BASE}/oauth/token"
    assert fake.requests[1].headers["Authorization"] == "Bearer tok-1"
    assert billing.retry.attempts == 2 and billing.system == "billing"
