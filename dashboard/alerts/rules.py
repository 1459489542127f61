"""Alert rules: what a user subscribes to (an area, topics and a condition), checked against
the deployment and the audience policy, and kept in the ``alert_rules`` table.

A rule's **area** is any of regions, counties and a geofence (a GeoJSON polygon): an incident is
in it when its county is one of the regions' or counties', or its coordinates fall inside the
polygon; a condition computed per county (hot spots, anomalies, gaps, near-duplicates, and any
count a partner receives) takes the counties the polygon touches. No area: the whole state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from dashboard.analytics.filters import Filters
from dashboard.schema import ALERT_CONDITIONS
from dashboard.security import audit, clock
from dashboard.security.policy import Audience, may_subscribe
from dashboard.settings import ProjectConfig
from dashboard.store import data_version, operations_engine, write_transaction
from dashboard.store import table as sql_table

Condition = Literal["emerging_hotspot", "trend_anomaly", "coverage_gap", "near_duplicate",
                    "count_above", "new_incident"]
assert set(Condition.__args__) == set(ALERT_CONDITIONS)  # type: ignore[attr-defined]

CONDITION_NAMES: dict[str, str] = {
    "emerging_hotspot": "New or intensifying hot spot",
    "trend_anomaly": "Trend anomaly",
    "coverage_gap": "New coverage gap",
    "near_duplicate": "New near-duplicate products",
    "count_above": "Count at or above a threshold",
    "new_incident": "New incident in the area",
}
CONDITION_HELP: dict[str, str] = {
    "emerging_hotspot": "A county of the area becomes a New or an Intensifying Hot Spot "
                        "(emerging hot spot analysis over the weeks of the window, at least 12).",
    "trend_anomaly": "A week (or day) of a category, or of a category in a region, rises "
                     "significantly above its baseline (the Trends page's anomalies) within "
                     "the window.",
    "coverage_gap": "A topic and area of the rule becomes a coverage gap (the Coverage page's "
                    "gap list for the window).",
    "near_duplicate": "A product of the rule's topics and area is found to nearly duplicate "
                      "another center's (the Coverage page's near-duplicate clusters).",
    "count_above": "The incidents in the area in the last window days reach the threshold.",
    "new_incident": "An incident that occurred in the window enters the store inside the area, "
                    "at or above the minimum severity.",
}
# How far back each condition looks when the rule does not say (window_days).
DEFAULT_WINDOW_DAYS: dict[str, int] = {
    "emerging_hotspot": 84, "trend_anomaly": 14, "coverage_gap": 90, "near_duplicate": 30,
    "count_above": 7, "new_incident": 7,
}
# Conditions about incidents (severity, SAR behaviour and sector filters apply to them).
INCIDENT_CONDITIONS = frozenset({"emerging_hotspot", "trend_anomaly", "coverage_gap",
                                 "count_above", "new_incident"})
MAX_GEOFENCE_CHARACTERS = 1_000_000
EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


class RuleError(ValueError):
    """A rule that cannot be kept, in one line naming the field."""


def parse_geofence(text: str) -> BaseGeometry:
    """A (multi)polygon from GeoJSON text: a Polygon or MultiPolygon geometry, a Feature of
    one, or a FeatureCollection of them (their union). Raises ValueError saying what is wrong."""
    if len(text) > MAX_GEOFENCE_CHARACTERS:
        raise ValueError(f"longer than {MAX_GEOFENCE_CHARACTERS:,} characters")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise ValueError(f"not valid JSON ({error})") from error
    if not isinstance(document, dict):
        raise ValueError("not a GeoJSON object")
    if document.get("type") == "FeatureCollection":
        geometries = [feature.get("geometry") for feature in document.get("features") or []
                      if isinstance(feature, dict)]
    elif document.get("type") == "Feature":
        geometries = [document.get("geometry")]
    else:
        geometries = [document]
    polygons: list[Polygon] = []
    for geometry in geometries:
        if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon",
                                                                          "MultiPolygon"):
            raise ValueError("only Polygon and MultiPolygon geometries make an area")
        try:
            parsed = shape(geometry)
        except (ValueError, TypeError, AttributeError, IndexError) as error:
            raise ValueError(f"not a valid {geometry['type']} ({error})") from error
        polygons += list(parsed.geoms) if isinstance(parsed, MultiPolygon) else [parsed]
    if not polygons:
        raise ValueError("no polygon in it")
    area = polygons[0] if len(polygons) == 1 else MultiPolygon(polygons)
    if not area.is_valid:
        from shapely.validation import explain_validity

        raise ValueError(f"not a valid polygon: {explain_validity(area)}")
    west, south, east, north = area.bounds
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise ValueError("coordinates are not WGS84 longitude, latitude")
    if area.area == 0:
        raise ValueError("the polygon has no area")
    return area


class AlertRule(BaseModel):
    """A subscription as its owner states it (strict: no value is coerced, unknown keys fail)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1, max_length=200)
    condition: Condition
    regions: tuple[str, ...] = ()
    counties: tuple[str, ...] = ()
    geofence: str | None = None  # GeoJSON text, stored normalised
    categories: tuple[str, ...] = ()
    sar_behaviors: tuple[str, ...] = ()
    target_sectors: tuple[str, ...] = ()
    threshold: int | None = Field(None, ge=1)
    window_days: int | None = Field(None, ge=1, le=366)
    min_severity: int | None = Field(None, ge=1, le=5)
    email: str | None = Field(None, max_length=320)
    webhook: bool = False

    @field_validator("name")
    @classmethod
    def _one_line_name(cls, value: str) -> str:
        name = " ".join(value.split())
        if not name:
            raise ValueError("a rule needs a name")
        return name

    @field_validator("geofence")
    @classmethod
    def _polygon(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return json.dumps(mapping(parse_geofence(value)), separators=(",", ":"))

    @field_validator("email")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not EMAIL.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value.strip()

    @model_validator(mode="after")
    def _parameters_fit_the_condition(self) -> AlertRule:
        if self.condition == "count_above" and self.threshold is None:
            raise ValueError("count_above needs a threshold")
        if self.condition != "count_above" and self.threshold is not None:
            raise ValueError(f"a threshold applies to count_above only, not {self.condition}")
        if self.condition not in INCIDENT_CONDITIONS and (
                self.min_severity or self.sar_behaviors or self.target_sectors):
            raise ValueError(f"{self.condition} is about products: severity, SAR behaviour "
                             "and target sector do not apply")
        return self

    @property
    def window(self) -> int:
        """Days the condition looks back over, ending today."""
        return self.window_days or DEFAULT_WINDOW_DAYS[self.condition]

    @cached_property
    def shape(self) -> BaseGeometry | None:
        return None if self.geofence is None else parse_geofence(self.geofence)

    def filters(self, touched_counties: Sequence[str] = ()) -> Filters:
        """The shared filters this rule's view applies (no period: each condition sets its
        own). ``touched_counties``: those the geofence touches, added to the place."""
        return Filters(
            regions=self.regions, counties=tuple(dict.fromkeys((*self.counties,
                                                               *touched_counties))),
            categories=self.categories, sar_behaviors=self.sar_behaviors,
            target_sectors=self.target_sectors,
            severities=tuple(range(self.min_severity, 6)) if self.min_severity else ())

    def summary(self, config: ProjectConfig) -> str:
        """The rule in words: 'Trend anomaly · Gangs, Narcotics · North region, geofence ·
        14 days'."""
        labels = config.labels
        parts = [CONDITION_NAMES[self.condition]]
        if self.condition == "count_above":
            parts[0] += f" ({self.threshold:,})"
        parts.append(", ".join(labels["category"].get(key, key) for key in self.categories)
                     or "every category")
        place = [f"{labels['region'].get(key, key)} region" for key in self.regions]
        place += [f"{labels['county'].get(key, key)} County" for key in self.counties]
        if self.geofence is not None:
            place.append("geofence")
        parts.append(", ".join(place) or "statewide")
        if self.min_severity:
            parts.append(f"severity {self.min_severity}+")
        parts.append(f"{self.window} days")
        return " · ".join(parts)


def rule_from(values: Mapping[str, Any]) -> AlertRule:
    """An :class:`AlertRule` from loose values (a form, the command line, a stored row): lists
    become tuples, empty text None; a problem is one RuleError line naming the field."""
    fields = AlertRule.model_fields
    given: dict[str, Any] = {}
    for name, value in values.items():
        if name not in fields:
            continue
        if isinstance(value, list | tuple):
            value = tuple(value)
        elif isinstance(value, str) and not value.strip() and name != "name":
            value = None
        if value is not None:
            given[name] = value
    try:
        return AlertRule.model_validate(given)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "rule"
        message = first["msg"].removeprefix("Value error, ")
        raise RuleError(f"{where}: {message}") from error


def touched_counties(config: ProjectConfig, area: BaseGeometry | None) -> list[str]:
    """Counties of the deployment's state the geofence intersects, in FIPS order."""
    if area is None:
        return []
    from dashboard.geo import state_counties

    counties = state_counties(config.settings.state)
    hits = counties.sindex.query(area, predicate="intersects")
    return sorted(counties["county_fips"].iloc[hits].tolist())


def check_rule(rule: AlertRule, config: ProjectConfig, owner: Audience) -> None:
    """Raise RuleError unless the deployment knows every value of ``rule`` and the audience
    policy lets ``owner`` subscribe to it."""
    vocabularies = config.vocabularies()
    for name, vocabulary in (("regions", "regions"), ("counties", "counties"),
                             ("categories", "categories"), ("sar_behaviors", "sar_behaviors"),
                             ("target_sectors", "target_sectors")):
        unknown = [value for value in getattr(rule, name) if value not in vocabularies[vocabulary]]
        if unknown:
            raise RuleError(f"{name}: unknown {', '.join(map(repr, unknown))} (not in "
                            f"{config.settings.state}'s {vocabulary})")
    if rule.shape is not None and not touched_counties(config, rule.shape):
        raise RuleError(f"geofence: it lies outside {config.settings.state}")
    if not may_subscribe(owner, rule.condition):
        raise RuleError(f"condition: partners receive released weekly counts, so "
                        f"{CONDITION_NAMES[rule.condition].lower()} alerts are not for them")
    if owner.aggregates_only and (rule.sar_behaviors or rule.target_sectors
                                  or rule.min_severity):
        raise RuleError("partners' counts are by county, category and week: SAR behaviour, "
                        "target sector and severity do not apply")


# --- the alert_rules table ------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRule:
    rule_id: int
    username: str
    rule: AlertRule
    created_at: datetime
    active: bool
    evaluated_version: int | None  # None: never evaluated
    evaluated_at: datetime | None
    state: frozenset[str] | None  # condition keys that held at the last evaluation

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> StoredRule:
        state = row["state"]
        return cls(
            rule_id=int(row["rule_id"]), username=row["username"],
            rule=rule_from({name: row[name] for name in AlertRule.model_fields}),
            created_at=as_utc(row["created_at"]), active=bool(row["active"]),
            evaluated_version=row["evaluated_version"],
            evaluated_at=None if row["evaluated_at"] is None else as_utc(row["evaluated_at"]),
            state=None if state is None else frozenset(json.loads(state)))


def as_utc(moment: datetime) -> datetime:
    """A stored time (SQLite returns it naive; every stored time is UTC) as an aware one."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def add_rule(engine: sa.Engine, config: ProjectConfig, owner: Audience, username: str,
             rule: AlertRule, *, operator: str | None = None, page: str = "alerts") -> int:
    """Keep ``rule`` for ``username`` (whose class is ``owner``); returns its id. It first
    looks at the incidents and products written after now (its watermark is the store's data
    version), and its first evaluation reports what holds. Audited (by ``operator`` when
    someone else adds it, e.g. the command line)."""
    check_rule(rule, config, owner)
    now = clock.now()
    values = rule.model_dump()
    values |= {name: list(values[name]) for name in ("regions", "counties", "categories",
                                                      "sar_behaviors", "target_sectors")}
    operations = operations_engine(engine)
    with write_transaction(operations) as connection:
        inserted = connection.execute(sql_table("alert_rules").insert().values(
            username=username, created_at=now, active=True,
            evaluated_version=data_version(engine), **values)).inserted_primary_key
        assert inserted is not None
        rule_id = int(inserted[0])
        audit.record(connection, operator or username, "alert_rule", page=page, at=now,
                     detail={"added": rule_id, "for": username, "name": rule.name,
                             "condition": rule.condition})
    return rule_id


def list_rules(engine: sa.Engine, username: str | None = None, *,
               active_only: bool = True) -> list[StoredRule]:
    """Rules (of ``username``, or everyone's), oldest first."""
    rules = sql_table("alert_rules")
    query = sa.select(rules).order_by(rules.c.rule_id)
    if username is not None:
        query = query.where(rules.c.username == username)
    if active_only:
        query = query.where(rules.c.active.is_(True))
    with operations_engine(engine).connect() as connection:
        return [StoredRule.from_row(row._mapping) for row in connection.execute(query)]


def get_rule(engine: sa.Engine, rule_id: int) -> StoredRule | None:
    rules = sql_table("alert_rules")
    with operations_engine(engine).connect() as connection:
        row = connection.execute(sa.select(rules).where(rules.c.rule_id == rule_id)).first()
    return None if row is None else StoredRule.from_row(row._mapping)


def remove_rule(engine: sa.Engine, rule_id: int, *, owner: str | None = None,
                operator: str | None = None, page: str = "alerts") -> StoredRule:
    """Stop a rule (kept inactive, with the alerts it fired). ``owner``: refuse another
    user's rule. Audited."""
    stored = get_rule(engine, rule_id)
    if stored is None or not stored.active or (owner is not None and stored.username != owner):
        raise RuleError(f"no active alert rule {rule_id}" + (f" of {owner!r}" if owner else ""))
    rules = sql_table("alert_rules")
    with write_transaction(operations_engine(engine)) as connection:
        connection.execute(rules.update().where(rules.c.rule_id == rule_id).values(active=False))
        audit.record(connection, operator or stored.username, "alert_rule", page=page,
                     detail={"removed": rule_id, "for": stored.username,
                             "name": stored.rule.name})
    return stored
