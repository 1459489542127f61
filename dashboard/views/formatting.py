"""Numbers and times formatted for people."""

from __future__ import annotations

from datetime import datetime


def format_age(moment: datetime | None, now: datetime) -> str:
    """'2025-01-15 13:00 UTC (3 h ago)'; 'never' when there is no moment."""
    if moment is None:
        return "never"
    minutes = max((now - moment).total_seconds() / 60, 0)
    if minutes < 60:
        ago = f"{minutes:.0f} min ago"
    elif minutes < 48 * 60:
        ago = f"{minutes / 60:.0f} h ago"
    else:
        ago = f"{minutes / 1440:.0f} days ago"
    return f"{moment:%Y-%m-%d %H:%M} UTC ({ago})"
