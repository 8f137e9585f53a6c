"""The contract rules against the in-process sandbox and a real database: pass, fail, unknown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.validation.model import CheckOut
from services.validation.service import Validation
from tests.validation_support import sandbox_data as _data
from tests.validation_support import take_down as _down

ROOT = Path(__file__).resolve().parents[2]
NOV_NEW = "0065g00000ZPF5iAAH"  # New Business, CloseDate 2026-11-05, no subscription yet
OCT_ORDER = "0065g00000ZPDfnAAH"  # CloseDate 2026-10-01: Oct 2026 is closed in the ERP
AMENDMENT = "0065g00000ZPDgzAAH"  # amends A-S00011862 (C-1439, Active, v3); line SEAT-STD
RENEWAL = "0065g00000ZPDhLAAX"  # renews A-S00010535


def _check(v: Validation, opportunity_id: str, rule_id: str) -> CheckOut:
    """Validate (the run is stored) and return one rule's check."""
    out = v.validate(opportunity_id)
    [check] = [c for c in out.checks if c.id == rule_id]
    [stored] = [c for c in v.history(opportunity_id)[0].checks if c.id == rule_id]
    assert stored == check
    return check


def _opportunity(v: Validation, opportunity_id: str) -> dict[str, Any]:
    records = _data(v, "salesforce")["Opportunity"]["records"]
    return next(o for o in records if o["Id"] == opportunity_id)


def _subscription(v: Validation, number: str) -> dict[str, Any]:
    return next(
        s for s in _data(v, "billing")["subscriptions"] if s["subscriptionNumber"] == number
    )


# -- contract.period_open ----------------------------------------------------------------


def test_a_start_in_an_open_period_passes(v: Validation) -> None:
    check = _check(v, NOV_NEW, "contract.period_open")
    assert check.status == "pass" and check.system == "erp"
    assert check.message == "service start 2026-11-05 falls in open period Nov 2026"
    assert check.evidence["source"] == "Opportunity.CloseDate"
    assert check.evidence["closed"] is False


def test_a_start_in_a_closed_period_fails_naming_it(v: Validation) -> None:
    check = _check(v, OCT_ORDER, "contract.period_open")
    assert check.status == "fail"
    assert (
        check.message
        == "service start 2026-10-01 falls in Oct 2026, which the ERP closed on 2026-11-06"
    )
    assert check.evidence == {
        "serviceStart": "2026-10-01",
        "source": "Opportunity.CloseDate",
        "period": "Oct 2026",
        "closed": True,
        "closedOnDate": "2026-11-06",
    }
    assert check.remediation and "reopen" in check.remediation


def test_a_start_the_erp_has_no_period_for_fails(v: Validation) -> None:
    _opportunity(v, NOV_NEW)["CloseDate"] = "2027-02-01"
    check = _check(v, NOV_NEW, "contract.period_open")
    assert check.status == "fail"
    assert check.message.startswith("the ERP has no accounting period for 2027-02-01")
    assert check.evidence["period"] is None


def test_erp_down_makes_the_period_unknown(v: Validation) -> None:
    _down(v, "erp")
    check = _check(v, NOV_NEW, "contract.period_open")
    assert check.status == "unknown" and check.message.startswith("erp was not reached")


# -- contract.term_fits_rate_plan --------------------------------------------------------


def test_a_new_subscription_gets_the_default_term_and_fits(v: Validation) -> None:
    check = _check(v, NOV_NEW, "contract.term_fits_rate_plan")
    assert check.status == "pass" and check.system == "billing"
    assert check.message == (
        "the term (12 months, new subscription (default initial term)) fits every charge: "
        "PLAT-ANNUAL, SEAT-PRO, INTEG-PACK, ONB-PKG"
    )
    assert check.evidence["term"] == 12 and check.evidence["termPeriodType"] == "Month"
    lines = {line["sku"]: line for line in check.evidence["lines"]}
    assert lines["PLAT-ANNUAL"]["billingPeriod"] == "Annual"
    assert lines["PLAT-ANNUAL"]["fit"] == "1 Annual period(s)"
    assert lines["ONB-PKG"]["fit"] == "one-time charge: any term fits"


def test_an_amendment_uses_its_subscriptions_term(v: Validation) -> None:
    check = _check(v, AMENDMENT, "contract.term_fits_rate_plan")
    assert check.status == "pass"
    assert check.evidence["termSource"] == "subscription A-S00011862 v3"
    assert check.message.endswith("fits every charge: SEAT-STD")


