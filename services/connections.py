"""The systems the console talks to, as one object: build, describe, test.

:class:`Systems` builds each connector on first use (the in-process sandbox on
the embedded default, a served sandbox at ``Q2C_SANDBOX_URL``, or the live
endpoints), and answers what the Connections page and ``q2c systems`` show: mode,
base URL, auth method with the identity masked, last successful call, latency,
and the result of a test call. A system whose settings are incomplete is listed
with the one-line reason instead of failing the whole page.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from services.errors import ConnectorError, SettingsError
from services.sandbox.core import Sandbox
from services.settings import Settings
from services.systems.registry import SYSTEMS, BuildEnv, build_connector

__all__ = ["ConnectionOut", "ConnectionTest", "Systems", "open_systems"]


class ConnectionOut(BaseModel):
    """One row of the Connections page."""

    system: str
    mode: str  # "sandbox (in-process)", "sandbox at http://...", "live"
    base_url: str | None
    auth: str | None
    last_ok_at: datetime | None = None
    latency_ms: float | None = None
    last_error: str | None = None
    problem: str | None = None  # why the connector cannot be built (a missing setting)


class ConnectionTest(BaseModel):
    """The answer of "test connection"."""

    system: str
    ok: bool
    latency_ms: float | None
    message: str


class Systems:
    """Connectors by system name, built lazily from one set of settings.

    Args:
        settings: the console's settings.
        env: clock, transport or sandbox overrides (tests); built from settings if None.

    Example:
        >>> systems = open_systems(load_settings())
        >>> systems.test("erp").ok
        True
    """

    def __init__(self, settings: Settings, env: BuildEnv) -> None:
        self.settings = settings
        self.env = env
        self._built: dict[str, Any] = {}
        self._problems: dict[str, str] = {}

    @property
    def sandbox(self) -> Sandbox | None:
        """The in-process sandbox, when the console runs on it."""
        return self.env.sandbox

    @property
    def mode(self) -> str:
        if self.settings.systems == "live":
            return "live"
        if self.settings.sandbox_url:
            return f"sandbox at {self.settings.sandbox_url}"
        return "sandbox (in-process)"

    def connector(self, system: str) -> Any:
        """The connector of ``system``.

        Raises:
            SettingsError: its settings are incomplete (names the variable).
        """
        if system not in self._built:
            self._built[system] = build_connector(system, self.settings, self.env)
        return self._built[system]

    def status(self) -> list[ConnectionOut]:
        """Every system, in a fixed order, without calling any of them."""
        rows = []
        for system in SYSTEMS:
            try:
                conn = self.connector(system)
            except SettingsError as exc:
                rows.append(
                    ConnectionOut(
                        system=system, mode=self.mode, base_url=None, auth=None, problem=str(exc)
                    )
                )
                continue
            stats = conn.stats
            rows.append(
                ConnectionOut(
                    system=system,
                    mode=self.mode,
                    base_url=conn.base_url,
                    auth=conn.describe_auth(),
                    last_ok_at=stats.last_ok_at,
                    latency_ms=stats.last_latency_ms,
                    last_error=stats.last_error,
                )
            )
        return rows

    def test(self, system: str) -> ConnectionTest:
        """Make the cheapest authenticated call to ``system`` and say how it went."""
        try:
            conn = self.connector(system)
        except SettingsError as exc:
            return ConnectionTest(system=system, ok=False, latency_ms=None, message=str(exc))
        started = time.perf_counter()
        try:
            conn.ping()
        except ConnectorError as exc:
            return ConnectionTest(system=system, ok=False, latency_ms=None, message=str(exc))
        elapsed = (time.perf_counter() - started) * 1000
        return ConnectionTest(
            system=system, ok=True, latency_ms=round(elapsed, 1), message="connected"
        )


def open_systems(settings: Settings, env: BuildEnv | None = None) -> Systems:
    """The systems for ``settings``: starts the in-process sandbox when that is the mode.

    Raises:
        InputError: the sandbox's master data cannot be read.
    """
    env = env or BuildEnv()
    if settings.systems == "sandbox" and not settings.sandbox_url and env.sandbox is None:
        env.sandbox = Sandbox(Path(settings.sample_data_dir) / "master")
    return Systems(settings, env)
