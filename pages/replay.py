"""Replay: bulk replay of failed steps by filter: dry run, request, approve, run, summary."""

from __future__ import annotations

import streamlit as st

from app import replay_view as view
from app.identity import current_actor
from app.resources import console_or_stop, systems_or_stop
from services.bulk import BulkReplay

console = console_or_stop()
systems = systems_or_stop()
settings = console.settings
actor = current_actor(settings)
bulk = BulkReplay(console, systems)

view.intro(actor, settings)
filters = view.filters_form(console.catalog.flows)

# -- dry run -----------------------------------------------------------------------------
plan = view.dry_run(bulk, filters)
if plan is not None:
    view.show_plan(plan)
    view.start_form(bulk, filters=filters, plan=plan, actor=actor, settings=settings)

# -- runs ----------------------------------------------------------------------------------
runs = bulk.runs()
st.subheader("Runs")
view.show_notice()
if not runs:
    st.caption("No bulk replay yet.")
    st.stop()
view.runs_table(runs)
chosen = view.pick_run(runs)
buttons = view.action_buttons(bulk, chosen, actor=actor, settings=settings)
summary = bulk.summary(run_id=chosen.id)
view.retry_button(bulk, chosen, summary, column=buttons[3], actor=actor, settings=settings)
view.show_summary(summary)
