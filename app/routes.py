"""Where each page's script lives: absolute paths, so links work from any page."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AUDIT",
    "CONNECTIONS",
    "EXPLORER",
    "HEALTH",
    "INGEST",
    "PAGES_DIR",
    "RECONCILIATION",
    "REPLAY",
    "ROOT",
    "TRACE",
    "VALIDATION",
]

ROOT = Path(__file__).resolve().parent.parent
PAGES_DIR = ROOT / "pages"

EXPLORER = PAGES_DIR / "explorer.py"
TRACE = PAGES_DIR / "trace.py"
INGEST = PAGES_DIR / "ingest.py"
CONNECTIONS = PAGES_DIR / "connections.py"
VALIDATION = PAGES_DIR / "validation.py"
AUDIT = PAGES_DIR / "audit.py"
REPLAY = PAGES_DIR / "replay.py"
RECONCILIATION = PAGES_DIR / "reconciliation.py"
HEALTH = PAGES_DIR / "health.py"
