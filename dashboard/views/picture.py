"""How a headline figure's change reads (the KPI cards of Overview, Trends and Briefing)."""

from __future__ import annotations

from dashboard.analytics.picture import Kpi


def kpi_delta(kpi: Kpi) -> str | None:
    """'+12 (+8.5 %)' against the previous period; None when there is no comparison."""
    if kpi.change is None:
        return None
    if kpi.change == 0:
        return "no change"
    pct = kpi.change_pct
    share = "new" if pct is None and kpi.current else ("" if pct is None else f"{pct:+.1f} %")
    return f"{kpi.change:+,}" + (f" ({share})" if share else "")
