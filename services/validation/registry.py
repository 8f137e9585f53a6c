"""One way to add a check: ``@rule(...)``. The default rules register the same way.

Example:
    >>> @rule("account.credit_hold", domain="account", system="erp", severity="error",
    ...       title="Customer not on credit hold",
    ...       remediation="Ask credit control to release the hold in the ERP.")
    ... def credit_hold(ctx: OrderContext) -> Finding: ...
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Literal

from services.validation.model import DOMAINS, Rule, RuleFn

__all__ = ["RULES", "all_rules", "rule"]

RULES: dict[str, Rule] = {}
_DEFAULT_MODULES = ("account", "product", "tax", "contract")


def rule(
    rule_id: str,
    *,
    domain: str,
    system: str,
    severity: Literal["error", "warning"],
    title: str,
    remediation: str,
) -> Callable[[RuleFn], RuleFn]:
    """Register the decorated function as the check ``rule_id``."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; domains: {', '.join(DOMAINS)}")

    def deco(fn: RuleFn) -> RuleFn:
        RULES[rule_id] = Rule(rule_id, domain, system, severity, title, remediation, fn)
        return fn

    return deco


def all_rules() -> list[Rule]:
    """Every registered rule (the defaults loaded first), in domain order."""
    for name in _DEFAULT_MODULES:
        try:
            importlib.import_module(f"services.validation.rules_{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"services.validation.rules_{name}":
                raise
    order = {d: i for i, d in enumerate(DOMAINS)}
    return sorted(RULES.values(), key=lambda r: (order[r.domain], r.id))
