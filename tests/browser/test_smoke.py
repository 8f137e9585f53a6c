"""Real-browser paths: Explorer search by order number -> Trace shows the failed step;
Connections tests a sandbox system.

Runs ``streamlit run app/main.py`` against a seeded SQLite store and drives Debian's
Chromium through Playwright (Playwright's own browser download is not used).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.console import Console, open_console
from services.ingest import ingest_events
from services.schemas import SearchFilters
from services.settings import load_settings

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data" / "events.jsonl"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_SECONDS = 30
STEP_MS = 20_000


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = "Chromium not installed: apt-get install -y chromium"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _seed(console: Console) -> None:
    if SAMPLE.exists():
        summary = console.ingest_paths([str(SAMPLE)], origin="test")
    else:
        from tests.app.seed import seed_events

        summary = ingest_events(
            engine=console.engine, events=seed_events(), settings=console.settings
        )
    assert summary.accepted > 0, summary.to_dict()


def _failed_order(console: Console) -> tuple[str, str]:
    """An order number of a failed transaction that it alone carries, and its error code."""
    failed = console.search(SearchFilters(status=["failed"], limit=500)).transactions
    for summary in failed:
        trace = console.get_trace(summary.transaction_id)
        orders = trace.keys.get("order_number", []) if trace else []
        for order in orders:
            if trace and trace.error_code and len(console.find_traces(order)) == 1:
                return order, trace.error_code
    pytest.fail("the seeded store holds no failed transaction with an order number")


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """(database URL, order number, error code) of a store seeded for the smoke path."""
    url = f"sqlite:///{tmp_path / 'smoke.db'}"
    console = open_console(load_settings(database_url=url))
    try:
        _seed(console)
        order, code = _failed_order(console)
    finally:
        console.engine.dispose()
    yield url, order, code


@pytest.fixture
def server(seeded: tuple[str, str, str], tmp_path: Path) -> Iterator[str]:
    """``streamlit run app/main.py`` on a free port; always terminated."""
    _require_chromium()
    url = seeded[0]
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("Q2C_")}
    env.update(
        Q2C_DATABASE_URL=url,
        # The store is seeded (not empty), so sample events are not loaded; the
        # in-process sandbox reads the sample master data.
        Q2C_SAMPLE_DATA_DIR=str(ROOT / "sample_data"),
        STREAMLIT_BROWSER_GATHER_USAGE_STATS="false",
    )
    streamlit = Path(sys.executable).with_name("streamlit")
    log = (tmp_path / "streamlit.log").open("wb")
    proc = subprocess.Popen(
        [
            str(streamlit),
            "run",
            "app/main.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}: see {log.name}")
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit not healthy after {STARTUP_SECONDS} s: see {log.name}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_search_an_order_and_open_its_failed_trace(
    server: str, seeded: tuple[str, str, str]
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    _, order, code = seeded

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(STEP_MS)
            page.goto(server)

            search = page.get_by_role("textbox", name="Search by any key")
            search.wait_for()
            search.fill(order)
            search.press("Enter")

            # The one matching transaction: its count, its failed KPI and a link to it.
            page.get_by_text(re.compile(r"^1 transaction · showing")).wait_for()
            assert "key=" + order in page.url
            open_trace = page.get_by_role("link", name="Open its trace")
            open_trace.click()

            alert = page.get_by_test_id("stAlert").filter(has_text="Failed step")
            alert.wait_for()
            assert code in alert.inner_text()
            assert re.search(r"/trace\?key=tx-", page.url), page.url
            page.get_by_test_id("stPlotlyChart").first.wait_for()  # the swimlane timeline
        finally:
            browser.close()


def test_connections_page_tests_a_sandbox_system(server: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(STEP_MS)
            page.goto(f"{server}/connections")
            page.get_by_text("sandbox (in-process)").first.wait_for()
            page.get_by_role("button", name="Test connection").nth(1).click()  # erp
            page.get_by_text(re.compile(r"Connected in [0-9.]+ ms")).wait_for()
        finally:
            browser.close()
