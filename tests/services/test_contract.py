"""The event contract, rule by rule: what is accepted and the reason for what is not."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.contract import parse_event
from services.errors import ContractError
from tests.factories import make_event


def reason_for(event: object) -> str:
    with pytest.raises(ContractError) as info:
        parse_event(event)
    return info.value.reason


def test_contract_example_is_accepted_with_time_in_utc() -> None:
    ev = parse_event(
        make_event(
            type="failed",
            time="2026-05-11T12:15:03.120+02:00",
            attempt=2,
            keys={"order_number": "SO-100234", "account_id": "0015g00000XyZ12"},
            error={
                "code": "PERIOD_CLOSED",
                "message": "closed",
                "http_status": 409,
                "retryable": False,
            },
            amount="24000.00",
            currency="USD",
            legal_entity="US01",
            latency_ms=412,
            custom_field={"kept": True},
        )
    )
    assert ev.status == "failed"
    assert ev.time == datetime(2026, 5, 11, 10, 15, 3, 120000)
    assert ev.attempt == 2
    assert (ev.error_code, ev.http_status, ev.retryable) == ("PERIOD_CLOSED", 409, False)
    assert ev.amount == "24000.00" and ev.currency == "USD"


def test_defaults_attempt_one_and_numeric_amount() -> None:
    ev = parse_event(make_event(amount=125.5, currency="EUR"))
    assert ev.attempt == 1
    assert ev.amount == "125.5"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ([1, 2], "must be a JSON object, got an array"),
        ("text", "must be a JSON object, got a string"),
        (make_event(drop=("id",)), "missing required attribute 'id'"),
        (make_event(drop=("source",)), "missing required attribute 'source'"),
        (make_event(drop=("type",)), "missing required attribute 'type'"),
        (make_event(drop=("specversion",)), "missing required attribute 'specversion'"),
        ({**make_event(), "specversion": "0.3"}, "specversion must be \"1.0\", got '0.3'"),
        ({**make_event(), "id": ""}, "'id' must be a non-empty string"),
        (make_event(type="com.q2c.step.exploded"), "unknown type 'com.q2c.step.exploded'"),
        (make_event(drop=("time",)), "missing required attribute 'time'"),
        (make_event(time="yesterday"), "is not RFC 3339 with an offset"),
        (make_event(time="2026-05-11T10:00:00"), "is not RFC 3339 with an offset"),
        (make_event(time="2026-02-30T10:00:00Z"), "is not a valid date and time"),
        ({**make_event(), "data": None}, "missing required 'data' object"),
        ({**make_event(), "data": []}, "data must be a JSON object, got an array"),
        (make_event(system="ERP"), "data.system 'ERP' must be a lowercase identifier"),
        (make_event(operation="Post Invoice"), "must be a dotted lowercase name"),
        (make_event(attempt=0), "data.attempt must be an integer >= 1, got 0"),
        (make_event(attempt=-3), "data.attempt must be an integer >= 1, got -3"),
        (make_event(attempt="2"), "data.attempt must be an integer >= 1"),
        (make_event(keys={"order_number": 100234}), "data.keys.order_number must be a string"),
        (make_event(keys=["SO-1"]), "data.keys must be an object of strings"),
        (
            make_event(correlationid=None, keys={"account_id": "001"}),
            "needs a correlationid or a transaction-scoped key",
        ),
        (make_event(correlationid=None), "needs a correlationid or a transaction-scoped key"),
        (make_event(type="failed", error={}), "missing required 'data.error.code'"),
        (
            {
                **make_event(type="failed"),
                "data": {
                    "system": "erp",
                    "operation": "invoice.post",
                    "keys": {"order_number": "SO-1"},
                },
            },
            "needs data.error {code, message}",
        ),
        (
            make_event(type="failed", error={"code": "X", "message": "m", "http_status": 9000}),
            "http_status must be an integer HTTP status",
        ),
        (make_event(amount="lots"), "data.amount 'lots' is not a decimal"),
        (make_event(currency="usd"), "is not an ISO 4217 code"),
        (make_event(latency_ms=-1), "latency_ms must be a number >= 0"),
        ({**make_event(), "datacontenttype": "text/xml"}, "datacontenttype must be"),
    ],
)
def test_each_broken_rule_has_a_reason_a_person_can_act_on(event: object, expected: str) -> None:
    assert expected in reason_for(event)


def test_transaction_key_without_correlation_id_is_enough() -> None:
    ev = parse_event(make_event(correlationid=None, keys={"invoice_number": "INV-200001"}))
    assert ev.correlation_id is None
    assert ev.keys == {"invoice_number": "INV-200001"}


def test_unknown_lowercase_system_is_accepted() -> None:
    assert parse_event(make_event(system="warehouse")).system == "warehouse"


def test_a_valid_system_name_is_not_a_valid_operation_later() -> None:
    parse_event(make_event(system="erp", operation="invoice.post"))
    assert "must be a dotted lowercase name" in reason_for(make_event(operation="erp"))
    assert "must be a lowercase identifier" in reason_for(make_event(system="invoice.post"))
