"""The Salesforce sandbox: its SOQL, its REST answers, and the connector talking to it
in-process (through the requests adapter) and over a real socket (``start_server``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.errors import RateLimited, RecordNotFound, RejectedError, TimedOut, Unavailable
from services.sandbox.core import Sandbox
from services.sandbox.server import start_server
from services.sandbox.soql import SoqlError, evaluate, parse
from services.settings import load_settings
from services.systems.registry import BuildEnv, build_connector
from services.systems.salesforce import SalesforceConnector, build

MASTER = Path(__file__).resolve().parents[3] / "sample_data" / "master"
OPP = "0065g00000ZPDfnAAH"  # Summit Robotics LLC, 5 line items, first one PLAT-ANNUAL
ACC = "0015g00000L86IhAAJ"
CHILD, PARENT = "0015g00000L8584AAB", "0015g00000L84wjAAB"
API = "/services/data/v61.0"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(MASTER, sleep=lambda s: None)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def sf(sandbox: Sandbox, sleeps: Sleeps) -> SalesforceConnector:
    built = build_connector("salesforce", load_settings(), BuildEnv(sandbox=sandbox, sleep=sleeps))
    assert isinstance(built, SalesforceConnector)
    return built


def control(sandbox: Sandbox, path: str) -> dict:
    return sandbox.handle(httpx.Request("GET", f"{Sandbox.BASE_URL}{path}")).json()


def raw(sandbox: Sandbox) -> httpx.Client:
    return httpx.Client(transport=sandbox.transport(), base_url=sandbox.url("salesforce") + API,
                        headers={"Authorization": "Bearer x"})  # fmt: skip


# -- the SOQL evaluator ---------------------------------------------------------------------

ROWS = [
    {"attributes": {"type": "Opportunity"}, "Id": "0065g00000ZPDfnAAH", "Name": "B o'Neil",
     "Amount": 10.0, "StageName": "Closed Won"},
    {"attributes": {"type": "Opportunity"}, "Id": "0065g00000ZPDghAAH", "Name": "a", "Amount": None,
     "StageName": "Closed Won"},
    {"attributes": {"type": "Opportunity"}, "Id": "0065g00000ZPDgzAAH", "Name": "C", "Amount": 5.0,
     "StageName": "Prospecting"},
]  # fmt: skip
COLUMNS = ["Id", "Name", "Amount", "StageName"]


def names(soql: str) -> list[str]:
    return [r["Name"] for r in evaluate(parse(soql), ROWS, COLUMNS)]


def test_soql_where_in_and_order_limit_offset() -> None:
    assert names("SELECT Name FROM Opportunity WHERE stagename = 'closed won' ORDER BY Name") == [
        "a",
        "B o'Neil",
    ]
    assert names("select name from Opportunity where Name = 'B o\\'Neil'") == ["B o'Neil"]
    assert names(
        "SELECT Name FROM Opportunity WHERE Id IN ('0065g00000ZPDgz','x') AND Amount > 1"
    ) == ["C"]
    assert names("SELECT Name FROM Opportunity WHERE Name NOT IN ('a') ORDER BY Amount DESC") == [
        "B o'Neil",
        "C",
    ]
    assert names(
        "SELECT Name FROM Opportunity ORDER BY Amount ASC NULLS LAST LIMIT 2 OFFSET 1"
    ) == ["B o'Neil", "a"]
    assert names("SELECT Name FROM Opportunity WHERE Amount = null") == ["a"]
    row = evaluate(parse("SELECT amount FROM Opportunity LIMIT 1"), ROWS, COLUMNS)[0]
    assert row == {"attributes": {"type": "Opportunity"}, "Amount": 10.0}


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Opportunity WHERE Id = '006' OR Name != ''", "MALFORMED_QUERY"),
        ("SELECT FROM Opportunity", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity WHERE Id = ", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity LIMIT many", "MALFORMED_QUERY"),
        ("SELECT Bogus__c FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity ORDER BY Bogus__c", "INVALID_FIELD"),
    ],
)
def test_soql_refuses_what_salesforce_refuses(soql: str, code: str) -> None:
    with pytest.raises(SoqlError) as caught:
        evaluate(parse(soql), ROWS, COLUMNS)
    assert caught.value.code == code


# -- the REST answers -----------------------------------------------------------------------


def test_query_pages_with_next_records_url(sandbox: Sandbox) -> None:
    c = raw(sandbox)
    first = c.get("/query/", params={"q": "SELECT Id FROM OpportunityLineItem"}).json()
    assert first["totalSize"] == 3403 and first["done"] is False and len(first["records"]) == 200
    assert first["nextRecordsUrl"].startswith(f"{API}/query/01g")
    assert first["nextRecordsUrl"].endswith("-200")
    second = c.get(first["nextRecordsUrl"].removeprefix(API)).json()
    assert second["records"][0]["Id"] != first["records"][0]["Id"]
    assert c.get("/query/01g999999999999999-200").json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_errors_have_salesforce_shape(sandbox: Sandbox) -> None:
    c = raw(sandbox)
    bad = c.get("/query/", params={"q": "SELECT Id FROM Nothing"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_TYPE"
    missing = c.get("/sobjects/Opportunity/0065g00000ZZZZZAAA")
    assert missing.status_code == 404
    assert missing.json() == [{"message": "The requested resource does not exist",
                               "errorCode": "NOT_FOUND", "fields": []}]  # fmt: skip
    read_only = c.patch(f"/sobjects/Opportunity/{OPP}", json={"Id": OPP})
    assert read_only.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    anonymous = httpx.Client(transport=sandbox.transport()).get(
        sandbox.url("salesforce") + f"{API}/limits"
    )
    assert anonymous.status_code == 401 and anonymous.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_the_rate_limit_fault_answers_403_request_limit_exceeded(sandbox: Sandbox) -> None:
    sandbox.faults.update({"rate_limit": {"salesforce": 1}})
    answer = raw(sandbox).get("/limits")
    assert answer.status_code == 403
    assert answer.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


# -- the connector through the in-process adapter -------------------------------------------


def test_get_opportunity_of_a_sample_opportunity(sf: SalesforceConnector) -> None:
    detail = sf.get_opportunity(OPP)
    assert detail.opportunity["Name"] == "Summit Robotics LLC - New Business Oct 2026"
    assert detail.account is not None and detail.account["Id"] == ACC
    assert (
        len(detail.line_items) == 5
        and detail.line_items[0]["attributes"]["type"] == "OpportunityLineItem"
    )
    codes = {p["ProductCode"] for p in detail.products.values()}
    assert "PLAT-ANNUAL" in codes and len(detail.pricebook_entries) == len(detail.products)
    assert sf.base_url == "http://sandbox.q2c.invalid/salesforce"
    assert sf.describe_auth() == "none (sandbox; a fixed session id)"


def test_write_status_is_visible_afterwards_and_logged(
    sf: SalesforceConnector, sandbox: Sandbox
) -> None:
    sf.write_status(OPP, "Error", "ERP refused the order: INVALID_ITEM")
    assert sf.get_opportunity_fields(OPP, ["Integration_Status__c", "Integration_Detail__c"]) == {
        "Integration_Status__c": "Error",
        "Integration_Detail__c": "ERP refused the order: INVALID_ITEM",
    }
    assert sf.get_opportunity(OPP).opportunity["Integration_Status__c"] == "Error"
    log = control(sandbox, "/_sandbox/requests")["requests"]
    assert {"system": "salesforce", "method": "PATCH", "status": 204,
            "path": f"/salesforce{API}/sobjects/Opportunity/{OPP}"}.items() <= log[0].items()  # fmt: skip
    assert [r["method"] for r in log[1:]] == ["GET"] * (len(log) - 1)
    assert control(sandbox, "/_sandbox/records")["salesforce"]["updated"] == {"Opportunity": [OPP]}


def test_writebacks_with_the_sample_requests(sf: SalesforceConnector) -> None:
    sf.opportunity_writeback(OPP, {"Integration_Status__c": "Synced", "ERP_Order_Number__c": "SO-100002",
                                   "Subscription_Number__c": "A-S00011955", "Invoice_Number__c": "INV-201023"})  # fmt: skip
    sf.account_writeback(
        ACC, {"Last_Payment_Number__c": "P-10002", "Last_Payment_Date__c": "2026-10-01"}
    )
    assert sf.get_opportunity_fields(OPP, ["Invoice_Number__c"]) == {
        "Invoice_Number__c": "INV-201023"
    }
    with pytest.raises(RejectedError) as caught:
        sf.opportunity_writeback(OPP, {"Bogus__c": "x"})
    assert caught.value.code == "INVALID_FIELD" and caught.value.http_status == 400


def test_account_hierarchy_and_closed_won_paging(sf: SalesforceConnector, sandbox: Sandbox) -> None:
    tree = sf.get_account_hierarchy(CHILD)
    assert [p["Id"] for p in tree.parents] == [PARENT]
    assert CHILD in [c["Id"] for c in sf.get_account_hierarchy(PARENT).children]
    before = len(sandbox.requests)
    rows = sf.list_closed_won(limit=450)
    assert len(rows) == 450 and len({r["Id"] for r in rows}) == 450
    assert len(sandbox.requests) - before == 3  # 200 + 200 + 50
    with pytest.raises(RecordNotFound):
        sf.get_opportunity("0065g00000ZZZZZAAA")


def test_faults_rate_limit_is_retried_and_unavailable_is_raised(sf, sandbox, sleeps) -> None:
    sandbox.faults.update({"rate_limit": {"salesforce": 1}, "retry_after_seconds": 2})
    sf.ping()
    assert sleeps.waits == [2.0] and sf.stats.retries == 1
    sandbox.faults.update({"rate_limit": {"salesforce": 10}})
    with pytest.raises(RateLimited):
        sf.ping()
    sandbox.faults.update({"rate_limit": {}, "unavailable": ["salesforce"]})
    with pytest.raises(Unavailable) as caught:
        sf.get_opportunity(OPP)
    assert caught.value.http_status == 503 and caught.value.retryable


# -- over a real socket ---------------------------------------------------------------------


@pytest.fixture
def served() -> Iterator[tuple[str, Sandbox]]:
    sandbox = Sandbox(MASTER, sleep=lambda s: None)
    server, thread = start_server(sandbox)
    try:
        yield server.url, sandbox
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_connector_over_a_real_socket(served: tuple[str, Sandbox]) -> None:
    url, sandbox = served
    sf = build(load_settings(sandbox_url=url), BuildEnv())
    assert sf.base_url == f"{url}/salesforce"
    sf.ping()
    assert len(sf.get_opportunity(OPP).line_items) == 5
    sf.write_status(OPP, "Synced", "")
    assert sf.get_opportunity_fields(OPP, ["Integration_Status__c"]) == {
        "Integration_Status__c": "Synced"
    }
    log = httpx.get(f"{url}/_sandbox/requests").json()["requests"]
    assert ("PATCH", f"/salesforce{API}/sobjects/Opportunity/{OPP}", 204) in [
        (r["method"], r["path"], r["status"]) for r in log
    ]
    assert sf.stats.calls == len(log) and sf.stats.last_error is None


def test_a_served_sandbox_that_is_gone_is_unavailable(sleeps: Sleeps) -> None:
    sandbox = Sandbox(MASTER, sleep=lambda s: None)
    server, thread = start_server(sandbox)
    url = server.url
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    sf = build(load_settings(sandbox_url=url, retry_attempts=2), BuildEnv(sleep=sleeps))
    with pytest.raises(Unavailable) as caught:
        sf.ping()
    assert caught.value.retryable and "cannot connect" in str(caught.value)
    assert sleeps.waits == [0.5]


# -- a test transport (BuildEnv.transport) through the requests adapter -----------------------


def test_a_test_transport_sees_salesforce_paths_under_the_sandbox(sleeps: Sleeps) -> None:
    seen: list[tuple[str, str]] = []

    def salesforce(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers["Authorization"]))
        if request.method == "PATCH":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={"DailyApiRequests": {"Max": 1, "Remaining": 1}})

    env = BuildEnv(transport=httpx.MockTransport(salesforce), sleep=sleeps)
    sf = build(load_settings(systems="live", retry_attempts=2), env)
    sf.ping()
    assert seen == [
        (
            f"http://sandbox.q2c.invalid/salesforce{API}/limits/",
            "Bearer 00D000000000SBX!sandbox-session",
        )
    ]
    with pytest.raises(TimedOut):
        sf.write_status(OPP, "Error", "x")
    assert sleeps.waits == [0.5] and "sandbox-session" not in (sf.stats.last_error or "")
