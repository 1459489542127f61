"""What several page models share: the marking of a view, and partner-release annotations."""

from __future__ import annotations

from datetime import date

import polars as pl

from dashboard.analytics.filters import (
    FILTER_FIELDS_BY_NAME,
    Filters,
    Period,
    period_of,
    to_query_params,
)
from dashboard.analytics.picture import markings_in_view
from dashboard.security.audience import ViewData
from dashboard.security.policy import most_restrictive
from dashboard.settings import ProjectConfig
from dashboard.views.export import download_name

# The filters a download's name gives as its period rather than as filters.
PERIOD_URL_KEYS = frozenset(FILTER_FIELDS_BY_NAME[name].url_key
                            for name in ("period", "start", "end") if name in FILTER_FIELDS_BY_NAME)


def marking_in_view(config: ProjectConfig, data: ViewData, filters: Filters,
                    today: date) -> str:
    """The most restrictive marking among the incidents and products the view includes (the
    banner every page carries)."""
    frames = data.frames()
    return most_restrictive(markings_in_view(
        frames.incidents, frames.products, data.selection(filters), config.county_to_region,
        period_of(filters, today)))


def withheld_by(config: ProjectConfig, data: ViewData, filters: Filters, period: Period,
                column: str) -> pl.DataFrame:
    """Partners: withheld cells per ``column`` value in the period (``column``,
    ``withheld_cells``); empty for everyone else."""
    if data.release is None:
        return pl.DataFrame(schema={column: pl.String, "withheld_cells": pl.UInt32})
    cells = data.release.withheld_cells(filters, config.county_to_region, period)
    return cells.group_by(column).agg(pl.len().alias("withheld_cells"))


def with_withheld(config: ProjectConfig, data: ViewData, filters: Filters, period: Period,
                  table: pl.DataFrame, column: str) -> pl.DataFrame:
    """``table`` with a ``withheld_cells`` column for partners (0 where none); unchanged for
    everyone else."""
    if data.release is None:
        return table
    return table.join(withheld_by(config, data, filters, period, column), on=column,
                      how="left").with_columns(pl.col("withheld_cells").fill_null(0))


def release_note(config: ProjectConfig, data: ViewData, filters: Filters,
                 period: Period) -> str | None:
    """For partners, what the figures count and leave out; None for everyone else."""
    release = data.release
    if release is None:
        return None
    withheld = release.withheld_cells(filters, config.county_to_region, period).height
    return (f"Partner view: incidents counted per county, threat category and complete week "
            f"(Monday to Sunday, through {release.through:%d %b %Y}), duplicates once. "
            f"{withheld:,} such cells in this view had 1 to {release.min_count - 1} incidents: "
            "they are withheld and counted in no figure, total, change or hot spot. Filters "
            "by center, severity, SAR behaviour and target sector do not apply.")


class NotForThisViewer(PermissionError):
    """A page model asked for by a class the audience policy does not give that page."""


def records_page(data: ViewData, page: str) -> None:
    """Refuse a page that shows records, not released counts, to an aggregates-only class (the
    navigation never offers it; this keeps the bench, tests and any future caller honest)."""
    if data.aggregates_only:
        raise NotForThisViewer(f"the {page} page is not available to partners")


def download_file_name(stem: str, period: Period, filters: Filters, suffix: str = "csv") -> str:
    """The name of a download made under ``filters``: what, the dates, then every filter that
    differs from the defaults (values as in the URL), e.g.
    ``counties_2026-11-04-to-2026-12-01_narcotics_06037.csv``."""
    values: list[str] = []
    for key, value in to_query_params(filters).items():
        if key in PERIOD_URL_KEYS:
            continue
        if isinstance(value, list):
            values += value
        else:  # a switch or a single choice: say which
            values.append(f"{key}-{ {'0': 'off', '1': 'on'}.get(value, value)}")
    return download_name(stem, f"{period.start}-to-{period.end}", values, suffix)
