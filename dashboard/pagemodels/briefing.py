"""The Briefing page's model: the briefing its author would produce now, for the preview."""

from __future__ import annotations

from datetime import date

from dashboard.analytics.filters import Filters
from dashboard.analytics.health import last_load_per_center
from dashboard.briefing.compose import Briefing, compose_briefing
from dashboard.frames import HealthFrames
from dashboard.security.audience import ViewData
from dashboard.security.policy import Viewer
from dashboard.settings import ProjectConfig


def briefing_preview(config: ProjectConfig, data: ViewData, author: Viewer,
                     health: HealthFrames, filters: Filters, today: date, audience: str,
                     marking_floor: str) -> Briefing:
    """The briefing ``author`` would produce (not yet stamped), with each center's last load.
    It is composed from the same page models as the pages it mirrors."""
    return compose_briefing(config, data.frames(), author, filters, today, audience=audience,
                            marking_floor=marking_floor, last_loads=last_load_per_center(health))
