"""Trace page: the triage state and where each failed step's error originated."""

from __future__ import annotations

from tests.app.test_trace_actions import ITEM_TYPO, open_trace, texts  # noqa: F401


def test_the_failed_step_shows_category_origin_and_runbook(open_trace) -> None:  # noqa: F811
    at = open_trace(ITEM_TYPO, "viewer")
    shown = texts(at)
    assert "**Triage:** open" in shown
    assert "salesorder.create` · **data quality** · origin **CRM data**" in shown
    assert "docs/runbooks.md#data-quality" in shown
