"""The one clock sign-in, idle timeout, lockout, audit and purge read, so tests can set it."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
