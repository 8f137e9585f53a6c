"""Alert rules: loaded from JSON data and checked before any is evaluated.

The file (``services/alert_rules.json``, or the one in ``Q2C_ALERT_RULES``) holds
``{"rules": [...]}``; see ``services.alerts`` for what each field means. A bad
rule is one ``SettingsError`` line naming the file and the rule.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.errors import SettingsError

__all__ = ["METRICS", "OPS", "AlertRule", "load_alert_rules"]

DEFAULT_RULES = Path(__file__).with_name("alert_rules.json")
METRICS = ("failures", "stuck", "success_rate", "money_at_risk")
OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True, slots=True)
class AlertRule:
    id: str
    metric: str
    op: str
    threshold: Decimal
    title: str
    flow: str | None = None
    currency: str | None = None
    window_minutes: int | None = None
    min_count: int = 0


def _rule(item: Any, n: int, where: str) -> AlertRule:
    if not isinstance(item, dict):
        raise SettingsError(f"Q2C_ALERT_RULES: {where} rule {n} is not an object")
    rid = str(item.get("id") or f"rule-{n}")
    bad = f"Q2C_ALERT_RULES: {where} rule {rid}:"
    if item.get("metric") not in METRICS:
        raise SettingsError(f"{bad} metric must be one of {', '.join(METRICS)}")
    if item.get("op", ">") not in OPS:
        raise SettingsError(f"{bad} op must be one of {' '.join(OPS)}")
    if item["metric"] == "money_at_risk" and not item.get("currency"):
        raise SettingsError(f"{bad} money_at_risk needs a currency (never summed across)")
    try:
        threshold = Decimal(str(item["threshold"]))
        window = item.get("window_minutes")
        return AlertRule(
            id=rid,
            metric=item["metric"],
            op=item.get("op", ">"),
            threshold=threshold,
            title=str(item.get("title") or rid),
            flow=item.get("flow"),
            currency=item.get("currency"),
            window_minutes=int(window) if window is not None else None,
            min_count=int(item.get("min_count", 0)),
        )
    except (KeyError, ArithmeticError, ValueError, TypeError):
        raise SettingsError(f"{bad} needs a numeric threshold (and whole minutes)") from None


@lru_cache(maxsize=8)
def load_alert_rules(path: Path | None = None) -> tuple[AlertRule, ...]:
    """The rules in ``path`` (default: the built-in rules).

    Raises:
        SettingsError: the file is missing or malformed (one line, naming the rule).
    """
    source = Path(path) if path else DEFAULT_RULES
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"Q2C_ALERT_RULES: {source} does not exist") from None
    except (OSError, ValueError) as exc:
        raise SettingsError(f"Q2C_ALERT_RULES: {source} cannot be read ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise SettingsError(f"Q2C_ALERT_RULES: {source} must hold {{'rules': [...]}}")
    return tuple(_rule(item, n, str(source)) for n, item in enumerate(data["rules"], 1))
