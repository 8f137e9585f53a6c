"""Health figures flattened into table rows (what the Health page charts and downloads).

Plain functions from a ``HealthOut`` to lists of row dicts, one per table; the
column names are the headings the page shows. No Streamlit, no pandas.
"""

from __future__ import annotations

from typing import Any

from services.health import HealthOut

__all__ = [
    "BACKLOG_COLUMNS",
    "LATENCY_COLUMNS",
    "MONEY_COLUMNS",
    "SLA_COLUMNS",
    "SUCCESS_RATE_COLUMNS",
    "backlog_rows",
    "latency_rows",
    "money_at_risk_summary",
    "money_rows",
    "sla_rows",
    "success_rate_rows",
]

Row = dict[str, Any]

SUCCESS_RATE_COLUMNS = ["By", "Name", "Success %"]
LATENCY_COLUMNS = ["Flow", "p50 (s)", "p95 (s)"]
BACKLOG_COLUMNS = ["Age", "Failed or stuck"]
SLA_COLUMNS = ["Flow", "SLA breaches"]
MONEY_COLUMNS = ["Currency", "At risk"]


def success_rate_rows(health: HealthOut) -> list[Row]:
    """Success rates as rows, one per (kind, name).

    Args:
        health: the figures of one window.

    Returns:
        Rows with ``SUCCESS_RATE_COLUMNS``; the kind without its ``by_`` prefix.

    Example:
        >>> success_rate_rows(health)[0]
        {'By': 'system', 'Name': 'billing', 'Success %': 87.5}
    """
    return [
        {"By": kind.removeprefix("by_").replace("_", " "), "Name": name, "Success %": value}
        for kind, rates in health.success_rate.items()
        for name, value in rates.items()
    ]


def latency_rows(health: HealthOut) -> list[Row]:
    """p50/p95 latency per flow, in seconds.

    Args:
        health: the figures of one window.

    Returns:
        Rows with ``LATENCY_COLUMNS``.

    Example:
        >>> latency_rows(health)[0]
        {'Flow': 'payment', 'p50 (s)': 4.0, 'p95 (s)': 9.0}
    """
    return [
        {"Flow": f, "p50 (s)": p["p50"] / 1000, "p95 (s)": p["p95"] / 1000}
        for f, p in health.latency_ms.items()
    ]


def backlog_rows(health: HealthOut) -> list[Row]:
    """Failed and stuck transactions per age bucket, in bucket order.

    Args:
        health: the figures of one window.

    Returns:
        Rows with ``BACKLOG_COLUMNS``.

    Example:
        >>> backlog_rows(health)[0]
        {'Age': '<1h', 'Failed or stuck': 2}
    """
    return [{"Age": age, "Failed or stuck": n} for age, n in health.backlog.items()]


def sla_rows(health: HealthOut) -> list[Row]:
    """SLA breaches per flow.

    Args:
        health: the figures of one window.

    Returns:
        Rows with ``SLA_COLUMNS``.

    Example:
        >>> sla_rows(health)
        [{'Flow': 'payment', 'SLA breaches': 1}]
    """
    return [{"Flow": f, "SLA breaches": n} for f, n in health.sla_breaches.items()]


def money_rows(health: HealthOut) -> list[Row]:
    """Money at risk per currency, amounts as decimal strings.

    Args:
        health: the figures of one window.

    Returns:
        Rows with ``MONEY_COLUMNS``.

    Example:
        >>> money_rows(health)
        [{'Currency': 'EUR', 'At risk': '1200.00'}]
    """
    return [{"Currency": c, "At risk": str(a)} for c, a in health.money_at_risk.items()]


def money_at_risk_summary(health: HealthOut) -> str:
    """Money at risk on one line, per currency (never added across currencies), each
    amount with the places ``services.money.display_amount`` gave it.

    Args:
        health: the figures of one window.

    Returns:
        ``"EUR 1,200.00 · USD 50.00"``; empty when nothing is at risk.

    Example:
        >>> money_at_risk_summary(health)
        'EUR 1,200.00 · USD 50.00'
    """
    return " · ".join(f"{c} {a:,}" for c, a in health.money_at_risk.items())
