"""Validation page: deep link, verdict and checks by domain, accept by role, bad ids."""

from __future__ import annotations

import pytest

from app import state
from tests.app.conftest import ROOT, plain, rendered_text

GOOD = "0065g00000ZPF5iAAH"  # passes every default rule


@pytest.fixture
def sandbox_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(ROOT / "sample_data"))


def test_a_deep_link_validates_and_shows_checks_by_domain(open_page, sandbox_data) -> None:
    at = open_page("validation", opportunity_id=GOOD)
    assert not at.exception
    text = plain(rendered_text(at))
    assert GOOD in text and "Account" in [h.value for h in at.subheader]
    verdicts = (
        [a.value for a in at.success] + [a.value for a in at.warning] + [a.value for a in at.error]
    )
    assert any(GOOD in v for v in verdicts)
    assert "account.erp_customer" in text


@pytest.mark.parametrize(
    "bad", ["006' OR Name != '", "<script>alert(1)</script>", "0015g00000L84wjAAB"]
)
def test_bad_ids_are_one_line_errors(open_page, sandbox_data, bad) -> None:
    at = open_page("validation")
    at.text_input(key=state.VALIDATION_ID).set_value(bad).run()
    at.button(key=state.VALIDATION_RUN).click().run()
    assert not at.exception
    assert len(at.error) == 1
    assert "not a" in plain(at.error[0].value)


def test_a_viewer_sees_no_accept_button(open_page, sandbox_data) -> None:
    at = open_page("validation")
    at.session_state[state.ACTOR_ROLE] = "viewer"
    at.text_input(key=state.VALIDATION_ID).set_value(GOOD).run()
    at.button(key=state.VALIDATION_RUN).click().run()
    assert not at.exception
    assert not [b for b in at.button if b.key == state.VALIDATION_ACCEPT]


def test_revops_accepts_through_the_dialog(open_page, sandbox_data) -> None:
    at = open_page("validation", opportunity_id=GOOD)
    at.session_state[state.ACTOR_ROLE] = "revops"
    at.run()
    assert [b for b in at.button if b.key == state.VALIDATION_ACCEPT], "no accept button"
    at.button(key=state.VALIDATION_ACCEPT).click().run()
    at.text_area(key=state.VALIDATION_REASON).set_value("deal desk approved")
    at.button(key=state.VALIDATION_CONFIRM).click().run()
    assert not at.exception
    assert any("accepted" in s.value for s in at.success), [
        (e.type, getattr(e, "value", "")) for e in at.main
    ]


NEEDS_APPROVAL = "0065g00000VD002AAD"  # demo: a 30% discount


def test_revops_requests_approval_and_the_admin_sees_it(open_page, sandbox_data) -> None:
    at = open_page("validation")
    at.session_state[state.ACTOR_ROLE] = "revops"
    at.session_state[state.ACTOR_NAME] = "raj"
    at.text_input(key=state.VALIDATION_ID).set_value(NEEDS_APPROVAL).run()
    at.button(key=state.VALIDATION_RUN).click().run()
    assert any("Needs approval" in w.value for w in at.warning)
    assert not [b for b in at.button if b.key == state.VALIDATION_ACCEPT]  # revops may not approve
    at.text_input[1].set_value("strategic account, deal desk agreed")
    at.button[-1].click().run()
    assert not at.exception
    assert any("approval requested" in s.value for s in at.success)
    at.session_state[state.ACTOR_ROLE] = "admin"
    at.button(key=state.VALIDATION_RUN).click().run()
    assert any("Approval requested by raj" in plain(c.value) for c in at.caption)
    assert [b for b in at.button if b.key == state.VALIDATION_ACCEPT][
        0
    ].label == "Approve and accept"


def test_the_cli_and_the_page_agree(open_page, sandbox_data, capsys) -> None:
    import json

    from services.cli import main

    for opp in (GOOD, NEEDS_APPROVAL, "0065g00000VD004AAD"):
        assert main(["validate", opp, "--json"]) in (0, 1)
        cli = json.loads(capsys.readouterr().out)
        at = open_page("validation", opportunity_id=opp)
        page = at.session_state[state.VALIDATION_RESULT]
        assert page.verdict == cli["verdict"]
        assert {c.id: c.status for c in page.checks} == {
            c["id"]: c["status"] for c in cli["checks"]
        }
