"""Trace page: "Continue the flow" after the failed step succeeded."""

from __future__ import annotations

import json

from app.state import CONTINUE_BUTTON, CONTINUE_CONFIRM, CONTINUE_REASON
from services.connections import open_systems
from services.console import open_console
from services.replay import Actions
from services.roles import Actor
from services.settings import load_settings
from tests.app.test_trace_actions import ITEM_TYPO, ROOT, open_trace, texts  # noqa: F401


def _fix_the_order(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Resubmit the sales order with the typo fixed (as the resubmit dialog would)."""
    import os

    settings = load_settings(
        database_url=os.environ["Q2C_DATABASE_URL"], sample_data_dir=str(ROOT / "sample_data")
    )
    actions = Actions(open_console(settings), open_systems(settings))
    fixed = json.loads(json.dumps(actions.target(ITEM_TYPO).request))
    fixed["lines"][0]["item"] = "PLAT-ANNUAL"
    out = actions.resubmit(
        key=ITEM_TYPO, step=None, payload=fixed, actor=Actor("raj", "revops"),
        reason="typo", reason_code="data_corrected",
    )  # fmt: skip
    assert out.outcome == "succeeded"


def test_continue_is_offered_only_when_nothing_is_failed(open_trace, monkeypatch) -> None:  # noqa: F811
    at = open_trace(ITEM_TYPO, "revops")
    assert not [b for b in at.button if b.key == CONTINUE_BUTTON]  # still failed
    _fix_the_order(monkeypatch)
    at = open_trace(ITEM_TYPO, "support")
    assert not [b for b in at.button if b.key == CONTINUE_BUTTON]  # support may not continue
    at = open_trace(ITEM_TYPO, "revops")
    assert "never ran: tax.tax.calculate, billing.invoice.create" in texts(at)
    at.button(key=CONTINUE_BUTTON).click().run()
    at.text_input(key=CONTINUE_REASON).set_value("order is in the ERP now")
    at.button(key=CONTINUE_CONFIRM).click().run()
    assert not at.exception
    shown = texts(at)
    assert "tax.tax.calculate: succeeded" in shown
    assert "billing.invoice.create: succeeded" in shown
    assert "stopped at erp.invoice.post" in shown  # October is closed in the ERP
