"""Validate an opportunity: every rule, concurrently, against the systems of record.

:func:`validate` loads the opportunity from Salesforce (its lines, products and
price book entries), runs every registered rule on a thread pool (look-ups are
I/O: ``Q2C_VALIDATION_CONCURRENCY`` at a time, cached and shared through
:class:`~services.validation.context.LookupCache`), turns findings into checks,
decides the verdict, and stores the run with its evidence.
"""

from __future__ import annotations

import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from services.errors import ConnectorError, InputError, NotFoundError, RecordNotFound
from services.validation.context import LookupCache, OrderContext, SystemUnreachable
from services.validation.model import CheckOut, Finding, Rule, ValidationOut, verdict_of, worst
from services.validation.registry import all_rules
from services.validation.runs import ValidationRun

log = logging.getLogger("q2c.validation")

__all__ = ["SF_ID", "check_opportunity_id", "history", "run_rules", "validate"]

SF_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


def check_opportunity_id(value: str) -> str:
    """The id if it looks like a Salesforce Opportunity id; refused before any request."""
    value = (value or "").strip()
    if not SF_ID.fullmatch(value):
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise InputError(
            f"{shown!r} is not a Salesforce id (15 or 18 letters and digits); nothing was asked"
        )
    if not value.startswith("006"):
        raise InputError(f"{value!r} is not an Opportunity id (those start with 006)")
    return value


def _one(rule: Rule, ctx: OrderContext) -> CheckOut:
    try:
        found = rule.fn(ctx)
    except SystemUnreachable as exc:
        return CheckOut(
            id=rule.id,
            domain=rule.domain,
            status="unknown",
            system=rule.system,
            message=f"{exc.system} was not reached, so this is unknown: {exc.error.message}",
            evidence={"error": exc.error.to_dict()},
            remediation=rule.remediation,
            title=rule.title,
        )
    except ConnectorError as exc:  # the system answered, but not as the rule expected
        return _unknown(rule, f"{rule.system} refused the question: {exc}", exc.to_dict())
    except Exception as exc:  # a bug in one rule must not hide every other check
        log.exception("validation rule %s failed", rule.id)
        return _unknown(rule, f"the check could not run ({type(exc).__name__})", {})
    findings = found if isinstance(found, list) else [found]
    if not findings:
        findings = [Finding("pass", rule.title)]
    status = worst([f.status for f in findings])
    shown = [f for f in findings if f.status == status]
    message = "; ".join(dict.fromkeys(f.message for f in shown))
    evidence: Any = (
        findings[0].evidence
        if len(findings) == 1
        else [{"status": f.status, "message": f.message, **f.evidence} for f in findings]
    )
    return CheckOut(
        id=rule.id,
        domain=rule.domain,
        status=status,
        system=rule.system,
        message=message,
        evidence=evidence,
        remediation=rule.remediation if status != "pass" else None,
        title=rule.title,
        needs_approval=any(f.needs_approval for f in shown),
    )


def _unknown(rule: Rule, message: str, evidence: Any) -> CheckOut:
    return CheckOut(
        id=rule.id,
        domain=rule.domain,
        status="unknown",
        system=rule.system,
        message=message,
        evidence=evidence,
        remediation=rule.remediation,
        title=rule.title,
    )


def run_rules(ctx: OrderContext, rules: list[Rule], workers: int) -> list[CheckOut]:
    """Each rule's check, in the order of ``rules`` (run concurrently)."""
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="q2c-check") as pool:
        return list(pool.map(lambda r: _one(r, ctx), rules))


def validate(
    *,
    engine: Engine,
    connectors: Any,
    opportunity_id: str,
    settings: Any,
    cache: LookupCache,
    actor: str | None = None,
    store: bool = True,
) -> ValidationOut:
    """Run every rule on ``opportunity_id`` and store the run.

    Args:
        connectors: ``system -> connector`` (``Systems.connector``).

    Raises:
        InputError: a malformed id (nothing is asked).
        NotFoundError: Salesforce has no such opportunity.
        ConnectorError: Salesforce, which holds the order, could not be asked.
    """
    opp_id = check_opportunity_id(opportunity_id)
    started = time.perf_counter()
    try:
        detail = connectors("salesforce").get_opportunity(opp_id)
    except RecordNotFound:
        raise NotFoundError(f"Salesforce has no opportunity {opp_id}") from None
    except ConnectorError:
        raise
    ctx = OrderContext(opp_id, detail, connectors, cache, settings)
    checks = run_rules(ctx, all_rules(), settings.validation_concurrency)
    unreached = sorted(ctx.unreached)
    verdict, summary = verdict_of(checks, unreached)
    took = (time.perf_counter() - started) * 1000
    out = ValidationOut(
        verdict=verdict,
        opportunity_id=opp_id,
        checks=checks,
        unreached=unreached,
        took_ms=round(took, 1),
        summary=summary,
        created=datetime.now(UTC).replace(tzinfo=None),
    )
    if store:
        with engine.begin() as conn:
            out.run_id = conn.execute(
                insert(ValidationRun).values(
                    opportunity_id=opp_id,
                    created=out.created,
                    verdict=verdict,
                    actor=actor,
                    took_ms=out.took_ms,
                    result_json=json.dumps(out.model_dump(mode="json")),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
    return out


def history(engine: Engine, opportunity_id: str, *, limit: int = 50) -> list[ValidationOut]:
    """The stored runs of one opportunity, newest first."""
    stmt = (
        select(ValidationRun.id, ValidationRun.result_json)
        .where(ValidationRun.opportunity_id == opportunity_id)
        .order_by(ValidationRun.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out = []
    for run_id, text in rows:
        item = ValidationOut.model_validate_json(text)
        item.run_id = run_id
        out.append(item)
    return out
