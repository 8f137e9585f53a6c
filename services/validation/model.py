"""Checks as data: a rule, what it found, a validation run.

A :class:`Rule` names its domain, the system of record it asks, its severity
and a remediation hint; its function returns :class:`Finding` objects. The
engine turns each rule's findings into one :class:`CheckOut` (the worst status
wins; every finding's evidence is kept), and the checks into a verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from services.validation.context import OrderContext

__all__ = [
    "DOMAINS",
    "CheckOut",
    "Finding",
    "Rule",
    "Status",
    "ValidationOut",
    "Verdict",
    "verdict_of",
]

Status = Literal["pass", "warn", "fail", "unknown"]
Verdict = Literal["accept", "needs_approval", "reject"]
DOMAINS = ("account", "product", "price", "tax", "contract")
_RANK = {"pass": 0, "warn": 1, "unknown": 2, "fail": 3}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a rule found: a status, a sentence, and the evidence behind it.

    ``needs_approval`` marks a warning that policy says a person must approve
    (a pricing exception); other warnings inform only.
    """

    status: Status
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    needs_approval: bool = False


RuleFn = Callable[["OrderContext"], "Finding | list[Finding]"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A registered check. ``system`` is the system of record it asks."""

    id: str
    domain: str
    system: str
    severity: Literal["error", "warning"]
    title: str
    remediation: str
    fn: RuleFn


class CheckOut(BaseModel):
    """One rule's result, as ``q2c validate --json`` prints it."""

    id: str
    domain: str
    status: Status
    system: str
    message: str
    evidence: Any = None
    remediation: str | None = None
    title: str = ""
    needs_approval: bool = False


class ValidationOut(BaseModel):
    """A validation run: the verdict, each check, and the systems that were not reached."""

    verdict: Verdict
    opportunity_id: str
    checks: list[CheckOut]
    unreached: list[str] = Field(default_factory=list)
    run_id: int | None = None
    created: datetime | None = None
    took_ms: float | None = None
    summary: str = ""

    def cli_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "opportunity_id": self.opportunity_id,
            "checks": [
                {
                    "id": c.id,
                    "domain": c.domain,
                    "status": c.status,
                    "system": c.system,
                    "message": c.message,
                    "evidence": c.evidence,
                    "remediation": c.remediation,
                }
                for c in self.checks
            ],
            "unreached": self.unreached,
        }


def worst(statuses: list[Status]) -> Status:
    return max(statuses, key=_RANK.__getitem__) if statuses else "pass"


def verdict_of(checks: list[CheckOut], unreached: list[str]) -> tuple[Verdict, str]:
    """``reject`` on any failure; ``needs_approval`` on unknowns (a system was not
    asked: never a pass) or warnings that need approval; else ``accept``."""
    fails = [c.id for c in checks if c.status == "fail"]
    unknown = [c.id for c in checks if c.status == "unknown"]
    approvals = [c.id for c in checks if c.status == "warn" and c.needs_approval]
    if fails:
        return "reject", f"{len(fails)} check(s) failed: {', '.join(fails)}"
    if unknown:
        return (
            "needs_approval",
            f"not asked: {', '.join(unreached) or 'some systems'}; "
            f"{len(unknown)} check(s) unknown ({', '.join(unknown)}) — never a pass",
        )
    if approvals:
        return "needs_approval", f"needs a person's approval: {', '.join(approvals)}"
    return "accept", "every check passed"
