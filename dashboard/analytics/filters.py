"""The shared filters every page applies, their period arithmetic, and their URL form.

A :class:`Filters` value is what a user chose in the sidebar; it round-trips through
``st.query_params`` (:func:`to_query_params` / :func:`from_query_params`) so a copied link
reopens exactly the same view. Values not in the deployment's vocabularies are dropped when a
link is read, so a hand-edited URL can never widen or break a view.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta

import polars as pl

PERIOD_PRESETS: dict[str, str] = {
    "7d": "Last 7 days",
    "28d": "Last 28 days",
    "90d": "Last 90 days",
    "ytd": "Year to date",
    "custom": "Custom range",
}
PRESET_DAYS = {"7d": 7, "28d": 28, "90d": 90}
# Dates a link may carry; beyond them period arithmetic would leave the calendar.
EARLIEST_URL_DATE, LATEST_URL_DATE = date(1900, 1, 1), date(2100, 12, 31)
LIST_FIELDS = ("regions", "counties", "categories", "sar_behaviors", "target_sectors", "centers")


@dataclass(frozen=True)
class Filters:
    period: str = "28d"
    start: date | None = None  # custom range only, inclusive
    end: date | None = None  # custom range only, inclusive
    regions: tuple[str, ...] = ()
    counties: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    sar_behaviors: tuple[str, ...] = ()
    target_sectors: tuple[str, ...] = ()
    centers: tuple[str, ...] = ()
    severities: tuple[int, ...] = ()
    duplicates_once: bool = True

    def with_changes(self, **changes: object) -> Filters:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Period:
    start: date  # inclusive
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The equal-length period just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def label(self) -> str:
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"


def period_of(filters: Filters, today: date) -> Period:
    """The dates a filter covers, ending today (or the custom range)."""
    if filters.period in PRESET_DAYS:
        return Period(today - timedelta(days=PRESET_DAYS[filters.period] - 1), today)
    if filters.period == "ytd":
        return Period(date(today.year, 1, 1), today)
    end = filters.end or today
    start = filters.start or end - timedelta(days=27)
    return Period(min(start, end), max(start, end))


def selected_counties(filters: Filters, county_to_region: Mapping[str, str]) -> list[str] | None:
    """Counties the region/county filters allow (None: all). Regions and counties add up."""
    if not filters.regions and not filters.counties:
        return None
    chosen = set(filters.counties)
    chosen |= {fips for fips, region in county_to_region.items() if region in filters.regions}
    return sorted(chosen)


def incident_filter(filters: Filters, county_to_region: Mapping[str, str],
                    period: Period | None = None) -> pl.Expr:
    """One Polars predicate for every incident filter (period optional)."""
    conditions: list[pl.Expr] = []
    if period is not None:
        conditions.append(pl.col("occurred_date").is_between(period.start, period.end))
    counties = selected_counties(filters, county_to_region)
    if counties is not None:
        conditions.append(pl.col("county_fips").is_in(counties))
    for column, values in (
        ("category", filters.categories), ("sar_behavior", filters.sar_behaviors),
        ("target_sector", filters.target_sectors), ("center_id", filters.centers),
        ("severity", filters.severities),
    ):
        if values:
            conditions.append(pl.col(column).is_in(list(values)))
    if filters.duplicates_once:
        conditions.append(~pl.col("is_duplicate"))
    return pl.all_horizontal(conditions) if conditions else pl.lit(True)


def to_query_params(filters: Filters) -> dict[str, str | list[str]]:
    """The URL form: only what differs from the defaults, lists as repeated keys."""
    default = Filters()
    params: dict[str, str | list[str]] = {}
    for item in fields(Filters):
        value = getattr(filters, item.name)
        if value == getattr(default, item.name):
            continue
        if isinstance(value, tuple):
            params[item.name] = [str(v) for v in value]
        elif isinstance(value, bool):
            params[item.name] = "1" if value else "0"
        elif isinstance(value, date):
            params[item.name] = value.isoformat()
        else:
            params[item.name] = str(value)
    return params


def from_query_params(params: Mapping[str, str | list[str]],
                      vocabularies: Mapping[str, frozenset[str]]) -> Filters:
    """Filters from a URL; unknown keys and values are ignored, never trusted."""
    allowed = {
        "regions": vocabularies["regions"], "counties": vocabularies["counties"],
        "categories": vocabularies["categories"], "sar_behaviors": vocabularies["sar_behaviors"],
        "target_sectors": vocabularies["target_sectors"], "centers": vocabularies["centers"],
    }

    def values(name: str) -> list[str]:
        raw = params.get(name, [])
        return [raw] if isinstance(raw, str) else list(raw)

    changes: dict[str, object] = {}
    period = values("period")
    if period and period[0] in PERIOD_PRESETS:
        changes["period"] = period[0]
    for name in ("start", "end"):
        text = values(name)
        if text:
            # A malformed or absurd date in a hand-edited link falls back to the default range.
            with contextlib.suppress(ValueError):
                parsed = date.fromisoformat(text[0])
                if EARLIEST_URL_DATE <= parsed <= LATEST_URL_DATE:
                    changes[name] = parsed
    for name in LIST_FIELDS:
        chosen = [value for value in values(name) if value in allowed[name]]
        if chosen:
            changes[name] = tuple(dict.fromkeys(chosen))
    severities = [int(v) for v in values("severities") if v in {"1", "2", "3", "4", "5"}]
    if severities:
        changes["severities"] = tuple(sorted(set(severities)))
    once = values("duplicates_once")
    if once and once[0] in ("0", "1"):
        changes["duplicates_once"] = once[0] == "1"
    return Filters().with_changes(**changes)
