"""The clocks security reads, so tests can set them.

:func:`now` is the wall clock of sign-in, idle timeout, lockout, audit and purge (it is stored).
:class:`MonotonicClock` is what the sign-in throttle measures its windows and backoffs with: a
wall clock set back or forward must not lift or extend a backoff.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


def now() -> datetime:
    return datetime.now(UTC)


class MonotonicClock(Protocol):
    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes back."""
        ...

    def sleep(self, seconds: float) -> None:
        ...


class SystemMonotonicClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_MONOTONIC = SystemMonotonicClock()
