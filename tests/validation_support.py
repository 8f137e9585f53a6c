"""Helpers of the order-validation tests: the sandbox's data and faults."""

from __future__ import annotations

from typing import Any

from services.validation.service import Validation

__all__ = ["sandbox_data", "take_down"]


def sandbox_data(v: Validation, system: str) -> dict[str, Any]:
    """The sandbox's records of ``system``, to edit before a validation."""
    assert v.systems.sandbox is not None
    return v.systems.sandbox.apps[system].data


def take_down(v: Validation, system: str) -> None:
    """Make ``system`` answer 503 to everything."""
    assert v.systems.sandbox is not None
    v.systems.sandbox.faults.update({"unavailable": [system]})
