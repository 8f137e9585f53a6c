"""What a rule sees: the opportunity, and cached look-ups in the systems of record.

Rules run concurrently; they ask the systems through :meth:`OrderContext.ask`,
which

- caches each answer for ``Q2C_VALIDATION_CACHE_SECONDS`` (master data changes
  rarely; one cache per :class:`LookupCache`, shared by every validation of a
  console), and lets concurrent rules asking the same thing share one call;
- turns a system that cannot be reached (down, timing out, rate limited after
  the retries, answering garbage, refusing credentials) into
  :class:`SystemUnreachable`, which the engine records as ``unknown`` for the
  rule and lists in ``unreached``. A system's refusal of the *content* is not
  that: connectors return None for "not found".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from services.errors import (
    AuthError,
    BadResponse,
    ConnectorError,
    ForbiddenError,
    RateLimited,
    TimedOut,
    Unavailable,
)
from services.systems.salesforce_models import OpportunityDetail

__all__ = ["LookupCache", "OrderContext", "SystemUnreachable"]

_UNREACHABLE = (Unavailable, TimedOut, RateLimited, BadResponse, AuthError, ForbiddenError)


class SystemUnreachable(Exception):
    """A system of record could not be asked; the checks that need it are unknown."""

    def __init__(self, system: str, error: ConnectorError) -> None:
        super().__init__(f"{system} not reached: {error}")
        self.system = system
        self.error = error


class LookupCache:
    """Answers by (system, question), for ``ttl`` seconds; one call per question at a time."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[float, Future[Any]]] = {}
        self.calls = 0  # how many look-ups reached a system (the bench and tests read it)

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        now = self.clock()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and (now - found[0] < self.ttl or not found[1].done()):
                future, owner = found[1], False
            else:
                future = Future()
                self._entries[key] = (now, future)
                owner = True
        if owner:
            self.calls += 1
            try:
                future.set_result(load())
            except BaseException as exc:
                future.set_exception(exc)
                with self._lock:  # errors are not cached: the next validation asks again
                    if self._entries.get(key, (0, None))[1] is future:
                        del self._entries[key]
        return future.result()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class OrderContext:
    """One validation: the opportunity as Salesforce holds it, and the connectors."""

    opportunity_id: str
    detail: OpportunityDetail
    connectors: Callable[[str], Any]
    cache: LookupCache
    settings: Any
    unreached: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the opportunity -----------------------------------------------------------

    @property
    def opportunity(self) -> dict[str, Any]:
        return self.detail.opportunity

    @property
    def account(self) -> dict[str, Any]:
        return self.detail.account or {}

    @property
    def lines(self) -> list[dict[str, Any]]:
        return list(self.detail.line_items)

    @property
    def currency(self) -> str | None:
        return self.opportunity.get("CurrencyIsoCode")

    def product_codes(self) -> list[str]:
        """Each distinct product code on the lines, in line order."""
        seen: dict[str, None] = {}
        for line in self.lines:
            code = line.get("ProductCode")
            if isinstance(code, str) and code:
                seen.setdefault(code, None)
        return list(seen)

    # -- asking the systems ----------------------------------------------------------

    def ask_many(self, system: str, method: str, args: list[Any]) -> list[Any]:
        """``ask(system, method, a)`` for each ``a`` in ``args``, all at once.

        A rule that asks per product code uses this, so 20 codes take one round
        trip, not twenty. Answers come back in the order of ``args``.

        Raises:
            SystemUnreachable: the system could not be asked.
        """
        if len(args) <= 1:
            return [self.ask(system, method, a) for a in args]
        with ThreadPoolExecutor(max_workers=min(len(args), 16)) as pool:
            futures = [pool.submit(self.ask, system, method, a) for a in args]
            return [f.result() for f in futures]

    def ask(self, system: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``connector(system).method(*args, **kwargs)``, cached and shared.

        Raises:
            SystemUnreachable: the system could not be asked.
        """
        if system in self.unreached:
            raise SystemUnreachable(
                system, Unavailable(system=system, operation=method, message=self.unreached[system])
            )
        key = (system, method, args, tuple(sorted(kwargs.items())))

        def load() -> Any:
            return getattr(self.connectors(system), method)(*args, **kwargs)

        try:
            return self.cache.get(key, load)
        except _UNREACHABLE as exc:
            with self._lock:
                self.unreached.setdefault(system, str(exc))
            raise SystemUnreachable(system, exc) from None
