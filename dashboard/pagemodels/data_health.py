"""The Data health page's model: rows per center, feed freshness, quarantine, flagged
locations and duplicate links, as the viewer's class may see them, in the tables and chart the
page shows (human headers, centers by their configured names, "—" for no value)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import plotly.graph_objects as go
import polars as pl

from dashboard.analytics.health import (
    failed_sources,
    filter_quarantine,
    quarantine_by_field,
    rows_per_center,
    source_freshness,
    standard_conformance,
)
from dashboard.frames import HealthFrames
from dashboard.security.policy import VisibilityClass, health_view
from dashboard.settings import ProjectConfig
from dashboard.views.health import display_table, rows_per_center_figure

CENTER_KINDS = {"state": "State", "urban_area": "Urban area", "regional": "Regional"}
GEO_FLAGS = {"outside_state": "Outside the state", "county_mismatch": "County mismatch"}
COUNTY_SOURCES = {"feed": "Feed", "coordinates": "Coordinates"}
PER_CENTER_HEADERS = {
    "name": "Center", "kind": "Kind", "incidents": "Incidents", "products": "Products",
    "quarantined": "Quarantined", "flagged_locations": "Flagged", "duplicate_reports": "Duplicates"}
# How fresh and how complete first, then when it was looked at and where it lives: at 1440 px
# the table scrolls, and what was read had been behind the scroll (issue 14).
FRESHNESS_HEADERS = {
    "center_id": "Center", "source_name": "Source", "table_name": "Table",
    "connector_kind": "Format", "hours_since_load": "Age (h)", "rows_read": "Rows read",
    "rows_rejected": "Rejected", "last_read": "Read", "last_loaded_at": "Last changed (UTC)",
    "last_checked_at": "Last checked (UTC)", "location": "Location"}
CONFORMANCE_HEADERS = {
    "center_id": "Center", "source_name": "Source", "standard": "Standard",
    "records": "Records", "conformant": "Conformant", "conformant_share": "Share conformant",
    "common_failures": "Most common failures"}
FAILED_HEADERS = {"center_id": "Center", "source_name": "Source", "table_name": "Table",
                  "failed_at": "Failed (UTC)", "error": "Error"}
QUARANTINE_SUMMARY_HEADERS = {
    "center_id": "Center", "source_name": "Source", "field": "Failing field", "rows": "Rows",
    "first_row": "First row/line", "example_reason": "Example reason"}
QUARANTINE_HEADERS = {
    "center_id": "Center", "source_name": "Source", "row_number": "Row/line",
    "field": "Failing field", "reason": "Reason", "value": "Value", "location": "File",
    "raw_record": "Raw record"}
FLAGGED_HEADERS = {
    "center_id": "Center", "incident_id": "Incident", "occurred_at": "Occurred (UTC)",
    "category": "Category", "county_fips": "County", "latitude": "Latitude",
    "longitude": "Longitude", "geo_flag": "Flag", "county_source": "County from"}
LINK_HEADERS = {
    "center_id": "Center", "incident_id": "Incident", "duplicate_of_center_id": "Duplicate of",
    "duplicate_of_incident_id": "Its incident", "distance_km": "Apart (km)",
    "minutes_apart": "Apart (minutes)", "category": "Category",
    "occurred_at": "Occurred (UTC)", "county_fips": "County"}


def _with_last_read(freshness: pl.DataFrame) -> pl.DataFrame:
    """What the last load read: the whole source, or only the lines appended to a file."""
    appended = pl.col("read_from_line").map_elements(
        lambda line: f"Appended lines, from line {line:,}", return_dtype=pl.String,
        skip_nulls=True)
    return freshness.with_columns(
        pl.when(pl.col("last_loaded_at").is_null()).then(None)
        .when(pl.col("read_from_line").is_null()).then(pl.lit("Whole source"))
        .otherwise(appended).alias("last_read"))


@dataclass(frozen=True)
class DataHealthPage:
    per_center: pl.DataFrame  # keys and counts, centers by their configured names
    per_center_table: pl.DataFrame
    per_center_chart: go.Figure
    totals: dict[str, int]  # incidents, products, quarantined, flagged_locations, duplicates
    freshness: pl.DataFrame
    quarantine: pl.DataFrame  # the rows as stored (what the page's filters narrow)
    quarantine_summary: pl.DataFrame | None  # None: nothing quarantined
    quarantine_centers: dict[str, str]  # the quarantine filter's centers: id -> name
    quarantine_fields: list[str]
    flagged: pl.DataFrame
    links: pl.DataFrame
    failed: pl.DataFrame  # sources whose latest run failed, with the error
    center_names: dict[str, str]
    # Sources that speak an exchange standard (STIX 2.1): share of records that conformed, and
    # the most common failures.
    conformance: pl.DataFrame
    # Network bundles received, newest first: which state sent what, when, and whether it was
    # accepted (why not); empty on a deployment that imported none.
    bundles: pl.DataFrame

    def quarantine_rows(self, centers: Sequence[str], fields: Sequence[str],
                        search: str) -> pl.DataFrame:
        """The quarantined rows the page's own filters leave, as the page shows them."""
        rows = filter_quarantine(self.quarantine, list(centers), list(fields), search)
        return display_table(_named(rows, self.center_names, "center_id"), QUARANTINE_HEADERS)


