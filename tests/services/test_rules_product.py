"""The product and price rules against the in-process sandbox and a real database: each
passes on a good sample order, fails when the sandbox's master data is made wrong, and is
unknown when its system of record is down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.errors import ConnectorError
from services.validation import engine
from services.validation import rules_product as _rules  # noqa: F401  (registers the rules)
from services.validation.model import CheckOut, ValidationOut
from services.validation.registry import RULES
from services.validation.service import Validation
from tests.validation_support import sandbox_data as app_data
from tests.validation_support import take_down as down

ROOT = Path(__file__).resolve().parents[2]
GOOD = "0065g00000ZPDfnAAH"  # USD, US-GA; PLAT-ANNUAL, SEAT-STD, AUDIT-LOG, INTEG-PACK, ONB-PKG
TYPO = "0065g00000ZPDzpAAH"  # GBP; a line with product code PLAT-ANNAUL (known nowhere)


def run(
    v: Validation, monkeypatch: pytest.MonkeyPatch, rule_id: str, opp: str = GOOD
) -> tuple[CheckOut, ValidationOut]:
    """Validate ``opp`` with only ``rule_id`` (the run is stored); its check and the run."""
    monkeypatch.setattr(engine, "all_rules", lambda: [RULES[rule_id]])
    out = v.validate(opp)
    [check] = out.checks
    assert v.history(opp)[0].run_id == out.run_id
    return check, out


def lines_of(v: Validation, opp: str = GOOD) -> list[dict[str, Any]]:
    rows = app_data(v, "salesforce")["OpportunityLineItem"]["records"]
    return [r for r in rows if r["OpportunityId"] == opp]


def line_of(v: Validation, code: str, opp: str = GOOD) -> dict[str, Any]:
    return next(r for r in lines_of(v, opp) if r["ProductCode"] == code)


def erp_item(v: Validation, code: str) -> dict[str, Any]:
    return next(i for i in app_data(v, "erp")["items"] if i["itemId"] == code)


def billing_product(v: Validation, code: str) -> dict[str, Any]:
    return next(p for p in app_data(v, "billing")["products"] if p["sku"] == code)


# -- product.lines_present ------------------------------------------------------------------


def test_lines_present_passes(v, monkeypatch) -> None:
    check, out = run(v, monkeypatch, "product.lines_present")
    assert check.status == "pass" and check.system == "salesforce"
    assert out.verdict == "accept" and check.evidence["lines"] == 5


def test_an_opportunity_with_no_lines_fails(v, monkeypatch) -> None:
    records = app_data(v, "salesforce")["OpportunityLineItem"]["records"]
    records[:] = [r for r in records if r["OpportunityId"] != GOOD]
    check, out = run(v, monkeypatch, "product.lines_present")
    assert check.status == "fail" and "no line items" in check.message
    assert out.verdict == "reject" and check.remediation


def test_a_line_with_no_product_code_fails_naming_the_line(v, monkeypatch) -> None:
    line_of(v, "SEAT-STD")["ProductCode"] = None
    check, _ = run(v, monkeypatch, "product.lines_present")
    assert check.status == "fail"
    assert "line 2 (00k" in check.message and "has no product code" in check.message


@pytest.mark.parametrize("quantity", [0, -3])
def test_a_zero_or_negative_quantity_fails_naming_the_line(v, monkeypatch, quantity) -> None:
    line_of(v, "SEAT-STD")["Quantity"] = quantity
    check, _ = run(v, monkeypatch, "product.lines_present")
    assert check.status == "fail"
    assert f"line 2 (SEAT-STD) has {quantity} quantity" in check.message
    assert check.evidence["quantity"] == quantity


def test_salesforce_down_means_nothing_is_decided(v, monkeypatch) -> None:
    down(v, "salesforce")
    monkeypatch.setattr(engine, "all_rules", lambda: [RULES["product.lines_present"]])
    with pytest.raises(ConnectorError):
        v.validate(GOOD)
    assert v.history(GOOD) == []


# -- product.erp_item_active ----------------------------------------------------------------


def test_erp_item_active_passes(v, monkeypatch) -> None:
    check, _ = run(v, monkeypatch, "product.erp_item_active")
    assert check.status == "pass" and check.system == "erp"


def test_an_unknown_product_code_fails(v, monkeypatch) -> None:
    check, _ = run(v, monkeypatch, "product.erp_item_active", TYPO)
    assert check.status == "fail" and "not ERP items: PLAT-ANNAUL" in check.message


def test_an_inactive_erp_item_fails(v, monkeypatch) -> None:
    erp_item(v, "SEAT-STD")["isInactive"] = True
    check, _ = run(v, monkeypatch, "product.erp_item_active")
    assert check.status == "fail" and check.message == "inactive in the ERP: SEAT-STD"


def test_erp_down_makes_the_item_check_unknown(v, monkeypatch) -> None:
    down(v, "erp")
    check, out = run(v, monkeypatch, "product.erp_item_active")
    assert check.status == "unknown" and out.unreached == ["erp"]
    assert out.verdict == "needs_approval"


def test_each_product_code_is_asked_once_not_per_line(v, monkeypatch) -> None:
    assert v.systems.sandbox is not None
    run(v, monkeypatch, "product.erp_item_active")
    five_lines = len(list(v.systems.sandbox.requests_to("erp")))
    records = app_data(v, "salesforce")["OpportunityLineItem"]["records"]
    for n, line in enumerate(lines_of(v) * 3):  # 20 lines, the same 5 codes
        records.append({**line, "Id": f"00k5g00000Zz{n:03d}AAA"})
    v.cache.clear()
    v.systems.sandbox.requests.clear()
    check, _ = run(v, monkeypatch, "product.erp_item_active")
    assert check.status == "pass" and "5 product code(s)" in check.message
    assert len(list(v.systems.sandbox.requests_to("erp"))) == five_lines


# -- product.billing_charge_exists ----------------------------------------------------------


def test_billing_charge_exists_passes(v, monkeypatch) -> None:
    check, _ = run(v, monkeypatch, "product.billing_charge_exists")
    assert check.status == "pass" and check.system == "billing"


def test_a_code_not_in_the_billing_catalog_fails(v, monkeypatch) -> None:
    check, _ = run(v, monkeypatch, "product.billing_charge_exists", TYPO)
    assert check.status == "fail" and "not in the billing catalog: PLAT-ANNAUL" in check.message


def test_an_expired_billing_product_fails(v, monkeypatch) -> None:
    billing_product(v, "SEAT-STD")["effectiveEndDate"] = "2026-06-30"
    check, _ = run(v, monkeypatch, "product.billing_charge_exists")
    assert check.status == "fail" and "SEAT-STD (ended 2026-06-30)" in check.message


def test_billing_down_makes_the_charge_check_unknown(v, monkeypatch) -> None:
    down(v, "billing")
    check, out = run(v, monkeypatch, "product.billing_charge_exists")
    assert check.status == "unknown" and out.unreached == ["billing"]


# -- product.revrec_rule ----------------------------------------------------------------------


def test_revrec_rule_passes(v, monkeypatch) -> None:
    check, _ = run(v, monkeypatch, "product.revrec_rule")
    assert check.status == "pass" and check.evidence["revRecRules"]["SEAT-STD"]


def test_an_item_without_a_revrec_rule_fails(v, monkeypatch) -> None:
    erp_item(v, "AUDIT-LOG")["revRecRule"] = None
    check, _ = run(v, monkeypatch, "product.revrec_rule")
    assert check.status == "fail" and "no revenue recognition rule on: AUDIT-LOG" in check.message


# -- price.pricebook_entry_active -------------------------------------------------------------


def test_pricebook_entry_active_passes(v, monkeypatch) -> None:
    check, _ = run(v, monkeypatch, "price.pricebook_entry_active")
    assert check.status == "pass" and check.system == "salesforce"


def test_an_inactive_pricebook_entry_fails(v, monkeypatch) -> None:
    entry_id = line_of(v, "SEAT-STD")["PricebookEntryId"]
    entries = app_data(v, "salesforce")["PricebookEntry"]["records"]
    next(e for e in entries if e["Id"] == entry_id)["IsActive"] = False
    check, _ = run(v, monkeypatch, "price.pricebook_entry_active")
    assert check.status == "fail"
    assert check.message == f"line 2 (SEAT-STD): price book entry {entry_id} is inactive"


# -- price.matches_list -----------------------------------------------------------------------


def test_prices_at_list_pass(v, monkeypatch) -> None:
    check, out = run(v, monkeypatch, "price.matches_list")
    assert check.status == "pass" and "USD list price" in check.message
    assert out.verdict == "accept"


def test_a_discount_within_policy_warns_without_approval(v, monkeypatch) -> None:
    line_of(v, "SEAT-STD")["UnitPrice"] = 540.0  # 10% off 600
    check, out = run(v, monkeypatch, "price.matches_list")
    assert check.status == "warn" and not check.needs_approval
    assert "line 2 SEAT-STD 10.00%" in check.message and out.verdict == "accept"


def test_a_discount_beyond_policy_needs_approval(v, monkeypatch) -> None:
    line_of(v, "SEAT-STD")["UnitPrice"] = 420.0  # 30% off 600
    line_of(v, "AUDIT-LOG")["UnitPrice"] = 2280.0  # 5% off 2400
    check, out = run(v, monkeypatch, "price.matches_list")
    assert check.status == "warn" and check.needs_approval
    assert check.message.startswith("pricing exception, needs approval: line 2 SEAT-STD 30.00%")
    assert out.verdict == "needs_approval"
    exceptions = next(e for e in check.evidence if "exceptions" in e)["exceptions"]
    assert exceptions == [
        {
            "line": 2,
            "productCode": "SEAT-STD",
            "unitPrice": "420.00",
            "listPrice": "600.00",
            "discountPercent": "30.00",
        }
    ]


def test_the_approval_threshold_is_a_setting(v, monkeypatch) -> None:
    line_of(v, "SEAT-STD")["UnitPrice"] = 420.0
    v.settings.discount_approval_percent = 35
    check, _ = run(v, monkeypatch, "price.matches_list")
    assert check.status == "warn" and not check.needs_approval


def test_a_price_above_list_warns(v, monkeypatch) -> None:
    line_of(v, "SEAT-STD")["UnitPrice"] = 630.0
    check, out = run(v, monkeypatch, "price.matches_list")
    assert check.status == "warn" and not check.needs_approval
    assert "above list price: line 2 SEAT-STD" in check.message and out.verdict == "accept"


def test_billing_down_makes_the_price_check_unknown(v, monkeypatch) -> None:
    down(v, "billing")
    check, out = run(v, monkeypatch, "price.matches_list")
    assert check.status == "unknown" and out.verdict == "needs_approval"


# -- price.currency_price_exists --------------------------------------------------------------


def test_currency_price_exists_passes(v, monkeypatch) -> None:
    check, _ = run(v, monkeypatch, "price.currency_price_exists")
    assert check.status == "pass" and check.evidence["prices"]["SEAT-STD"] == "600.00"


def test_a_product_without_a_price_in_the_order_currency_fails(v, monkeypatch) -> None:
    charge = billing_product(v, "ONB-PKG")["productRatePlans"][0]["productRatePlanCharges"][0]
    charge["pricing"] = [p for p in charge["pricing"] if p["currency"] != "USD"]
    check, _ = run(v, monkeypatch, "price.currency_price_exists")
    assert check.status == "fail" and check.message == "no USD price for: ONB-PKG"
