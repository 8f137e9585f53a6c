"""The flow catalog and key scopes: configuration with the contract's defaults.

The default lives in ``services/flow_catalog.json``; ``Q2C_FLOW_CATALOG`` points
at another file of the same shape::

    {"key_scopes": {"transaction": [...], "lifecycle": [...]},
     "flows": {"order_activation": ["salesforce opportunity.closed_won", ...]}}

Each flow lists ``"system operation"`` steps in order; the last is terminal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from services.errors import SettingsError

__all__ = ["Catalog", "Step", "load_catalog", "DEFAULT_CATALOG_PATH"]

DEFAULT_CATALOG_PATH = Path(__file__).with_name("flow_catalog.json")
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")
_OPERATION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a flow: an operation in a system."""

    system: str
    operation: str

    @property
    def label(self) -> str:
        return f"{self.system} {self.operation}"


@dataclass(frozen=True)
class Catalog:
    """Flows (ordered steps, last is terminal) and business-key scopes."""

    flows: dict[str, tuple[Step, ...]]
    transaction_keys: frozenset[str]
    lifecycle_keys: frozenset[str]
    _order: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name, steps in self.flows.items():
            self._order[name] = {(s.system, s.operation): i for i, s in enumerate(steps)}

    def terminal(self, flow: str | None) -> Step | None:
        """The terminal step of ``flow``, or None for an unknown flow."""
        steps = self.flows.get(flow or "")
        return steps[-1] if steps else None

    def step_index(self, flow: str | None, system: str, operation: str) -> int | None:
        """Position of a step in its flow (None when not in the catalog)."""
        return self._order.get(flow or "", {}).get((system, operation))

    def scope_of(self, key: str) -> str:
        """``transaction`` for stitching keys, else ``lifecycle`` (search only)."""
        return "transaction" if key in self.transaction_keys else "lifecycle"


def _parse(data: object, where: str) -> Catalog:
    if not isinstance(data, dict):
        raise SettingsError(f"Q2C_FLOW_CATALOG: {where} must hold a JSON object")
    scopes = data.get("key_scopes", {})
    flows_raw = data.get("flows", {})
    if not isinstance(scopes, dict) or not isinstance(flows_raw, dict):
        raise SettingsError(f"Q2C_FLOW_CATALOG: {where}: key_scopes and flows must be objects")
    tx = scopes.get("transaction", [])
    lc = scopes.get("lifecycle", [])
    if not all(isinstance(k, str) and _IDENT.match(k) for k in [*tx, *lc]):
        raise SettingsError(f"Q2C_FLOW_CATALOG: {where}: key names must be lowercase identifiers")
    if set(tx) & set(lc):
        raise SettingsError(f"Q2C_FLOW_CATALOG: {where}: a key cannot be in both scopes")
    flows: dict[str, tuple[Step, ...]] = {}
    for name, steps in flows_raw.items():
        if not isinstance(steps, list) or not steps:
            raise SettingsError(f"Q2C_FLOW_CATALOG: {where}: flow {name!r} needs a list of steps")
        parsed = []
        for step in steps:
            parts = step.split() if isinstance(step, str) else []
            if len(parts) != 2 or not _IDENT.match(parts[0]) or not _OPERATION.match(parts[1]):
                raise SettingsError(
                    f"Q2C_FLOW_CATALOG: {where}: flow {name!r} step {step!r} "
                    "must read 'system operation', e.g. 'erp invoice.post'"
                )
            parsed.append(Step(parts[0], parts[1]))
        flows[name] = tuple(parsed)
    return Catalog(flows=flows, transaction_keys=frozenset(tx), lifecycle_keys=frozenset(lc))


@lru_cache(maxsize=8)
def load_catalog(path: Path | None = None) -> Catalog:
    """Load the flow catalog from ``path`` (the built-in default when None).

    Raises:
        SettingsError: the file is missing or malformed; the message says where.
    """
    source = path or DEFAULT_CATALOG_PATH
    try:
        data = json.loads(Path(source).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(f"Q2C_FLOW_CATALOG: file not found: {source}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SettingsError(f"Q2C_FLOW_CATALOG: cannot read {source}: {exc}") from None
    return _parse(data, str(source))
