"""``q2c systems`` and ``q2c sandbox serve`` as an operator uses them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def sample_master(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(ROOT / "sample_data"))


def test_systems_lists_every_system_and_tests_each(capsys, sample_master) -> None:
    code, out, err = run(capsys, "systems", "--test", "--json")
    assert code == 0, err
    rows = json.loads(out)["systems"]
    assert [r["system"] for r in rows] == ["salesforce", "erp", "billing", "tax"]
    for row in rows:
        assert row["mode"] == "sandbox (in-process)" and row["problem"] is None
        assert row["test"]["ok"] is True, row
        assert row["test"]["latency_ms"] >= 0


def test_systems_in_live_mode_without_settings_names_them_and_fails(
    capsys, monkeypatch, sample_master
) -> None:
    monkeypatch.setenv("Q2C_SYSTEMS", "live")
    monkeypatch.setenv("Q2C_ERP_BASE_URL", "https://erp.example.test")
    monkeypatch.setenv("Q2C_ERP_CLIENT_ID", "client-1")
    monkeypatch.setenv("Q2C_ERP_CLIENT_SECRET", "very-secret-value")
    code, out, err = run(capsys, "systems")
    assert code == 1
    assert "Q2C_TAX_" in out and "Q2C_BILLING_" in out and "Q2C_SALESFORCE_" in out
    assert "https://erp.example.test" in out
    assert "very-secret-value" not in out + err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sandbox_serve_answers_over_http_until_interrupted(sample_master) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("Q2C_")}
    env["Q2C_SAMPLE_DATA_DIR"] = str(ROOT / "sample_data")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "sandbox", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(f"sandbox serving on http://127.0.0.1:{port}"), first
        base = f"http://127.0.0.1:{port}"
        faults = httpx.post(f"{base}/_sandbox/faults", json={"tax_outage": True}, timeout=5)
        assert faults.json()["faults"]["tax_outage"] is True
        assert httpx.get(f"{base}/tax/api/v2/utilities/ping", timeout=5).status_code == 503
        logged = httpx.get(f"{base}/_sandbox/requests", timeout=5).json()["requests"]
        assert [(r["system"], r["status"]) for r in logged] == [("tax", 503)]
    finally:
        proc.terminate()  # SIGTERM, as a supervisor stops it
        proc.wait(timeout=10)
    assert proc.returncode == 0
    assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """``q2c sandbox serve`` in its own process, as an integration test or a demo uses it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("Q2C_")}
    env["Q2C_SAMPLE_DATA_DIR"] = str(ROOT / "sample_data")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "sandbox", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("sandbox serving")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _connector(system: str, url: str):  # type: ignore[no-untyped-def]
    from services.settings import load_settings
    from services.systems.registry import BuildEnv, build_connector

    waits: list[float] = []
    return build_connector(system, load_settings(sandbox_url=url), BuildEnv(sleep=waits.append))


def test_each_connector_works_against_q2c_sandbox_serve(served: str) -> None:
    """One real operation per system through the served sandbox over a socket."""
    erp = _connector("erp", served)
    erp.ping()
    assert erp.get_item("PLAT-ANNUAL")["itemId"] == "PLAT-ANNUAL"
    billing = _connector("billing", served)
    assert billing.price("PLAT-ANNUAL", "USD") == 24000
    tax = _connector("tax", served)
    assert tax.get_tax_code("SW054000") is not None
    salesforce = _connector("salesforce", served)
    detail = salesforce.get_opportunity("0065g00000ZPDfnAAH")
    assert detail.opportunity["StageName"] == "Closed Won" and len(detail.line_items) == 5
    salesforce.write_status("0065g00000ZPDfnAAH", "Accepted", "integration test")
    fields = salesforce.get_opportunity_fields("0065g00000ZPDfnAAH", ["Integration_Status__c"])
    assert fields["Integration_Status__c"] == "Accepted"
    seen = {r["system"] for r in httpx.get(f"{served}/_sandbox/requests").json()["requests"]}
    assert seen == {"erp", "billing", "tax", "salesforce"}


def test_a_served_write_with_an_idempotency_key_happens_once(served: str) -> None:
    erp = _connector("erp", served)
    request = {
        "externalId": "0065g00000SERVEDAAA",
        "customer": "C-1014",
        "subsidiary": "US01",
        "currency": "USD",
        "tranDate": "2026-11-20",
        "lines": [{"item": "PLAT-ANNUAL", "qty": 1, "rate": "24000.00"}],
    }
    first = erp.create_sales_order(request, idempotency_key="served-so-1")
    again = erp.create_sales_order(request, idempotency_key="served-so-1")
    assert first["tranId"] == again["tranId"]
    records = httpx.get(f"{served}/_sandbox/records").json()["erp"]
    assert records["created"]["salesOrders"] == [first["id"]]


def test_sandbox_serve_on_a_port_in_use_is_one_line(capsys, sample_master) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run(capsys, "sandbox", "serve", "--port", str(port))
    assert code == 2
    assert err.startswith(f"error: cannot serve on 127.0.0.1:{port}")
    assert err.count("\n") == 1


def test_sandbox_serve_without_master_data(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "sandbox", "serve", "--master", str(tmp_path / "none"))
    assert code == 2 and "master data" in err and "missing" in err
