"""Bulk replay's limits: a token bucket per system and a breaker on consecutive failures.

Both are thread-safe; planning uses the bucket for its target checks, a run uses
both (:mod:`services.bulk_run`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Breaker", "TokenBucket"]


class TokenBucket:
    """``rate`` requests per second with bursts up to ``burst``; thread-safe.

    Example:
        >>> bucket = TokenBucket(50, clock=time.monotonic, sleep=time.sleep)
        >>> bucket.take()  # waits when the bucket is empty; returns the seconds waited
        0.0
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self._clock, self._sleep = clock, sleep
        self._tokens = self.burst
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Reserve one token; sleep until it is due. Returns the wait."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1
            wait_s = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait_s > 0:
            self._sleep(wait_s)
        return wait_s


class Breaker:
    """Counts consecutive failures per system; open after ``after`` of them."""

    def __init__(self, after: int) -> None:
        self.after = after
        self._count: dict[str, int] = {}
        self._why: dict[str, str] = {}
        self._lock = threading.Lock()

    def reason(self, system: str) -> str | None:
        """Why ``system`` gets nothing more in this run (None: it does)."""
        return self._why.get(system)

    def record(self, system: str, failure: str | None) -> None:
        """One answer from ``system``: ``failure`` is the message, None when it answered."""
        with self._lock:
            if failure is None:
                self._count[system] = 0
                return
            self._count[system] = self._count.get(system, 0) + 1
            if self._count[system] >= self.after and system not in self._why:
                self._why[system] = (
                    f"not sent: {system} failed {self._count[system]} times in a row "
                    f"(last: {failure}); run again with retry_failed once it is back"
                )
