"""Salesforce faked on the wire for the connector tests: records, pages and errors shaped
like Salesforce's REST answers, a recording sleep, and a connector on a fixed session."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import responses

from services.systems.http import RetryPolicy
from services.systems.salesforce import SalesforceConnector

INSTANCE = "https://acme.my.salesforce.com"
API = re.escape(INSTANCE) + r"/services/data/v61\.0"
QUERY = re.compile(API + r"/query/?(\?.*)?$")
SESSION = "00DACME0000001!AQ4AQFakeSessionToken"
OPP = "0065g00000ZPDfnAAH"
ACC = "0015g00000L86IhAAJ"
NOW = datetime(2026, 11, 12, 14, 0, tzinfo=UTC)


class Sleeps:
    """A fake sleep that records the waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def connector(sleeps: Sleeps, **options: Any) -> SalesforceConnector:
    """A connector on a fixed session (no login) with 3 attempts and recorded sleeps."""
    return SalesforceConnector.from_session(
        INSTANCE,
        SESSION,
        session=requests.Session(),
        retry=RetryPolicy(attempts=3, base_seconds=0.5, cap_seconds=8.0),
        sleep=sleeps,
        now=lambda: NOW,
        **options,
    )


def record(sobject: str, record_id: str, **fields: Any) -> dict[str, Any]:
    """A record as Salesforce's REST API answers it."""
    url = f"/services/data/v61.0/sobjects/{sobject}/{record_id}"
    return {"attributes": {"type": sobject, "url": url}, "Id": record_id, **fields}


def page(records: list[dict[str, Any]], *, total: int | None = None, next_url: str | None = None):
    body: dict[str, Any] = {
        "totalSize": len(records) if total is None else total,
        "done": next_url is None,
        "records": records,
    }
    if next_url:
        body["nextRecordsUrl"] = next_url
    return body


def sf_errors(code: str, message: str, fields: list[str] | None = None) -> list[dict[str, Any]]:
    return [{"message": message, "errorCode": code, "fields": fields or []}]


def soql_of(request: requests.PreparedRequest) -> str:
    return parse_qs(urlsplit(request.url).query)["q"][0]


def soql_sent(rsps: responses.RequestsMock) -> list[str]:
    return [soql_of(c.request) for c in rsps.calls if "q=" in (c.request.url or "")]


def by_object(answers: dict[str, dict[str, Any]]) -> Callable[[Any], tuple[int, dict, str]]:
    """A query callback answering by the FROM object."""

    def answer(request: requests.PreparedRequest) -> tuple[int, dict, str]:
        sobject = re.search(r"FROM (\w+)", soql_of(request)).group(1)  # type: ignore[union-attr]
        return 200, {}, json.dumps(answers[sobject])

    return answer


LINES = [
    record("OpportunityLineItem", f"00k5g00000WdzG{n}AAJ", OpportunityId=OPP,
           Product2Id=f"01t5g00000J5pj{n}AAB", PricebookEntryId=f"01u5g00000lrAP{n}AAM",
           ProductCode=f"P-{n}", Quantity=1, UnitPrice=100.0, TotalPrice=100.0)
    for n in "abc"
]  # fmt: skip


def patched(rsps: responses.RequestsMock) -> list[dict[str, Any]]:
    return [json.loads(c.request.body) for c in rsps.calls if c.request.method == "PATCH"]
