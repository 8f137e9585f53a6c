"""Peak memory (RSS) of a separate process ingesting the N-event file.

    python bench/bench_memory.py --events 1000000              # q2c ingest (the CLI)
    python bench/bench_memory.py --events 1000000 --mode function

The child is ``python -m services.cli --database sqlite:///... ingest --json FILE``
(``--mode cli``, what an operator runs) or a ``python -c`` calling
``services.ingest.ingest_paths`` (``--mode function``), into a fresh SQLite file.
Peak RSS is the kernel's high-water mark for that one child: ``ru_maxrss`` from
``os.wait4`` on its pid (the same as its last ``VmHWM``); ``/proc/<pid>/status``
is polled every 0.1 s for the RSS over time. A reference run of the same command
on a 10-event file shows what the process costs before it holds any data.

The target is peak RSS < 300 MB for the 1M-event file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    OUT_DIR,
    ROOT,
    ensure_events,
    human_count,
    print_machine,
    remove_sqlite,
    write_json,
)

TARGET_MB = 300.0
_FUNCTION = (
    "import sys\n"
    "from services.db import make_engine, migrate\n"
    "from services.ingest import ingest_paths\n"
    "from services.settings import load_settings\n"
    "url, path = sys.argv[1], sys.argv[2]\n"
    "engine = make_engine(url)\n"
    "migrate(engine)\n"
    "s = ingest_paths(engine=engine, paths=[path], settings=load_settings(database_url=url))\n"
    "print(s.accepted, s.rejected)\n"
)


def _status_kb(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, value = line.split(":", 1)
                    out[name] = int(value.split()[0])
    except OSError:
        pass
    return out


def measure(path: Path, db: Path, mode: str) -> dict[str, Any]:
    """Run one ingest child; its peak RSS, RSS samples over time and elapsed seconds."""
    remove_sqlite(db)
    url = f"sqlite:///{db}"
    if mode == "cli":
        cmd = [
            sys.executable,
            "-m",
            "services.cli",
            "--database",
            url,
            "ingest",
            "--json",
            str(path),
        ]
    else:
        cmd = [sys.executable, "-c", _FUNCTION, url, str(path)]
    log = db.with_suffix(".log")
    with log.open("wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        samples: list[tuple[float, int]] = []
        hwm = 0
        status = None
        while status is None:
            pid, st, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status = st
                break
            kb = _status_kb(proc.pid)
            hwm = max(hwm, kb.get("VmHWM", 0))
            if "VmRSS" in kb:
                samples.append((time.perf_counter() - t0, kb["VmRSS"]))
            time.sleep(0.1)
        secs = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak_kb = max(usage.ru_maxrss, hwm)  # Linux: ru_maxrss is in KiB
    over_time = []
    if samples:
        for frac in (0.1, 0.25, 0.5, 0.75, 0.9, 1.0):
            cut = [kb for t, kb in samples if t <= secs * frac]
            over_time.append(round(max(cut or [0]) / 1024))
    return {
        "command": " ".join(
            cmd if mode == "cli" else cmd[:2] + ["<ingest_paths script>"] + cmd[3:]
        ),
        "exit_code": proc.returncode,
        "seconds": secs,
        "peak_rss_mb": peak_kb / 1024,
        "rss_mb_max_by_fraction_of_run": over_time,
        "output": log.read_text(errors="replace")[-2000:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, default=None, help="default bench/out/events-N.jsonl")
    parser.add_argument("--mode", choices=("cli", "function"), default="cli")
    parser.add_argument("--json", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    info = print_machine("bench_memory: peak RSS of a process ingesting the file")
    path = ensure_events(args.events, args.file)
    size = path.stat().st_size
    print(f"input {path} ({args.events:,} events, {size / 1e6:.1f} MB)")
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    tiny = OUT_DIR / "events-10.jsonl"
    with path.open("rb") as src, tiny.open("wb") as dst:
        for _ in range(10):
            dst.write(src.readline())
    ref_db = OUT_DIR / "memory-ref.db"
    ref = measure(tiny, ref_db, args.mode)
    remove_sqlite(ref_db)
    print(
        f"reference ({args.mode}, 10 events): peak RSS {ref['peak_rss_mb']:.0f} MB "
        f"(exit {ref['exit_code']})",
        flush=True,
    )

    db = OUT_DIR / f"memory-{human_count(args.events)}.db"
    print(f"ingesting {args.events:,} events in a child process ({args.mode}) ...", flush=True)
    run = measure(path, db, args.mode)
    remove_sqlite(db)
    db.with_suffix(".log").unlink(missing_ok=True)
    ref_db.with_suffix(".log").unlink(missing_ok=True)
    met = run["peak_rss_mb"] < TARGET_MB and run["exit_code"] in (0, 1)
    print(f"child exit code {run['exit_code']}; output: {run['output'].strip()[-300:]}")
    print()
    print("| run | file | peak RSS MB | seconds | events/s |")
    print("|---|---:|---:|---:|---:|")
    print(f"| reference: 10 events | - | {ref['peak_rss_mb']:.0f} | {ref['seconds']:.1f} | |")
    print(
        f"| {args.events:,} events | {size / 1e6:,.0f} MB | {run['peak_rss_mb']:.0f} | "
        f"{run['seconds']:.1f} | {args.events / run['seconds']:,.0f} |"
    )
    print()
    print(
        f"RSS (MB, max so far) at 10/25/50/75/90/100% of the run: "
        f"{run['rss_mb_max_by_fraction_of_run']}"
    )
    print(f"target peak RSS < {TARGET_MB:.0f} MB: {'MET' if met else 'NOT MET'}")
    write_json(
        args.json,
        {
            "machine": info,
            "events": args.events,
            "file_mb": size / 1e6,
            "mode": args.mode,
            "reference": ref,
            "run": run,
            "target_met": met,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
