"""One declared way to build connectors: ``@register_connector(system)``.

Each system module (``services.systems.erp`` ...) registers a ``build`` function
that turns settings into its connector, for the sandbox (in-process or served at
``Q2C_SANDBOX_URL``) or for the live system. The built-in connectors use this
mechanism like any extension would. :func:`build_connector` is what the rest of
the console calls; it never needs to know which mode it is in.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from services.errors import SettingsError
from services.sandbox.core import Sandbox
from services.settings import Settings
from services.systems.http import CallStats, RetryPolicy

__all__ = [
    "SYSTEMS",
    "BuildEnv",
    "Connector",
    "build_connector",
    "http_client",
    "register_connector",
    "require",
    "retry_policy",
]

SYSTEMS: tuple[str, ...] = ("salesforce", "erp", "billing", "tax")


class Connector(Protocol):
    """What every connector offers besides its system's own operations."""

    system: str
    stats: CallStats

    @property
    def base_url(self) -> str: ...

    def describe_auth(self) -> str: ...

    def ping(self) -> None:
        """The cheapest authenticated read; raises ConnectorError when it fails."""


@dataclass(slots=True)
class BuildEnv:
    """What a build function may use besides settings.

    ``sandbox``: the in-process sandbox (None in live mode or with Q2C_SANDBOX_URL);
    ``transport``: an httpx transport that wins over everything (tests);
    ``sleep``/``now``: the clock (tests pass fakes so nothing sleeps).
    """

    sandbox: Sandbox | None = None
    transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


Builder = Callable[[Settings, BuildEnv], Any]
_BUILDERS: dict[str, Builder] = {}


def register_connector(system: str) -> Callable[[Builder], Builder]:
    """Decorator: ``build(settings, env)`` makes the connector of ``system``."""

    def deco(fn: Builder) -> Builder:
        _BUILDERS[system] = fn
        return fn

    return deco


def build_connector(system: str, settings: Settings, env: BuildEnv | None = None) -> Any:
    """The connector of ``system`` for the configured mode.

    Raises:
        SettingsError: a setting the connector needs is missing (named, never shown).
    """
    if system not in _BUILDERS:
        try:
            importlib.import_module(f"services.systems.{system}")
        except ModuleNotFoundError as exc:
            if exc.name != f"services.systems.{system}":
                raise
    if system not in _BUILDERS:
        raise SettingsError(f"no connector for system {system!r}; known: {', '.join(SYSTEMS)}")
    return _BUILDERS[system](settings, env or BuildEnv())


def require(settings: Settings, name: str, why: str) -> Any:
    """The value of setting ``name`` or a SettingsError naming ``Q2C_<NAME>``."""
    value = getattr(settings, name)
    if value is None or value == "":
        raise SettingsError(f"Q2C_{name.upper()} is not set: {why}")
    return value


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(attempts=settings.retry_attempts, cap_seconds=settings.retry_cap_seconds)


def http_client(
    settings: Settings,
    system: str,
    env: BuildEnv,
    *,
    api_root: str,
    live_base_url: str | None,
) -> httpx.Client:
    """An ``httpx.Client`` for ``system``: base URL and transport by mode.

    Args:
        api_root: the path under the system's host (``/services/rest/record/v1``);
            the sandbox serves it under ``/{system}``.
        live_base_url: the live host (checked by the caller with :func:`require`).
    """
    timeout = httpx.Timeout(settings.http_timeout_seconds)
    if env.transport is not None:
        base = (live_base_url or f"{Sandbox.BASE_URL}/{system}").rstrip("/") + api_root
        return httpx.Client(transport=env.transport, base_url=base, timeout=timeout)
    if settings.systems == "live":
        assert live_base_url is not None
        return httpx.Client(base_url=live_base_url.rstrip("/") + api_root, timeout=timeout)
    if settings.sandbox_url:
        base = settings.sandbox_url.rstrip("/") + f"/{system}" + api_root
        return httpx.Client(base_url=base, timeout=timeout)
    if env.sandbox is None:
        raise SettingsError(
            "Q2C_SYSTEMS is sandbox but no sandbox is running: set Q2C_SANDBOX_URL to a "
            "`q2c sandbox serve` address, or build connectors with the in-process sandbox"
        )
    base = env.sandbox.url(system) + api_root
    return httpx.Client(transport=env.sandbox.transport(), base_url=base, timeout=timeout)
