"""The tax rules against the in-process sandbox and a real database: each passes on a good
sample order, fails (or warns) when the sandbox's master data is made wrong, and is unknown
when its system of record is down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.validation import engine
from services.validation.model import CheckOut, ValidationOut
from services.validation.registry import RULES
from services.validation.rules_tax import vat_id_problem
from services.validation.service import Validation
from tests.validation_support import sandbox_data as app_data
from tests.validation_support import take_down as down

ROOT = Path(__file__).resolve().parents[2]
GOOD = "0065g00000ZPDfnAAH"  # Summit Robotics LLC, C-2069, US01, bill-to Atlanta GA 30370
NO_POSTAL = "0065g00000ZPDpqAAH"  # C-1014: the tax engine says the postal code is missing
EXPIRED = "0065g00000ZPDyaAAH"  # C-1035, NY: its NY certificate expired on 2026-08-31
EXEMPT = "0065g00000ZPG1VAAX"  # C-1580, NY: a valid NY certificate until 2028-02-14
GOOD_ACCOUNT = "0015g00000L86IhAAJ"


def run(
    v: Validation, monkeypatch: pytest.MonkeyPatch, rule_id: str, opp: str = GOOD
) -> tuple[CheckOut, ValidationOut]:
    """Validate ``opp`` with only ``rule_id`` (the run is stored); its check and the run."""
    monkeypatch.setattr(engine, "all_rules", lambda: [RULES[rule_id]])
    out = v.validate(opp)
    [check] = out.checks
    assert v.history(opp)[0].run_id == out.run_id
    return check, out


def account(v: Validation, account_id: str = GOOD_ACCOUNT) -> dict[str, Any]:
    rows = app_data(v, "salesforce")["Account"]["records"]
    return next(a for a in rows if a["Id"] == account_id)


def erp_customer(v: Validation, account_id: str = GOOD_ACCOUNT) -> dict[str, Any]:
    return next(c for c in app_data(v, "erp")["customers"] if c["externalId"] == account_id)


# -- tax.address_resolves -----------------------------------------------------------------


def test_the_bill_to_address_resolves(v, monkeypatch) -> None:
    check, out = run(v, monkeypatch, "tax.address_resolves")
    assert check.status == "pass" and check.system == "tax"
    assert check.message == "bill-to address resolves (Intersection); ship-to = bill-to"
    assert out.verdict == "accept"


def test_an_address_without_a_postal_code_fails_with_the_engines_message(v, monkeypatch) -> None:
    check, out = run(v, monkeypatch, "tax.address_resolves", NO_POSTAL)
    assert check.status == "fail" and out.verdict == "reject"
    assert "does not resolve: The address is missing a postal code" in check.message
    assert check.evidence["quality"] == "NotCoded"


def test_a_malformed_postal_code_fails(v, monkeypatch) -> None:
    account(v)["BillingPostalCode"] = "ABCDE"
    check, _ = run(v, monkeypatch, "tax.address_resolves")
    assert check.status == "fail" and "ABCDE is not valid for US" in check.message


def test_an_account_without_an_address_fails_without_asking(v, monkeypatch) -> None:
    for name in ("BillingStreet", "BillingCity", "BillingPostalCode"):
        account(v)[name] = None
    check, _ = run(v, monkeypatch, "tax.address_resolves")
    assert check.status == "fail" and "the Account has no bill-to address" in check.message


def test_tax_down_makes_the_address_check_unknown(v, monkeypatch) -> None:
    assert v.systems.sandbox is not None
    v.systems.sandbox.faults.update({"tax_outage": True})
    check, out = run(v, monkeypatch, "tax.address_resolves")
    assert check.status == "unknown" and out.unreached == ["tax"]
    assert out.verdict == "needs_approval"


# -- tax.nexus ----------------------------------------------------------------------------------


def test_nexus_where_the_order_ships_passes(v, monkeypatch) -> None:
    check, _ = run(v, monkeypatch, "tax.nexus")
    assert check.status == "pass" and check.message == "US01 has nexus in US-GA"


def test_no_nexus_warns_that_tax_will_be_zero(v, monkeypatch) -> None:
    us01 = next(c for c in app_data(v, "tax")["companies"] if c["companyCode"] == "US01")
    us01["nexus"] = [n for n in us01["nexus"] if n["region"] != "GA"]
    check, out = run(v, monkeypatch, "tax.nexus")
    assert check.status == "warn" and not check.needs_approval
    assert check.message.startswith("tax will be zero: no nexus in US-GA")
    assert out.verdict == "accept"


def test_a_new_customer_sells_from_the_subsidiary_of_its_country(v, monkeypatch) -> None:
    erp_customer(v)["externalId"] = "0015g00000NOTLINKED"
    check, _ = run(v, monkeypatch, "tax.nexus")
    assert check.status == "pass" and check.evidence["company"] == "US01"


def test_tax_down_makes_the_nexus_check_unknown(v, monkeypatch) -> None:
    down(v, "tax")
    check, _ = run(v, monkeypatch, "tax.nexus")
    assert check.status == "unknown"


# -- tax.product_tax_code -----------------------------------------------------------------------


def test_known_tax_codes_pass(v, monkeypatch) -> None:
    check, _ = run(v, monkeypatch, "tax.product_tax_code")
    assert check.status == "pass" and check.evidence["taxCodes"]["ONB-PKG"] == "SC040212"


def test_a_tax_code_the_engine_does_not_know_fails(v, monkeypatch) -> None:
    next(i for i in app_data(v, "erp")["items"] if i["itemId"] == "ONB-PKG")["taxCode"] = "SX999"
    check, _ = run(v, monkeypatch, "tax.product_tax_code")
    assert check.status == "fail"
    assert "tax code SX999 (on ONB-PKG) unknown or inactive" in check.message


def test_an_item_without_a_tax_code_fails(v, monkeypatch) -> None:
    next(i for i in app_data(v, "erp")["items"] if i["itemId"] == "SEAT-STD")["taxCode"] = None
    check, _ = run(v, monkeypatch, "tax.product_tax_code")
    assert check.status == "fail" and "no tax code on ERP item SEAT-STD" in check.message


# -- tax.exemption_certificate ------------------------------------------------------------------


def test_a_customer_without_certificates_is_not_exempt(v, monkeypatch) -> None:
    check, _ = run(v, monkeypatch, "tax.exemption_certificate")
    assert check.status == "pass" and check.message == "C-2069 is not exempt (no certificates)"


def test_a_valid_certificate_for_the_ship_to_region_passes(v, monkeypatch) -> None:
    check, _ = run(v, monkeypatch, "tax.exemption_certificate", EXEMPT)
    assert check.status == "pass" and "valid in US-NY until 2028-02-14" in check.message


def test_an_expired_certificate_fails(v, monkeypatch) -> None:
    check, out = run(v, monkeypatch, "tax.exemption_certificate", EXPIRED)
    assert check.status == "fail" and out.verdict == "reject"
    assert "certificate 5000 expired on 2026-08-31" in check.message


def test_an_invalid_certificate_fails(v, monkeypatch) -> None:
    certs = app_data(v, "tax")["exemptionCertificates"]
    next(c for c in certs if c["customerCode"] == "C-1580")["valid"] = False
    check, _ = run(v, monkeypatch, "tax.exemption_certificate", EXEMPT)
    assert check.status == "fail" and "certificate 5007 is not valid" in check.message


def test_certificates_only_for_other_regions_warn_that_tax_is_charged(v, monkeypatch) -> None:
    certs = app_data(v, "tax")["exemptionCertificates"]
    next(c for c in certs if c["customerCode"] == "C-1580")["exposureZone"]["region"] = "MA"
    check, out = run(v, monkeypatch, "tax.exemption_certificate", EXEMPT)
    assert check.status == "warn" and "no exemption certificate for US-NY" in check.message
    assert out.verdict == "accept"


def test_tax_down_makes_the_certificate_check_unknown(v, monkeypatch) -> None:
    down(v, "tax")
    check, _ = run(v, monkeypatch, "tax.exemption_certificate", EXPIRED)
    assert check.status == "unknown"


# -- tax.vat_id_format --------------------------------------------------------------------------


def test_a_well_formed_us_ein_passes(v, monkeypatch) -> None:
    check, _ = run(v, monkeypatch, "tax.vat_id_format")
    assert check.status == "pass" and check.system == "erp"
    assert check.message == "81-5425556 is a well-formed US tax id"


def test_a_malformed_tax_id_fails(v, monkeypatch) -> None:
    erp_customer(v)["taxId"] = "815-425556"
    check, _ = run(v, monkeypatch, "tax.vat_id_format")
    assert check.status == "fail" and "expected EIN: NN-NNNNNNN" in check.message


def test_a_new_customer_without_an_id_passes(v, monkeypatch) -> None:
    erp_customer(v)["externalId"] = "0015g00000NOTLINKED"
    check, _ = run(v, monkeypatch, "tax.vat_id_format")
    assert check.status == "pass" and "new customer" in check.message


def test_erp_down_makes_the_tax_id_check_unknown(v, monkeypatch) -> None:
    down(v, "erp")
    check, out = run(v, monkeypatch, "tax.vat_id_format")
    assert check.status == "unknown" and out.unreached == ["erp"]


@pytest.mark.parametrize(
    ("country", "tax_id"),
    [
        ("GB", "GB236767995"),
        ("GB", "GB 123 4567 89"),
        ("GB", "GB123456789012"),
        ("DE", "DE206699806"),
        ("FR", "FR40303265045"),
        ("NL", "NL123456789B01"),
        ("IE", "IE6388047V"),
        ("IE", "IE1234567WA"),
        ("AU", "51 824 753 556"),
        ("CA", "950259905RT0001"),
        ("US", "59-3186272"),
        ("JP", "anything: no format known"),
    ],
)
def test_well_formed_tax_ids(country: str, tax_id: str) -> None:
    assert vat_id_problem(country, tax_id) is None


@pytest.mark.parametrize(
    ("country", "tax_id"),
    [
        ("GB", "GB12345678"),
        ("GB", "DE206699806"),
        ("DE", "DE20669980"),
        ("FR", "FR4030326504"),
        ("NL", "NL123456789001"),
        ("IE", "IE12345678"),
        ("AU", "5182475355"),
        ("CA", "950259905"),
        ("CA", "950259905RT01"),
        ("US", "593186272"),
    ],
)
def test_malformed_tax_ids(country: str, tax_id: str) -> None:
    assert vat_id_problem(country, tax_id) is not None
