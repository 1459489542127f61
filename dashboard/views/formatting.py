"""Numbers, times and untrusted text formatted for people."""

from __future__ import annotations

from datetime import datetime
from html import escape

MARKDOWN_SPECIALS = frozenset("\\`*_{}[]()#+-.!|~>$:")


def markdown_text(text: str) -> str:
    """``text`` with Markdown and HTML syntax neutralised, for st.markdown / st.caption."""
    escaped = escape(text, quote=False)
    return "".join(f"\\{c}" if c in MARKDOWN_SPECIALS else c for c in escaped)


def plotly_text(text: str) -> str:
    """``text`` for plotly labels and hover text, which render a subset of HTML."""
    return escape(text, quote=False)


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
