"""What every ``q2c`` command writes the same way: JSON on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["emit"]


def emit(data: Any) -> None:
    """``data`` as indented JSON on stdout (dates and decimals as text)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
