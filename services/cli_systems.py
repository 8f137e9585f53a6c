"""``q2c sandbox serve`` and ``q2c systems``: the simulated systems and the connections.

Registered on the main ``q2c`` app by :mod:`services.cli`.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from services.connections import open_systems
from services.errors import InputError
from services.sandbox.core import Sandbox
from services.sandbox.server import start_server
from services.settings import load_settings

__all__ = ["sandbox_app", "systems"]

sandbox_app = typer.Typer(
    no_args_is_help=True, help="The simulated Salesforce, ERP, billing and tax systems."
)


@sandbox_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(min=0, max=65535, help="0: any free port.")] = 8600,
    master: Annotated[
        Path | None, typer.Option(help="Master data folder; default <sample data>/master.")
    ] = None,
) -> None:
    """Serve the sandbox on http://127.0.0.1:PORT until interrupted (Ctrl-C).

    Each system is under its own path (/erp, /billing, /tax, /salesforce); control
    endpoints: GET /_sandbox/requests, GET /_sandbox/records, GET|POST /_sandbox/faults.
    Point a console at it with Q2C_SANDBOX_URL=http://127.0.0.1:PORT.
    """
    folder = master or Path(load_settings().sample_data_dir) / "master"
    sandbox = Sandbox(folder)
    try:
        server, thread = start_server(sandbox, port)
    except OSError as exc:
        raise InputError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    stop = threading.Event()
    # Ctrl-C and SIGTERM both stop it cleanly. SIGINT is set explicitly: a process
    # started in the background by a shell inherits SIGINT ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    sys.stdout.write(f"sandbox serving on {server.url} (Ctrl-C to stop)\n")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        thread.join(timeout=5)
    sys.stdout.write("sandbox stopped\n")


def systems(
    test: Annotated[bool, typer.Option("--test", help="Call each system once.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Each system's mode, base URL and auth (masked); with --test, a test call each.

    Exit 1 when a tested system did not answer or a system is not configured.
    """
    settings = load_settings()
    found = open_systems(settings)
    rows = [r.model_dump(mode="json") for r in found.status()]
    failed = any(r["problem"] for r in rows)
    if test:
        for row in rows:
            if row["problem"]:
                continue
            result = found.test(row["system"])
            row["test"] = result.model_dump(mode="json")
            failed = failed or not result.ok
    if as_json:
        sys.stdout.write(json.dumps({"systems": rows}, indent=2) + "\n")
    else:
        for row in rows:
            line = f"{row['system']:<11} {row['mode']:<22} "
            line += row["problem"] or f"{row['base_url']}  auth: {row['auth']}"
            if "test" in row:
                t = row["test"]
                line += f"  -> {'ok' if t['ok'] else 'FAILED'}: {t['message']}"
                if t["latency_ms"] is not None:
                    line += f" ({t['latency_ms']} ms)"
            sys.stdout.write(line + "\n")
    raise typer.Exit(1 if failed else 0)
