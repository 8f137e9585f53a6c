"""The ERP connector at the wire: NetSuite-shaped answers from ``httpx.MockTransport``.

Each test's handler answers as NetSuite's REST record API does (records with
``links``, collections with ``count``/``hasMore``/``offset``/``items``, ``204`` +
``Location`` on create, ``o:errorDetails`` on error); a fake ``sleep`` records waits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from services.errors import (
    AuthError,
    BadResponse,
    ConflictError,
    ForbiddenError,
    RateLimited,
    RecordNotFound,
    RejectedError,
    SettingsError,
    Unavailable,
)
from services.settings import load_settings
from services.systems.auth import OAuth2ClientCredentials
from services.systems.erp import ErpConnector, build
from services.systems.http import RetryPolicy
from services.systems.registry import BuildEnv

HOST = "https://1234567.suitetalk.api.netsuite.com"
BASE = HOST + "/services/rest/record/v1"
Handler = Callable[[httpx.Request], httpx.Response]


def erp_with(handler: Handler, **kw: Any) -> tuple[ErpConnector, list[float]]:
    waits: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(handler), base_url=BASE)
    return ErpConnector(client, sleep=waits.append, **kw), waits


def record(rtype: str, rid: str, **fields: Any) -> httpx.Response:
    links = [{"rel": "self", "href": f"{BASE}/{rtype}/{rid}"}]
    return httpx.Response(200, json={"links": links, "id": rid, **fields})


def collection(
    rtype: str, ids: list[str], *, offset: int = 0, more: bool = False
) -> httpx.Response:
    links = [{"rel": "self", "href": f"{BASE}/{rtype}?offset={offset}"}]
    if more:
        links.append({"rel": "next", "href": f"{BASE}/{rtype}?offset={offset + len(ids)}"})
    body = {
        "links": links,
        "count": len(ids),
        "hasMore": more,
        "offset": offset,
        "totalResults": offset + len(ids) + (1 if more else 0),
        "items": [
            {"id": i, "links": [{"rel": "self", "href": f"{BASE}/{rtype}/{i}"}]} for i in ids
        ],
    }
    return httpx.Response(200, json=body)


def ns_error(status: int, code: str, detail: str, path: str | None = None) -> httpx.Response:
    item = {"detail": detail, "o:errorCode": code}
    if path:
        item["o:errorPath"] = path
    body = {
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
        "title": "Bad Request",
        "status": status,
        "o:errorDetails": [item],
    }
    return httpx.Response(status, json=body)


def created(rtype: str, rid: str) -> httpx.Response:
    return httpx.Response(204, headers={"Location": f"{BASE}/{rtype}/{rid}"})


class FakeNetSuite:
    """Answers from ``routes``: ``(method, path, q or None) -> response``; logs requests."""

    def __init__(self, routes: dict[tuple[str, str, str | None], httpx.Response]) -> None:
        self.routes = routes
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path.removeprefix("/services/rest/record/v1")
        key = (request.method, path, request.url.params.get("q"))
        if key not in self.routes:
            return ns_error(404, "NONEXISTENT_ID", f"no fake for {key}")
        return self.routes[key]

    def bodies(self, method: str) -> list[Any]:
        return [json.loads(r.content) for r in self.seen if r.method == method]


CUSTOMER = {"entityId": "C-2069", "externalId": "0015g00000L86IhAAJ", "creditHold": "ON"}


# -- reads ------------------------------------------------------------------------------


def test_get_customer_shows_credit_hold() -> None:
    fake = FakeNetSuite({("GET", "/customer/5684", None): record("customer", "5684", **CUSTOMER)})
    erp, _ = erp_with(fake)
    assert erp.get_customer("5684")["creditHold"] == "ON"
    assert str(fake.seen[0].url) == f"{BASE}/customer/5684"
    assert fake.seen[0].headers["Accept"] == "application/json"


def test_find_customer_queries_by_external_id_and_none_when_absent() -> None:
    q = 'externalId IS "0015g00000L86IhAAJ"'
    fake = FakeNetSuite(
        {
            ("GET", "/customer", q): collection("customer", ["5684"]),
            ("GET", "/customer/5684", None): record("customer", "5684", **CUSTOMER),
            ("GET", "/customer", 'externalId IS "nope"'): collection("customer", []),
            ("GET", "/customer", 'entityId IS "C-2069"'): collection("customer", ["5684"]),
        }
    )
    erp, _ = erp_with(fake)
    assert erp.find_customer(external_id="0015g00000L86IhAAJ")["entityId"] == "C-2069"
    assert fake.seen[0].url.params["limit"] == "1"
    assert erp.find_customer(external_id="nope") is None
    assert erp.find_customer(entity_id="C-2069")["id"] == "5684"
    with pytest.raises(ValueError):
        erp.find_customer()


def test_a_collection_is_followed_over_two_pages() -> None:
    calls: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/services/rest/record/v1")
        if path == "/subsidiary":
            calls.append(dict(request.url.params))
            offset = int(request.url.params["offset"])
            page = [["1", "2"], ["3"]][offset // 2]  # NetSuite may answer fewer than limit
            return collection("subsidiary", page, offset=offset, more=offset == 0)
        rid = path.rsplit("/", 1)[1]
        return record("subsidiary", rid, name=f"S{rid}", currency={"refName": "USD"})

    erp, _ = erp_with(handler)
    subs = erp.list_subsidiaries()
    assert [s["id"] for s in subs] == ["1", "2", "3"]
    assert [c["offset"] for c in calls] == ["0", "2"]
    assert calls[0]["limit"] == "1000"


def test_find_customers_by_tax_id_or_normalised_name_within_country() -> None:
    subs = {"1": "US", "3": "GB"}
    people = {
        "4122": {"companyName": "Quill Mobility Corp.", "subsidiary": {"id": "1"}, "taxId": "T1"},
        "4338": {"companyName": "Quill Mobility Ltd", "subsidiary": {"id": "3"}, "taxId": "T2"},
        "4400": {"companyName": "Quill Mobile Inc", "subsidiary": {"id": "1"}, "taxId": "T3"},
    }
    routes = {
        ("GET", "/customer", 'taxId IS "T2"'): collection("customer", ["4338"]),
        ("GET", "/customer", 'companyName CONTAIN "quill"'): collection("customer", list(people)),
        ("GET", "/subsidiary", None): collection("subsidiary", list(subs)),
    }
    for rid, fields in people.items():
        routes[("GET", f"/customer/{rid}", None)] = record("customer", rid, **fields)
    for rid, country in subs.items():
        routes[("GET", f"/subsidiary/{rid}", None)] = record("subsidiary", rid, country=country)
    erp, _ = erp_with(FakeNetSuite(routes))
    assert [c["id"] for c in erp.find_customers(tax_id="T2")] == ["4338"]
    assert [c["id"] for c in erp.find_customers(name="QUILL MOBILITY, INC")] == ["4122", "4338"]
    assert [c["id"] for c in erp.find_customers(name="Quill Mobility", country="US")] == ["4122"]


def test_subsidiary_items_and_periods() -> None:
    routes = {
        ("GET", "/subsidiary", None): collection("subsidiary", ["3"]),
        ("GET", "/subsidiary/3", None): record(
            "subsidiary",
            "3",
            name="GB01",
            currency={"refName": "GBP"},
            allowedCurrencies=["GBP", "EUR"],
        ),
        ("GET", "/item", 'itemId IS "SEAT-LEGACY"'): collection("item", ["1235"]),
        ("GET", "/item/1235", None): record(
            "item",
            "1235",
            itemId="SEAT-LEGACY",
            isInactive=True,
            revRecRule={"refName": "Ratable"},
            taxCode="SW054000",
        ),
        ("GET", "/item", 'itemId IS "NOPE"'): collection("item", []),
        ("GET", "/item", None): collection("item", ["1235"]),
        ("GET", "/accountingPeriod", None): collection("accountingPeriod", ["110", "111", "q4"]),
        ("GET", "/accountingPeriod/q4", None): record(
            "accountingPeriod",
            "q4",
            periodName="Q4 2026",
            startDate="2026-10-01",
            endDate="2026-12-31",
            closed=False,
            isQuarter=True,
        ),
        ("GET", "/accountingPeriod/110", None): record(
            "accountingPeriod",
            "110",
            periodName="Oct 2026",
            startDate="2026-10-01",
            endDate="2026-10-31",
            closed=True,
        ),
        ("GET", "/accountingPeriod/111", None): record(
            "accountingPeriod",
            "111",
            periodName="Nov 2026",
            startDate="2026-11-01",
            endDate="2026-11-30",
            closed=False,
        ),
    }
    erp, _ = erp_with(FakeNetSuite(routes))
    assert erp.get_subsidiary("gb01")["allowedCurrencies"] == ["GBP", "EUR"]
    assert erp.get_subsidiary("3")["name"] == "GB01"
    assert erp.get_subsidiary("XX01") is None
    item = erp.get_item("SEAT-LEGACY")
    assert item is not None and item["isInactive"] and item["taxCode"] == "SW054000"
    assert erp.get_item("NOPE") is None
    assert [i["itemId"] for i in erp.list_items()] == ["SEAT-LEGACY"]
    assert len(erp.list_periods()) == 3
    assert erp.period_for("2026-10-31")["closed"] is True
    from datetime import date

    assert erp.period_for(date(2026, 11, 2))["periodName"] == "Nov 2026"
    assert erp.period_for("2027-01-01") is None


def test_find_transactions_by_tran_id_or_external_id() -> None:
    routes = {
        ("GET", "/salesOrder", 'tranId IS "SO-100002"'): collection("salesOrder", ["51002"]),
        ("GET", "/salesOrder/51002", None): record("salesOrder", "51002", tranId="SO-100002"),
        ("GET", "/salesOrder", 'externalId IS "006x"'): collection("salesOrder", []),
        ("GET", "/invoice", 'tranId IS "INV-201023"'): collection("invoice", ["90785"]),
        ("GET", "/invoice/90785", None): record("invoice", "90785", tranId="INV-201023"),
        ("GET", "/invoice", 'externalId IS "INV-9"'): collection("invoice", []),
        ("GET", "/customerPayment", 'externalId IS "P-10002"'): collection(
            "customerPayment", ["72004"]
        ),
        ("GET", "/customerPayment/72004", None): record(
            "customerPayment", "72004", tranId="P-10002"
        ),
    }
    erp, _ = erp_with(FakeNetSuite(routes))
    assert erp.find_sales_order(tran_id="SO-100002")["id"] == "51002"
    assert erp.find_sales_order(external_id="006x") is None
    assert erp.find_invoice(tran_id="INV-201023")["id"] == "90785"
    assert erp.find_invoice(external_id="INV-9") is None
    assert erp.find_payment(external_id="P-10002")["tranId"] == "P-10002"
    with pytest.raises(ValueError):
        erp.find_payment()


def test_ping_reads_one_subsidiary() -> None:
    fake = FakeNetSuite({("GET", "/subsidiary", None): collection("subsidiary", ["1"])})
    erp, _ = erp_with(fake)
    erp.ping()
    assert dict(fake.seen[0].url.params) == {"limit": "1"}
    assert erp.stats.last_ok_at is not None
    assert erp.base_url == BASE + "/"
    assert erp.describe_auth() == "none (sandbox)"


# -- writes -----------------------------------------------------------------------------

ORDER = {
    "externalId": "0065g00000ZPDfnAAH",
    "customer": "C-2069",
    "subsidiary": "US01",
    "currency": "USD",
    "tranDate": "2026-10-01",
    "lines": [
        {"item": "PLAT-ANNUAL", "qty": 1, "rate": "24000.00"},
        {"item": "SEAT-STD", "qty": 144, "rate": "600.00"},
    ],
}


def order_routes() -> dict[tuple[str, str, str | None], httpx.Response]:
    return {
        ("GET", "/customer", 'entityId IS "C-2069"'): collection("customer", ["5684"]),
        ("GET", "/subsidiary", None): collection("subsidiary", ["1"]),
        ("GET", "/subsidiary/1", None): record(
            "subsidiary", "1", name="US01", allowedCurrencies=["USD"]
        ),
        ("GET", "/item", 'itemId IS "PLAT-ANNUAL"'): collection("item", ["1207"]),
        ("GET", "/item/1207", None): record("item", "1207", itemId="PLAT-ANNUAL"),
        ("GET", "/item", 'itemId IS "SEAT-STD"'): collection("item", ["1226"]),
        ("GET", "/item/1226", None): record("item", "1226", itemId="SEAT-STD"),
        ("POST", "/salesOrder", None): created("salesOrder", "51002"),
        ("GET", "/salesOrder/51002", None): record("salesOrder", "51002", tranId="SO-100002"),
    }


def test_create_sales_order_sends_netsuite_record_and_reads_it_back() -> None:
    fake = FakeNetSuite(order_routes())
    erp, _ = erp_with(fake)
    assert erp.create_sales_order(ORDER, idempotency_key="o2c-a84a5e:salesorder.create") == {
        "id": "51002",
        "tranId": "SO-100002",
    }
    post = next(r for r in fake.seen if r.method == "POST")
    assert post.headers["X-NetSuite-Idempotency-Key"] == "o2c-a84a5e:salesorder.create"
    assert fake.bodies("POST") == [
        {
            "externalId": "0065g00000ZPDfnAAH",
            "entity": {"id": "5684"},
            "subsidiary": {"id": "1"},
            "currency": {"refName": "USD"},
            "tranDate": "2026-10-01",
            "item": {
                "items": [
                    {"item": {"id": "1207"}, "quantity": 1, "rate": 24000.0},
                    {"item": {"id": "1226"}, "quantity": 144, "rate": 600.0},
                ]
            },
        }
    ]


def test_unknown_item_or_customer_is_refused_before_posting() -> None:
    routes = order_routes()
    routes[("GET", "/item", 'itemId IS "PLAT-ANNAUL"')] = collection("item", [])
    routes[("GET", "/customer", 'entityId IS "C-0000"')] = collection("customer", [])
    fake = FakeNetSuite(routes)
    erp, _ = erp_with(fake)
    bad_item = {**ORDER, "lines": [{"item": "PLAT-ANNAUL", "qty": 1, "rate": "1"}]}
    with pytest.raises(RejectedError) as err:
        erp.create_sales_order(bad_item, idempotency_key="k")
    assert err.value.code == "USER_ERROR" and "Invalid item reference" in err.value.message
    with pytest.raises(RejectedError) as err:
        erp.create_sales_order({**ORDER, "customer": "C-0000"}, idempotency_key="k")
    assert err.value.code == "INVALID_KEY_OR_REF"
    assert not [r for r in fake.seen if r.method == "POST"]


def test_a_create_without_location_is_a_bad_response() -> None:
    routes = order_routes()
    routes[("POST", "/salesOrder", None)] = httpx.Response(204)
    erp, _ = erp_with(FakeNetSuite(routes))
    with pytest.raises(BadResponse, match="no Location"):
        erp.create_sales_order(ORDER, idempotency_key="k")


INVOICE = {
    "externalId": "INV-201023",
    "customer": "C-2069",
    "createdFrom": "SO-100002",
    "tranDate": "2026-10-01",
    "postingPeriod": "Oct 2026",
    "total": "124300.00",
}


def invoice_routes(answer: httpx.Response) -> dict[tuple[str, str, str | None], httpx.Response]:
    return {
        ("GET", "/customer", 'entityId IS "C-2069"'): collection("customer", ["5684"]),
        ("GET", "/salesOrder", 'tranId IS "SO-100002"'): collection("salesOrder", ["51002"]),
        ("GET", "/accountingPeriod", 'periodName IS "Oct 2026"'): collection(
            "accountingPeriod", ["110"]
        ),
        ("POST", "/invoice", None): answer,
        ("GET", "/invoice/90785", None): record("invoice", "90785", tranId="INV-201023"),
    }


def test_post_invoice_body_and_result() -> None:
    fake = FakeNetSuite(invoice_routes(created("invoice", "90785")))
    erp, _ = erp_with(fake)
    assert erp.post_invoice(INVOICE, idempotency_key="k")["tranId"] == "INV-201023"
    assert fake.bodies("POST") == [
        {
            "externalId": "INV-201023",
            "entity": {"id": "5684"},
            "createdFrom": {"id": "51002"},
            "tranDate": "2026-10-01",
            "postingPeriod": {"id": "110"},
            "custbody_q2c_expected_total": 124300.0,
        }
    ]


def test_closed_period_is_a_rejection_not_a_conflict() -> None:
    answer = ns_error(409, "PERIOD_CLOSED", "Posting period Oct 2026 is closed", "postingPeriod")
    fake = FakeNetSuite(invoice_routes(answer))
    erp, waits = erp_with(fake)
    with pytest.raises(RejectedError) as err:
        erp.post_invoice(INVOICE, idempotency_key="k")
    e = err.value
    assert (e.code, e.http_status, e.retryable) == ("PERIOD_CLOSED", 409, False)
    assert str(e) == (
        "erp post_invoice: HTTP 409 PERIOD_CLOSED: Posting period Oct 2026 is closed "
        "(at postingPeriod) (not retryable)"
    )
    assert waits == []


def test_post_payment_applies_to_invoices() -> None:
    routes = {
        ("GET", "/customer", 'entityId IS "C-1636"'): collection("customer", ["5075"]),
        ("GET", "/invoice", 'tranId IS "INV-200382"'): collection("invoice", ["88400"]),
        ("POST", "/customerPayment", None): created("customerPayment", "72004"),
        ("GET", "/customerPayment/72004", None): record(
            "customerPayment", "72004", tranId="P-10002"
        ),
    }
    fake = FakeNetSuite(routes)
    erp, _ = erp_with(fake)
    request = {
        "externalId": "P-10002",
        "customer": "C-1636",
        "payment": "11988.06",
        "currency": "EUR",
        "apply": [{"doc": "INV-200382", "amount": "11988.06"}],
    }
    assert erp.post_payment(request, idempotency_key="k") == {"id": "72004", "tranId": "P-10002"}
    assert fake.bodies("POST") == [
        {
            "externalId": "P-10002",
            "customer": {"id": "5075"},
            "payment": 11988.06,
            "currency": {"refName": "EUR"},
            "apply": {"items": [{"doc": {"id": "88400"}, "apply": True, "amount": 11988.06}]},
        }
    ]


def test_upsert_customer_puts_by_external_id() -> None:
    eid = "0015g00000L86IhAAJ"
    routes = {
        ("GET", "/subsidiary", None): collection("subsidiary", ["1"]),
        ("GET", "/subsidiary/1", None): record("subsidiary", "1", name="US01"),
        ("PUT", f"/customer/eid:{eid}", None): created("customer", "5684"),
        ("GET", "/customer/5684", None): record("customer", "5684", **CUSTOMER),
    }
    fake = FakeNetSuite(routes)
    erp, _ = erp_with(fake)
    request = {
        "externalId": eid,
        "companyName": "Summit Robotics LLC",
        "subsidiary": {"id": "1"},
        "currency": "USD",
    }
    assert erp.upsert_customer(request, idempotency_key="k") == {"id": "5684", "entityId": "C-2069"}
    assert fake.bodies("PUT") == [
        {
            "companyName": "Summit Robotics LLC",
            "subsidiary": {"id": "1"},
            "currency": {"refName": "USD"},
        }
    ]
    put = next(r for r in fake.seen if r.method == "PUT")
    assert put.headers["X-NetSuite-Idempotency-Key"] == "k"
    with pytest.raises(RejectedError):
        erp.upsert_customer({"companyName": "x"}, idempotency_key="k")


# -- errors, retries, auth --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "kind", "retryable"),
    [
        (404, "NONEXISTENT_ID", RecordNotFound, False),
        (400, "INVALID_KEY_OR_REF", RejectedError, False),
        (400, "USER_ERROR", RejectedError, False),
        (409, "DUP_RCRD", ConflictError, False),
        (400, "DUP_RCRD", ConflictError, False),
        (401, "INVALID_LOGIN", AuthError, False),
        (403, "INSUFFICIENT_PERMISSION", ForbiddenError, False),
        (429, "CONCURRENCY_LIMIT_EXCEEDED", RateLimited, True),
    ],
)
def test_netsuite_error_codes_map_to_errors(
    status: int, code: str, kind: type, retryable: bool
) -> None:
    erp, _ = erp_with(
        lambda r: ns_error(status, code, "Some detail."), retry=RetryPolicy(attempts=1)
    )
    with pytest.raises(kind) as err:
        erp.get_customer("1")
    assert (err.value.code, err.value.message, err.value.retryable) == (
        code,
        "Some detail.",
        retryable,
    )
    assert err.value.http_status == status


def test_malformed_json_is_a_bad_response() -> None:
    erp, _ = erp_with(lambda r: httpx.Response(200, content=b'{"id": "1", "entityId":'))
    with pytest.raises(BadResponse, match="not JSON"):
        erp.get_customer("1")


def test_an_html_page_is_reported_as_html() -> None:
    page = b"<html><body><h1>NetSuite is undergoing maintenance</h1></body></html>"
    html = {"Content-Type": "text/html"}
    erp, _ = erp_with(lambda r: httpx.Response(200, content=page, headers=html))
    with pytest.raises(BadResponse, match="HTML page"):
        erp.get_customer("1")
    erp, waits = erp_with(lambda r: httpx.Response(502, content=page, headers=html))
    with pytest.raises(
        Unavailable, match="HTTP 502 Bad Gateway \\(an HTML page, 69 bytes\\)"
    ) as err:
        erp.get_customer("1")
    assert err.value.retryable and waits == [0.5, 1.0, 2.0]


def test_a_500_with_an_empty_body_is_unavailable_and_not_retried() -> None:
    calls: list[httpx.Request] = []
    erp, waits = erp_with(lambda r: calls.append(r) or httpx.Response(500))
    with pytest.raises(Unavailable) as err:
        erp.get_customer("1")
    assert (err.value.http_status, err.value.code, err.value.retryable) == (500, None, False)
    assert str(err.value) == "erp get_customer: HTTP 500 Internal Server Error (not retryable)"
    assert len(calls) == 1 and waits == []


def test_429_without_retry_after_backs_off() -> None:
    answers = [ns_error(429, "CONCURRENCY_LIMIT_EXCEEDED", "Too many")] * 2
    answers.append(record("customer", "1", entityId="C-1"))
    erp, waits = erp_with(lambda r: answers.pop(0))
    assert erp.get_customer("1")["entityId"] == "C-1"
    assert waits == [0.5, 1.0]
    assert erp.stats.retries == 2


def test_post_is_retried_after_503_only_with_an_idempotency_key() -> None:
    posts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(request)
            if len(posts) == 1:
                return ns_error(503, "SERVICE_UNAVAILABLE", "Try later")
            return created("salesOrder", "51002")
        return order_routes()[
            (
                "GET",
                request.url.path.removeprefix("/services/rest/record/v1"),
                request.url.params.get("q"),
            )
        ]

    erp, waits = erp_with(handler)
    with pytest.raises(Unavailable):
        erp.call("create_sales_order", "POST", "/salesOrder", json={"externalId": "x"})
    assert len(posts) == 1 and waits == []
    posts.clear()
    assert erp.create_sales_order(ORDER, idempotency_key="k")["tranId"] == "SO-100002"
    assert len(posts) == 2 and waits == [0.5]
    assert {p.headers["X-NetSuite-Idempotency-Key"] for p in posts} == {"k"}


SECRET = "s3cr3t-client-secret-value"


def oauth_erp(handler: Handler) -> tuple[ErpConnector, list[float]]:
    auth = OAuth2ClientCredentials(
        HOST + "/services/rest/auth/oauth2/v1/token",
        "client-1234567",
        SecretStr(SECRET),
        setting="Q2C_ERP_",
    )
    return erp_with(handler, auth=auth)


def test_an_expired_token_is_renewed_once() -> None:
    tokens: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            assert b"grant_type=client_credentials" in request.content
            tokens.append(f"tok-{len(tokens) + 1}")
            return httpx.Response(
                200, json={"access_token": tokens[-1], "token_type": "Bearer", "expires_in": 3600}
            )
        if request.headers["Authorization"] == "Bearer tok-1":
            return ns_error(401, "INVALID_LOGIN", "Invalid login attempt.")
        return collection("subsidiary", ["1"])

    erp, _ = oauth_erp(handler)
    erp.ping()
    assert tokens == ["tok-1", "tok-2"]
    assert SECRET not in erp.describe_auth()


def test_refused_credentials_never_show_the_secret() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        return ns_error(401, "INVALID_LOGIN", f"Invalid login for secret {SECRET}")

    erp, _ = oauth_erp(handler)
    with pytest.raises(AuthError) as err:
        erp.ping()
    assert SECRET not in str(err.value) and "re-authenticating" in str(err.value)


def test_live_mode_without_credentials_names_the_variable() -> None:
    settings = load_settings(systems="live", erp_base_url=HOST, erp_client_secret=SECRET)
    with pytest.raises(SettingsError, match="Q2C_ERP_CLIENT_ID") as err:
        build(settings, BuildEnv())
    assert SECRET not in str(err.value)
    with pytest.raises(SettingsError, match="Q2C_ERP_BASE_URL"):
        build(load_settings(systems="live"), BuildEnv())
    with pytest.raises(SettingsError, match="Q2C_ERP_CLIENT_SECRET"):
        build(load_settings(systems="live", erp_base_url=HOST, erp_client_id="c"), BuildEnv())


def test_live_build_uses_oauth_at_the_default_token_url() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path.endswith("/token"):
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3600})
        return collection("subsidiary", ["1"])

    settings = load_settings(
        systems="live", erp_base_url=HOST, erp_client_id="client-1234567", erp_client_secret=SECRET
    )
    waits: list[float] = []
    erp = build(settings, BuildEnv(transport=httpx.MockTransport(handler), sleep=waits.append))
    erp.ping()
    assert seen[0] == HOST + "/services/rest/auth/oauth2/v1/token"
    assert seen[1].startswith(BASE + "/subsidiary")
    assert "OAuth2" in erp.describe_auth() and SECRET not in erp.describe_auth()
