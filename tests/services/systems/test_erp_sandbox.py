"""The simulated ERP: state, idempotency, refusals and faults, in-process and over a socket.

The connector is built through the registry against the in-process sandbox (a
fake ``sleep`` records waits); one test serves the sandbox on a real port.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.errors import ConflictError, RateLimited, RejectedError, Unavailable
from services.sandbox.core import Sandbox
from services.sandbox.server import start_server
from services.settings import load_settings
from services.systems.erp import ErpConnector, build
from services.systems.registry import BuildEnv, build_connector

MASTER = Path(__file__).resolve().parents[3] / "sample_data" / "master"
ROOT = "/services/rest/record/v1"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

ORDER: dict[str, Any] = {
    "externalId": "0065g00000NEW0001",
    "customer": "C-2069",
    "subsidiary": "US01",
    "currency": "USD",
    "tranDate": "2026-11-20",
    "lines": [
        {"item": "PLAT-ANNUAL", "qty": 1, "rate": "24000.00"},
        {"item": "SEAT-STD", "qty": 10, "rate": "600.00"},
    ],
}


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(MASTER, sleep=lambda s: None, now=lambda: NOW)


@pytest.fixture
def waits() -> list[float]:
    return []


@pytest.fixture
def erp(sandbox: Sandbox, waits: list[float]) -> ErpConnector:
    env = BuildEnv(sandbox=sandbox, sleep=waits.append, now=lambda: NOW)
    connector = build_connector("erp", load_settings(), env)
    assert isinstance(connector, ErpConnector)
    return connector


@pytest.fixture
def raw(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=sandbox.transport(), base_url=sandbox.url("erp") + ROOT) as c:
        yield c


def test_created_order_is_visible_and_counted(erp: ErpConnector, sandbox: Sandbox) -> None:
    before = len(sandbox.apps["erp"].data["salesOrders"])
    made = erp.create_sales_order(ORDER, idempotency_key="o2c-1:salesorder.create")
    assert made["tranId"].startswith("SO-")
    found = erp.find_sales_order(external_id=ORDER["externalId"])
    assert found is not None and found["id"] == made["id"]
    assert found["status"] == "Pending Billing" and found["total"] == 30000.0
    assert found["entity"] == {"id": "5684", "refName": "C-2069"}
    assert erp.find_sales_order(tran_id=made["tranId"])["externalId"] == ORDER["externalId"]
    assert len(sandbox.apps["erp"].data["salesOrders"]) == before + 1
    assert sandbox.apps["erp"].records()["created"] == {"salesOrders": [made["id"]]}


def test_same_key_same_body_gives_the_first_answer(erp: ErpConnector, sandbox: Sandbox) -> None:
    first = erp.create_sales_order(ORDER, idempotency_key="o2c-2:salesorder.create")
    again = erp.create_sales_order(ORDER, idempotency_key="o2c-2:salesorder.create")
    assert again == first
    assert sandbox.apps["erp"].created["salesOrders"] == [first["id"]]
    posts = [r for r in sandbox.requests_to("erp") if r.method == "POST"]
    assert [p.replayed for p in posts] == [False, True]


def test_same_key_other_body_is_an_erp_shaped_conflict(
    erp: ErpConnector, sandbox: Sandbox, raw: httpx.Client
) -> None:
    erp.create_sales_order(ORDER, idempotency_key="o2c-3:salesorder.create")
    other = {**ORDER, "externalId": "0065g00000NEW0002"}
    with pytest.raises(ConflictError) as err:
        erp.create_sales_order(other, idempotency_key="o2c-3:salesorder.create")
    assert err.value.code == "IDEMPOTENCY_KEY_REUSED" and err.value.http_status == 409
    answer = raw.post(
        "/salesOrder",
        json={"x": 1},
        headers={"X-NetSuite-Idempotency-Key": "o2c-3:salesorder.create"},
    )
    body = answer.json()
    assert answer.status_code == 409 and body["status"] == 409 and body["title"] == "Conflict"
    assert body["o:errorDetails"][0]["o:errorCode"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(sandbox.apps["erp"].created["salesOrders"]) == 1


def test_a_duplicate_external_id_is_dup_rcrd(erp: ErpConnector) -> None:
    existing = {**ORDER, "externalId": "0065g00000ZPDfnAAH"}  # SO-100002 in the master data
    with pytest.raises(ConflictError) as err:
        erp.create_sales_order(existing, idempotency_key="fresh-key")
    assert err.value.code == "DUP_RCRD" and err.value.http_status == 409


def test_closed_periods_refuse_postings(erp: ErpConnector, sandbox: Sandbox) -> None:
    made = erp.create_sales_order(ORDER, idempotency_key="k-order")
    late = {
        "externalId": "INV-299001",
        "customer": "C-1977",
        "createdFrom": None,
        "tranDate": "2026-10-31",
        "postingPeriod": "Oct 2026",
        "total": "10283.98",
    }
    with pytest.raises(RejectedError) as err:
        erp.post_invoice(late, idempotency_key="k-late")
    assert (err.value.code, err.value.http_status) == ("PERIOD_CLOSED", 409)
    assert "Oct 2026 is closed" in err.value.message
    sandbox.faults.update({"closed_period": "Nov 2026"})
    invoice = {
        "externalId": "INV-299002",
        "customer": "C-2069",
        "createdFrom": made["tranId"],
        "tranDate": "2026-11-20",
        "postingPeriod": "Nov 2026",
        "total": "30000.00",
    }
    with pytest.raises(RejectedError, match="Nov 2026 is closed"):
        erp.post_invoice(invoice, idempotency_key="k-nov")
    sandbox.faults.update({"closed_period": None})
    assert erp.post_invoice(invoice, idempotency_key="k-nov-2")["tranId"] == "INV-299002"
    assert erp.find_invoice(tran_id="INV-299002")["total"] == 30000.0
    assert erp.find_sales_order(tran_id=made["tranId"])["status"] == "Billed"


def test_unknown_and_inactive_items_are_refused(erp: ErpConnector, sandbox: Sandbox) -> None:
    sandbox.faults.update({"unknown_item": "SEAT-STD"})
    with pytest.raises(RejectedError) as err:
        erp.create_sales_order(ORDER, idempotency_key="k-fault")
    assert (err.value.code, err.value.http_status) == ("USER_ERROR", 400)
    assert (
        "Invalid item reference" in err.value.message and "item.items[1].item" in err.value.message
    )
    typo = {**ORDER, "lines": [{"item": "PLAT-ANNAUL", "qty": 1, "rate": "1"}]}
    with pytest.raises(RejectedError, match="Invalid item reference 'PLAT-ANNAUL'"):
        erp.create_sales_order(typo, idempotency_key="k-typo")
    legacy = {**ORDER, "lines": [{"item": "SEAT-LEGACY", "qty": 1, "rate": "1"}]}
    with pytest.raises(RejectedError, match="SEAT-LEGACY is inactive"):
        erp.create_sales_order(legacy, idempotency_key="k-legacy")
    assert "salesOrders" not in sandbox.apps["erp"].created


def test_currency_credit_hold_and_references(erp: ErpConnector, raw: httpx.Client) -> None:
    with pytest.raises(RejectedError) as err:
        erp.create_sales_order({**ORDER, "currency": "EUR"}, idempotency_key="k-eur")
    assert err.value.code == "CURRENCY_MISMATCH"
    assert "Currency EUR is not allowed for subsidiary US01 (allowed: USD)" in err.value.message
    with pytest.raises(RejectedError, match="credit hold"):
        erp.create_sales_order({**ORDER, "customer": "C-1030"}, idempotency_key="k-hold")
    with pytest.raises(RejectedError) as err:
        erp.create_sales_order({**ORDER, "subsidiary": "XX01"}, idempotency_key="k-sub")
    assert err.value.code == "INVALID_KEY_OR_REF"
    answer = raw.post("/salesOrder", json={"entity": {"id": "999999"}, "item": {"items": []}})
    detail = answer.json()["o:errorDetails"][0]
    assert answer.status_code == 400 and detail["o:errorCode"] == "INVALID_KEY_OR_REF"
    assert detail["o:errorPath"] == "entity"


def test_payment_and_customer_upsert_keep_state(erp: ErpConnector) -> None:
    request = {
        "externalId": "P-29001",
        "customer": "C-1014",
        "payment": "10633.33",
        "currency": "USD",
        "tranDate": "2026-11-20",
        "apply": [{"doc": "INV-200003", "amount": "10633.33"}],
    }
    made = erp.post_payment(request, idempotency_key="k-pay")
    assert made["tranId"] == "P-29001"
    assert (
        erp.find_payment(external_id="P-29001")["apply"]["items"][0]["doc"]["refName"]
        == "INV-200003"
    )
    paid = erp.find_invoice(tran_id="INV-200003")
    assert paid["amountRemaining"] == 0 and paid["status"] == "Paid In Full"
    new = {
        "externalId": "0015g00000NEWACCT",
        "companyName": "Nova Labs Ltd",
        "subsidiary": {"id": "3"},
        "currency": "EUR",
    }
    created = erp.upsert_customer(new, idempotency_key="k-c1")
    assert created["entityId"].startswith("C-")
    renamed = erp.upsert_customer(
        {**new, "companyName": "Nova Labs UK Ltd"}, idempotency_key="k-c2"
    )
    assert renamed == created
    customer = erp.find_customer(external_id="0015g00000NEWACCT")
    assert (
        customer["companyName"] == "Nova Labs UK Ltd"
        and customer["subsidiary"]["refName"] == "GB01"
    )
    assert [c["id"] for c in erp.find_customers(name="nova labs uk", country="GB")] == [
        created["id"]
    ]


def test_reference_data_through_the_connector(erp: ErpConnector) -> None:
    assert [s["name"] for s in erp.list_subsidiaries()] == ["US01", "DE01", "GB01", "CA01", "AU01"]
    assert erp.get_subsidiary("CA01")["allowedCurrencies"] == ["CAD", "USD"]
    assert len(erp.list_items()) == 26
    assert erp.get_item("SEAT-LEGACY")["isInactive"] is True
    assert erp.period_for("2026-10-15")["closed"] is True
    assert erp.period_for("2026-11-15")["closed"] is False
    assert erp.get_customer("4147")["creditHold"] == "ON"
    assert [c["entityId"] for c in erp.find_customers(tax_id="84-2560634")] == ["C-1030"]


def test_collections_page_with_limit_offset_and_links(raw: httpx.Client) -> None:
    first = raw.get("/customer", params={"limit": 100, "offset": 0}).json()
    assert (first["count"], first["hasMore"], first["offset"], first["totalResults"]) == (
        100,
        True,
        0,
        320,
    )
    assert [link["rel"] for link in first["links"]] == ["self", "next"]
    assert first["links"][1]["href"].endswith("/customer?limit=100&offset=100")
    last = raw.get("/customer", params={"limit": 100, "offset": 250}).json()
    assert (last["count"], last["hasMore"]) == (70, False)
    assert set(last["items"][0]) == {"id", "links"}
    query = raw.get(
        "/item", params={"q": 'itemId START_WITH "SEAT" AND isInactive IS false'}
    ).json()
    assert query["totalResults"] == 2
    bad = raw.get("/item", params={"q": "itemId LIKE x"})
    assert (
        bad.status_code == 400
        and bad.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_PARAMETER"
    )
    missing = raw.get("/customer/1")
    assert (
        missing.status_code == 404
        and missing.json()["o:errorDetails"][0]["o:errorCode"] == "NONEXISTENT_ID"
    )
    assert raw.get("/customer/eid:0015g00000L84wjAAB").json()["entityId"] == "C-1014"


def test_rate_limit_and_outage_faults(
    erp: ErpConnector, sandbox: Sandbox, waits: list[float]
) -> None:
    sandbox.faults.update({"rate_limit": {"erp": 1}, "retry_after_seconds": 3})
    erp.ping()
    assert waits == [3.0]
    sandbox.faults.update({"rate_limit": {"erp": 9}})
    with pytest.raises(RateLimited) as err:
        erp.ping()
    assert err.value.code == "CONCURRENCY_LIMIT_EXCEEDED" and err.value.retryable
    sandbox.faults.update({"rate_limit": {}, "unavailable": ["erp"]})
    waits.clear()
    with pytest.raises(Unavailable):
        erp.ping()
    assert waits == [0.5, 1.0, 2.0]


def test_token_endpoint_answers_any_client(raw: httpx.Client, sandbox: Sandbox) -> None:
    url = sandbox.url("erp") + "/services/rest/auth/oauth2/v1/token"
    body = raw.post(url, json={"grant_type": "client_credentials", "client_id": "x"}).json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"]


def test_token_endpoint_takes_a_form_body(raw: httpx.Client, sandbox: Sandbox) -> None:
    url = sandbox.url("erp") + "/services/rest/auth/oauth2/v1/token"
    answer = raw.post(
        url, data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
    )
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"


def test_through_a_real_socket(sandbox: Sandbox) -> None:
    server, thread = start_server(sandbox)
    try:
        erp = build(load_settings(sandbox_url=server.url), BuildEnv())
        assert erp.base_url.startswith(server.url + "/erp" + ROOT)
        erp.ping()
        made = erp.create_sales_order(ORDER, idempotency_key="o2c-socket:salesorder.create")
        assert erp.find_sales_order(tran_id=made["tranId"])["externalId"] == ORDER["externalId"]
        with pytest.raises(RejectedError, match="PERIOD_CLOSED"):
            erp.post_invoice(
                {
                    "externalId": "INV-299009",
                    "customer": "C-2069",
                    "createdFrom": made["tranId"],
                    "tranDate": "2026-10-05",
                    "postingPeriod": "Oct 2026",
                    "total": "30000.00",
                },
                idempotency_key="o2c-socket:invoice.post",
            )
        listed = httpx.get(server.url + "/_sandbox/records").json()["erp"]["created"]
        assert listed == {"salesOrders": [made["id"]]}
    finally:
        server.shutdown()
        thread.join(timeout=5)
