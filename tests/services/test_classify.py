"""Error classification: every built-in rule, every failure mode of the sample data,
runbook links, and rules files that are wrong."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from services.errors import SettingsError
from services.settings import load_settings
from services.triage.classify import (
    CATEGORIES,
    DEFAULT_RULES,
    ORIGINS,
    classify,
    load_rules,
)

ROOT = Path(__file__).resolve().parents[2]
RAW = json.loads(DEFAULT_RULES.read_text(encoding="utf-8"))
RUNBOOKS = ROOT / "docs" / "runbooks.md"


def _failed_sample_events() -> list[dict[str, Any]]:
    out = []
    with (ROOT / "sample_data" / "events.jsonl").open() as fh:
        for line in fh:
            event = json.loads(line)
            if event["type"] == "com.q2c.step.failed":
                out.append(event["data"])
    return out


FAILED = _failed_sample_events()


@pytest.mark.parametrize("rule", RAW["rules"], ids=[r["id"] for r in RAW["rules"]])
def test_each_rule_classifies_its_example_and_no_earlier_rule_shadows_it(rule) -> None:
    assert rule["category"] in CATEGORIES and rule["origin"] in ORIGINS
    assert rule.get("why"), "every rule says why"
    found = classify(**rule["example"])

    assert (found.rule, found.category, found.origin) == (
        rule["id"],
        rule["category"],
        rule["origin"],
    )
    assert found.why == rule["why"]
    assert found.runbook == RAW["runbooks"][rule["category"]]


def test_rule_ids_are_unique_and_every_category_has_a_rule_and_a_runbook() -> None:
    ids = [r["id"] for r in RAW["rules"]]
    assert len(ids) == len(set(ids))
    used = {r["category"] for r in RAW["rules"]}
    assert used == set(CATEGORIES) - {"unknown"}
    assert set(RAW["runbooks"]) == set(CATEGORIES)


def _anchors(markdown: str) -> set[str]:
    found = set(re.findall(r'<a id="([^"]+)"></a>', markdown))
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        found.add(re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-"))
    return found


def test_every_runbook_link_points_at_a_section_of_the_runbooks() -> None:
    anchors = _anchors(RUNBOOKS.read_text(encoding="utf-8"))
    for category, link in RAW["runbooks"].items():
        path, _, anchor = link.partition("#")
        assert path == "docs/runbooks.md", category
        assert anchor in anchors, f"{category}: no section #{anchor}"


# One row per failure mode of the sample data: what identifies it, what it is.
SAMPLE_MODES = [
    ("tax", "SERVICE_UNAVAILABLE", "", "unavailable", "tax engine", "tax-service-unavailable"),
    ("middleware", "VALIDATION_FAILED", "postal code", "data quality", "CRM data",
     "mw-account-missing-data"),
    ("middleware", "VALIDATION_FAILED", "CloseDate", "validation", "CRM data",
     "mw-close-date-in-future"),
    ("middleware", "VALIDATION_FAILED", "primary quote", "validation", "CRM data",
     "mw-quote-not-primary"),
    ("middleware", "VALIDATION_FAILED", "credit hold", "validation", "ERP", "mw-credit-hold"),
    ("middleware", "VALIDATION_FAILED", "Exemption certificate", "tax", "tax engine",
     "mw-exemption-certificate"),
    ("erp", "INVALID_ITEM", "PLAT-ANNAUL", "data quality", "CRM data", "erp-item-from-crm"),
    ("erp", "PERIOD_CLOSED", "", "ERP posting", "ERP", "erp-period-closed"),
    ("billing", "SUBSCRIPTION_VERSION_CONFLICT", "", "version conflict", "billing",
     "billing-subscription-version"),
    ("salesforce", "REQUEST_LIMIT_EXCEEDED", "", "rate limit", "network/infrastructure",
     "sf-request-limit"),
    ("erp", "CURRENCY_MISMATCH", "EUR", "data quality", "CRM data", "erp-currency-from-crm"),
    ("billing", "PAYMENT_DECLINED", "", "billing", "billing", "billing-payment-declined"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("system", "code", "fragment", "category", "origin", "rule"),
    SAMPLE_MODES,
    ids=[f"{m[1]}:{m[2] or m[0]}" for m in SAMPLE_MODES],
)
def test_sample_failure_mode_is_classified_as_intended(
    system, code, fragment, category, origin, rule
) -> None:
    events = [
        d
        for d in FAILED
        if d["system"] == system
        and d["error"]["code"] == code
        and fragment in d["error"]["message"]
    ]
    assert events, "the sample data holds this failure mode"
    for data in events:
        err = data["error"]
        found = classify(
            system=data["system"],
            operation=data["operation"],
            code=err["code"],
            http_status=err.get("http_status"),
            message=err["message"],
        )
        assert (found.category, found.origin, found.rule) == (category, origin, rule)


def test_every_failed_event_of_the_sample_has_a_specific_rule() -> None:
    rules = {
        classify(
            system=d["system"],
            operation=d["operation"],
            code=d["error"]["code"],
            http_status=d["error"].get("http_status"),
            message=d["error"]["message"],
        ).rule
        for d in FAILED
    }
    assert rules == {m[5] for m in SAMPLE_MODES}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"system": "erp", "operation": "invoice.post", "code": "X", "http_status": 401},
         ("auth", "network/infrastructure")),
        ({"system": "billing", "operation": "invoice.create", "code": None, "http_status": 429},
         ("rate limit", "network/infrastructure")),
        ({"system": "tax", "operation": "tax.calculate", "code": "X", "http_status": 504},
         ("timeout", "network/infrastructure")),
        ({"system": "tax", "operation": "tax.calculate", "code": "X", "http_status": 502},
         ("unavailable", "network/infrastructure")),
        ({"system": "erp", "operation": "salesorder.create", "code": "dup_rcrd"},
         ("duplicate", "middleware transform")),
        ({"system": "payments", "operation": "capture", "code": "WHATEVER"},
         ("unknown", "unknown")),
    ],
)  # fmt: skip
def test_general_rules_by_status_and_case_insensitive_code(kwargs, expected) -> None:
    found = classify(**kwargs)
    assert (found.category, found.origin) == expected
    if expected == ("unknown", "unknown"):
        assert found.rule == "default" and found.runbook == "docs/runbooks.md#unknown"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "cannot be read"),
        ('{"rules": {}}', "must hold"),
        ('{"rules": ["x"]}', "rule 1 is not an object"),
        ('{"rules": [{"id": "r", "category": "weather", "origin": "ERP"}]}',
         "rule r: unknown category 'weather'"),
        ('{"rules": [{"id": "r", "category": "tax", "origin": "mars"}]}',
         "rule r: unknown origin 'mars'"),
        ('{"rules": [{"id": "r", "category": "tax", "origin": "ERP", "message": "("}]}',
         "rule r: bad message pattern"),
        ('{"rules": [], "runbooks": ["x"]}', "runbooks must be an object"),
        ('{"rules": [{"id": "r", "cod": "X", "category": "tax", "origin": "ERP"}]}',
         "rule r: unknown key 'cod'"),
    ],
)  # fmt: skip
def test_a_bad_rules_file_is_one_line_settings_error(tmp_path: Path, content, expected) -> None:
    path = tmp_path / "rules.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_rules(path)
    message = str(info.value)
    assert expected in message and "\n" not in message
    assert message.startswith("Q2C_ERROR_RULES: ")


def test_a_missing_rules_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_rules(tmp_path / "nope.json")


def test_rules_from_settings_replace_the_built_in_ones(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "mine.json"
    path.write_text(
        json.dumps(
            {
                "runbooks": {"tax": "https://wiki/tax"},
                "rules": [{"id": "all-tax", "system": "erp", "category": "tax", "origin": "ERP"}],
            }
        )
    )
    monkeypatch.setenv("Q2C_ERROR_RULES", str(path))
    rules = load_rules(load_settings().error_rules)
    found = classify(system="erp", operation="invoice.post", code="PERIOD_CLOSED", rules=rules)
    assert (found.rule, found.category, found.runbook) == ("all-tax", "tax", "https://wiki/tax")
