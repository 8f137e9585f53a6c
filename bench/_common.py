"""Shared helpers of the bench scripts: machine facts, paths, percentiles, output.

The scripts run as ``python bench/<name>.py`` from the project root, so this
module is imported as ``_common`` (the script's folder is on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_DIR",
    "OUT_DIR",
    "ROOT",
    "ensure_events",
    "events_file",
    "file_lines",
    "human_count",
    "machine_info",
    "percentile",
    "print_machine",
    "remove_sqlite",
    "write_json",
]

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
# Where files, stores and results go; the bench smoke test points it at a temp folder.
OUT_DIR = Path(os.environ.get("Q2C_BENCH_OUT") or BENCH_DIR / "out")


def human_count(n: int) -> str:
    """1000000 -> '1m', 20000 -> '20k', 1234 -> '1234' (used in file names)."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def events_file(n: int) -> Path:
    """The default path of the generated file with ``n`` events."""
    return OUT_DIR / f"events-{human_count(n)}.jsonl"


def ensure_events(n: int, path: Path | None = None) -> Path:
    """The generated file with ``n`` events, written when missing or of another size."""
    import time

    from gen_events import generate

    path = path or events_file(n)
    if not path.exists() or file_lines(path) != n:
        t0 = time.perf_counter()
        generate(n, path)
        print(f"generated {path} in {time.perf_counter() - t0:.1f} s", flush=True)
    return path


def file_lines(path: Path) -> int:
    """Number of lines of a file (fast, counts newlines in 1 MB blocks)."""
    count = 0
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            count += block.count(b"\n")
    return count


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1_048_576
    except OSError:
        pass
    return None


def code_version() -> str:
    """The commit under test, ``+dirty`` when services/ or migrations/ have local edits."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "services", "migrations")
    return head + ("+dirty" if dirty else "")


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on, and when."""
    import sqlalchemy

    try:
        ncpu = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        ncpu = os.cpu_count() or 0
    mem = _mem_total_gib()
    return {
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": ncpu,
        "memory_gib": round(mem, 1) if mem is not None else None,
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "commit": code_version(),
    }


def print_machine(title: str) -> dict[str, Any]:
    """Print the header every bench starts with; returns the facts."""
    info = machine_info()
    print(f"# {title}")
    print(
        f"date {info['date']} | nproc {info['nproc']} | memory {info['memory_gib']} GiB | "
        f"cpu {info['cpu']} | load average {info['loadavg_1m']}"
    )
    print(
        f"{info['os']} | Python {info['python']} | SQLite {info['sqlite']} | "
        f"SQLAlchemy {info['sqlalchemy']} | code {info['commit']}"
    )
    sys.stdout.flush()
    return info


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation between ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * p / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def remove_sqlite(path: Path) -> None:
    """Delete a SQLite file and its WAL/SHM companions."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def write_json(path: str | None, data: dict[str, Any]) -> None:
    """Write results for ``run_all.py`` when asked to (``--json PATH``)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n")
