"""Error classification: a category and a root-cause origin for every failed step.

Rules are data (``services/triage/error_rules.json`` by default, or the file in
``Q2C_ERROR_RULES``): each matches on any of ``system``, ``operation``, ``code``,
``http_status`` and a ``message`` regular expression, and gives a ``category``,
an ``origin`` and optionally a ``why``. The first matching rule wins, so specific
rules (an ERP rejection of a product code that came from CRM data: origin CRM
data) come before general ones (any ERP 4xx: ERP posting). Each category has a
runbook link.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.errors import SettingsError

__all__ = [
    "CATEGORIES",
    "ORIGINS",
    "Classification",
    "ErrorRule",
    "RuleSet",
    "classify",
    "load_rules",
]

CATEGORIES = (
    "data quality",
    "mapping/transform",
    "validation",
    "tax",
    "ERP posting",
    "billing",
    "auth",
    "rate limit",
    "timeout",
    "unavailable",
    "duplicate",
    "version conflict",
    "unknown",
)
ORIGINS = (
    "CRM data",
    "middleware transform",
    "tax engine",
    "ERP",
    "billing",
    "network/infrastructure",
    "unknown",
)
DEFAULT_RULES = Path(__file__).with_name("error_rules.json")
_RULE_KEYS = frozenset(
    {"id", "system", "operation", "code", "http_status", "message", "category", "origin", "why",
     "example"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Classification:
    category: str
    origin: str
    rule: str  # the id of the rule that matched ("default" when none did)
    why: str | None
    runbook: str | None


@dataclass(frozen=True, slots=True)
class ErrorRule:
    id: str
    category: str
    origin: str
    system: str | None = None
    operation: str | None = None
    code: str | None = None
    http_status: int | None = None
    message: re.Pattern[str] | None = None
    why: str | None = None

    def matches(
        self, system: str, operation: str, code: str | None, status: int | None, message: str
    ) -> bool:
        return (
            (self.system is None or self.system == system)
            and (self.operation is None or self.operation == operation)
            and (self.code is None or (code or "").upper() == self.code.upper())
            and (self.http_status is None or status == self.http_status)
            and (self.message is None or bool(self.message.search(message or "")))
        )


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[ErrorRule, ...]
    runbooks: dict[str, str]

    def classify(
        self,
        *,
        system: str,
        operation: str,
        code: str | None,
        http_status: int | None = None,
        message: str | None = None,
    ) -> Classification:
        """The first matching rule's category and origin (``unknown`` when none matches)."""
        for rule in self.rules:
            if rule.matches(system, operation, code, http_status, message or ""):
                return Classification(
                    rule.category, rule.origin, rule.id, rule.why, self.runbooks.get(rule.category)
                )
        return Classification("unknown", "unknown", "default", None, self.runbooks.get("unknown"))


def _parse(data: Any, where: str) -> RuleSet:
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise SettingsError(
            f"Q2C_ERROR_RULES: {where} must hold {{'rules': [...], 'runbooks': {{}}}}"
        )
    rules = []
    for n, item in enumerate(data["rules"], start=1):
        if not isinstance(item, dict):
            raise SettingsError(f"Q2C_ERROR_RULES: {where} rule {n} is not an object")
        rid = str(item.get("id") or f"rule-{n}")
        unknown = sorted(set(item) - _RULE_KEYS)
        if unknown:
            # A misspelt key would silently widen the rule to match more: refuse it.
            raise SettingsError(
                f"Q2C_ERROR_RULES: {where} rule {rid}: unknown key {unknown[0]!r}; "
                f"keys: {', '.join(sorted(_RULE_KEYS))}"
            )
        category, origin = item.get("category"), item.get("origin")
        if category not in CATEGORIES:
            raise SettingsError(
                f"Q2C_ERROR_RULES: {where} rule {rid}: unknown category {category!r}"
            )
        if origin not in ORIGINS:
            raise SettingsError(f"Q2C_ERROR_RULES: {where} rule {rid}: unknown origin {origin!r}")
        try:
            pattern = re.compile(item["message"], re.IGNORECASE) if item.get("message") else None
        except re.error as exc:
            raise SettingsError(
                f"Q2C_ERROR_RULES: {where} rule {rid}: bad message pattern ({exc})"
            ) from None
        status = item.get("http_status")
        rules.append(
            ErrorRule(
                id=rid,
                category=category,
                origin=origin,
                system=item.get("system"),
                operation=item.get("operation"),
                code=item.get("code"),
                http_status=int(status) if status is not None else None,
                message=pattern,
                why=item.get("why"),
            )
        )
    runbooks = data.get("runbooks") or {}
    if not isinstance(runbooks, dict):
        raise SettingsError(f"Q2C_ERROR_RULES: {where} runbooks must be an object")
    return RuleSet(tuple(rules), {str(k): str(v) for k, v in runbooks.items()})


@lru_cache(maxsize=8)
def load_rules(path: Path | None = None) -> RuleSet:
    """The rule set in ``path`` (default: the built-in rules).

    Raises:
        SettingsError: the file is missing or malformed (one line, naming the rule).
    """
    source = Path(path) if path else DEFAULT_RULES
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"Q2C_ERROR_RULES: {source} does not exist") from None
    except (OSError, ValueError) as exc:
        raise SettingsError(f"Q2C_ERROR_RULES: {source} cannot be read ({exc})") from None
    return _parse(data, str(source))


def classify(
    *,
    system: str,
    operation: str,
    code: str | None,
    http_status: int | None = None,
    message: str | None = None,
    rules: RuleSet | None = None,
) -> Classification:
    """Classify one failed step with ``rules`` (default: the built-in rules)."""
    return (rules or load_rules()).classify(
        system=system, operation=operation, code=code, http_status=http_status, message=message
    )
