"""Who may do what: roles and permissions, checked in the services layer.

Pages hide what a role may not do, but the check that counts is here, so the
CLI (``--actor``/``--role``) and every other caller obey the same rules::

    viewer   read only (finance)
    support  acknowledge, assign, resolve, reopen, replay one step
    revops   everything an operator does: also ignore, resubmit, continue, bulk replay,
             accept a validated order
    admin    everything, and approve (bulk runs, orders that need approval)

``Q2C_READ_ONLY=true`` refuses every action whatever the role.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.errors import InputError, Q2CError
from services.settings import Settings

__all__ = [
    "ACTIONS",
    "ROLES",
    "Actor",
    "PermissionDenied",
    "allowed",
    "authorize",
    "check_reason",
]

ACTIONS = (
    "acknowledge",
    "assign",
    "resolve",
    "ignore",
    "reopen",
    "replay",
    "resubmit",
    "continue",
    "bulk_replay",
    "accept",
    "request_approval",
    "approve",
)
_SUPPORT = frozenset({"acknowledge", "assign", "resolve", "reopen", "replay", "request_approval"})
_REVOPS = frozenset(ACTIONS) - {"approve"}
ROLES: dict[str, frozenset[str]] = {
    "viewer": frozenset(),
    "support": _SUPPORT,
    "revops": _REVOPS,
    "admin": frozenset(ACTIONS),
}


class PermissionDenied(Q2CError):
    """The actor's role may not take this action (or the console is read-only)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a name and a role (from the sidebar in demo mode, the CLI, or SSO)."""

    name: str
    role: str

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise PermissionDenied("an action needs the name of who takes it (--actor)")
        if self.role not in ROLES:
            raise PermissionDenied(f"unknown role {self.role!r}; roles: {', '.join(ROLES)}")


def check_reason(reason: str, reason_code: str, settings: Settings) -> None:
    """Every action needs a reason and a code from ``Q2C_REASON_CODES``.

    Raises:
        InputError: the reason is empty or the code unknown (one line).
    """
    if not reason or not reason.strip():
        raise InputError("a reason is required: say why (it goes on the record)")
    if reason_code not in settings.reason_codes:
        raise InputError(
            f"unknown reason code {reason_code!r}; use one of: " + ", ".join(settings.reason_codes)
        )


def allowed(role: str, action: str) -> bool:
    """True when ``role`` may take ``action`` (for hiding buttons; not a check)."""
    return action in ROLES.get(role, frozenset())


def authorize(actor: Actor, action: str, settings: Settings) -> None:
    """Refuse ``action`` unless the actor's role allows it and the console is writable.

    Raises:
        PermissionDenied: one line saying who, what and why not.
    """
    if action not in ACTIONS:
        raise PermissionDenied(f"unknown action {action!r}")
    if settings.read_only:
        raise PermissionDenied(
            f"the console is read-only (Q2C_READ_ONLY): {action} is switched off"
        )
    if not allowed(actor.role, action):
        who = [r for r, acts in ROLES.items() if action in acts]
        raise PermissionDenied(
            f"{actor.name} ({actor.role}) may not {action.replace('_', ' ')}; "
            f"allowed for: {', '.join(who)}"
        )
