"""The Alerts page's model: the signed-in user's inbox and alert rules, in the tables the page
shows, the choices of the new-rule form, and the actions (add, remove, mark read)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import polars as pl
import shapely
import sqlalchemy as sa
from shapely.geometry import mapping

from dashboard.alerts.inbox import inbox, mark_read, unread_count
from dashboard.alerts.rules import (
    CONDITION_HELP,
    CONDITION_NAMES,
    DEFAULT_WINDOW_DAYS,
    RuleError,
    add_rule,
    list_rules,
    parse_geofence,
    remove_rule,
    rule_from,
)
from dashboard.schema import ALERT_CONDITIONS
from dashboard.security.policy import Viewer, may_subscribe, most_restrictive
from dashboard.settings import ProjectConfig

__all__ = ["CONDITION_HELP", "DEFAULT_WINDOW_DAYS", "AlertsPage", "RuleError", "alerts_page",
           "create_rule", "delete_rule", "geofence_from_drawings", "read_alerts",
           "unread_alerts"]
# Drawn vertices are kept to 5 decimals (about a metre): the map's precision, not the mouse's.
DRAWN_DECIMALS = 5


@dataclass(frozen=True)
class AlertsPage:
    inbox: pl.DataFrame  # Fired (UTC), Marking, Rule, Why, View (a link in the app), Read
    alert_ids: list[int]  # the inbox's rows' alert ids, in its order
    unread: int
    marking: str  # the most restrictive marking in the inbox
    rules: pl.DataFrame  # Id, Name, Rule, Delivered to, Last evaluated (UTC)
    rule_names: dict[int, str]  # the user's active rules, id -> name
    conditions: dict[str, str]  # the conditions this user may subscribe to -> their names
    email_configured: bool
    webhooks_configured: bool
    geofences: dict[str, dict[str, Any]]  # active rule's name -> its geofence (GeoJSON geometry)


def _in_app(url: str) -> str:
    """An alert's link as a link inside the app (its path and query), whatever address the
    reader reached the app by."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def alerts_page(engine: sa.Engine, config: ProjectConfig, viewer: Viewer) -> AlertsPage:
    rules = list_rules(engine, viewer.username, active_only=False)
    names = {stored.rule_id: stored.rule.name for stored in rules}
    alerts = inbox(engine, viewer.username)
    shown = alerts.select(
        pl.col("fired_at").dt.strftime("%Y-%m-%d %H:%M").alias("Fired (UTC)"),
        pl.col("marking").alias("Marking"),
        pl.col("rule_id").replace_strict(names, default="(unknown)", return_dtype=pl.String)
        .alias("Rule"),
        pl.col("sentence").alias("Why"),
        pl.col("view_url").map_elements(_in_app, return_dtype=pl.String).alias("View"),
        pl.when(pl.col("read_at").is_null()).then(pl.lit("unread"))
        .otherwise(pl.col("read_at").dt.strftime("%Y-%m-%d %H:%M")).alias("Read"),
    )
    active = [stored for stored in rules if stored.active]
    settings = config.settings.alerts
    table = pl.DataFrame([{
        "Id": stored.rule_id, "Name": stored.rule.name,
        "Rule": stored.rule.summary(config),
        "Delivered to": ", ".join(["inbox", *([stored.rule.email] if stored.rule.email else []),
                                   *(["webhooks"] if stored.rule.webhook else [])]),
        "Last evaluated (UTC)": f"{stored.evaluated_at:%Y-%m-%d %H:%M}"
        if stored.evaluated_at else "not yet"} for stored in active],
        schema={"Id": pl.Int64, "Name": pl.String, "Rule": pl.String,
                "Delivered to": pl.String, "Last evaluated (UTC)": pl.String})
    return AlertsPage(
        inbox=shown, alert_ids=alerts["alert_id"].to_list(),
        unread=int(alerts["read_at"].is_null().sum()),
        marking=most_restrictive(alerts["marking"].unique().to_list()), rules=table,
        rule_names={stored.rule_id: stored.rule.name for stored in active},
        conditions={key: CONDITION_NAMES[key] for key in ALERT_CONDITIONS
                    if may_subscribe(viewer, key)},
        email_configured=settings.smtp_host is not None,
        webhooks_configured=bool(settings.webhook_urls),
        geofences={f"{stored.rule_id} · {stored.rule.name}": json.loads(stored.rule.geofence)
                   for stored in active if stored.rule.geofence is not None})


def geofence_from_drawings(drawings: Sequence[Mapping[str, Any]]) -> str | None:
    """The geofence text for what was drawn on the map (GeoJSON features, as Leaflet.draw
    gives them): their polygons as one Polygon or MultiPolygon, vertices rounded to
    ``DRAWN_DECIMALS``; None when nothing is drawn. Raises ValueError (one line) for a drawing
    that is no usable area (a self-crossing outline, say)."""
    polygons = [feature for feature in drawings
                if (feature.get("geometry") or {}).get("type") in ("Polygon", "MultiPolygon")]
    if not polygons:
        return None
    # Shapes drawn over each other make one area (a MultiPolygon of overlapping parts would
    # not be valid GeoJSON).
    area = shapely.union_all([parse_geofence(json.dumps(feature)) for feature in polygons])
    rounded = shapely.transform(area, lambda points: np.round(points, DRAWN_DECIMALS))
    return json.dumps(mapping(rounded if rounded.is_valid else area), separators=(",", ":"))


def create_rule(engine: sa.Engine, config: ProjectConfig, viewer: Viewer,
                values: Mapping[str, Any]) -> int:
    """Subscribe the viewer to the rule the form describes (a 0 or empty value: not given);
    raises RuleError naming the field that is wrong."""
    given = {name: value for name, value in values.items() if value not in (0, None)}
    return add_rule(engine, config, viewer, viewer.username, rule_from(given))


def delete_rule(engine: sa.Engine, viewer: Viewer, rule_id: int) -> None:
    remove_rule(engine, rule_id, owner=viewer.username)


def read_alerts(engine: sa.Engine, viewer: Viewer, alert_ids: Sequence[int] | None = None
                ) -> int:
    """Mark the viewer's alerts read (None: all); returns how many."""
    return mark_read(engine, viewer.username, alert_ids)


def unread_alerts(engine: sa.Engine, viewer: Viewer) -> int:
    """The viewer's unread alerts (for the sidebar's badge)."""
    return unread_count(engine, viewer.username)
