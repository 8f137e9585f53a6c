"""The account rules against the in-process sandbox and a real database: pass, fail, unknown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.validation.model import CheckOut
from services.validation.service import Validation
from tests.validation_support import sandbox_data as _data

ROOT = Path(__file__).resolve().parents[2]
NOV_US = "0065g00000ZPF5iAAH"  # Account 0015g00000L8570AAB (US, USD, no parent), C-1145
EUR_ON_US = "0065g00000ZPDgCAAX"  # EUR order of a US01 customer (C-1906)
NO_POSTAL = "0065g00000ZPDpqAAH"  # Quill Mobility Corp.: no billing postal code
CHILD = "0065g00000ZPDhhAAH"  # Account 0015g00000L85PCAAZ, parent 0015g00000L84zVAAR (C-1044)
GB_ORDER = "0065g00000ZPDghAAH"  # Account 0015g00000L85JOAAZ (GB, GBP)
CA_ORDER = "0065g00000ZPDiLAAX"  # Account 0015g00000L8637AAB (CA, CAD)


def _check(v: Validation, opportunity_id: str, rule_id: str) -> CheckOut:
    """Validate (the run is stored) and return one rule's check."""
    out = v.validate(opportunity_id)
    [check] = [c for c in out.checks if c.id == rule_id]
    [stored] = [c for c in v.history(opportunity_id)[0].checks if c.id == rule_id]
    assert stored == check
    return check


def _sf_account(v: Validation, account_id: str) -> dict[str, Any]:
    records = _data(v, "salesforce")["Account"]["records"]
    return next(a for a in records if a["Id"] == account_id)


def _drop_customer(v: Validation, external_id: str) -> None:
    customers = _data(v, "erp")["customers"]
    customers[:] = [c for c in customers if c.get("externalId") != external_id]


# -- account.legal_entity_currency -------------------------------------------------------


def test_legal_entity_allows_the_order_currency(v: Validation) -> None:
    check = _check(v, NOV_US, "account.legal_entity_currency")
    assert check.status == "pass" and check.system == "erp"
    assert check.message == "US01 (Q2C Cloud Inc.) sells in USD"
    assert check.evidence["customer"] == "C-1145"
    assert check.evidence["allowedCurrencies"] == ["USD"]


def test_a_currency_the_customers_subsidiary_does_not_allow_fails(v: Validation) -> None:
    check = _check(v, EUR_ON_US, "account.legal_entity_currency")
    assert check.status == "fail"
    assert "C-1906's subsidiary US01 (Q2C Cloud Inc.) does not sell in EUR" in check.message
    assert check.message.endswith("it allows USD")
    assert check.evidence == {
        "customer": "C-1906",
        "subsidiary": "US01",
        "currency": "EUR",
        "allowedCurrencies": ["USD"],
    }
    assert check.remediation and "currency" in check.remediation


def test_a_customer_on_a_subsidiary_the_erp_does_not_have_fails(v: Validation) -> None:
    customer = next(c for c in _data(v, "erp")["customers"] if c["entityId"] == "C-1145")
    customer["subsidiary"] = {"id": "99", "refName": "XX01"}
    check = _check(v, NOV_US, "account.legal_entity_currency")
    assert check.status == "fail"
    assert check.message == "ERP customer C-1145's subsidiary 99 does not exist in the ERP"


def test_a_new_customer_sells_from_its_billing_countrys_subsidiary(v: Validation) -> None:
    _drop_customer(v, "0015g00000L85JOAAZ")
    check = _check(v, GB_ORDER, "account.legal_entity_currency")
    assert check.status == "pass"
    assert check.message == "GB01 (Q2C Cloud Ltd) sells in GBP"
    assert check.evidence["customer"] is None and check.evidence["billingCountry"] == "GB"


def test_a_new_customer_in_a_country_without_a_subsidiary_fails(v: Validation) -> None:
    _drop_customer(v, "0015g00000L85JOAAZ")
    _sf_account(v, "0015g00000L85JOAAZ")["BillingCountry"] = "FR"
    check = _check(v, GB_ORDER, "account.legal_entity_currency")
    assert check.status == "fail"
    assert check.message == "no ERP subsidiary sells in the Account's billing country FR"
    assert "GB01 (GB)" in check.evidence["subsidiaries"]


def test_erp_down_makes_the_erp_account_rules_unknown(v: Validation) -> None:
    assert v.systems.sandbox is not None
    v.systems.sandbox.faults.update({"unavailable": ["erp"]})
    out = v.validate(CHILD)
    checks = {c.id: c for c in out.checks}
    for rule_id in ("account.legal_entity_currency", "account.parent_in_erp"):
        assert checks[rule_id].status == "unknown"
        assert checks[rule_id].message.startswith("erp was not reached")
        assert checks[rule_id].remediation
    assert checks["account.billing_address_complete"].status == "pass"  # Salesforce answered
    assert "erp" in out.unreached and out.verdict != "accept"


# -- account.billing_address_complete ----------------------------------------------------


def test_a_complete_billing_address_passes(v: Validation) -> None:
    check = _check(v, NOV_US, "account.billing_address_complete")
    assert check.status == "pass" and check.system == "salesforce"
    assert check.evidence["missing"] == []
    assert check.evidence["address"]["BillingCity"] == "Seattle"


def test_a_missing_postal_code_is_named(v: Validation) -> None:
    check = _check(v, NO_POSTAL, "account.billing_address_complete")
    assert check.status == "fail"
    assert check.message == "Account 'Quill Mobility Corp.' billing address lacks postal code"
    assert check.evidence["missing"] == ["BillingPostalCode"]
    assert check.evidence["accountId"] == "0015g00000L84wjAAB"


def test_canada_needs_a_province_and_blank_counts_as_missing(v: Validation) -> None:
    account = _sf_account(v, "0015g00000L8637AAB")
    account.update(BillingState=None, BillingStreet="   ")
    check = _check(v, CA_ORDER, "account.billing_address_complete")
    assert check.status == "fail"
    assert check.message.endswith("billing address lacks street, state/province")
    assert check.evidence["missing"] == ["BillingStreet", "BillingState"]


def test_outside_the_us_and_canada_no_state_is_needed(v: Validation) -> None:
    _sf_account(v, "0015g00000L85JOAAZ")["BillingState"] = None
    assert _check(v, GB_ORDER, "account.billing_address_complete").status == "pass"


# -- account.parent_in_erp ---------------------------------------------------------------


def test_no_parent_passes(v: Validation) -> None:
    check = _check(v, NOV_US, "account.parent_in_erp")
    assert check.status == "pass" and check.message == "no parent Account"


def test_a_parent_with_an_erp_customer_passes(v: Validation) -> None:
    check = _check(v, CHILD, "account.parent_in_erp")
    assert check.status == "pass"
    assert check.message == "parent Account 0015g00000L84zVAAR is ERP customer C-1044"
    assert check.evidence == {"parentId": "0015g00000L84zVAAR", "parentCustomer": "C-1044"}


def test_a_parent_missing_from_the_erp_fails(v: Validation) -> None:
    _drop_customer(v, "0015g00000L84zVAAR")
    check = _check(v, CHILD, "account.parent_in_erp")
    assert check.status == "fail"
    assert check.message.startswith("parent Account 0015g00000L84zVAAR has no ERP customer")
    assert check.evidence == {"parentId": "0015g00000L84zVAAR", "parentCustomer": None}
    assert check.remediation and "parent" in check.remediation
