"""The validation demo orders in the committed sample data: each shows its rule.

That ``sample_data/`` is what the seed writes, byte for byte, is checked by
``tests/test_seed.py::test_committed_sample_data_is_current_and_fast``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.validation.service import Validation

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
PASSES = "0065g00000VD001AAD"
# opportunity -> (the rule it shows, that rule's status, the verdict)
DEMOS = {
    PASSES: (None, "pass", "accept"),
    "0065g00000VD002AAD": ("price.matches_list", "warn", "needs_approval"),
    "0065g00000VD003AAD": ("account.erp_customer", "fail", "reject"),
    "0065g00000VD004AAD": ("account.credit_hold", "fail", "reject"),
    "0065g00000VD005AAD": ("account.legal_entity_currency", "fail", "reject"),
    "0065g00000VD006AAD": ("account.billing_address_complete", "fail", "reject"),
    "0065g00000VD007AAD": ("account.parent_in_erp", "fail", "reject"),
    "0065g00000VD008AAD": ("product.lines_present", "fail", "reject"),
    "0065g00000VD009AAD": ("product.lines_present", "fail", "reject"),
    "0065g00000VD010AAD": ("product.erp_item_active", "fail", "reject"),
    "0065g00000VD011AAD": ("product.billing_charge_exists", "fail", "reject"),
    "0065g00000VD012AAD": ("product.revrec_rule", "fail", "reject"),
    "0065g00000VD013AAD": ("price.pricebook_entry_active", "fail", "reject"),
    "0065g00000VD014AAD": ("price.currency_price_exists", "fail", "reject"),
    "0065g00000VD015AAD": ("tax.nexus", "warn", "accept"),
    "0065g00000VD016AAD": ("tax.product_tax_code", "fail", "reject"),
    "0065g00000VD017AAD": ("tax.exemption_certificate", "fail", "reject"),
    "0065g00000VD018AAD": ("tax.vat_id_format", "fail", "reject"),
    "0065g00000VD019AAD": ("contract.period_open", "fail", "reject"),
    "0065g00000VD020AAD": ("contract.term_fits_rate_plan", "fail", "reject"),
    "0065g00000VD021AAD": ("contract.amends_existing_subscription", "fail", "reject"),
}
# A missing postal code fails the tax engine's address resolution as well.
ALSO = {"0065g00000VD006AAD": {"tax.address_resolves": "fail"}}


def _opportunities() -> list[dict[str, object]]:
    sf = json.loads((SAMPLE / "master" / "salesforce.json").read_text("utf-8"))
    return list(sf["Opportunity"]["records"])


@pytest.mark.parametrize("opportunity_id", list(DEMOS))
def test_each_demo_order_shows_its_rule_and_only_it(v: Validation, opportunity_id: str) -> None:
    rule, status, verdict = DEMOS[opportunity_id]
    out = v.validate(opportunity_id)
    statuses = {c.id: c.status for c in out.checks}
    assert out.verdict == verdict, out.summary
    assert not out.unreached
    expected = {rule: status} if rule else {}
    expected |= ALSO.get(opportunity_id, {})
    assert {k: s for k, s in statuses.items() if s != "pass"} == expected


def test_the_passing_demo_is_accepted_with_every_check_passing(v: Validation) -> None:
    out = v.validate(PASSES)
    assert out.verdict == "accept"
    assert len(out.checks) >= 20 and {c.status for c in out.checks} == {"pass"}


def test_the_demo_orders_are_closed_won_november_orders_listed_in_the_readme() -> None:
    demos = [o for o in _opportunities() if str(o["Name"]).startswith("Validation demo: ")]
    assert [o["Id"] for o in demos] == list(DEMOS)
    readme = (SAMPLE / "README.md").read_text("utf-8")
    assert "## Validation demo orders" in readme
    for o in demos:
        rule = DEMOS[str(o["Id"])][0]
        assert o["StageName"] == "Closed Won"
        assert str(o["CloseDate"]).startswith(
            "2026-10" if rule == "contract.period_open" else "2026-11"
        )
        assert f"| `{o['Id']}` | {o['Name']} | {f'`{rule}`' if rule else '-'} |" in readme
