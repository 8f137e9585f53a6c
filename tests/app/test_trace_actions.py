"""Trace page actions: buttons per role, the replay / resubmit / note dialogs, lineage and
the actions on record, against sample transactions and the in-process sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from app import state
from app.actions_view import KINDS
from app.state import (
    ACTION_OPEN,
    ACTION_REASON,
    ACTION_REASON_CODE,
    ACTION_SUBMIT,
    RESUBMIT_BODY,
    RESUBMIT_CHECK,
    action_button_key,
)
from services.console import open_console
from services.ingest import ingest_events
from services.settings import load_settings
from tests.app.conftest import MAIN, ROOT, TIMEOUT, plain, rendered_text

TAX_OUTAGE = "o2c-b14e4b"  # tax tax.calculate failed three times with 503
TAX_STEP = "tax.tax.calculate"
ITEM_TYPO = "o2c-0be703"  # erp salesorder.create: item PLAT-ANNAUL not found
ERP_STEP = "erp.salesorder.create"

OpenTrace = Callable[..., AppTest]


def _sample(*correlation_ids: str) -> list[dict]:
    wanted = set(correlation_ids)
    with (ROOT / "sample_data" / "events.jsonl").open() as fh:
        events = [json.loads(line) for line in fh if line.strip()]
    return [e for e in events if e.get("correlationid") in wanted]


@pytest.fixture
def open_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OpenTrace:
    """The Trace page of ``key`` as ``role``, on a store holding two sample transactions."""
    url = f"sqlite:///{tmp_path / 'actions.db'}"
    console = open_console(load_settings(database_url=url))
    summary = ingest_events(engine=console.engine, events=_sample(TAX_OUTAGE, ITEM_TYPO))
    assert summary.rejected == 0 and summary.accepted > 0
    console.engine.dispose()
    monkeypatch.setenv("Q2C_DATABASE_URL", url)
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(ROOT / "sample_data"))  # sandbox master data

    def run(key: str, role: str, name: str = "ana") -> AppTest:
        at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
        at.session_state[state.ACTOR_NAME] = name
        at.session_state[state.ACTOR_ROLE] = role
        at.query_params["key"] = key
        at.switch_page("../pages/trace.py")
        at.run()
        assert not at.exception
        return at

    return run


def action_buttons(at: AppTest) -> set[str]:
    return {b.key for b in at.button if b.key and b.key.startswith("trace_action_")}


def texts(at: AppTest) -> str:
    """Markdown, captions and alerts anywhere, dialogs included, as the user reads them."""
    kinds = ("markdown", "caption", "info", "success", "warning", "error")
    return "\n".join(plain(el.value) for kind in kinds for el in at.get(kind))


def dialog(at: AppTest) -> Block | None:
    """The open ``st.dialog``, if any."""
    found = at.get("dialog")
    assert len(found) <= 1
    return found[0] if found else None  # type: ignore[return-value]


def errors(at: AppTest) -> list[str]:
    """The errors shown in the open dialog."""
    box = dialog(at)
    assert box is not None, "no dialog is open"
    return [plain(e.value) for e in box.error]


def fill_reason(at: AppTest, code: str, reason: str) -> None:
    at.selectbox(key=ACTION_REASON_CODE).set_value(code)
    at.text_input(key=ACTION_REASON).input(reason)


def records(at: AppTest):
    """The "Actions on record" table (None when there is none)."""
    tables = [d.value for d in at.dataframe if "Idempotency key" in d.value.columns]
    return tables[0] if tables else None


def test_a_viewer_sees_no_action_buttons(open_trace) -> None:
    at = open_trace(TAX_OUTAGE, "viewer")
    assert action_buttons(at) == set()
    assert not any(b.label in ("Replay", "Edit and resubmit", "Ignore") for b in at.button)
    assert "No actions: your role may not act." in rendered_text(at)


def test_support_may_replay_acknowledge_resolve_but_not_resubmit_or_ignore(open_trace) -> None:
    at = open_trace(TAX_OUTAGE, "support")
    assert action_buttons(at) == {
        action_button_key(kind, TAX_STEP) for kind in ("replay", "acknowledge", "resolve")
    }


def test_revops_sees_every_action(open_trace) -> None:
    at = open_trace(ITEM_TYPO, "revops")
    assert action_buttons(at) == {action_button_key(kind, ERP_STEP) for kind in KINDS}


def test_read_only_switch_hides_every_action(open_trace, monkeypatch) -> None:
    monkeypatch.setenv("Q2C_READ_ONLY", "true")
    at = open_trace(ITEM_TYPO, "admin")
    assert action_buttons(at) == set()
    assert "No actions: the console is read-only." in rendered_text(at)


def test_replay_through_the_dialog_is_shown_in_the_trace_and_on_record(open_trace) -> None:
    at = open_trace(TAX_OUTAGE, "support")
    at.button(key=action_button_key("replay", TAX_STEP)).click().run()
    assert not at.exception
    dialog_text = texts(at)
    assert "Target check: Not checked" in dialog_text
    assert "o2c-b14e4b:tax.calculate" in dialog_text  # the key that will be sent again

    fill_reason(at, "transient_outage", "tax service is back")
    at.button(key=ACTION_SUBMIT).click().run()

    assert not at.exception
    assert ACTION_OPEN not in at.session_state and dialog(at) is None  # the dialog closed
    done = [plain(s.value) for s in at.success]
    assert any("Replay tax.tax.calculate: succeeded" in s for s in done), done
    assert any("audit entry #1" in s for s in done)
    # The console's write-back event is an attempt of the step now.
    labels = [plain(e.label) for e in at.expander]
    assert any(label.endswith("tax tax.calculate · attempt 4 · succeeded") for label in labels)
    lineage = "\n".join(plain(m.value) for m in at.markdown)
    assert "**replay** by ana" in lineage
    assert "original from `urn:q2c:tax`" in lineage
    # The first error stays in view although the step succeeded.
    assert any("First error:" in plain(c.value) and "503" in c.value for c in at.caption)
    # No more failed step: no buttons.
    assert action_buttons(at) == set()
    table = records(at)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["Who"], row["Role"], row["Action"], row["Outcome"]) == (
        "ana",
        "support",
        "replay",
        "succeeded",
    )
    assert row["Reason code"] == "transient_outage" and row["Reason"] == "tax service is back"
    assert row["Idempotency key"] == "o2c-b14e4b:tax.calculate"


def test_an_empty_reason_is_refused_on_screen(open_trace) -> None:
    at = open_trace(TAX_OUTAGE, "support")
    at.button(key=action_button_key("replay", TAX_STEP)).click().run()
    at.button(key=ACTION_SUBMIT).click().run()

    assert not at.exception
    assert any(e.startswith("a reason is required") for e in errors(at)), errors(at)
    assert at.session_state[ACTION_OPEN]["action"] == "replay"  # still open to fix it
    assert records(at) is None
    assert "No action has been taken on this transaction." in rendered_text(at)


def test_a_replay_that_fails_again_says_why_and_is_recorded(open_trace) -> None:
    at = open_trace(ITEM_TYPO, "support")
    at.button(key=action_button_key("replay", ERP_STEP)).click().run()
    fill_reason(at, "cause_fixed", "item added to the ERP")
    at.button(key=ACTION_SUBMIT).click().run()

    assert not at.exception
    assert dialog(at) is None
    failed = [plain(e.value) for e in at.error]
    assert any("Replay erp.salesorder.create: failed" in e and "PLAT-ANNAUL" in e for e in failed)
    assert records(at).iloc[0]["Outcome"] == "failed"
    # Still failed: the buttons are back for another try.
    assert action_button_key("replay", ERP_STEP) in action_buttons(at)


def test_resubmit_checks_json_schema_and_diff_then_sends(open_trace) -> None:
    at = open_trace(ITEM_TYPO, "revops", name="raj")
    at.button(key=action_button_key("resubmit", ERP_STEP)).click().run()
    assert not at.exception
    original = at.text_area(key=RESUBMIT_BODY).value
    assert "PLAT-ANNAUL" in original and original.startswith("{\n  ")

    at.text_area(key=RESUBMIT_BODY).input('{"externalId": "x",}')
    at.button(key=RESUBMIT_CHECK).click().run()
    assert not at.exception
    assert errors(at) == [
        "Invalid JSON at line 1, column 20: Expecting property name enclosed in double quotes"
    ]

    at.text_area(key=RESUBMIT_BODY).input('{"externalId": "x"}')
    at.button(key=RESUBMIT_CHECK).click().run()
    [problem] = errors(at)
    assert "does not fit its schema: customer: Field required" in problem

    fixed = original.replace("PLAT-ANNAUL", "PLAT-ANNUAL")
    at.text_area(key=RESUBMIT_BODY).input(fixed)
    at.button(key=RESUBMIT_CHECK).click().run()
    assert errors(at) == []
    text = "\n".join(plain(m.value) for m in at.markdown)
    assert '`lines[0].item`: `"PLAT-ANNAUL"` → `"PLAT-ANNUAL"`' in text
    assert any("Would create" in plain(i.value) for i in at.info)

    fill_reason(at, "data_corrected", "typo in the product code")
    at.button(key=ACTION_SUBMIT).click().run()
    assert not at.exception
    done = [plain(s.value) for s in at.success]
    assert any("Edit and resubmit erp.salesorder.create: succeeded" in s for s in done), done
    assert any("o2c-0be703:salesorder.create#r1" in s for s in done)
    row = records(at).iloc[0]
    assert (row["Who"], row["Action"], row["Outcome"]) == ("raj", "resubmit", "succeeded")
    assert row["Idempotency key"] == "o2c-0be703:salesorder.create#r1"
    lineage = "\n".join(plain(m.value) for m in at.markdown)
    assert "**resubmit** by raj" in lineage


def test_resubmit_with_invalid_json_is_one_line_not_a_traceback(open_trace) -> None:
    at = open_trace(ITEM_TYPO, "revops")
    at.button(key=action_button_key("resubmit", ERP_STEP)).click().run()
    at.text_area(key=RESUBMIT_BODY).input("{oops")
    fill_reason(at, "data_corrected", "fix")
    at.button(key=ACTION_SUBMIT).click().run()
    assert not at.exception
    assert errors(at) == [
        "Invalid JSON at line 1, column 2: Expecting property name enclosed in double quotes"
    ]


def test_acknowledge_records_a_note(open_trace) -> None:
    at = open_trace(ITEM_TYPO, "support")
    at.button(key=action_button_key("acknowledge", ERP_STEP)).click().run()
    fill_reason(at, "other", "looking into the item master")
    at.button(key=ACTION_SUBMIT).click().run()
    assert not at.exception
    assert any("**Acknowledge: recorded** by ana (support)" in plain(s.value) for s in at.success)
    row = records(at).iloc[0]
    assert (row["Action"], row["Outcome"], row["Reason"]) == (
        "acknowledge",
        "recorded",
        "looking into the item master",
    )
