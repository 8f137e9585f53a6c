"""Health roll-ups: per-month, per-day and per-hour sums of ``transactions``, kept on ingest.

``services.health`` reads them for the buckets a window covers whole and reads the
rows only where a window or age edge cuts a bucket; see ``services.health_layers``.
"""

from services.rollups.facts import (
    GRAINS,
    Deltas,
    Facts,
    bucket_end,
    bucket_start,
    latency_bucket,
)
from services.rollups.models import RollupErrors, RollupLatency, RollupTx
from services.rollups.write import apply, old_facts, rebuild

__all__ = [
    "GRAINS",
    "Deltas",
    "Facts",
    "RollupErrors",
    "RollupLatency",
    "RollupTx",
    "apply",
    "bucket_end",
    "bucket_start",
    "latency_bucket",
    "old_facts",
    "rebuild",
]
