"""The validation engine: ids refused before any request, unknown is never pass,
concurrency and caching, runs stored, accept rules and roles."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.connections import open_systems
from services.console import Console, open_console
from services.errors import InputError, NotFoundError
from services.roles import Actor, PermissionDenied
from services.settings import load_settings
from services.systems.registry import BuildEnv
from services.validation.context import LookupCache
from services.validation.model import CheckOut, verdict_of
from services.validation.service import Validation

ROOT = Path(__file__).resolve().parents[2]
GOOD = "0065g00000ZPF5iAAH"  # a sample closed-won order that passes every default rule


@pytest.fixture
def validation(db_url: str) -> Iterator[tuple[Console, Validation]]:
    settings = load_settings(database_url=db_url, sample_data_dir=str(ROOT / "sample_data"))
    console = open_console(settings)
    systems = open_systems(settings, BuildEnv(sleep=lambda s: None))
    assert systems.sandbox is not None
    systems.sandbox.sleep = lambda s: None
    yield console, Validation(console, systems)
    console.engine.dispose()


def _requests(v: Validation) -> int:
    assert v.systems.sandbox is not None
    return len(v.systems.sandbox.requests)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("006' OR Name != '", "is not a Salesforce id"),
        ("abc", "is not a Salesforce id"),
        ("0015g00000L84wjAAB", "is not an Opportunity id"),
        ("", "is not a Salesforce id"),
    ],
)
def test_malformed_ids_are_refused_before_any_request(validation, bad, message) -> None:
    _, v = validation
    with pytest.raises(InputError, match=message):
        v.validate(bad)
    assert _requests(v) == 0


def test_an_unknown_opportunity(validation) -> None:
    _, v = validation
    with pytest.raises(NotFoundError, match="no opportunity 0065g00000ZZZZZAAA"):
        v.validate("0065g00000ZZZZZAAA")


def test_a_run_is_stored_with_its_evidence(validation) -> None:
    _, v = validation
    out = v.validate(GOOD, actor="raj")
    assert out.run_id is not None and out.took_ms is not None
    assert {c.id for c in out.checks} >= {"account.erp_customer", "account.credit_hold"}
    [stored] = v.history(GOOD)
    assert stored.run_id == out.run_id and stored.checks == out.checks


def test_a_system_that_is_down_makes_its_checks_unknown_never_pass(validation) -> None:
    _, v = validation
    assert v.systems.sandbox is not None
    v.systems.sandbox.faults.update({"unavailable": ["erp"]})
    out = v.validate(GOOD)
    status = {c.id: c.status for c in out.checks}
    assert status["account.erp_customer"] == status["account.credit_hold"] == "unknown"
    assert not [c.id for c in out.checks if c.system == "erp" and c.status == "fail"]
    assert out.unreached == ["erp"] and out.verdict != "accept"
    assert "not asked: erp" in out.summary


def test_verdicts() -> None:
    def check(status: str, approval: bool = False) -> CheckOut:
        return CheckOut(
            id=f"x.{status}", domain="account", status=status, system="erp", message="",
            needs_approval=approval,
        )  # fmt: skip

    assert verdict_of([check("pass")], [])[0] == "accept"
    assert verdict_of([check("pass"), check("warn")], [])[0] == "accept"
    assert verdict_of([check("warn", True)], [])[0] == "needs_approval"
    assert verdict_of([check("unknown")], ["tax"])[0] == "needs_approval"
    assert verdict_of([check("unknown"), check("fail")], ["tax"])[0] == "reject"


def test_the_cache_shares_one_call_between_concurrent_askers() -> None:
    cache = LookupCache(ttl=60, clock=lambda: 0.0)
    gate = threading.Event()
    calls: list[int] = []

    def load() -> str:
        calls.append(1)
        gate.wait(5)
        return "answer"

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", load))) for _ in range(5)
    ]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert results == ["answer"] * 5 and len(calls) == 1


def test_the_cache_expires_and_never_keeps_errors() -> None:
    now = [0.0]
    cache = LookupCache(ttl=10, clock=lambda: now[0])
    assert cache.get("k", lambda: 1) == 1
    assert cache.get("k", lambda: 2) == 1
    now[0] = 11
    assert cache.get("k", lambda: 3) == 3

    def boom() -> int:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        cache.get("e", boom)
    assert cache.get("e", lambda: 4) == 4


def test_finance_may_not_accept(validation) -> None:
    _, v = validation
    with pytest.raises(PermissionDenied, match=r"\(viewer\) may not accept"):
        v.accept(GOOD, actor=Actor("fin", "viewer"), reason="ok", reason_code="other")


def test_accept_writes_salesforce_and_a_second_accept_is_a_no_op(validation) -> None:
    console, v = validation
    raj = Actor("raj", "revops")
    first = v.validate(GOOD)
    assert first.verdict == "accept", first.summary
    done = v.accept(GOOD, actor=raj, reason="deal desk ok", reason_code="other")
    assert done.outcome == "accepted" and done.audit_seq is not None
    sf = v.systems.connector("salesforce")
    fields = sf.get_opportunity_fields(GOOD, ["Integration_Status__c"])
    assert fields["Integration_Status__c"] == "Accepted"
    again = v.accept(GOOD, actor=raj, reason="again", reason_code="other")
    assert again.outcome == "already_accepted" and "nothing done" in again.message
    assert GOOD in v.accepted_ids()


def test_the_tax_engine_down_makes_tax_unknown_and_the_verdict_not_accept(validation) -> None:
    _, v = validation
    assert v.systems.sandbox is not None
    v.systems.sandbox.faults.update({"tax_outage": True})
    out = v.validate(GOOD)
    tax = {c.id: c.status for c in out.checks if c.domain == "tax" and c.system == "tax"}
    assert tax and set(tax.values()) == {"unknown"}
    assert out.unreached == ["tax"] and out.verdict == "needs_approval"


def test_the_erp_timing_out_is_unknown_not_a_failure(validation, monkeypatch) -> None:
    from services.errors import TimedOut

    _, v = validation
    erp = v.systems.connector("erp")

    def timeout(*args: object, **kwargs: object) -> None:
        raise TimedOut(system="erp", operation="find_customer", message="no answer in time")

    monkeypatch.setattr(erp, "find_customer", timeout)
    out = v.validate(GOOD)
    status = {c.id: c.status for c in out.checks}
    assert status["account.erp_customer"] == "unknown"
    assert "erp" in out.unreached and out.verdict != "accept"
    assert not [c for c in out.checks if c.status == "fail"]


def test_billing_answering_429_then_succeeding_is_a_pass(validation) -> None:
    _, v = validation
    sandbox = v.systems.sandbox
    assert sandbox is not None
    sandbox.faults.update({"rate_limit": {"billing": 1}, "retry_after_seconds": 1})
    out = v.validate(GOOD)
    assert out.verdict == "accept" and out.unreached == []
    billing = [r.status for r in sandbox.requests_to("billing")]
    assert billing[0] == 429 and 200 in billing
