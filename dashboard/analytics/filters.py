"""The shared filters every page applies, declared once; their period arithmetic and URL form.

:data:`FILTER_FIELDS` declares every filter: its :class:`Filters` attribute, its sidebar widget
(``page_glue.render_filter_sidebar``), its URL key, the incident column it filters, the values
it allows and its option of ``threat-picture analyze`` and ``brief``; the URL form, the incident
predicate and the CLI options are derived from it, and a meta-test
(``tests/test_filter_declaration.py``) holds :class:`Filters` to it.

A :class:`Filters` value is what a user chose in the sidebar; it round-trips through
``st.query_params`` (:func:`to_query_params` / :func:`from_query_params`) so a copied link
reopens exactly the same view. Values not in the deployment's vocabularies are dropped when a
link is read, so a hand-edited URL can never widen or break a view.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

if TYPE_CHECKING:
    from dashboard.settings import ProjectConfig

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
SEVERITIES = (1, 2, 3, 4, 5)
# The incident columns the period and the place filters work on (see incident_filter).
PERIOD_COLUMN, PLACE_COLUMN = "occurred_date", "county_fips"

WidgetKind = Literal["select", "date_range", "multiselect", "pills", "toggle"]
FilterValue = str | int


@dataclass(frozen=True)
class FilterField:
    """One shared filter: everything the sidebar, the URL, the incident predicate and the CLI
    need to know of it."""

    name: str  # the Filters attribute
    label: str  # the sidebar widget's label
    widget: WidgetKind
    url_key: str
    # The incident column it filters; None: it filters none. A toggle that is on leaves out
    # the rows whose column is true. The period filters (PERIOD_COLUMN) apply through the
    # period incident_filter is given; regions and counties (PLACE_COLUMN) add up.
    column: str | None
    # The values it allows: a key of ProjectConfig.vocabularies(), a fixed list, or None (a
    # date, a toggle).
    values: str | tuple[FilterValue, ...] | None
    option: str  # CLI option of analyze and brief ("--on/--off" for a toggle)
    option_help: str
    # Whose names its values show with: a key of ProjectConfig.labels, "period", or
    # "sar_behavior" / "target_sector" (taxonomy codes); None: the values themselves.
    value_labels: str | None = None
    placeholder: str | None = None  # shown while nothing is chosen
    help: str | None = None  # the widget's tooltip
    # The widget it shares with another filter (start and end: the ends of one date range).
    widget_name: str | None = None
    # It applies only while another filter has this value (the custom range: period custom).
    only_when: tuple[str, str] | None = None
    # A selection kept in the order of ``values``, not the order it was picked in.
    ordered: bool = False
    # The CLI's message for a value it does not allow ({noun}, {value}, {known}, {state}).
    unknown: str = "unknown {noun} {value!r} (known: {known})"

    @property
    def widget_key(self) -> str:
        """The Streamlit key of its sidebar widget."""
        return f"filter_{self.widget_name or self.name}"

    @property
    def multiple(self) -> bool:
        """A selection of any number of values (a tuple attribute)."""
        return self.widget in ("multiselect", "pills")

    @property
    def noun(self) -> str:
        """What one value is called, from the CLI option ("--sar-behavior": sar behavior)."""
        return self.option.split("/")[0].removeprefix("--").replace("-", " ")

    def allowed(self, vocabularies: Mapping[str, Iterable[str]]) -> tuple[FilterValue, ...]:
        """The values it allows in this deployment (a vocabulary sorted; a fixed list in its
        order); () for a date or a toggle."""
        if isinstance(self.values, str):
            return tuple(sorted(vocabularies[self.values]))
        return self.values or ()

    def text(self, value: object) -> str:
        """One value as a URL or the CLI spells it."""
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    def selection(self, values: Iterable[Any]) -> tuple[Any, ...]:
        """A multiple filter's values as Filters keeps them: each once, in the order picked
        (or, ``ordered``, in the order of ``values``)."""
        chosen = tuple(dict.fromkeys(values))
        if self.ordered and isinstance(self.values, tuple):
            return tuple(sorted(chosen, key=self.values.index))
        return chosen


FILTER_FIELDS: tuple[FilterField, ...] = (
    FilterField(
        "period", "Period", "select", "period", PERIOD_COLUMN, tuple(PERIOD_PRESETS),
        "--period", "7d, 28d, 90d, ytd, or custom (with --start and --end).",
        value_labels="period", unknown="{value!r} is not one of {known}"),
    FilterField(
        "start", "Date range", "date_range", "start", PERIOD_COLUMN, None,
        "--start", "First day of a custom period, YYYY-MM-DD (default: 27 days before its end).",
        widget_name="custom_range", only_when=("period", "custom"),
        unknown="{value!r} is not a date (YYYY-MM-DD)"),
    FilterField(
        "end", "Date range", "date_range", "end", PERIOD_COLUMN, None,
        "--end", "Last day of a custom period, YYYY-MM-DD (default: today).",
        widget_name="custom_range", only_when=("period", "custom"),
        unknown="{value!r} is not a date (YYYY-MM-DD)"),
    FilterField(
        "regions", "Region", "multiselect", "regions", PLACE_COLUMN, "regions",
        "--region", "Region id or name (repeatable; adds to --county).",
        value_labels="region", placeholder="All regions"),
    FilterField(
        "counties", "County", "multiselect", "counties", PLACE_COLUMN, "counties",
        "--county", "County FIPS or name (repeatable; adds to --region).",
        value_labels="county", placeholder="All counties",
        unknown="{value!r} is not a county FIPS or name of {state}"),
    FilterField(
        "categories", "Threat category", "multiselect", "categories", "category", "categories",
        "--category", "Threat category key or name (repeatable).",
        value_labels="category", placeholder="All categories"),
    FilterField(
        "sar_behaviors", "SAR behaviour", "multiselect", "sar_behaviors", "sar_behavior",
        "sar_behaviors", "--sar-behavior", "ISE-SAR behaviour code (repeatable).",
        value_labels="sar_behavior", placeholder="Any behaviour"),
    FilterField(
        "target_sectors", "Target sector", "multiselect", "target_sectors", "target_sector",
        "target_sectors", "--target-sector", "Target sector code (repeatable).",
        value_labels="target_sector", placeholder="Any sector"),
    FilterField(
        "centers", "Reporting center", "multiselect", "centers", "center_id", "centers",
        "--center", "Reporting center id or name (repeatable).",
        value_labels="center", placeholder="All centers"),
    FilterField(
        "severities", "Severity", "pills", "severities", "severity", SEVERITIES,
        "--severity", "Severity 1 to 5 (repeatable; none: every severity).",
        help="None selected: every severity.", ordered=True),
    FilterField(
        "duplicates_once", "Count cross-center duplicates once", "toggle", "duplicates_once",
        "is_duplicate", None, "--duplicates-once/--every-report",
        "Count an event two centers reported once (the first report), or every report.",
        help="The same event reported by two centers is linked at ingest; on, it counts once "
        "(the first report)."),
)
FILTER_FIELDS_BY_NAME = {field.name: field for field in FILTER_FIELDS}
# The filters choosing from a vocabulary of the deployment (each a tuple of its values).
LIST_FIELDS = tuple(field.name for field in FILTER_FIELDS
                    if field.multiple and isinstance(field.values, str))


@dataclass(frozen=True)
class Filters:
    """A selection of every filter of FILTER_FIELDS (a meta-test keeps the two in step)."""

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


def filter_value_names(config: ProjectConfig) -> dict[str, dict[str, str]]:
    """Display names of the values of each ``FilterField.value_labels`` key (in the
    deployment's order)."""
    taxonomy = config.taxonomy
    return {**config.labels, "period": dict(PERIOD_PRESETS),
            "sar_behavior": dict(taxonomy.sar_behaviors),
            "target_sector": dict(taxonomy.target_sectors)}


def parse_value(field: FilterField, text: str,
                vocabularies: Mapping[str, Iterable[str]]) -> Any:
    """One value of ``field`` from its text (a URL's or the CLI's); None when it is not one
    the field allows (a date: not a date, or beyond the dates a link may carry)."""
    if field.widget == "date_range":
        with contextlib.suppress(ValueError):
            parsed = date.fromisoformat(text)
            if EARLIEST_URL_DATE <= parsed <= LATEST_URL_DATE:
                return parsed
        return None
    if field.widget == "toggle":
        return {"1": True, "0": False}.get(text)
    return {field.text(value): value for value in field.allowed(vocabularies)}.get(text)


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


def last_complete_week_end(today: date) -> date:
    """The Sunday ending the last complete week (Monday to Sunday) before ``today``."""
    return today - timedelta(days=today.isoweekday())


def week_ending(day: pl.Expr) -> pl.Expr:
    """The Sunday ending the (Monday to Sunday) week of ``day``."""
    return day + pl.duration(days=7 - day.dt.weekday())


def selected_counties(filters: Filters, county_to_region: Mapping[str, str]) -> list[str] | None:
    """Counties the region/county filters allow (None: all). Regions and counties add up."""
    if not filters.regions and not filters.counties:
        return None
    chosen = set(filters.counties)
    chosen |= {fips for fips, region in county_to_region.items() if region in filters.regions}
    return sorted(chosen)


def incident_filter(filters: Filters, county_to_region: Mapping[str, str],
                    period: Period | None = None) -> pl.Expr:
    """One Polars predicate for every incident filter (period optional), by the columns
    FILTER_FIELDS names."""
    conditions: list[pl.Expr] = []
    if period is not None:
        conditions.append(pl.col(PERIOD_COLUMN).is_between(period.start, period.end))
    counties = selected_counties(filters, county_to_region)
    if counties is not None:
        conditions.append(pl.col(PLACE_COLUMN).is_in(counties))
    for field in FILTER_FIELDS:
        if field.column in (None, PERIOD_COLUMN, PLACE_COLUMN):
            continue
        value = getattr(filters, field.name)
        if field.multiple and value:
            conditions.append(pl.col(field.column).is_in(list(value)))
        elif field.widget == "toggle" and value:
            conditions.append(~pl.col(field.column))
    return pl.all_horizontal(conditions) if conditions else pl.lit(True)


def to_query_params(filters: Filters) -> dict[str, str | list[str]]:
    """The URL form: only what differs from the defaults, lists as repeated keys."""
    default = Filters()
    params: dict[str, str | list[str]] = {}
    for field in FILTER_FIELDS:
        value = getattr(filters, field.name)
        if value == getattr(default, field.name):
            continue
        params[field.url_key] = ([field.text(item) for item in value] if field.multiple
                                 else field.text(value))
    return params


def from_query_params(params: Mapping[str, str | list[str]],
                      vocabularies: Mapping[str, frozenset[str]]) -> Filters:
    """Filters from a URL; unknown keys and values are ignored, never trusted."""
    changes: dict[str, object] = {}
    for field in FILTER_FIELDS:
        raw = params.get(field.url_key, [])
        texts = [raw] if isinstance(raw, str) else list(raw)
        if field.multiple:
            chosen = [parse_value(field, text, vocabularies) for text in texts]
            kept = field.selection(value for value in chosen if value is not None)
            if kept:
                changes[field.name] = kept
        elif texts:
            # Only a link's first value counts; a malformed or absurd one keeps the default.
            value = parse_value(field, texts[0], vocabularies)
            if value is not None:
                changes[field.name] = value
    return Filters().with_changes(**changes)
