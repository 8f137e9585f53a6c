"""What a bulk run carries: its context, its pending items and each item's result.

Shared by the run engine (:mod:`services.bulk_run`) and its batched writes
(:mod:`services.bulk_records`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from services.bulk_limits import Breaker, TokenBucket
from services.catalog import Catalog
from services.connections import Systems
from services.replay_plan import StepTarget
from services.roles import Actor
from services.settings import Settings

__all__ = ["ItemResult", "RunContext", "RunItem"]

_STATE_OF = {
    "succeeded": "succeeded",
    "linked": "succeeded",
    "already_done": "skipped",
    "conflict": "blocked",
    "in_progress": "pending",
    "not_started": "pending",
}


@dataclass(slots=True)
class RunItem:
    """One pending item of a run, with the step target stored when it was planned."""

    position: int
    transaction_id: str
    step: str
    target: StepTarget


@dataclass(slots=True)
class ItemResult:
    """What happened to one item; written by the coordinator."""

    item: RunItem
    outcome: str
    message: str
    sent: bool = False
    verdict: str | None = None
    response: Any = None
    error: dict[str, Any] | None = None
    event: dict[str, Any] | None = None
    claimed: bool = False

    @property
    def state(self) -> str:
        """The item state this outcome leaves."""
        return _STATE_OF.get(self.outcome, "failed")


@dataclass(slots=True)
class RunContext:
    """Everything a run needs besides its items."""

    engine: Engine
    settings: Settings
    catalog: Catalog
    systems: Systems
    actor: Actor
    run_id: str
    reason: str
    reason_code: str
    concurrency: int
    rate: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    batch_size: int = 100
    flush_seconds: float = 0.5
    breaker: Breaker = field(default_factory=lambda: Breaker(5))
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def bucket(self, system: str) -> TokenBucket:
        """The rate limiter of ``system`` (made on first use; coordinator thread only)."""
        if system not in self.buckets:
            self.buckets[system] = TokenBucket(self.rate, clock=self.clock, sleep=self.sleep)
        return self.buckets[system]

    @property
    def holder(self) -> str:
        """Who holds this run's claims."""
        return f"{self.actor.name} (bulk {self.run_id})"
