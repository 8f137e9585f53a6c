"""Who is acting: in demo mode the sidebar picks a name and a role, and says so.

Production identity (OIDC through ``st.login``) is not wired yet; until then the
console refuses to guess: outside demo mode everyone is a viewer.
"""

from __future__ import annotations

import streamlit as st

from app import state
from services.roles import ROLES, Actor, allowed
from services.settings import Settings

__all__ = ["current_actor", "may", "role_picker"]

ROLE_HELP = {
    "viewer": "read only (finance)",
    "support": "acknowledge, resolve, replay one step",
    "revops": "everything an operator does, incl. resubmit and bulk replay",
    "admin": "everything, and approve bulk runs",
}


def role_picker(settings: Settings) -> None:
    """The sidebar's name and role inputs (demo mode only)."""
    if settings.mode != "demo":
        st.sidebar.caption("Signed-in identity is not configured: read only.")
        return
    st.sidebar.text_input("Your name", key=state.ACTOR_NAME)
    st.sidebar.selectbox(
        "Role (demo mode)",
        list(ROLES),
        key=state.ACTOR_ROLE,
        format_func=lambda r: f"{r}: {ROLE_HELP[r]}",
    )
    st.sidebar.caption("Demo mode: anyone can pick any role. Actions are recorded under it.")


def current_actor(settings: Settings) -> Actor:
    """The acting person (a viewer outside demo mode)."""
    if settings.mode != "demo":
        return Actor("anonymous", "viewer")
    name = str(st.session_state.get(state.ACTOR_NAME) or "demo").strip() or "demo"
    role = str(st.session_state.get(state.ACTOR_ROLE) or "revops")
    return Actor(name, role if role in ROLES else "viewer")


def may(settings: Settings, action: str) -> bool:
    """Whether to show ``action`` to the current person (the services check again)."""
    return not settings.read_only and allowed(current_actor(settings).role, action)
