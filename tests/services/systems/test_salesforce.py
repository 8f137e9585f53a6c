"""The Salesforce connector's operations against Salesforce faked on the wire (``responses``).

Bodies follow Salesforce's REST answers: ``totalSize``/``done``/``records``/
``nextRecordsUrl`` with ``attributes``, and errors as ``[{message, errorCode, fields}]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import requests
import responses

from services.errors import RecordNotFound, RejectedError
from services.systems.salesforce import SalesforceConnector
from tests.services.systems.salesforce_fakes import (
    ACC,
    API,
    INSTANCE,
    LINES,
    NOW,
    OPP,
    QUERY,
    SESSION,
    Sleeps,
    by_object,
    connector,
    page,
    patched,
    record,
    sf_errors,
    soql_of,
    soql_sent,
)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sf(sleeps: Sleeps) -> SalesforceConnector:
    return connector(sleeps)


# -- reads ------------------------------------------------------------------------------


def test_get_opportunity_reads_related_records_and_follows_paging(rsps, sf) -> None:
    locator = "/services/data/v61.0/query/01gD0000002HU6KIAW-2000"
    answers = {
        "Opportunity": page([record("Opportunity", OPP, Name="Summit", AccountId=ACC,
                                    StageName="Closed Won", Amount=300.0)]),
        "Account": page([record("Account", ACC, Name="Summit Robotics LLC", ParentId=None)]),
        "OpportunityLineItem": page(LINES[:2], total=3, next_url=locator),
        "Product2": page([record("Product2", f"01t5g00000J5pj{n}AAB", ProductCode=f"P-{n}")
                          for n in "abc"]),
        "PricebookEntry": page([record("PricebookEntry", f"01u5g00000lrAP{n}AAM", UnitPrice=100.0)
                                for n in "abc"]),
    }  # fmt: skip
    rsps.add_callback(responses.GET, QUERY, callback=by_object(answers))
    rsps.add(responses.GET, re.compile(API + r"/query/01gD0000002HU6KIAW-2000$"),
             json=page(LINES[2:], total=3))  # fmt: skip

    detail = sf.get_opportunity(OPP)

    assert detail.id == OPP and detail.stage_name == "Closed Won"
    assert detail.account is not None and detail.account["Name"] == "Summit Robotics LLC"
    assert [i["ProductCode"] for i in detail.line_items] == ["P-a", "P-b", "P-c"]
    assert sorted(detail.products) == [f"01t5g00000J5pj{n}AAB" for n in "abc"]
    assert len(detail.pricebook_entries) == 3
    assert detail.to_dict()["opportunity"]["attributes"]["type"] == "Opportunity"
    sent = soql_sent(rsps)
    # The Opportunity and its lines are asked together, then the related records.
    first = next(q for q in sent if f"FROM Opportunity WHERE Id IN ('{OPP}')" in q)
    assert "Integration_Status__c" in first and "Integration_Detail__c" in first
    assert any(
        f"FROM OpportunityLineItem WHERE OpportunityId = '{OPP}' ORDER BY Id" in q for q in sent
    )
    assert any(c.request.url.endswith("-2000") for c in rsps.calls)  # the second page
    assert all(c.request.headers["Authorization"] == f"Bearer {SESSION}" for c in rsps.calls)
    assert sf.stats.calls == 6 and sf.stats.last_ok_at == NOW and sf.stats.last_error is None


def test_a_missing_opportunity_is_record_not_found(rsps, sf) -> None:
    rsps.add(responses.GET, QUERY, json=page([]))
    with pytest.raises(RecordNotFound) as caught:
        sf.get_opportunity(OPP)
    assert caught.value.system == "salesforce" and caught.value.operation == "get_opportunity"
    assert OPP in str(caught.value)


def test_list_closed_won_asks_with_a_limit_and_reads_both_pages(rsps, sf) -> None:
    first = [record("Opportunity", f"0065g00000ZPD{n:03d}AAH", StageName="Closed Won")
             for n in range(3)]  # fmt: skip
    locator = "/services/data/v61.0/query/01gD0000002HU6KIAW-3"
    rsps.add(responses.GET, QUERY, json=page(first, total=4, next_url=locator))
    rsps.add(responses.GET, re.compile(API + r"/query/01gD0000002HU6KIAW-3$"),
             json=page([record("Opportunity", "0065g00000ZPD999AAH")], total=4))  # fmt: skip

    rows = sf.list_closed_won(limit=4)

    assert len(rows) == 4 and rows[-1]["Id"] == "0065g00000ZPD999AAH"
    soql = soql_sent(rsps)[0]
    assert "WHERE StageName = 'Closed Won' ORDER BY CloseDate DESC LIMIT 4" in soql
    with pytest.raises(RejectedError):
        sf.list_closed_won(limit=0)


def test_account_hierarchy_walks_up_parents_and_lists_children(rsps, sf) -> None:
    top, mid, leaf = "0015g00000L84wjAAB", "0015g00000L8584AAB", ACC
    accounts = {
        leaf: record("Account", leaf, Name="Leaf", ParentId=mid),
        mid: record("Account", mid, Name="Mid", ParentId=top),
        top: record("Account", top, Name="Top", ParentId=None),
    }
    children = [record("Account", "0015g00000L86IiAAJ", Name="Child", ParentId=leaf)]

    def answer(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        soql = soql_of(request)
        if "WHERE ParentId" in soql:
            return 200, {}, json.dumps(page(children))
        wanted = re.search(r"Id IN \('(\w+)'\)", soql).group(1)  # type: ignore[union-attr]
        return 200, {}, json.dumps(page([accounts[wanted]]))

    rsps.add_callback(responses.GET, QUERY, callback=answer)
    tree = sf.get_account_hierarchy(leaf)
    assert tree.account["Name"] == "Leaf"
    assert [p["Name"] for p in tree.parents] == ["Mid", "Top"] and tree.root["Name"] == "Top"
    assert [c["Name"] for c in tree.children] == ["Child"]
    assert f"WHERE ParentId = '{leaf}' ORDER BY Name" in soql_sent(rsps)[-1]


def test_get_opportunity_fields_reads_the_record_with_only_those_fields(rsps, sf) -> None:
    rsps.add(
        responses.GET,
        re.compile(API + rf"/sobjects/Opportunity/{OPP}\?fields=Integration_Status__c"),
        json=record("Opportunity", OPP, Integration_Status__c="Synced", ERP_Order_Number__c="SO-1"),
    )
    got = sf.get_opportunity_fields(OPP, ["Integration_Status__c", "ERP_Order_Number__c"])
    assert got == {"Integration_Status__c": "Synced", "ERP_Order_Number__c": "SO-1"}
    assert "fields=Integration_Status__c%2CERP_Order_Number__c" in rsps.calls[0].request.url


def test_a_404_is_record_not_found_with_salesforce_code(rsps, sf, sleeps) -> None:
    rsps.add(responses.GET, re.compile(API + r"/sobjects/Opportunity/"), status=404,
             json=sf_errors("NOT_FOUND", "The requested resource does not exist"))  # fmt: skip
    with pytest.raises(RecordNotFound) as caught:
        sf.get_opportunity_fields(OPP, ["Name"])
    err = caught.value
    assert (err.http_status, err.code, err.retryable) == (404, "NOT_FOUND", False)
    assert str(err) == (
        "salesforce get_opportunity_fields: HTTP 404 NOT_FOUND: The requested resource does "
        "not exist (not retryable)"
    )
    assert sleeps.waits == []


def test_ping_reads_the_limits(rsps, sf) -> None:
    rsps.add(responses.GET, re.compile(API + r"/limits/?$"),
             json={"DailyApiRequests": {"Max": 15000, "Remaining": 14998}})  # fmt: skip
    sf.ping()
    assert len(rsps.calls) == 1 and sf.stats.last_latency_ms is not None


def test_describe_auth_and_base_url_never_show_the_session(sf) -> None:
    assert sf.base_url == INSTANCE
    assert SESSION not in sf.describe_auth() and "***" in sf.describe_auth()


# -- writes -----------------------------------------------------------------------------


def test_write_status_patches_the_configured_fields(rsps, sleeps) -> None:
    sf = SalesforceConnector.from_session(
        INSTANCE, SESSION, session=requests.Session(), sleep=sleeps,
        status_field="Q2C_Status__c", detail_field="Q2C_Detail__c",
    )  # fmt: skip
    rsps.add(responses.PATCH, re.compile(API + rf"/sobjects/Opportunity/{OPP}$"), status=204)
    sent = sf.write_status(OPP, "Error", "ERP refused the order", extra={"Other__c": 1})
    expected = {"Q2C_Status__c": "Error", "Q2C_Detail__c": "ERP refused the order", "Other__c": 1}
    assert sent == expected and patched(rsps) == [expected]


def test_writebacks_patch_the_middleware_request_as_is(rsps, sf) -> None:
    rsps.add(responses.PATCH, re.compile(API + rf"/sobjects/Opportunity/{OPP}$"), status=204)
    rsps.add(responses.PATCH, re.compile(API + rf"/sobjects/Account/{ACC}$"), status=204)
    opp_request = {"Integration_Status__c": "Synced", "ERP_Order_Number__c": "SO-100002",
                   "Subscription_Number__c": "A-S00011955", "Invoice_Number__c": "INV-201023"}  # fmt: skip
    acc_request = {"Last_Payment_Number__c": "P-10002", "Last_Payment_Date__c": "2026-10-01"}
    assert sf.opportunity_writeback(OPP, opp_request) == opp_request
    assert sf.account_writeback(ACC, acc_request) == acc_request
    assert patched(rsps) == [opp_request, acc_request]


def test_an_unknown_field_is_rejected_with_the_field_named_and_not_retried(
    rsps, sf, sleeps
) -> None:
    rsps.add(responses.PATCH, re.compile(API + r"/sobjects/Opportunity/"), status=400,
             json=sf_errors("INVALID_FIELD", "No such column 'Bogus__c' on sobject of type "
                            "Opportunity", ["Bogus__c"]))  # fmt: skip
    with pytest.raises(RejectedError) as caught:
        sf.opportunity_writeback(OPP, {"Bogus__c": "x"})
    assert caught.value.code == "INVALID_FIELD" and "(fields: Bogus__c)" in str(caught.value)
    assert len(rsps.calls) == 1 and sleeps.waits == []


def test_a_malformed_query_is_rejected_on_one_line(rsps, sf) -> None:
    rsps.add(responses.GET, QUERY, status=400, json=sf_errors(
        "MALFORMED_QUERY", "\nSELECT Id FROM Opportunity\n        ^\nERROR at Row:1:Column:9\n"
        "unexpected token: 'OR'"))  # fmt: skip
    with pytest.raises(RejectedError) as caught:
        sf.list_closed_won()
    assert caught.value.code == "MALFORMED_QUERY" and "\n" not in str(caught.value)


# -- SOQL injection -----------------------------------------------------------------------

INJECTION = "006' OR Name != '"


@pytest.mark.parametrize(
    "call",
    [
        lambda sf: sf.get_opportunity(INJECTION),
        lambda sf: sf.get_account_hierarchy(INJECTION),
        lambda sf: sf.get_opportunity_fields(INJECTION, ["Name"]),
        lambda sf: sf.get_opportunity_fields(OPP, ["Name FROM Account WHERE Name != ''"]),
        lambda sf: sf.write_status(INJECTION, "Error", "x"),
        lambda sf: sf.opportunity_writeback("../Account/0015g00000L86IhAAJ", {"Name": "x"}),
        lambda sf: sf.account_writeback(ACC, {"Name' OR": "x"}),
        lambda sf: sf.account_writeback(ACC, {}),
    ],
    ids=["opportunity", "hierarchy", "fields-id", "fields-name", "status", "path", "key", "empty"],
)
def test_bad_ids_and_field_names_are_refused_before_any_request(rsps, sf, call) -> None:
    with pytest.raises(RejectedError) as caught:
        call(sf)
    assert len(rsps.calls) == 0
    assert caught.value.system == "salesforce" and "nothing was sent" in str(caught.value)


def test_ids_of_15_and_18_characters_are_accepted(rsps, sf) -> None:
    rsps.add(responses.GET, QUERY, json=page([]))
    for good in (OPP, OPP[:15]):
        with pytest.raises(RecordNotFound):
            sf.get_opportunity(good)
    opp_queries = [q for q in soql_sent(rsps) if "FROM Opportunity " in q]
    assert [q.split("WHERE ")[1] for q in opp_queries] == [
        f"Id IN ('{OPP}')",
        f"Id IN ('{OPP[:15]}')",
    ]
