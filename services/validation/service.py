"""Validation for pages and the CLI: validate, history, accept.

:class:`Validation` binds a console, its systems and one look-up cache (so
master data answers are reused across validations for the configured TTL).
Accepting an order validates it again (never on a stale verdict), is allowed
only for ``accept``, or for ``needs_approval`` by a role that may approve, with
a reason; writes ``Accepted`` back to the Opportunity through the Salesforce
connector; and is an action in the audit log. Accepting twice is a no-op that
says so; two clicks at once accept once (the same database claim as a replay).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from services.audit import AuditIn, append, entries
from services.connections import Systems
from services.console import Console
from services.errors import ConnectorError, InputError, NotFoundError
from services.replay import claim_effect, release_effect
from services.replay_plan import StepTarget
from services.roles import Actor, allowed, authorize, check_reason
from services.validation.context import LookupCache
from services.validation.engine import SF_ID, check_opportunity_id, history, validate
from services.validation.model import ValidationOut

__all__ = ["AcceptOut", "Validation"]


class AcceptOut(BaseModel):
    """What an accept did."""

    opportunity_id: str
    outcome: Literal[
        "accepted", "already_accepted", "refused", "failed", "in_progress", "requested"
    ]
    message: str
    verdict: str | None = None
    run_id: int | None = None
    audit_seq: int | None = None


class Validation:
    """Validation of orders for one console.

    Example:
        >>> v = Validation(console, systems)
        >>> v.validate("0065g00000ZPDfnAAH").verdict
        'accept'
    """

    def __init__(self, console: Console, systems: Systems) -> None:
        self.console = console
        self.systems = systems
        self.settings = console.settings
        self.cache = LookupCache(self.settings.validation_cache_seconds)

    def resolve(self, value: str) -> str:
        """An Opportunity id from an Opportunity or (synced) Quote id.

        Raises:
            InputError: not a Salesforce id (nothing is asked).
            NotFoundError: no opportunity has that quote.
        """
        value = (value or "").strip()
        if SF_ID.fullmatch(value) and value.startswith("0Q0"):
            found = self.systems.connector("salesforce").find_opportunity_id(value)
            if not found:
                raise NotFoundError(f"no opportunity has the synced quote {value}")
            return str(found)
        return check_opportunity_id(value)

    def validate(self, opportunity_id: str, *, actor: str | None = None) -> ValidationOut:
        """Run every check (an Opportunity or Quote id); the run is stored with its evidence."""
        return validate(
            engine=self.console.engine,
            connectors=self.systems.connector,
            opportunity_id=self.resolve(opportunity_id),
            settings=self.settings,
            cache=self.cache,
            actor=actor,
        )

    def history(self, opportunity_id: str) -> list[ValidationOut]:
        return history(self.console.engine, check_opportunity_id(opportunity_id))

    def closed_won(self, *, limit: int = 50) -> list[dict[str, Any]]:
        """Closed-won opportunities not accepted yet (newest first)."""
        accepted = self.accepted_ids()
        rows = self.systems.connector("salesforce").list_closed_won(limit=min(2000, limit * 4))
        status_field = self.settings.salesforce_status_field
        return [
            r for r in rows if r.get("Id") not in accepted and r.get(status_field) != "Accepted"
        ][:limit]

    def accepted_ids(self) -> set[str]:
        return {
            e.target
            for e in entries(self.console.engine, action="accept")
            if e.outcome == "accepted" and e.target
        }

    def approval_requests(self, opportunity_id: str) -> list[Any]:
        """Who asked for an approval of this order, newest first (audit entries)."""
        opp = check_opportunity_id(opportunity_id)
        return entries(
            self.console.engine, action="request_approval", target=opp, newest_first=True
        )

    def request_approval(
        self, opportunity_id: str, *, actor: Actor, reason: str, reason_code: str
    ) -> AcceptOut:
        """Ask an admin to approve an order whose verdict is needs_approval (on the record)."""
        authorize(actor, "request_approval", self.settings)
        check_reason(reason, reason_code, self.settings)
        opp = self.resolve(opportunity_id)
        runs = history(self.console.engine, opp, limit=1)
        if not runs or runs[0].verdict != "needs_approval":
            raise InputError(
                f"{opp}: only an order whose last validation says needs_approval can be sent "
                "for approval (validate it first)"
            )
        entry = append(
            self.console.engine,
            AuditIn(
                actor=actor.name,
                role=actor.role,
                action="request_approval",
                outcome="requested",
                reason_code=reason_code,
                reason=reason.strip(),
                target=opp,
                detail={"verdict": runs[0].verdict, "run_id": runs[0].run_id},
            ),
        )
        return AcceptOut(
            opportunity_id=opp,
            outcome="requested",
            message="approval requested: an admin can approve and accept it",
            verdict=runs[0].verdict,
            run_id=runs[0].run_id,
            audit_seq=entry.seq,
        )

    def accept(
        self, opportunity_id: str, *, actor: Actor, reason: str, reason_code: str
    ) -> AcceptOut:
        """Accept the order if its fresh verdict allows it; write the status to Salesforce."""
        authorize(actor, "accept", self.settings)
        opp = check_opportunity_id(opportunity_id)
        check_reason(reason, reason_code, self.settings)
        done = entries(self.console.engine, action="accept", target=opp)
        done = [e for e in done if e.outcome == "accepted"]
        if done:
            first = done[0]
            return AcceptOut(
                opportunity_id=opp,
                outcome="already_accepted",
                message=(
                    f"already accepted by {first.actor} on {first.created:%Y-%m-%d %H:%M} UTC "
                    f"(audit entry {first.seq}): nothing done"
                ),
            )
        effect = f"accept|{opp}"
        holder = StepTarget(
            transaction_id=opp[:40],
            correlation_id=None,
            flow=None,
            system="salesforce",
            operation="opportunity.accept",
            status="pending",
            attempts=0,
        )
        claimed, previous = claim_effect(self.console.engine, effect, holder, actor.name)
        if not claimed:
            state, who = previous or ("in_progress", "someone")
            if state == "in_progress":
                return AcceptOut(
                    opportunity_id=opp,
                    outcome="in_progress",
                    message=f"{who} is accepting this order now",
                )
            return AcceptOut(
                opportunity_id=opp, outcome="already_accepted", message=f"already accepted by {who}"
            )
        try:
            result = self._accept(opp, actor, reason.strip(), reason_code)
        except BaseException:
            release_effect(self.console.engine, effect, "failed", None)
            raise
        release_effect(
            self.console.engine,
            effect,
            "succeeded" if result.outcome == "accepted" else "failed",
            {"outcome": result.outcome},
        )
        return result

    def _accept(self, opp: str, actor: Actor, reason: str, reason_code: str) -> AcceptOut:
        run = self.validate(opp, actor=actor.name)
        approval = run.verdict == "needs_approval"
        refusal: str | None = None
        if run.verdict == "reject":
            refusal = f"the order fails validation ({run.summary}): fix it and validate again"
        elif approval and not allowed(actor.role, "approve"):
            refusal = (
                f"the order needs approval ({run.summary}); {actor.name} ({actor.role}) may "
                "not approve: an admin must accept it"
            )
        outcome: Literal["accepted", "refused", "failed"]
        response: Any = None
        if refusal:
            outcome, message = "refused", refusal
        else:
            detail = f"Accepted by {actor.name} ({actor.role}): {reason}"
            if approval:
                detail += f" [approved despite: {run.summary}]"
            try:
                response = self.systems.connector("salesforce").write_status(
                    opp, "Accepted", detail[:255]
                )
                outcome, message = "accepted", "accepted; Salesforce updated"
            except ConnectorError as exc:
                outcome, message = "failed", f"not accepted: {exc}"
        entry = append(
            self.console.engine,
            AuditIn(
                actor=actor.name,
                role=actor.role,
                action="accept",
                outcome=outcome,
                reason_code=reason_code,
                reason=reason,
                target=opp,
                step="salesforce.opportunity.accept",
                response=response,
                detail={"verdict": run.verdict, "run_id": run.run_id, "approval": approval},
            ),
        )
        return AcceptOut(
            opportunity_id=opp,
            outcome=outcome,
            message=message,
            verdict=run.verdict,
            run_id=run.run_id,
            audit_seq=entry.seq,
        )
