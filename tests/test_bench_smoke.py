"""The benches still run against the current code (their numbers are not checked here).

``make bench`` is run by hand, rarely; an API change that breaks a bench script
must fail the suite instead of the next person measuring.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_run_all_on_a_small_file_writes_every_result(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("Q2C_")}
    env["Q2C_BENCH_OUT"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--events", "1000", "--lookups", "5"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = (tmp_path / "results-1k.md").read_text()
    assert "## Results: 1,000 events" in summary
    for heading in ("### Ingest into SQLite", "### Trace lookup", "### Peak memory", "### Targets"):
        assert heading in summary
    assert {p.name for p in tmp_path.glob("*.json")} == {
        "ingest-1k.json",
        "lookup-1k.json",
        "memory-1k.json",
    }
    assert not list(tmp_path.glob("*.db")), "the benches remove their stores"


def _bench(tmp_path: Path, *args: str, codes: tuple[int, ...] = (0,)) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("Q2C_")}
    env["Q2C_BENCH_OUT"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode in codes and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.stdout


def test_validation_bench_runs(tmp_path: Path) -> None:
    out = _bench(
        tmp_path, "bench/bench_validation.py", "--lines", "5", "--latency-ms", "1",
        "--warm-runs", "1",
    )  # fmt: skip
    assert "verdict of the bench order: accept" in out
    assert "target: a 5-line order validates" in out


def test_replay_bench_runs_and_sends_each_step_once(tmp_path: Path) -> None:
    # 40 steps are too few for the rate target (exit 1 says so); the counts must hold.
    out = _bench(tmp_path, "bench/bench_replay.py", "--events", "40", codes=(0, 1))
    assert "sandbox: 40 POSTs, 40 keys, 0 duplicates" in out


def test_health_bench_runs_and_the_rollups_agree_with_the_rows(tmp_path: Path) -> None:
    out = _bench(tmp_path, "bench/bench_health.py", "--transactions", "3000", "--runs", "1")
    assert "same figures from the roll-ups and from the rows: True" in out
    assert "| compute_health, whole store |" in out
    assert not list(tmp_path.glob("*.db")), "the bench removes its store"