def data_health_page(visibility: VisibilityClass, health: HealthFrames, now: datetime,
                     config: ProjectConfig | None = None) -> DataHealthPage:
    """Everything the Data health page shows to ``visibility``; names (centers, categories,
    counties) from ``config`` when given, else the centers' names as stored."""
    frames = health_view(visibility, health)
    per_center = rows_per_center(frames)
    names = dict(zip(per_center["center_id"], per_center["name"], strict=True))
    labels: Mapping[str, Mapping[str, str]] = config.labels if config is not None else {}
    names |= labels.get("center", {})
    per_center = _named(per_center.drop("name"), names, "center_id", alias="name").select(
        "center_id", "name", pl.exclude("center_id", "name")).sort("name")
    totals = per_center.select("incidents", "products", "quarantined", "flagged_locations",
                               "duplicate_reports").sum().row(0, named=True)
    quarantine = frames.quarantine
    centers = sorted(quarantine["center_id"].unique(), key=lambda key: names.get(key, key))

    def shown(frame: pl.DataFrame, headers: Mapping[str, str]) -> pl.DataFrame:
        return display_table(_named(frame, names, "center_id", "duplicate_of_center_id")
                             .with_columns(_coded(frame, labels)), headers)

    return DataHealthPage(
        per_center=per_center,
        per_center_table=display_table(
            per_center.with_columns(pl.col("kind").replace(CENTER_KINDS)), PER_CENTER_HEADERS),
        per_center_chart=rows_per_center_figure(per_center),
        totals={name: int(value or 0) for name, value in totals.items()},
        freshness=shown(_with_last_read(source_freshness(frames, now)),
                        FRESHNESS_HEADERS).sort("Center", "Source"),
        quarantine=quarantine,
        quarantine_summary=None if quarantine.is_empty()
        else shown(quarantine_by_field(quarantine), QUARANTINE_SUMMARY_HEADERS),
        quarantine_centers={key: names.get(key, key) for key in centers},
        quarantine_fields=sorted(quarantine["field"].unique()),
        flagged=shown(frames.flagged.sort("occurred_at", descending=True), FLAGGED_HEADERS),
        links=shown(frames.links.sort("occurred_at", descending=True), LINK_HEADERS),
        failed=shown(failed_sources(frames), FAILED_HEADERS),
        center_names=names,
        conformance=shown(standard_conformance(frames), CONFORMANCE_HEADERS),
        bundles=received_bundles(health.bundles))


BUNDLE_HEADERS = {"received_at": "Received (UTC)", "sending_state": "State",
                  "status": "Status", "reason": "Why rejected", "period": "Weeks",
                  "marking": "Marking", "cells": "Cells", "incidents": "Incidents",
                  "key_id": "Signing key", "file_name": "File", "received_by": "Imported by"}


def received_bundles(bundles: pl.DataFrame | None) -> pl.DataFrame:
    """The network bundles received, as the page shows them (newest first)."""
    if bundles is None or bundles.is_empty():
        return pl.DataFrame(schema=dict.fromkeys(BUNDLE_HEADERS.values(), pl.String))
    return bundles.sort("bundle_id", descending=True).with_columns(
        pl.col("received_at").dt.strftime("%Y-%m-%d %H:%M"),
        pl.when(pl.col("period_start").is_not_null())
        .then(pl.concat_str("period_start", pl.lit(" to "), "period_end"))
        .alias("period"),
        # The key's fingerprint, short: enough to tell keys apart at a glance.
        pl.col("key_id").str.slice(0, 19),
    ).select(list(BUNDLE_HEADERS)).rename(BUNDLE_HEADERS)


def _named(frame: pl.DataFrame, names: Mapping[str, str], *columns: str,
           alias: str | None = None) -> pl.DataFrame:
    """Center ids in ``columns`` replaced by the centers' names (an unknown id stays)."""
    return frame.with_columns(
        pl.col(column).replace_strict(names, default=pl.col(column), return_dtype=pl.String)
        .alias(alias or column) for column in columns if column in frame.columns)


def _coded(frame: pl.DataFrame, labels: Mapping[str, Mapping[str, str]]) -> list[pl.Expr]:
    """Codes in ``frame`` (category, county, location flag) replaced by their names."""
    vocabularies = {"category": labels.get("category", {}), "county_fips": labels.get(
        "county", {}), "geo_flag": GEO_FLAGS, "county_source": COUNTY_SOURCES}
    return [pl.col(column).replace_strict(dict(names), default=pl.col(column),
                                          return_dtype=pl.String)
            for column, names in vocabularies.items() if column in frame.columns]
