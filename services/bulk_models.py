"""Bulk replay's models: a plan (dry run), a stored run, its items and its summary.

Pages and the CLI see these; :mod:`services.bulk` re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.replay_plan import StepTarget
from services.schemas import SearchFilters

__all__ = [
    "BulkItemOut",
    "BulkPlan",
    "BulkPlanItem",
    "BulkRunOut",
    "BulkSummary",
    "PlanState",
    "counts_text",
    "item_rows",
    "money_text",
    "outcome_text",
    "plan_rows",
    "run_rows",
    "trace_url",
]

PlanState = Literal["pending", "skipped", "blocked"]


def trace_url(transaction_id: str) -> str:
    """The Trace page's address for one transaction."""
    return f"/trace?key={transaction_id}"


class BulkPlanItem(BaseModel):
    """One transaction of a plan: its step and whether it would be sent."""

    transaction_id: str
    step: str
    state: PlanState
    reason: str
    amount: str | None = None
    currency: str | None = None
    target: StepTarget | None = Field(default=None, exclude=True)


class BulkPlan(BaseModel):
    """A dry run: what a bulk replay of ``filters`` would do."""

    filters: SearchFilters
    items: list[BulkPlanItem]
    money: dict[str, str]
    needs_approval: bool
    approval_reasons: list[str]

    def count(self, state: PlanState) -> int:
        """How many items are in ``state``."""
        return sum(1 for i in self.items if i.state == state)

    def cli_dict(self) -> dict[str, Any]:
        """The ``--json`` shape."""
        return {
            "matched": len(self.items),
            "would_send": self.count("pending"),
            "skipped": self.count("skipped"),
            "blocked": self.count("blocked"),
            "money": self.money,
            "needs_approval": self.needs_approval,
            "approval_reasons": self.approval_reasons,
            "items": [
                {**i.model_dump(), "trace_url": trace_url(i.transaction_id)} for i in self.items
            ],
        }


class BulkRunOut(BaseModel):
    """One stored run."""

    id: str
    created: datetime
    requester: str
    requester_role: str
    reason_code: str
    reason: str
    filters: dict[str, Any]
    state: str
    needs_approval: bool
    approver: str | None
    approved_at: datetime | None
    items: int
    money: dict[str, str]
    counts: dict[str, int]
    cancel_requested: bool


class BulkItemOut(BaseModel):
    """One item of a run, as the summary lists it."""

    position: int
    transaction_id: str
    step: str
    state: str
    outcome: str | None = None
    sent: bool = False
    message: str = ""
    idempotency_key: str | None = None

    @property
    def trace_url(self) -> str:
        """Where the Trace page shows this transaction."""
        return trace_url(self.transaction_id)


class BulkSummary(BaseModel):
    """A run and each of its items, with the counts people ask for first."""

    run: BulkRunOut
    counts: dict[str, int]
    items: list[BulkItemOut]

    @property
    def ok(self) -> bool:
        """Nothing failed, blocked or left pending."""
        return not (self.counts["failed"] or self.counts["blocked"] or self.counts["pending"])

    def cli_dict(self) -> dict[str, Any]:
        """The ``--json`` shape."""
        return {
            "run": self.run.model_dump(mode="json"),
            "counts": self.counts,
            "requests": [
                {
                    "transaction_id": i.transaction_id,
                    "step": i.step,
                    "idempotency_key": i.idempotency_key,
                    "outcome": i.outcome,
                    "state": i.state,
                    "message": i.message,
                }
                for i in self.items
                if i.sent
            ],
            "items": [{**i.model_dump(), "trace_url": i.trace_url} for i in self.items],
        }


# -- table rows and lines, as the Replay page shows them (plain values, no Streamlit) ------


def money_text(money: dict[str, str]) -> str:
    """Money per currency, never summed across.

    Example: ``money_text({"EUR": "1200"})`` is ``"1,200.00 EUR"``; ``{}`` is ``"nothing"``.
    """
    return ", ".join(f"{float(t):,.2f} {c}" for c, t in money.items()) or "nothing"


def plan_rows(plan: BulkPlan, *, link: Callable[[str], str]) -> list[dict[str, Any]]:
    """One row per plan item that would not be sent; ``link`` turns an ID into its trace link."""
    return [
        {"state": i.state, "trace": link(i.transaction_id), "step": i.step, "reason": i.reason}
        for i in plan.items
        if i.state != "pending"
    ]


def run_rows(runs: list[BulkRunOut]) -> list[dict[str, Any]]:
    """One row per run: who asked, who approved, how many items, why, when."""
    return [
        {
            "run": r.id,
            "state": r.state,
            "requested by": r.requester,
            "approved by": r.approver or "",
            "items": r.items,
            "reason": f"{r.reason_code}: {r.reason}",
            "created (UTC)": r.created,
        }
        for r in runs
    ]


def item_rows(items: list[BulkItemOut], *, link: Callable[[str], str]) -> list[dict[str, Any]]:
    """One row per item of a run; ``link`` turns an ID into its trace link."""
    return [
        {
            "state": i.state,
            "trace": link(i.transaction_id),
            "step": i.step,
            "outcome": i.outcome or "",
            "sent": i.sent,
            "message": i.message,
        }
        for i in items
    ]


def counts_text(counts: dict[str, int]) -> str:
    """Every count of a run on one line: ``"sent 3 · succeeded 2 · ... · pending 0"``."""
    names = ("sent", "succeeded", "failed", "skipped", "blocked", "pending")
    return " · ".join(f"{n} {counts[n]:,}" for n in names)


def outcome_text(label: str, summary: BulkSummary) -> str:
    """What an action on a run came to: ``"Retried BR-1: done; sent 2, succeeded 2, ..."``."""
    c = summary.counts
    return (
        f"{label} {summary.run.id}: {summary.run.state}; sent {c['sent']}, succeeded "
        f"{c['succeeded']}, failed {c['failed']}, skipped {c['skipped']}, "
        f"blocked {c['blocked']}"
    )
