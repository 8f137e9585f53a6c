"""Triage state of failed transactions: open, acknowledged, assigned, resolved, ignored.

A failed transaction with no row in ``triage_states`` is ``open``. Every change is
an audit entry (action ``acknowledge``, ``assign``, ``resolve``, ``ignore`` or
``reopen``) written in the same transaction as the new state, so the state and the
record never disagree. Role checks go through :func:`services.roles.authorize`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from services.audit import AuditIn, AuditOut, append_in, lock_audit
from services.db import writer_connection
from services.errors import InputError, StoreError
from services.roles import Actor, authorize, check_reason
from services.settings import Settings
from services.triage.models import TriageState

__all__ = [
    "ACTION_STATES",
    "STATE_ACTIONS",
    "TRIAGE_ACTIONS",
    "TRIAGE_STATES",
    "TriageOut",
    "default_state",
    "get_triage",
    "record_triage",
    "triage_states",
]

TRIAGE_STATES = ("open", "acknowledged", "assigned", "resolved", "ignored")
ACTION_STATES = {
    "acknowledge": "acknowledged",
    "assign": "assigned",
    "resolve": "resolved",
    "ignore": "ignored",
    "reopen": "open",
}
STATE_ACTIONS = {state: action for action, state in ACTION_STATES.items()}
TRIAGE_ACTIONS = tuple(ACTION_STATES)
_MAX_ASSIGNEE = 128


class TriageOut(BaseModel):
    """A transaction's triage state (``updated_at`` is None for the default ``open``)."""

    transaction_id: str
    state: str
    assignee: str | None = None
    note: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None


def default_state(status: str) -> str | None:
    """The state of a transaction nobody triaged: ``open`` when failed, else none."""
    return "open" if status == "failed" else None


def _out(row: Any) -> TriageOut:
    return TriageOut(
        transaction_id=row.transaction_id,
        state=row.state,
        assignee=row.assignee,
        note=row.note,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def triage_states(conn: Connection, transaction_ids: Iterable[str]) -> dict[str, TriageOut]:
    """The stored states of ``transaction_ids`` (those never triaged are left out)."""
    ids = sorted(set(transaction_ids))
    found: dict[str, TriageOut] = {}
    for start in range(0, len(ids), 500):
        stmt = select(TriageState).where(TriageState.transaction_id.in_(ids[start : start + 500]))
        for row in conn.execute(stmt):
            found[row.transaction_id] = _out(row)
    return found


def get_triage(engine: Engine, *, transaction_id: str, status: str) -> TriageOut | None:
    """The triage state of one transaction with ``status`` (None: nothing to triage).

    Example:
        >>> get_triage(engine, transaction_id="tx-1", status="failed").state
        'open'
    """
    with engine.connect() as conn:
        stored = triage_states(conn, [transaction_id]).get(transaction_id)
    if stored is not None:
        return stored
    state = default_state(status)
    return TriageOut(transaction_id=transaction_id, state=state) if state else None


def _check(
    action: str, reason: str, reason_code: str, assignee: str | None, settings: Settings
) -> str | None:
    """The cleaned assignee; raises InputError for a bad action, reason or assignee."""
    if action not in ACTION_STATES:
        known = ", ".join(ACTION_STATES)
        raise InputError(f"unknown triage action {action!r}; use one of: {known}")
    check_reason(reason, reason_code, settings)
    name = (assignee or "").strip()
    if action == "assign" and not name:
        raise InputError("assign needs the name of the person (--assignee)")
    if action != "assign" and name:
        raise InputError(f"--assignee goes with assign only, not with {action}")
    if len(name) > _MAX_ASSIGNEE:
        raise InputError(f"the assignee's name is longer than {_MAX_ASSIGNEE} characters")
    return name or None


def record_triage(
    engine: Engine,
    settings: Settings,
    *,
    transaction_id: str,
    status: str,
    action: str,
    actor: Actor,
    reason: str,
    reason_code: str,
    assignee: str | None = None,
    step: str | None = None,
    now: datetime | None = None,
) -> AuditOut:
    """Change a transaction's triage state and record it in the audit log, atomically.

    Args:
        transaction_id: the transaction; ``status`` is its current status (for the
            default state of one never triaged).
        action: ``acknowledge``, ``assign`` (with ``assignee``), ``resolve``, ``ignore``
            or ``reopen``.
        actor: who acts; the role must allow ``action``.
        reason, reason_code: why (the reason becomes the state's note).
        step: the failed step the entry is about (``erp.salesorder.create``).

    Returns:
        The audit entry; its ``detail`` holds ``from``, ``to`` and ``assignee``.

    Raises:
        PermissionDenied: the role may not; InputError: bad input or no change.

    Example:
        >>> record_triage(engine, settings, transaction_id="tx-1", status="failed",
        ...               action="assign", assignee="raj", actor=Actor("ana", "support"),
        ...               reason="ERP period question", reason_code="other")
    """
    authorize(actor, action, settings)
    name = _check(action, reason, reason_code, assignee, settings)
    created = (now or datetime.now(UTC)).replace(tzinfo=None)
    new = ACTION_STATES[action]
    try:
        with writer_connection(engine) as conn, conn.begin():
            lock_audit(conn)
            row = conn.execute(
                select(TriageState.state, TriageState.assignee).where(
                    TriageState.transaction_id == transaction_id
                )
            ).first()
            old_state = row[0] if row else default_state(status) or "open"
            old_assignee = row[1] if row else None
            new_assignee = name if action == "assign" else None if new == "open" else old_assignee
            if (old_state, old_assignee) == (new, new_assignee):
                who = f" to {new_assignee}" if new_assignee else ""
                raise InputError(f"{transaction_id} is already {new}{who}: nothing to change")
            values = dict(
                state=new,
                assignee=new_assignee,
                note=reason.strip(),
                updated_at=created,
                updated_by=actor.name,
            )
            if row:
                conn.execute(
                    update(TriageState)
                    .where(TriageState.transaction_id == transaction_id)
                    .values(**values)
                )
            else:
                conn.execute(insert(TriageState).values(transaction_id=transaction_id, **values))
            return append_in(
                conn,
                AuditIn(
                    actor=actor.name,
                    role=actor.role,
                    action=action,
                    outcome="recorded",
                    reason_code=reason_code,
                    reason=reason.strip(),
                    transaction_id=transaction_id,
                    step=step,
                    detail={"from": old_state, "to": new, "assignee": new_assignee},
                ),
                created,
            )
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot record the triage change: {exc.__class__.__name__}") from None