def test_an_annual_charge_on_an_eighteen_month_term_fails(v: Validation) -> None:
    _subscription(v, "A-S00011862")["currentTerm"] = 18
    check = _check(v, AMENDMENT, "contract.term_fits_rate_plan")
    assert check.status == "fail"
    assert check.message == (
        "the term (18 months, subscription A-S00011862 v3) is not a whole number of billing "
        "periods of SEAT-STD (billed Annual, every 12 months)"
    )
    assert check.evidence["term"] == 18
    assert check.evidence["lines"][0]["status"] == "fail"
    assert check.remediation and "whole years" in check.remediation


def test_a_one_time_charge_fits_any_term_but_annual_ones_do_not(v: Validation) -> None:
    _opportunity(v, NOV_NEW)["Subscription_Number__c"] = "A-S00011862"
    _subscription(v, "A-S00011862")["currentTerm"] = 7
    check = _check(v, NOV_NEW, "contract.term_fits_rate_plan")
    assert check.status == "fail"
    by_sku = {line["sku"]: line["status"] for line in check.evidence["lines"]}
    assert by_sku == {
        "PLAT-ANNUAL": "fail", "SEAT-PRO": "fail", "INTEG-PACK": "fail", "ONB-PKG": "pass"
    }  # fmt: skip
    assert "(7 months, " in check.message and "ONB-PKG" not in check.message


def test_a_product_billing_does_not_know_is_a_warning_not_a_pass(v: Validation) -> None:
    assert v.systems.sandbox is not None
    v.systems.sandbox.faults.update({"unknown_item": "INTEG-PACK"})
    check = _check(v, NOV_NEW, "contract.term_fits_rate_plan")
    assert check.status == "warn" and not check.needs_approval
    assert check.message == "not in the billing catalog, so the term is not checked: INTEG-PACK"


def test_billing_down_makes_the_contract_rules_unknown(v: Validation) -> None:
    _down(v, "billing")
    out = v.validate(AMENDMENT)
    checks = {c.id: c for c in out.checks}
    for rule_id in ("contract.term_fits_rate_plan", "contract.amends_existing_subscription"):
        assert checks[rule_id].status == "unknown"
        assert checks[rule_id].message.startswith("billing was not reached")
    assert "billing" in out.unreached and out.verdict != "accept"


# -- contract.amends_existing_subscription -----------------------------------------------


def test_new_business_passes(v: Validation) -> None:
    check = _check(v, NOV_NEW, "contract.amends_existing_subscription")
    assert check.status == "pass" and check.message == "new business (New Business)"


def test_an_amendment_of_the_customers_active_subscription_passes(v: Validation) -> None:
    check = _check(v, AMENDMENT, "contract.amends_existing_subscription")
    assert check.status == "pass"
    assert check.message == "Amendment of active subscription A-S00011862 (version 3)"
    assert check.evidence["status"] == "Active"
    assert check.evidence["accountNumber"] == check.evidence["billingAccount"] == "C-1439"


def test_a_renewal_of_a_cancelled_subscription_fails(v: Validation) -> None:
    _subscription(v, "A-S00010535")["status"] = "Cancelled"
    check = _check(v, RENEWAL, "contract.amends_existing_subscription")
    assert check.status == "fail"
    assert check.message == "Renewal of subscription A-S00010535, which is Cancelled"
    assert check.evidence["status"] == "Cancelled"


def test_an_amendment_of_a_subscription_billing_does_not_have_fails(v: Validation) -> None:
    _opportunity(v, AMENDMENT)["Subscription_Number__c"] = "A-S09999999"
    check = _check(v, AMENDMENT, "contract.amends_existing_subscription")
    assert check.status == "fail"
    assert check.message == "Amendment of subscription A-S09999999, which billing does not have"
    [term] = [c for c in v.history(AMENDMENT)[0].checks if c.id == "contract.term_fits_rate_plan"]
    assert term.status == "warn" and term.message.startswith("term not checked: billing has no")


def test_an_amendment_without_a_subscription_number_fails(v: Validation) -> None:
    _opportunity(v, AMENDMENT)["Subscription_Number__c"] = None
    check = _check(v, AMENDMENT, "contract.amends_existing_subscription")
    assert check.status == "fail"
    assert check.message == "Amendment without a Subscription_Number__c"
    assert check.remediation and "Subscription_Number__c" in check.remediation


def test_an_amendment_of_another_customers_subscription_fails(v: Validation) -> None:
    _opportunity(v, AMENDMENT)["Subscription_Number__c"] = "A-S00010535"
    owner = _subscription(v, "A-S00010535")["accountNumber"]
    check = _check(v, AMENDMENT, "contract.amends_existing_subscription")
    assert check.status == "fail"
    assert check.message == (
        f"subscription A-S00010535 belongs to billing account {owner}, but Account "
        "0015g00000L85VTAAZ has billing account C-1439"
    )
